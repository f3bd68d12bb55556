import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError } from '../core/errors.ts';

/**
 * Seals owners' tokens for storage. With a key: AES-256-GCM, a fresh 12-byte IV per token
 * (NIST SP 800-38D recommends 96-bit IVs) and a 16-byte tag. Without a key tokens are stored
 * as `plain:` so a key can be added later without losing them.
 */
export class TokenCipher {
  readonly #key: Buffer | null;
  constructor(key: Buffer | null) {
    if (key && key.length !== 32) throw new ConfigError('GITSYNC_ENCRYPTION_KEY must be 32 bytes');
    this.#key = key;
  }

  /** Accepts 64 hex characters or base64 of 32 bytes; anything else names the variable to fix. */
  static fromSetting(value: string | undefined): TokenCipher {
    if (value === undefined || value === '') return new TokenCipher(null);
    const bytes = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
    if (bytes.length !== 32) {
      throw new ConfigError(
        'GITSYNC_ENCRYPTION_KEY must be 32 bytes, as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)',
      );
    }
    return new TokenCipher(bytes);
  }

  get encrypts(): boolean {
    return this.#key !== null;
  }

  seal(token: string): string {
    if (!this.#key) return `plain:${token}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return `aes256gcm:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    if (sealed.startsWith('plain:')) return sealed.slice(6);
    if (!sealed.startsWith('aes256gcm:')) throw new ConfigError('stored token has an unknown format');
    if (!this.#key) throw new ConfigError('stored token is encrypted but GITSYNC_ENCRYPTION_KEY is not set');
    const raw = Buffer.from(sealed.slice(10), 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new ConfigError('stored token cannot be decrypted with GITSYNC_ENCRYPTION_KEY (wrong key?)', {
        cause,
      });
    }
  }
}
