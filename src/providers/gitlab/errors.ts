import type { Clock } from '../../core/clock.ts';
import { AuthError, type GitsyncError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { hostNotFound, LimitStreaks } from '../host-errors.ts';

/**
 * Translates one GitLab error answer into gitsync's typed errors (GitLab docs, "REST API":
 * status codes; "Rate limits": 429 with `Retry-After` and `RateLimit-Reset`, a Unix time).
 */
export function translateGitLabError(
  status: number,
  headers: Headers,
  what: string,
  message: string | undefined,
  clock: Clock,
  headerlessPauseS: () => number,
): GitsyncError {
  const said = message ? `: ${message.slice(0, 300)}` : '';
  if (status === 429) {
    const now = clock.now().getTime();
    const retryAfter = Number(headers.get('retry-after'));
    const reset = Number(headers.get('ratelimit-reset'));
    let resetAt: Date;
    if (Number.isFinite(retryAfter) && retryAfter > 0) resetAt = new Date(now + retryAfter * 1000);
    else if (Number.isFinite(reset) && reset * 1000 > now) resetAt = new Date(reset * 1000);
    else resetAt = new Date(now + headerlessPauseS() * 1000);
    return new RateLimitedError(resetAt, `gitlab rate limited until ${resetAt.toISOString()} (${what}: 429)`);
  }
  if (status === 401) return new AuthError(`gitlab rejected the token (${what}: 401)${said}`);
  // 403: the token lacks a scope (`read_api`) or the project forbids it.
  if (status === 403) return new AuthError(`gitlab rejected the token: access denied (${what}: 403)${said}`);
  if (status === 404) return hostNotFound(`gitlab: not found (${what}: 404)${said}`);
  return new UnavailableError(`gitlab answered ${status} (${what})${said}`);
}

export { hostNotFound, LimitStreaks };
