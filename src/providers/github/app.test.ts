import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { appJwt, JWT_BACKDATE_S, JWT_LIFETIME_S, parseAppPrivateKey } from './app.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

describe('the App JWT', () => {
  const now = new Date('2026-12-07T12:00:00.500Z');
  const seconds = Math.floor(now.getTime() / 1000);

  it('is RS256, signed with the private key: the public key verifies it, another does not', () => {
    const jwt = appJwt('12345', privateKey, now);
    const [head, body, signature] = jwt.split('.') as [string, string, string];
    expect(decode(head)).toEqual({ alg: 'RS256', typ: 'JWT' });
    const signed = Buffer.from(`${head}.${body}`);
    const sig = Buffer.from(signature, 'base64url');
    // RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3): node:crypto's default RSA padding.
    expect(verify('sha256', signed, publicKey, sig)).toBe(true);
    expect(verify('sha256', signed, other.publicKey, sig)).toBe(false);
    expect(verify('sha256', Buffer.from(`${head}.${body}x`), publicKey, sig)).toBe(false);
  });

  it('is issued a minute in the past, expires within 10 minutes, and names the App as a number', () => {
    const claims = decode(appJwt('12345', privateKey, now).split('.')[1]!);
    expect(claims).toEqual({ iat: seconds - JWT_BACKDATE_S, exp: seconds + JWT_LIFETIME_S, iss: 12345 });
    expect(claims.iat).toBe(seconds - 60);
    expect(claims.exp - seconds).toBeLessThanOrEqual(10 * 60);
    expect(claims.exp).toBeGreaterThan(seconds);
  });
});

describe('the App private key', () => {
  const pkcs1 = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  it('reads PKCS#1 and PKCS#8 PEM, and one-line PEM with \\n escapes', () => {
    for (const pem of [pkcs1, pkcs8, pkcs1.replaceAll('\n', '\\n')]) {
      const key = parseAppPrivateKey(pem, 'APP_KEY');
      expect(key.asymmetricKeyType).toBe('rsa');
      // The same key: what it signs, the public key verifies.
      const [head, body, sig] = appJwt('1', key, new Date()).split('.') as [string, string, string];
      expect(verify('sha256', Buffer.from(`${head}.${body}`), publicKey, Buffer.from(sig, 'base64url'))).toBe(
        true,
      );
    }
  });

  it('refuses what is not an RSA private key, naming the setting and never the text', () => {
    const broken = pkcs1.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!');
    for (const [pem, why] of [
      ['not a key', /APP_KEY does not hold a PEM private key/],
      [broken, /APP_KEY does not hold a readable PEM private key/],
      [publicKey.export({ type: 'spki', format: 'pem' }).toString(), /does not hold a PEM private key/],
      [
        generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        /holds a ed25519 key; a GitHub App's key is RSA/,
      ],
    ] as const) {
      const error = (() => {
        try {
          parseAppPrivateKey(pem, 'APP_KEY');
        } catch (e) {
          return e as Error;
        }
        throw new Error('accepted');
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toMatch(why);
      expect(error.message).not.toContain((pem.split('\n')[1] ?? pem).slice(0, 20));
      expect(error.cause).toBeUndefined();
    }
  });
});
