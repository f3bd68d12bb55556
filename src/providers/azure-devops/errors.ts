import type { Clock } from '../../core/clock.ts';
import { AuthError, type GitsyncError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { commonHostError } from '../host-errors.ts';

/** Azure DevOps' own waits are followed up to an hour. */
const MAX_PAUSE_S = 3600;

/**
 * When to come back, from the headers of a 429 or of a throttled answer (Azure DevOps docs,
 * "Rate and usage limits", "API client experience"): `Retry-After` in seconds, else
 * `X-RateLimit-Reset`, a Unix time at which tracked usage is back to zero. Null when neither says.
 */
export function resumeAt(headers: Headers, clock: Clock): Date | null {
  const now = clock.now().getTime();
  const retryAfter = Number(headers.get('retry-after'));
  if (headers.get('retry-after') !== null && Number.isFinite(retryAfter) && retryAfter > 0)
    return new Date(now + Math.min(retryAfter, MAX_PAUSE_S) * 1000);
  const reset = Number(headers.get('x-ratelimit-reset'));
  if (headers.get('x-ratelimit-reset') !== null && Number.isFinite(reset) && reset * 1000 > now)
    return new Date(Math.min(reset * 1000, now + MAX_PAUSE_S * 1000));
  return null;
}

/**
 * Translates one failed Azure DevOps answer into gitsync's typed errors, in one place:
 * - 203 Non-Authoritative Information with an HTML sign-in page: what Azure DevOps answers a
 *   credential it does not accept (an expired or revoked PAT, a badly encoded one) instead of a
 *   401 — the token is rejected (reported in MicrosoftDocs/vsts-rest-api-specs issues #97 and
 *   #574; "Authenticate with personal access tokens" asks for `Basic base64(":" + PAT)`);
 * - 401, and 403 (the PAT lacks the `Code (Read)` scope, or the identity the permission): rejected;
 * - 404: the organization, project, repository or PR does not exist or is not visible;
 * - 429 (`TF400733: The request has been canceled: Request was blocked due to exceeding usage`,
 *   "Rate and usage limits"): rate limited until `Retry-After` / `X-RateLimit-Reset`;
 * - a redirect (to a sign-in page) is a rejected token too; anything else is the host failing.
 */
export function translateAzureError(
  status: number,
  headers: Headers,
  what: string,
  message: string | undefined,
  clock: Clock,
  headerlessPauseS: () => number,
): GitsyncError {
  if (status === 429) {
    const resetAt = resumeAt(headers, clock) ?? new Date(clock.now().getTime() + headerlessPauseS() * 1000);
    return new RateLimitedError(
      resetAt,
      `azure devops rate limited until ${resetAt.toISOString()} (${what}: 429)`,
    );
  }
  if (status === 203)
    return new AuthError(`azure devops rejected the token: it answered a sign-in page (${what}: 203)`);
  if (status >= 300 && status < 400) {
    const to = headers.get('location') ?? '';
    if (/sign-?in|login|_signin/i.test(to))
      return new AuthError(`azure devops rejected the token: redirected to sign in (${what}: ${status})`);
    return new UnavailableError(`azure devops redirected (${what}: ${status})`);
  }
  return commonHostError('azure devops', status, what, message);
}
