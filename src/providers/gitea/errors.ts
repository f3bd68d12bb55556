import type { Clock } from '../../core/clock.ts';
import { type GitsyncError, RateLimitedError } from '../../core/errors.ts';
import { commonHostError } from '../host-errors.ts';

/** `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unreadable. */
export function retryAfterAt(value: string | null, now: number): Date | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return new Date(now + Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isFinite(at) && at > now ? new Date(at) : null;
}

/**
 * Translates one Gitea/Forgejo error answer into gitsync's typed errors (Gitea API swagger,
 * responses `unauthorized` 401, `forbidden` 403 — also a token lacking a scope — and `notFound`
 * 404). `host` names the product in messages.
 */
export function translateGiteaError(
  host: string,
  status: number,
  headers: Headers,
  what: string,
  message: string | undefined,
  clock: Clock,
  headerlessPauseS: () => number,
): GitsyncError {
  const now = clock.now().getTime();
  const retryAt = retryAfterAt(headers.get('retry-after'), now);
  if (status === 429 || (status === 503 && retryAt)) {
    const resetAt = retryAt ?? new Date(now + headerlessPauseS() * 1000);
    return new RateLimitedError(
      resetAt,
      `${host} rate limited until ${resetAt.toISOString()} (${what}: ${status})`,
    );
  }
  // 403: the token lacks a scope ("token does not have at least one of required scope(s)") or the
  // user may not do this.
  return commonHostError(host, status, what, message);
}
