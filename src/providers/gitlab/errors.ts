import type { Clock } from '../../core/clock.ts';
import { type GitsyncError, RateLimitedError } from '../../core/errors.ts';
import { commonHostError } from '../host-errors.ts';

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
  // 403: the token lacks a scope (`read_api`) or the project forbids it.
  return commonHostError('gitlab', status, what, message);
}
