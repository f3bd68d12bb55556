import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { AuthError, RateLimitedError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { trimTrailingSlash } from '../../core/origin.ts';
import { budgetFromHeaders, X_RATELIMIT_HEADERS } from '../budget.ts';
import { fetchFromHost, LimitStreaks, parseHostJson } from '../host-errors.ts';
import type { CallOptions } from '../types.ts';
import { resumeAt, translateAzureError } from './errors.ts';

/**
 * Every call names the REST version it was written against (Azure DevOps docs, "REST API
 * versioning": "Every API request should include an api-version"); 7.1 is the newest released one.
 */
export const API_VERSION = '7.1';
/**
 * APIs still in preview must say so: "Evaluations - List" is published only as `7.1-preview.1`,
 * and Azure DevOps refuses a preview API asked for as plain `7.1` ("the -preview flag must be
 * supplied in the api-version for such requests").
 */
export const PREVIEW_API_VERSION = '7.1-preview.1';

/**
 * Where a token's requests are counted (`BudgetObservation.charged`, 1 each): Azure DevOps meters
 * use in TSTUs ("Rate and usage limits": `X-RateLimit-Limit` "Total number of TSTUs allowed
 * before delays are imposed", `X-RateLimit-Remaining` "Number of TSTUs remaining before being
 * delayed"), and says what it costs only in aggregate, so requests and TSTUs are never added up
 * or compared: the budget '' holds what Azure DevOps says (TSTUs, nothing charged) and this scope
 * what gitsync sent (requests, no limit). docs/azure-devops.md, "Rate limits".
 */
export const REQUESTS_SCOPE = 'requests';

export interface AzureDevOpsClientOptions {
  clock: Clock;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
}

/**
 * An Entra ID (Azure AD) access token is a JWT: three base64url parts joined by dots, the first
 * a JSON header (`eyJ…`). A personal access token is a plain string of letters and digits and
 * never has dots ("Use personal access tokens"). So a configured token that looks like a JWT is
 * sent as `Authorization: Bearer` ("Authenticate with Microsoft Entra ID tokens"), anything else
 * as a PAT in Basic authentication with an empty user name (`Basic base64(":" + PAT)`).
 */
export const looksLikeJwt = (token: string) => /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(token);

export function authorizationFor(token: string): string {
  return looksLikeJwt(token)
    ? `Bearer ${token}`
    : `Basic ${Buffer.from(`:${token}`, 'utf8').toString('base64')}`;
}

export type Query = Record<string, string | number | undefined>;

/**
 * A small client for Azure DevOps Services' REST API at `api_url`: PAT or Entra token, the
 * api-version on every call, one error translation, and a pause per token when Azure DevOps says
 * the token's usage is exhausted — before it starts answering 429.
 */
export class AzureDevOpsClient {
  readonly #apiUrl: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #streaks = new LimitStreaks();
  /** Per token fingerprint: no request before this time (Azure DevOps said usage is exhausted). */
  readonly #pausedUntil = new Map<string, Date>();
  /** Requests sent (each page counts). */
  requests = 0;

  constructor(apiUrl: string, options: AzureDevOpsClientOptions) {
    this.#apiUrl = trimTrailingSlash(apiUrl);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.#clock = options.clock;
  }

  /**
   * Refuses to start a read with a token Azure DevOps said is exhausted (see `#observe`) until
   * its reset time. Asked once per provider call, so a read in progress finishes its few pages.
   */
  assertNotPaused(call: CallOptions): void {
    const paused = this.#pausedUntil.get(tokenFingerprint(call.token));
    if (paused && paused > this.#clock.now()) {
      throw new RateLimitedError(
        paused,
        `azure devops usage exhausted for this token until ${paused.toISOString()} (X-RateLimit-Remaining: 0)`,
      );
    }
  }

  /**
   * GETs `path` (already encoded, starting with `/{org}/…`) with `query` and the api-version
   * (`API_VERSION` unless the query names its own), parses the JSON answer with `schema`, and
   * returns it with the answer's headers.
   */
  async get<T>(
    path: string,
    query: Query,
    schema: z.ZodType<T>,
    call: CallOptions,
  ): Promise<{ data: T; headers: Headers }> {
    const what = `GET ${path}`;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    if (!params.has('api-version')) params.set('api-version', API_VERSION);
    const url = `${this.#apiUrl}${path}?${params.toString()}`;
    const fingerprint = tokenFingerprint(call.token);
    this.requests++;
    const response = await fetchFromHost(
      this.#fetch,
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json', authorization: authorizationFor(call.token) },
        // A redirect goes to a sign-in page, never to data: never follow it with the token.
        redirect: 'manual',
      },
      { timeoutMs: this.#timeoutMs, signal: call.signal, host: 'azure devops', what },
    );
    // A 429 is its own RateLimitedError (the engine pauses on it); the headers of answers that
    // succeeded say whether to stop before the next one.
    if (response.status < 300) this.#observe(response.headers, fingerprint);
    // Azure DevOps' budget is in its own units: the same headers count TSTUs, a load measure no
    // answer gives per request. So they are told as they are, in the token's one budget (''),
    // with nothing charged there; the request is counted apart, in REQUESTS_SCOPE.
    call.onBudget?.(budgetFromHeaders(response.headers, X_RATELIMIT_HEADERS, '', 0));
    call.onBudget?.({ scope: REQUESTS_SCOPE, limit: null, remaining: null, reset_at: null, charged: 1 });
    const type = response.headers.get('content-type') ?? '';
    if (response.status === 200 && !/html/i.test(type)) {
      this.#streaks.reset(fingerprint);
      return { data: await parseHostJson(response, schema, 'azure devops', what), headers: response.headers };
    }
    if (response.status === 200) {
      await response.body?.cancel();
      throw new AuthError(`azure devops rejected the token: it answered a sign-in page (${what}: 200 html)`);
    }
    const message = await readMessage(response);
    throw translateAzureError(response.status, response.headers, what, message, this.#clock, () =>
      this.#streaks.next(fingerprint),
    );
  }

  /**
   * Reads the rate-limit headers of every answer (Azure DevOps docs, "Rate and usage limits",
   * "HTTP response headers"): `X-RateLimit-Remaining` is 0 once requests are being delayed or
   * blocked, and `X-RateLimit-Reset` is when usage would be back to zero; a `Retry-After` on a
   * successful answer asks the client to wait that long. Either pauses the token until then, so
   * the engine stops before Azure DevOps blocks it with 429s (`X-RateLimit-Delay`, how long this
   * request was held, only says that it already started slowing us down).
   */
  #observe(headers: Headers, fingerprint: string): void {
    const exhausted = headers.get('x-ratelimit-remaining') === '0';
    const asked = headers.get('retry-after') !== null;
    if (!exhausted && !asked) return;
    const until = resumeAt(headers, this.#clock);
    if (!until) return;
    if (this.#pausedUntil.size > 10_000) this.#pausedUntil.clear();
    this.#pausedUntil.set(fingerprint, until);
  }
}

/** Azure DevOps error bodies: `{"$id", "message", "typeKey", "errorCode", …}` (a `TFnnnnnn:` message). */
async function readMessage(response: Response): Promise<string | undefined> {
  if (!/json/i.test(response.headers.get('content-type') ?? '')) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  const body = (await response.json().catch(() => null)) as { message?: unknown } | null;
  return typeof body?.message === 'string' && body.message !== '' ? body.message : undefined;
}
