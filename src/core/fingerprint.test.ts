import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { setFingerprintKey, tokenFingerprint } from './fingerprint.ts';

describe('token fingerprints', () => {
  it('are not a plain hash of the token, and depend on the deployment key', () => {
    const token = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
    const plain = createHash('sha256').update(token).digest('base64url');
    setFingerprintKey(Buffer.alloc(32, 1));
    const one = tokenFingerprint(token);
    expect(one).not.toBe(plain);
    expect(one).toHaveLength(plain.length);
    expect(tokenFingerprint(token)).toBe(one);
    setFingerprintKey(Buffer.alloc(32, 2));
    expect(tokenFingerprint(token)).not.toBe(one);
    expect(() => setFingerprintKey(Buffer.alloc(8))).toThrow();
  });
});
