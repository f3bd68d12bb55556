import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { GitsyncError, UnavailableError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { trimTrailingSlash } from '../../core/origin.ts';
import { budgetFromHeaders } from '../budget.ts';
import type { CallOptions } from '../types.ts';
import { type GitHubScope, readErrorBody, SecondaryLimitStreaks, translateGitHubError } from './errors.ts';

/** GitHub's rate-limit headers ("Rate limits for the REST API"; GraphQL answers carry the same). */
const GITHUB_RATE_HEADERS = {
  limit: 'x-ratelimit-limit',
  remaining: 'x-ratelimit-remaining',
  reset: 'x-ratelimit-reset',
  resource: 'x-ratelimit-resource',
};

export const REQUEST_KINDS = [
  'list_pulls',
  'get_pull',
  'list_reviews',
  'get_repo',
  'list_check_runs',
  'combined_status',
  'graphql',
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type RequestOutcome = 'ok' | 'not_modified' | 'error';
export type RequestCounts = Record<RequestKind, Record<RequestOutcome, number>>;

export interface GitHubClientOptions {
  clock: Clock;
  fetch?: typeof fetch;
  /** ETag cache size (entries). Bodies are kept parsed, with only the fields gitsync reads. */
  cacheEntries?: number;
  requestTimeoutMs?: number;
}

interface CacheEntry {
  etag: string;
  value: unknown;
  next: string | null;
}

/**
 * A small REST client for one GitHub API base URL: conditional requests with ETags per (URL,
 * token) so unchanged resources come back as 304 (which GitHub does not count against the primary
 * rate limit), strict response parsing, typed errors, and request counters. The token is only
 * ever sent to URLs under this client's API base.
 */
export class GitHubClient {
  readonly #apiUrl: string;
  readonly #fetch: typeof fetch;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #cacheEntries: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly counts: RequestCounts;
  readonly #streaks = new SecondaryLimitStreaks();

  constructor(apiUrl: string, options: GitHubClientOptions) {
    this.#apiUrl = trimTrailingSlash(apiUrl);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#cacheEntries = options.cacheEntries ?? 20_000;
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.#clock = options.clock;
    this.counts = Object.fromEntries(
      REQUEST_KINDS.map((k) => [k, { ok: 0, not_modified: 0, error: 0 }]),
    ) as RequestCounts;
  }

  /** GETs `path` (or a pagination URL under the API base) conditionally, and parses it with `schema`. */
  async get<T>(
    kind: RequestKind,
    pathOrUrl: string,
    schema: z.ZodType<T>,
    call: CallOptions,
  ): Promise<{ value: T; next: string | null }> {
    const url = this.#resolve(pathOrUrl);
    const key = `${tokenFingerprint(call.token)} ${url}`;
    const cached = this.#cache.get(key);
    const response = await this.#send(kind, url, { method: 'GET', etag: cached?.etag }, call);
    if (response.status === 304 && cached) {
      this.counts[kind].not_modified++;
      this.#touch(key, cached);
      return { value: cached.value as T, next: cached.next };
    }
    const value = await this.#parse(kind, response, schema, `GET ${new URL(url).pathname}`);
    const next = nextLink(response.headers.get('link'));
    const etag = response.headers.get('etag');
    if (etag) this.#touch(key, { etag, value, next });
    return { value, next };
  }

  /**
   * POSTs a GraphQL query to `graphqlUrl` (GitHub's: `https://api.github.com/graphql`, or
   * `https://host/api/graphql` on Enterprise Server) and parses the answer with `schema`.
   * `accept`: the media type to ask for instead of the default (a schema preview's).
   */
  async graphql<T>(
    graphqlUrl: string,
    query: string,
    variables: object,
    schema: z.ZodType<T>,
    call: CallOptions,
    accept?: string,
  ) {
    const response = await this.#send(
      'graphql',
      graphqlUrl,
      { method: 'POST', body: JSON.stringify({ query, variables }), accept },
      call,
    );
    return {
      value: await this.#parse('graphql', response, schema, 'POST graphql'),
      headers: response.headers,
    };
  }

  /** One request with our headers, a timeout, redirects followed only within the API; non-2xx/304 become typed errors. */
  async #send(
    kind: RequestKind,
    url: string,
    options: {
      method: 'GET' | 'POST';
      etag?: string | undefined;
      body?: string;
      accept?: string | undefined;
    },
    call: CallOptions,
  ): Promise<Response> {
    const what = `${options.method} ${new URL(url).pathname}`;
    const headers: Record<string, string> = {
      accept: options.accept ?? 'application/vnd.github+json',
      authorization: `Bearer ${call.token}`,
      'user-agent': 'gitsync',
      // https://docs.github.com/en/rest/about-the-rest-api/api-versions
      'x-github-api-version': '2022-11-28',
    };
    if (options.etag) headers['if-none-match'] = options.etag;
    if (options.body) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    const init = { method: options.method, headers, body: options.body, signal, redirect: 'manual' as const };
    let response: Response;
    try {
      response = await this.#fetch(url, init);
      // A renamed or transferred repository answers with a redirect (GitHub REST docs, "301
      // Moved Permanently"): follow it once, and only within this API — the token goes nowhere else.
      const location = response.headers.get('location');
      if ([301, 302, 307, 308].includes(response.status) && location) {
        const target = new URL(location, url).toString();
        await response.body?.cancel().catch(() => {});
        response = await this.#fetch(this.#resolve(target), init);
      }
    } catch (cause) {
      this.counts[kind].error++;
      if (cause instanceof GitsyncError) throw cause;
      if (call.signal?.aborted) throw call.signal.reason ?? cause;
      const reason = timeout.aborted ? `timed out after ${this.#timeoutMs} ms` : 'unreachable';
      throw new UnavailableError(`github ${reason} (${what})`, { cause });
    }
    const scope: GitHubScope = kind === 'graphql' ? 'graphql' : 'core';
    // Every answer names its budget and what is left of it ("Rate limits for the REST API",
    // "Checking the status of your rate limit"); a conditional request answered 304 is free.
    call.onBudget?.(
      budgetFromHeaders(response.headers, GITHUB_RATE_HEADERS, scope, response.status === 304 ? 0 : 1),
    );
    if (response.status !== 200 && !(response.status === 304 && options.etag)) {
      this.counts[kind].error++;
      // The body says whether a 403/429 is a secondary limit (only its message does); error
      // bodies are small, and a broken one simply says nothing.
      let body: ReturnType<typeof readErrorBody> | undefined;
      if (response.status === 403 || response.status === 429)
        body = readErrorBody(await response.text().catch(() => ''));
      else await response.body?.cancel().catch(() => {});
      throw translateGitHubError(response.status, response.headers, what, this.#clock.now(), {
        body,
        scope,
        secondaryWaitMs: () => this.secondaryWaitMs(call.token, scope),
      });
    }
    if (scope === 'core') this.#streaks.reset(SecondaryLimitStreaks.key(call.token, scope));
    return response;
  }

  /** The wait for one more secondary limit of this token and budget (exponential on repeats). */
  secondaryWaitMs(token: string, scope: GitHubScope): number {
    return this.#streaks.next(SecondaryLimitStreaks.key(token, scope));
  }

  /** A GraphQL answer that was not a limit ends the secondary-limit streak. */
  graphqlSucceeded(token: string): void {
    this.#streaks.reset(SecondaryLimitStreaks.key(token, 'graphql'));
  }

  async #parse<T>(kind: RequestKind, response: Response, schema: z.ZodType<T>, what: string): Promise<T> {
    try {
      const parsed = schema.safeParse(await response.json());
      if (!parsed.success)
        throw new UnavailableError(`github sent an unexpected body (${what})`, { cause: parsed.error });
      this.counts[kind].ok++;
      return parsed.data;
    } catch (cause) {
      this.counts[kind].error++;
      if (cause instanceof GitsyncError) throw cause;
      throw new UnavailableError(`github sent a malformed body (${what})`, { cause });
    }
  }

  #resolve(pathOrUrl: string): string {
    if (pathOrUrl.startsWith('/')) return this.#apiUrl + pathOrUrl;
    // Only links and redirects under our own API host are followed: the token goes nowhere else.
    if (
      !pathOrUrl.startsWith(`${this.#apiUrl}/`) &&
      !pathOrUrl.startsWith(`${graphqlUrlFor(this.#apiUrl)}`)
    ) {
      throw new UnavailableError('github sent a link or redirect outside the configured API; not followed');
    }
    return pathOrUrl;
  }

  /** Least-recently-used eviction: a Map iterates in insertion order. */
  #touch(key: string, entry: CacheEntry): void {
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    if (this.#cache.size > this.#cacheEntries) this.#cache.delete(this.#cache.keys().next().value!);
  }
}

/**
 * GitHub's GraphQL endpoint for a REST API base: Enterprise Server `https://host/api/v3` →
 * `https://host/api/graphql`; api.github.com and GHE.com's `https://api.SUB.ghe.com` → `…/graphql`
 * (GitHub docs, "Forming calls with GraphQL", "The GraphQL endpoint").
 */
export function graphqlUrlFor(apiUrl: string): string {
  const base = trimTrailingSlash(apiUrl);
  return base.endsWith('/api/v3') ? `${base.slice(0, -'v3'.length)}graphql` : `${base}/graphql`;
}

/** The `rel="next"` URL of a Link header (RFC 8288), if any. */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?([^";]+)"?/.exec(part.trim());
    if (m && m[2]!.split(/\s+/).includes('next')) return m[1]!;
  }
  return null;
}
