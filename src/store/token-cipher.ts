import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { ConfigError } from '../core/errors.ts';

/** Current format: AES-256-GCM bound to its row (see `aad`). `:` never occurs in base64, so the prefixes cannot be confused. */
const SEALED = 'aes256gcm:v2:';
/** Format of earlier versions, without associated data: still read, re-sealed at start. */
const LEGACY = 'aes256gcm:';
const PLAIN = 'plain:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a cipher without a key does when asked to seal. */
export type PlaintextPolicy = 'allow' | 'refuse';

/**
 * Seals owners' tokens for storage. With a key: AES-256-GCM, a fresh 12-byte IV per token
 * (NIST SP 800-38D recommends 96-bit IVs) and a 16-byte tag, with the owner and provider as
 * additional authenticated data, so a sealed value copied into another owner's row does not open.
 * Without a key tokens are stored as `plain:` (so a key can be added later without losing them),
 * or refused, as the deployment decides.
 */
export class TokenCipher {
  readonly #key: Buffer | null;
  readonly #plaintext: PlaintextPolicy;

  constructor(key: Buffer | null, options: { plaintext?: PlaintextPolicy } = {}) {
    if (key && key.length !== 32) throw new ConfigError('GITSYNC_ENCRYPTION_KEY must be 32 bytes');
    this.#key = key;
    this.#plaintext = options.plaintext ?? 'allow';
  }

  /** Accepts 64 hex characters or base64 of 32 bytes; anything else names the variable to fix. */
  static fromSetting(value: string | undefined): TokenCipher {
    if (value === undefined || value === '') return new TokenCipher(null);
    return new TokenCipher(parseKey(value, 'GITSYNC_ENCRYPTION_KEY'));
  }

  /**
   * The key kept in `path` (64 hex characters), generated there at first use. Created with
   * mode 0600 and `wx`, so it is never readable by others, not even for a moment, and an existing
   * key is never overwritten. `created` says whether this call made it.
   */
  static fromKeyFile(path: string): { cipher: TokenCipher; created: boolean } {
    let created = false;
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
      } finally {
        closeSync(fd);
      }
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfigError(`cannot create the token encryption key file ${path}`, { cause: error });
      }
    }
    return { cipher: new TokenCipher(parseKey(readPrivateFile(path), `the key file ${path}`)), created };
  }

  get encrypts(): boolean {
    return this.#key !== null;
  }

  /**
   * A key for another purpose derived from this one (HKDF-SHA256, RFC 5869, `purpose` as its info),
   * or null without a key: one secret to keep, and the derived key says nothing of the sealing key.
   */
  derive(purpose: string): Buffer | null {
    return this.#key ? Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), purpose, 32)) : null;
  }

  /** Seals `token` for the row of `owner` and `providerId`; only that row's values open it. */
  seal(token: string, owner: string, providerId: string): string {
    if (!this.#key) {
      if (this.#plaintext === 'refuse') {
        throw new ConfigError(
          'tokens are not stored unencrypted in PostgreSQL: set GITSYNC_ENCRYPTION_KEY (or GITSYNC_ALLOW_PLAINTEXT_TOKENS=1 to accept that risk)',
          { code: 'encryption_key_required' },
        );
      }
      return `${PLAIN}${token}`;
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(owner, providerId));
    const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return `${SEALED}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string, owner: string, providerId: string): string {
    if (sealed.startsWith(PLAIN)) return sealed.slice(PLAIN.length);
    if (sealed.startsWith(SEALED)) return this.#decrypt(sealed.slice(SEALED.length), aad(owner, providerId));
    if (sealed.startsWith(LEGACY)) return this.#decrypt(sealed.slice(LEGACY.length), null);
    throw new ConfigError('stored token has an unknown format');
  }

  /** True when `sealed` should be sealed again with this cipher: stored in clear, or in the format without AAD. */
  needsReseal(sealed: string): boolean {
    return this.encrypts && !sealed.startsWith(SEALED);
  }

  #decrypt(body: string, additional: Buffer | null): string {
    if (!this.#key) throw new ConfigError('stored token is encrypted but GITSYNC_ENCRYPTION_KEY is not set');
    const raw = Buffer.from(body, 'base64');
    try {
      if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed token is too short');
      // The tag length is pinned: GCM would otherwise accept a truncated tag, which is easier to forge.
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES), {
        authTagLength: TAG_BYTES,
      });
      if (additional) decipher.setAAD(additional);
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch (cause) {
      throw new ConfigError(
        'stored token cannot be decrypted with GITSYNC_ENCRYPTION_KEY (wrong key, or not sealed for this owner and provider?)',
        { cause },
      );
    }
  }
}

/**
 * Owner ids are UUIDs and provider ids have no NUL, so the pair is encoded without ambiguity.
 * Lower-cased as the database's `uuid` type returns it, whatever case a caller stored it with.
 */
const aad = (owner: string, providerId: string) =>
  Buffer.from(`${owner.toLowerCase()}\u0000${providerId}`, 'utf8');

function parseKey(value: string, source: string): Buffer {
  const bytes = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (bytes.length !== 32) {
    throw new ConfigError(
      `${source} must be 32 bytes, as 64 hex characters or base64 (e.g. \`openssl rand -hex 32\`)`,
    );
  }
  return bytes;
}

/**
 * The key file's text, only if it is what `fromKeyFile` makes: a regular file (not a link: opened
 * without following one, then checked on the open descriptor), of this user, that no one else may
 * read or write. A key file planted in the data folder, or loosened since, is refused rather than
 * used: tokens sealed with a key others can read are not sealed.
 */
function readPrivateFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP')
      throw new ConfigError(`the key file ${path} is not a regular file (a symbolic link)`, { cause: error });
    throw new ConfigError(`cannot read the key file ${path}`, { cause: error });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ConfigError(`the key file ${path} is not a regular file`);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid)
      throw new ConfigError(`the key file ${path} belongs to another user (uid ${stat.uid})`);
    if ((stat.mode & 0o077) !== 0)
      throw new ConfigError(
        `the key file ${path} is readable or writable by others (mode ${(stat.mode & 0o777).toString(8)}): make it 0600 if it is yours, else remove it`,
      );
    return readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
}
