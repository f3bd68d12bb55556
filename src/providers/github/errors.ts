import {
  AuthError,
  type GitsyncError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
} from '../../core/errors.ts';

/** GitHub's advice when a limit response names no time: "wait for at least one minute". */
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

/**
 * Translates a GitHub error response into gitsync's typed errors (SPEC §5). Following GitHub's
 * "Rate limits for the REST API" docs: a 429, or a 403 carrying `retry-after` or
 * `x-ratelimit-remaining: 0`, is a rate limit — wait `retry-after` seconds if present, else until
 * `x-ratelimit-reset` (UTC epoch seconds), else a minute. Any other 403, and a 401, is auth.
 */
export function translateGitHubError(
  status: number,
  headers: Headers,
  what: string,
  now: Date,
): GitsyncError {
  const retryAfter = Number(headers.get('retry-after'));
  const remaining = headers.get('x-ratelimit-remaining');
  const resetEpoch = Number(headers.get('x-ratelimit-reset'));
  const limited = status === 429 || (status === 403 && (headers.has('retry-after') || remaining === '0'));
  if (limited) {
    let resetAt: Date;
    if (headers.has('retry-after') && Number.isFinite(retryAfter) && retryAfter >= 0) {
      resetAt = new Date(now.getTime() + retryAfter * 1000);
    } else if (Number.isFinite(resetEpoch) && resetEpoch > 0) {
      resetAt = new Date(resetEpoch * 1000);
    } else {
      resetAt = new Date(now.getTime() + DEFAULT_RATE_LIMIT_WAIT_MS);
    }
    if (resetAt <= now) resetAt = new Date(now.getTime() + 1000);
    return new RateLimitedError(
      resetAt,
      `github rate limited until ${resetAt.toISOString()} (${what}: ${status})`,
    );
  }
  if (status === 401) return new AuthError(`github rejected the token (${what}: 401)`);
  if (status === 403) return new AuthError(`github denied access (${what}: 403)`);
  if (status === 404) return new NotFoundError(`github: not found (${what}: 404)`);
  return new UnavailableError(`github answered ${status} (${what})`);
}
