import type { Clock } from '../../core/clock.ts';
import { AuthError, type GitsyncError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { commonHostError } from '../host-errors.ts';

/** How a configured token is sent (docs/bitbucket.md, "Tokens"). */
export type CredentialKind = 'bearer' | 'api_token' | 'basic_other';

/**
 * App passwords "stop working entirely on June 9, 2026" (Atlassian, "Deprecation notice: Bitbucket
 * Cloud shifts to API tokens from app passwords"); an API token authenticates REST calls only
 * with the Atlassian account e-mail as the user name ("Using API tokens"). A rejected Basic
 * credential whose user is no e-mail is most likely one of those two mistakes: say so.
 */
const BASIC_HINT =
  ' — the user name is not an e-mail address: app passwords stopped working on 9 June 2026, and an ' +
  'API token needs the Atlassian account e-mail (`email:api_token`); or use an access token';

/**
 * Bitbucket gave up computing an answer: HTTP 555, "If generating the diffstat timed out"
 * (Bitbucket Cloud OpenAPI description, `GET /repositories/{workspace}/{repo_slug}/diffstat/{spec}`).
 * The same diff will time out again, so a caller may take it as "not told" rather than retry.
 */
export class ComputeTimeoutError extends UnavailableError {}

/**
 * Translates one Bitbucket error answer into gitsync's typed errors (Atlassian, "Bitbucket Cloud
 * REST API", status codes: 401 bad or missing credentials, 403 credentials without the needed
 * scope or permission, 404 missing or hidden; "API request limits": 429).
 */
export function translateBitbucketError(
  status: number,
  headers: Headers,
  what: string,
  message: string | undefined,
  credential: CredentialKind,
  clock: Clock,
  headerlessPauseS: () => number,
): GitsyncError {
  const said = message ? `: ${message.slice(0, 300)}` : '';
  if (status === 429) {
    const now = clock.now().getTime();
    // Bitbucket documents no reset header; honour one should it ever send `Retry-After`.
    const retryAfter = Number(headers.get('retry-after'));
    const waitS = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : headerlessPauseS();
    const resetAt = new Date(now + waitS * 1000);
    return new RateLimitedError(
      resetAt,
      `bitbucket rate limited until ${resetAt.toISOString()} (${what}: 429)`,
    );
  }
  if (status === 401) {
    const hint = credential === 'basic_other' ? BASIC_HINT : '';
    return new AuthError(`bitbucket rejected the credentials (${what}: 401)${said}${hint}`);
  }
  if (status === 555)
    return new ComputeTimeoutError(`bitbucket timed out computing the answer (${what}: 555)${said}`);
  // 403: e.g. "Your credentials lack one or more required privilege scopes."
  return commonHostError('bitbucket', status, what, message);
}
