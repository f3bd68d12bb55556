import type { Clock } from '../../core/clock.ts';
import { AuthError, type GitsyncError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { hostNotFound, LimitStreaks } from '../host-errors.ts';

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
  const said = message ? `: ${message.slice(0, 300)}` : '';
  const now = clock.now().getTime();
  const retryAt = retryAfterAt(headers.get('retry-after'), now);
  if (status === 429 || (status === 503 && retryAt)) {
    const resetAt = retryAt ?? new Date(now + headerlessPauseS() * 1000);
    return new RateLimitedError(
      resetAt,
      `${host} rate limited until ${resetAt.toISOString()} (${what}: ${status})`,
    );
  }
  if (status === 401) return new AuthError(`${host} rejected the token (${what}: 401)${said}`);
  // 403: the token lacks a scope ("token does not have at least one of required scope(s)") or the
  // user may not do this.
  if (status === 403) return new AuthError(`${host} rejected the token: access denied (${what}: 403)${said}`);
  if (status === 404) return hostNotFound(`${host}: not found (${what}: 404)${said}`);
  return new UnavailableError(`${host} answered ${status} (${what})${said}`);
}

export { hostNotFound, LimitStreaks };
