import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { UnavailableError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { trimTrailingSlash } from '../../core/origin.ts';
import { budgetFromHeaders } from '../budget.ts';
import { fetchFromHost, LimitStreaks, parseHostJson, readHostJson } from '../host-errors.ts';
import type { CallOptions } from '../types.ts';
import { translateGitLabError } from './errors.ts';

export interface GitLabClientOptions {
  clock: Clock;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
}

export type GitLabRequestKind = 'rest' | 'graphql';

/** A GraphQL error of GitLab's (`{"message", "path"?}`). */
export interface GraphqlError {
  message: string;
  path?: (string | number)[] | undefined;
}

/**
 * GitLab refused a query as too complex ("Query has complexity of N, which exceeds max complexity
 * of M"): the caller asks again in smaller parts, sized by `score` and `limit` where GitLab said them.
 */
export class ComplexityError extends UnavailableError {
  constructor(
    message: string,
    readonly score: number | null = null,
    readonly limit: number | null = null,
  ) {
    super(message);
  }
}

/**
 * GitLab refused a query as too long: HTTP 422 `{"errors": [{"message": "Query too large"}]}`
 * (`GraphqlController#limit_query_size`, over `MAX_QUERY_SIZE`, 10,000 characters).
 */
export class QueryTooLargeError extends ComplexityError {}

/**
 * A small client for one GitLab instance: REST under `api_url` (`…/api/v4`) and GraphQL at
 * `…/api/graphql` (GitLab docs, "GraphQL API": the endpoint is `/api/graphql`). Tokens go as
 * `Authorization: Bearer`, which GitLab accepts for personal, project, group and OAuth tokens
 * alike ("REST API authentication"), and only ever to this instance's API.
 */
export class GitLabClient {
  readonly #apiUrl: string;
  readonly graphqlUrl: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #streaks = new LimitStreaks();
  readonly counts: Record<GitLabRequestKind, number> = { rest: 0, graphql: 0 };

  constructor(apiUrl: string, options: GitLabClientOptions) {
    this.#apiUrl = trimTrailingSlash(apiUrl);
    this.graphqlUrl = graphqlUrlFor(this.#apiUrl);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.#clock = options.clock;
  }

  /** GETs a REST path under the API base and parses the answer with `schema`. */
  async get<T>(path: string, schema: z.ZodType<T>, call: CallOptions): Promise<T> {
    const what = `GET ${path.split('?')[0]}`;
    const response = await this.#send('rest', `${this.#apiUrl}${path}`, { method: 'GET' }, call, what);
    return parseHostJson(response, schema, 'gitlab', what);
  }

  /**
   * GETs one page of a REST list: its items, and whether GitLab has more (`x-next-page` set, or a
   * `rel="next"` link; REST docs, "Pagination").
   */
  async getPage<T>(
    path: string,
    schema: z.ZodType<T>,
    call: CallOptions,
  ): Promise<{ items: T; more: boolean }> {
    const what = `GET ${path.split('?')[0]}`;
    const response = await this.#send('rest', `${this.#apiUrl}${path}`, { method: 'GET' }, call, what);
    const more =
      (response.headers.get('x-next-page') ?? '') !== '' ||
      /rel="next"/.test(response.headers.get('link') ?? '');
    return { items: await parseHostJson(response, schema, 'gitlab', what), more };
  }

  /**
   * POSTs a GraphQL query. Returns the data and the errors that came with it (GitLab answers
   * partial data with errors for the parts that failed); throws when there is no data at all —
   * `ComplexityError` when the query was too complex for GitLab's limit.
   */
  async graphql<T>(
    query: string,
    schema: z.ZodType<T>,
    call: CallOptions,
  ): Promise<{ data: T; errors: GraphqlError[] }> {
    const what = 'POST /api/graphql';
    const response = await this.#send(
      'graphql',
      this.graphqlUrl,
      { method: 'POST', body: JSON.stringify({ query }), contentType: 'application/json' },
      call,
      what,
    );
    const body = await readHostJson(response, 'gitlab', what);
    const errors = readErrors(body);
    const data = (body as { data?: unknown } | null)?.data;
    if (data === null || data === undefined) {
      const message = errors.map((e) => e.message).join('; ') || 'no data';
      // "Query has complexity of N, which exceeds max complexity of 250" (graphql-ruby's
      // max-complexity analyzer; `GitlabSchema`: 200 unauthenticated, 250 authenticated, 300 admin).
      const m = /complexity of (\d+), which exceeds max complexity of (\d+)/i.exec(message);
      if (m) throw new ComplexityError(`gitlab: ${message.slice(0, 300)}`, Number(m[1]), Number(m[2]));
      if (/complexity|too large/i.test(message))
        throw new ComplexityError(`gitlab: ${message.slice(0, 300)}`);
      throw new UnavailableError(`gitlab graphql answered errors: ${message.slice(0, 300)}`);
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw new UnavailableError(`gitlab graphql answered an unexpected shape (${what})`);
    return { data: parsed.data, errors };
  }

  async #send(
    kind: GitLabRequestKind,
    url: string,
    init: { method: string; body?: string; contentType?: string },
    call: CallOptions,
    what: string,
  ): Promise<Response> {
    if (!url.startsWith(`${this.#apiUrl}/`) && url !== this.graphqlUrl) {
      throw new UnavailableError(`refusing to send a token outside ${this.#apiUrl}`);
    }
    this.counts[kind]++;
    const response = await fetchFromHost(
      this.#fetch,
      url,
      {
        method: init.method,
        headers: {
          accept: 'application/json',
          authorization: `Bearer ${call.token}`,
          ...(init.contentType ? { 'content-type': init.contentType } : {}),
        },
        body: init.body,
        redirect: 'error',
      },
      { timeoutMs: this.#timeoutMs, signal: call.signal, host: 'gitlab', what },
    );
    // GitLab counts every request against the user's one budget; its `RateLimit-*` headers come
    // with a throttled (429) answer only (`Gitlab::RackAttack.throttled_response_headers`;
    // `RateLimit-Reset` is Unix seconds), and with every answer only where a proxy in front adds
    // them: an answer without them says nothing of the budget.
    call.onBudget?.(
      budgetFromHeaders(
        response.headers,
        { limit: 'ratelimit-limit', remaining: 'ratelimit-remaining', reset: 'ratelimit-reset' },
        '',
        1,
      ),
    );
    const fingerprint = tokenFingerprint(call.token);
    if (response.ok) {
      this.#streaks.reset(fingerprint);
      return response;
    }
    // GitLab's error bodies: `{"message": …}` (REST), `{"error": …}` (OAuth), or
    // `{"errors": [{"message": …}]}` (GraphqlController#render_error).
    const message = await response
      .json()
      .then((b: unknown) => {
        const body = b as { message?: unknown; error?: unknown; errors?: { message?: unknown }[] } | null;
        const said = body?.message ?? body?.error ?? body?.errors?.[0]?.message ?? '';
        return typeof said === 'string' ? said : JSON.stringify(said);
      })
      .catch(() => '');
    // A query over GitLab's size limit is a 422 (`ERROR_STATUS_MAP`: `Gitlab::Graphql::Errors::
    // ArgumentError` → `:unprocessable_entity`): the caller splits it, it does not fail the batch.
    if (kind === 'graphql' && response.status === 422 && /too large/i.test(message))
      throw new QueryTooLargeError(`gitlab: ${message.slice(0, 300)} (${what}: 422)`);
    throw translateGitLabError(
      response.status,
      response.headers,
      what,
      message || undefined,
      this.#clock,
      () => this.#streaks.next(fingerprint),
    );
  }
}

/** `https://host/gitlab/api/v4` → `https://host/gitlab/api/graphql`. */
export function graphqlUrlFor(apiUrl: string): string {
  const base = trimTrailingSlash(apiUrl);
  return base.endsWith('/api/v4') ? `${base.slice(0, -'/api/v4'.length)}/api/graphql` : `${base}/graphql`;
}

function readErrors(body: unknown): GraphqlError[] {
  const list = (body as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(list)) return [];
  return list.map((e) => ({
    message: String((e as { message?: unknown })?.message ?? 'error'),
    path: Array.isArray((e as { path?: unknown })?.path)
      ? (e as { path: (string | number)[] }).path
      : undefined,
  }));
}
