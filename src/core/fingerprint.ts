import { createHmac, randomBytes } from 'node:crypto';

/**
 * The deployment's fingerprint key. Until the runtime sets it (`setFingerprintKey`, from the
 * encryption key or a secret kept in the database: src/runtime.ts), a random key of this process:
 * a fingerprint is never a plain hash of a token, which anyone could compute from a guessed token
 * or match between deployments.
 */
let fingerprintKey: Buffer = randomBytes(32);

/** Sets the key every replica of the deployment shares, so that their fingerprints agree. */
export function setFingerprintKey(key: Buffer): void {
  if (key.length < 32) throw new Error('a fingerprint key has at least 32 bytes');
  fingerprintKey = Buffer.from(key);
}

/**
 * HMAC-SHA256 of a token under the deployment's key, base64url: what caches, pauses, limits,
 * budget rows and `/metrics` labels are keyed by, so that none of them holds the token itself, and
 * none lets anyone who sees it (a metrics scraper, a database dump) check a guess of the token.
 */
export const tokenFingerprint = (token: string): string =>
  createHmac('sha256', fingerprintKey).update(token).digest('base64url');
