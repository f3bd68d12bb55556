import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ProviderWebhooks } from './types.ts';

/** What the hosts' webhooks share: how a delivery's credentials are checked, and pushed refs. */

/** What `ProviderWebhooks.start` returns for a delivery whose credentials can be checked. */
export type WebhookCheck = NonNullable<ReturnType<ProviderWebhooks['start']>>;

/**
 * A body signed with HMAC-SHA256 of the secret, the signature sent as 64 hex digits (GitHub's
 * and Bitbucket's `sha256=…` without its prefix, Gitea's as it is): null when `hex` is not such a
 * digest, else a check that hashes the body as it streams in and compares in constant time.
 */
export function hmacSha256Check(hex: string | undefined, secret: string): WebhookCheck | null {
  if (!hex || !/^[0-9a-f]{64}$/i.test(hex)) return null;
  const expected = Buffer.from(hex, 'hex');
  const hmac = createHmac('sha256', secret);
  return {
    update: (chunk) => void hmac.update(chunk),
    valid: () => timingSafeEqual(hmac.digest(), expected),
  };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * A shared secret sent back as it is (GitLab's `X-Gitlab-Token`, Azure DevOps' Basic password),
 * compared in constant time: null unless it matches; the body is not covered, so nothing to hash.
 */
export function sharedSecretCheck(given: string | null | undefined, secret: string): WebhookCheck | null {
  if (given === null || given === undefined || !timingSafeEqual(digest(given), digest(secret))) return null;
  return { update: () => {}, valid: () => true, proven: true };
}

/** The branch a pushed ref names (`refs/heads/feature` → `feature`); null for tags and other refs. */
export const branchOfRef = (ref: string): string | null =>
  ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null;
