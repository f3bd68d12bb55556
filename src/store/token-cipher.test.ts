import { describe, expect, it } from 'vitest';
import { TokenCipher } from './token-cipher.ts';

describe('TokenCipher', () => {
  const key = 'ab'.repeat(32);

  it('seals with a fresh IV each time and opens again', () => {
    const cipher = TokenCipher.fromSetting(key);
    const a = cipher.seal('ghp_secret');
    const b = cipher.seal('ghp_secret');
    expect(a).not.toBe(b);
    expect(a).not.toContain('ghp_secret');
    expect(cipher.open(a)).toBe('ghp_secret');
  });

  it('accepts base64 keys and refuses keys of the wrong size, naming the variable', () => {
    expect(TokenCipher.fromSetting(Buffer.alloc(32, 7).toString('base64')).encrypts).toBe(true);
    expect(() => TokenCipher.fromSetting('too-short')).toThrow(/GITSYNC_ENCRYPTION_KEY/);
  });

  it('detects a wrong key or tampering instead of returning garbage', () => {
    const sealed = TokenCipher.fromSetting(key).seal('ghp_secret');
    expect(() => TokenCipher.fromSetting('cd'.repeat(32)).open(sealed)).toThrow(/wrong key/);
    const tampered = `${sealed.slice(0, -4)}AAAA`;
    expect(() => TokenCipher.fromSetting(key).open(tampered)).toThrow(/cannot be decrypted/);
  });

  it('without a key stores tokens marked plain, which a later key still reads', () => {
    const sealed = new TokenCipher(null).seal('glpat_x');
    expect(sealed).toBe('plain:glpat_x');
    expect(TokenCipher.fromSetting(key).open(sealed)).toBe('glpat_x');
  });
});
