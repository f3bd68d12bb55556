import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { GitsyncError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { trimTrailingSlash } from '../../core/origin.ts';
import { answeredAt } from '../batch-reads.ts';
import { budgetFromHeaders, X_RATELIMIT_HEADERS } from '../budget.ts';
import { LimitStreaks } from '../host-errors.ts';
import type { CallOptions } from '../types.ts';
import { type CredentialKind, translateBitbucketError } from './errors.ts';

export interface BitbucketClientOptions {
  clock: Clock;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
  /** ETag cache size (entries); bodies are kept parsed, with only the fields gitsync reads. */
  cacheEntries?: number;
  /** How long a token rests after Bitbucket said it is near its limit (`X-RateLimit-NearLimit`). */
  nearLimitPauseMs?: number;
}

export interface RequestCounts {
  /** Requests sent (redirect hops included). */
  sent: number;
  /** Of those, answered 304 Not Modified. */
  notModified: number;
}

interface CacheEntry {
  etag: string;
  value: unknown;
}

/**
 * How a configured token goes to Bitbucket (Atlassian, "Bitbucket Cloud REST API, Authentication
 * methods"):
 * - `email:api_token` (the part before the first `:` holds an `@`): an Atlassian API token, sent as
 *   HTTP Basic with the account e-mail as user name ("Using API tokens": REST calls take the
 *   e-mail, not the Bitbucket user name);
 * - any other `user:secret`: HTTP Basic as given — an app password (which stopped working on 9 June
 *   2026) or an API token with a user name; Bitbucket decides, and a rejection says why it likely
 *   failed;
 * - anything else: a workspace, project or repository access token (or an OAuth access token),
 *   sent as `Authorization: Bearer` ("Using access tokens").
 */
export function credentialFor(token: string): { header: string; kind: CredentialKind } {
  const colon = token.indexOf(':');
  if (colon > 0) {
    const user = token.slice(0, colon);
    return {
      header: `Basic ${Buffer.from(token, 'utf8').toString('base64')}`,
      kind: user.includes('@') ? 'api_token' : 'basic_other',
    };
  }
  return { header: `Bearer ${token}`, kind: 'bearer' };
}

/**
 * A small client for Bitbucket Cloud's REST API 2.0: credentials sent only under the configured
 * API base, conditional reads (`If-None-Match` with the ETag Bitbucket sent; a 304 reuses the
 * parsed body), redirects followed within the API (the PR diffstat answers 302), typed errors, a
 * pause when Bitbucket says a token is near its limit, and request counters.
 */
export class BitbucketClient {
  readonly apiUrl: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #streaks = new LimitStreaks();
  readonly #cache = new Map<string, CacheEntry>();
  readonly #cacheEntries: number;
  readonly #nearLimitPauseMs: number;
  /** Token fingerprint → until when it rests (near its limit). */
  readonly #resting = new Map<string, number>();
  readonly counts: RequestCounts = { sent: 0, notModified: 0 };

  constructor(apiUrl: string, options: BitbucketClientOptions) {
    this.apiUrl = trimTrailingSlash(apiUrl);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.#clock = options.clock;
    this.#cacheEntries = options.cacheEntries ?? 20_000;
    // "Rate limits are divided into a one-hour rolling window … for every minute that passes, you
    // will be provided that time to run new requests" ("API request limits"): a minute's rest lets
    // the window free some of the hour's budget before the next burst.
    this.#nearLimitPauseMs = options.nearLimitPauseMs ?? 60_000;
  }

  /**
   * Refuses to start new work with a token Bitbucket said is near its limit: a RateLimitedError
   * until the rest ends, so the engine pauses that (host, token) and shows `paused_until`. Checked
   * once per provider operation, so a read already under way completes.
   */
  gate(call: CallOptions): void {
    const fingerprint = tokenFingerprint(call.token);
    const until = this.#resting.get(fingerprint);
    if (until === undefined) return;
    if (until <= this.#clock.now().getTime()) {
      this.#resting.delete(fingerprint);
      return;
    }
    const resetAt = new Date(until);
    throw new RateLimitedError(
      resetAt,
      `bitbucket: the token is near its rate limit (X-RateLimit-NearLimit); resting until ${resetAt.toISOString()}`,
    );
  }

  /**
   * GETs a path under the API base (or a pagination link within it) and parses it with `schema`.
   * `answer`, when given, is told when Bitbucket says it answered: its `Date` header (RFC 9110: the
   * time the answer was made, to the second), null without one.
   */
  async get<T>(
    pathOrUrl: string,
    schema: z.ZodType<T>,
    call: CallOptions,
    answer?: { date?: number | null },
  ): Promise<T> {
    let url = this.#resolve(pathOrUrl);
    const what = `GET ${new URL(url).pathname.slice(new URL(this.apiUrl).pathname.length) || '/'}`;
    const fingerprint = tokenFingerprint(call.token);
    let response = await this.#send(url, call, what, fingerprint);
    // The PR diffstat (and at times other PR resources) answer 302 to the repository resource
    // that computes them ("Bitbucket Cloud REST API, Pullrequests": "Redirects to the repository
    // diffstat"): follow it, once, and only within this API — credentials go nowhere else.
    if ([301, 302, 303, 307, 308].includes(response.status)) {
      const location = response.headers.get('location');
      await response.body?.cancel().catch(() => {});
      if (!location)
        throw new UnavailableError(`bitbucket answered ${response.status} without a location (${what})`);
      url = this.#resolve(new URL(location, url).toString());
      response = await this.#send(url, call, what, fingerprint);
    }
    const key = `${fingerprint} ${url}`;
    if (answer) answer.date = answeredAt(response.headers);
    if (response.status === 304) {
      const cached = this.#cache.get(key);
      if (!cached) throw new UnavailableError(`bitbucket answered 304 to an unconditional request (${what})`);
      this.counts.notModified++;
      this.#touch(key, cached);
      return cached.value as T;
    }
    if ([301, 302, 303, 307, 308].includes(response.status))
      throw new UnavailableError(`bitbucket redirected twice (${what}); not followed`);
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new UnavailableError(`bitbucket answered a body that is not JSON (${what})`, { cause: error });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success)
      throw new UnavailableError(`bitbucket answered an unexpected shape (${what})`, { cause: parsed.error });
    const etag = response.headers.get('etag');
    if (etag) this.#touch(key, { etag, value: parsed.data });
    return parsed.data;
  }

  async #send(url: string, call: CallOptions, what: string, fingerprint: string): Promise<Response> {
    const credential = credentialFor(call.token);
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: credential.header,
      'user-agent': 'gitsync',
    };
    const cached = this.#cache.get(`${fingerprint} ${url}`);
    if (cached) headers['if-none-match'] = cached.etag;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    this.counts.sent++;
    let response: Response;
    try {
      response = await this.#fetch(url, { method: 'GET', headers, redirect: 'manual', signal });
    } catch (cause) {
      if (cause instanceof GitsyncError) throw cause;
      if (call.signal?.aborted) throw call.signal.reason ?? cause;
      const reason = timeout.aborted ? `timed out after ${this.#timeoutMs} ms` : 'unreachable';
      throw new UnavailableError(`bitbucket ${reason} (${what})`, { cause });
    }
    // Sent to access-token (and Forge) requests of the scaled `/2.0/repositories/*` endpoints
    // (Atlassian blog, "Introducing Scaled Rate Limits for Bitbucket Cloud API": X-RateLimit-Limit,
    // X-RateLimit-Resource, X-RateLimit-NearLimit): rest before the limit is hit, not after.
    // The limit per hour is said; what is left is not (only that less than a fifth is), and the
    // window rolls: no reset time. A 304 is counted as a request all the same.
    call.onBudget?.(budgetFromHeaders(response.headers, X_RATELIMIT_HEADERS, '', 1));
    if (response.headers.get('x-ratelimit-nearlimit')?.trim().toLowerCase() === 'true') {
      this.#resting.set(fingerprint, this.#clock.now().getTime() + this.#nearLimitPauseMs);
      if (this.#resting.size > 10_000) this.#resting.clear();
    }
    if (response.status < 400) {
      if (response.status !== 304) this.#streaks.reset(fingerprint);
      return response;
    }
    // Bitbucket's error body: `{"type": "error", "error": {"message": …, "detail": …}}`.
    const message = await response
      .json()
      .then((b: unknown) => {
        const said = (b as { error?: { message?: unknown } } | null)?.error?.message;
        return typeof said === 'string' ? said : '';
      })
      .catch(() => '');
    throw translateBitbucketError(
      response.status,
      response.headers,
      what,
      message || undefined,
      credential.kind,
      this.#clock,
      () => this.#streaks.next(fingerprint),
    );
  }

  #resolve(pathOrUrl: string): string {
    if (pathOrUrl.startsWith('/')) return this.apiUrl + pathOrUrl;
    if (!pathOrUrl.startsWith(`${this.apiUrl}/`))
      throw new UnavailableError(
        'bitbucket sent a link or redirect outside the configured API; not followed',
      );
    return pathOrUrl;
  }

  /** Least-recently-used eviction: a Map iterates in insertion order. */
  #touch(key: string, entry: CacheEntry): void {
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    if (this.#cache.size > this.#cacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
  }
}
