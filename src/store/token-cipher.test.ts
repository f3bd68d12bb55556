import { createCipheriv, randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenCipher } from './token-cipher.ts';

const OWNER = '0b9d7a52-0000-4000-8000-000000000001';
const OTHER = '0b9d7a52-0000-4000-8000-000000000002';

/** A token sealed the way earlier versions did: AES-256-GCM without associated data. */
function legacySeal(keyHex: string, token: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(keyHex, 'hex'), iv);
  const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return `aes256gcm:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

describe('TokenCipher', () => {
  const key = 'ab'.repeat(32);

  it('seals with a fresh IV each time and opens again', () => {
    const cipher = TokenCipher.fromSetting(key);
    const a = cipher.seal('ghp_secret', OWNER, 'github');
    const b = cipher.seal('ghp_secret', OWNER, 'github');
    expect(a).not.toBe(b);
    expect(a).not.toContain('ghp_secret');
    expect(cipher.open(a, OWNER, 'github')).toBe('ghp_secret');
  });

  it('accepts base64 keys and refuses keys of the wrong size, naming the variable', () => {
    expect(TokenCipher.fromSetting(Buffer.alloc(32, 7).toString('base64')).encrypts).toBe(true);
    expect(() => TokenCipher.fromSetting('too-short')).toThrow(/GITSYNC_ENCRYPTION_KEY/);
  });

  it('detects a wrong key or tampering instead of returning garbage', () => {
    const sealed = TokenCipher.fromSetting(key).seal('ghp_secret', OWNER, 'github');
    expect(() => TokenCipher.fromSetting('cd'.repeat(32)).open(sealed, OWNER, 'github')).toThrow(/wrong key/);
    const tampered = `${sealed.slice(0, -4)}AAAA`;
    expect(() => TokenCipher.fromSetting(key).open(tampered, OWNER, 'github')).toThrow(/cannot be decrypted/);
  });

  it('binds a sealed token to its owner and provider: copied to another row it does not open', () => {
    const cipher = TokenCipher.fromSetting(key);
    const sealed = cipher.seal('ghp_secret', OWNER, 'github');
    expect(() => cipher.open(sealed, OTHER, 'github')).toThrow(/cannot be decrypted/);
    expect(() => cipher.open(sealed, OWNER, 'gitlab')).toThrow(/cannot be decrypted/);
    // The owner id's case does not matter (the database returns UUIDs lower-cased).
    expect(cipher.open(sealed, OWNER.toUpperCase(), 'github')).toBe('ghp_secret');
  });

  it('refuses a truncated authentication tag', () => {
    const cipher = TokenCipher.fromSetting(key);
    // An empty token sealed the old way is IV + tag; cut the tag to 4 bytes. Unpinned, GCM checks
    // just those 4 bytes (which are right) and opens it: 32 bits are all a forger would need to guess.
    const raw = Buffer.from(legacySeal(key, '').slice('aes256gcm:'.length), 'base64');
    const short = `aes256gcm:${raw.subarray(0, 16).toString('base64')}`;
    expect(() => cipher.open(short, OWNER, 'github')).toThrow(/cannot be decrypted/);
  });

  it('still opens tokens sealed without associated data, and marks them for sealing again', () => {
    const cipher = TokenCipher.fromSetting(key);
    const old = legacySeal(key, 'ghp_old');
    expect(cipher.open(old, OWNER, 'github')).toBe('ghp_old');
    expect(cipher.needsReseal(old)).toBe(true);
    expect(cipher.needsReseal('plain:ghp_old')).toBe(true);
    expect(cipher.needsReseal(cipher.seal('ghp_new', OWNER, 'github'))).toBe(false);
    expect(new TokenCipher(null).needsReseal('plain:ghp_old')).toBe(false);
  });

  it('without a key stores tokens marked plain, which a later key still reads', () => {
    const sealed = new TokenCipher(null).seal('glpat_x', OWNER, 'gitlab');
    expect(sealed).toBe('plain:glpat_x');
    expect(TokenCipher.fromSetting(key).open(sealed, OWNER, 'gitlab')).toBe('glpat_x');
  });

  it('without a key and told to refuse, refuses to seal with a code a person can act on', () => {
    const refusing = new TokenCipher(null, { plaintext: 'refuse' });
    expect(() => refusing.seal('glpat_x', OWNER, 'gitlab')).toThrow(
      expect.objectContaining({
        kind: 'config',
        code: 'encryption_key_required',
        message: expect.stringMatching(/GITSYNC_ENCRYPTION_KEY.*GITSYNC_ALLOW_PLAINTEXT_TOKENS=1/),
      }),
    );
    // What was stored before still reads.
    expect(refusing.open('plain:glpat_x', OWNER, 'gitlab')).toBe('glpat_x');
  });

  describe('key file', () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });
    const tmp = () => {
      const d = mkdtempSync(join(tmpdir(), 'gitsync-key-'));
      dirs.push(d);
      return d;
    };

    it('is generated once, private, and reused by later starts', () => {
      const path = join(tmp(), 'encryption-key');
      const first = TokenCipher.fromKeyFile(path);
      expect(first.created).toBe(true);
      expect(first.cipher.encrypts).toBe(true);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
      const sealed = first.cipher.seal('ghp_secret', OWNER, 'github');
      const again = TokenCipher.fromKeyFile(path);
      expect(again.created).toBe(false);
      expect(again.cipher.open(sealed, OWNER, 'github')).toBe('ghp_secret');
      // The same key works as GITSYNC_ENCRYPTION_KEY (moving to PostgreSQL keeps the tokens).
      expect(TokenCipher.fromSetting(readFileSync(path, 'utf8').trim()).open(sealed, OWNER, 'github')).toBe(
        'ghp_secret',
      );
    });

    it('refuses a key file it did not make private: readable by others, a link, or not a file', () => {
      const key = `${'ab'.repeat(32)}\n`;
      const loose = join(tmp(), 'encryption-key');
      writeFileSync(loose, key, { mode: 0o644 });
      chmodSync(loose, 0o644);
      expect(() => TokenCipher.fromKeyFile(loose)).toThrow(/readable or writable by others/);

      const dir = tmp();
      const target = join(dir, 'elsewhere');
      writeFileSync(target, key, { mode: 0o600 });
      const link = join(dir, 'encryption-key');
      symlinkSync(target, link);
      expect(() => TokenCipher.fromKeyFile(link)).toThrow(/not a regular file/);

      const folder = join(tmp(), 'encryption-key');
      mkdirSync(folder);
      expect(() => TokenCipher.fromKeyFile(folder)).toThrow(/not a regular file/);
    });

    it('names the file when its content is not a key', () => {
      const path = join(tmp(), 'encryption-key');
      writeFileSync(path, 'nonsense\n', { mode: 0o600 });
      expect(() => TokenCipher.fromKeyFile(path)).toThrow(new RegExp(`key file ${path}`));
    });
  });
});
