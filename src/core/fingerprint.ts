import { createHash } from 'node:crypto';

/**
 * sha256 of a token, base64url: what caches, pauses and limits are keyed by, so that none of them
 * holds the token itself.
 */
export const tokenFingerprint = (token: string): string =>
  createHash('sha256').update(token).digest('base64url');
