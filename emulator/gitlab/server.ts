import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { fingerprint, HostEmulator } from '../host-emulator.ts';
import { answerAdmin, readBody, safeJson } from '../http.ts';
import { executeGitLabGraphql, MAX_QUERY_SIZE } from './graphql.ts';
import {
  CI_STATUSES,
  DETAILED_MERGE_STATUSES,
  EmulatorError,
  FAILURE_MESSAGES,
  GitLabModel,
  type GlProject,
  type MrState,
  REVIEW_STATES,
} from './model.ts';
import { Renderer } from './render.ts';

/** API routes the emulator serves; anything else is "unexpected", recorded and answered 404. */
export type RouteName =
  | 'get_project'
  | 'list_merge_requests'
  | 'get_merge_request'
  | 'get_approvals'
  | 'get_reviewers'
  | 'list_commits'
  | 'list_discussions'
  | 'list_members_all'
  | 'graphql';

export const FAULT_KINDS = [
  'latency',
  'status',
  'timeout',
  'garbage',
  'unauthorized',
  'rate_limit',
  'graphql_error',
  /**
   * 200 with data and an error: the first `field` (default `diffStatsSummary`) in the answer is
   * nulled and an error names its `path`, as GraphQL answers when one field's resolver fails.
   */
  'graphql_partial',
] as const;

const faultSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS),
  /** Regular expression tested against the request path below the API root (`/projects/…`, `/graphql`). */
  match: z.string().optional(),
  /** How many matching requests it applies to; omitted: all of them until cleared. */
  times: z.number().int().positive().optional(),
  /** `status`: the status to answer (default 502). */
  status: z.number().int().min(200).max(599).optional(),
  latency_ms: z.number().int().min(0).max(600_000).optional(),
  /** `rate_limit`: seconds until the quota resets (Retry-After). */
  reset_in_s: z.number().int().min(0).max(86_400).optional(),
  /** `graphql_error`, `graphql_partial`: the error message (default GitLab's "Internal server error"). */
  message: z.string().optional(),
  /** `graphql_partial`: the field to null. */
  field: z.string().optional(),
});
export type Fault = z.infer<typeof faultSchema>;

/** Project settings the admin API sets (GitLab's names, "Projects API"). */
const projectSettings = {
  merge_method: z.enum(['merge', 'rebase_merge', 'ff']).optional(),
  only_allow_merge_if_pipeline_succeeds: z.boolean().optional(),
  only_allow_merge_if_all_discussions_are_resolved: z.boolean().optional(),
};
const failureReason = z.enum(Object.keys(FAILURE_MESSAGES) as [keyof typeof FAILURE_MESSAGES]);
const jobInput = z.strictObject({
  name: z.string().min(1),
  stage: z.string().optional(),
  status: z.enum(CI_STATUSES).optional(),
  allow_failure: z.boolean().optional(),
  failure_reason: failureReason.optional(),
});

export interface LoggedRequest {
  method: string;
  path: string;
  route: RouteName | null;
  status: number;
  /** How the token came: GitLab accepts both headers. */
  token_header: 'private-token' | 'authorization' | null;
  /** First 12 hex digits of sha256(token); never the token. */
  token_fingerprint: string | null;
}

export interface GitLabEmulatorOptions {
  port?: number;
  /**
   * Serve under a path, as a self-managed instance at `https://host/gitlab` does: web URLs
   * `…/gitlab/group/repo`, REST at `/gitlab/api/v4`, GraphQL at `/gitlab/api/graphql`.
   */
  relativeUrlRoot?: string;
  /** Accept any non-empty token as user `agent` (demo); by default only tokens from `addToken`. */
  acceptAnyToken?: boolean;
  /**
   * Authenticated API requests per user per window (`throttle_authenticated_api`). GitLab.com:
   * 2,000 a minute ("Authenticated API traffic for a user"; GitLab.com rate limits).
   */
  rateLimit?: number;
  /** Unauthenticated API requests per window (`throttle_unauthenticated_api`; GitLab.com: 500 a minute). */
  unauthenticatedRateLimit?: number;
  rateLimitWindowS?: number;
  /**
   * true: send RateLimit-* headers with every answer, as a proxy in front of some instances does.
   * Default false, as GitLab itself: Rack::Attack's throttled responder is what adds them, so they
   * come only with a throttled (429) answer (`lib/gitlab/rack_attack.rb`,
   * `throttled_response_headers`: "Those headers will be sent back to the client when it gets
   * throttled").
   */
  rateLimitHeaders?: boolean;
  /**
   * Past this many items a list answer has no `x-total`, `x-total-pages` or `rel="last"` link
   * (REST docs, "Pagination response headers": GitLab omits them above 10,000 records).
   */
  paginationCountLimit?: number;
  now?: () => Date;
}

interface Budget {
  observed: number;
  resetAt: number;
}

export { fingerprint };

/** An HTTP server on 127.0.0.1 answering like GitLab's REST API v4 and GraphQL API. */
export class GitLabEmulator extends HostEmulator<RouteName, Fault, LoggedRequest> {
  readonly model: GitLabModel;
  latencyMs = 0;
  /** A complexity limit above GitLab's (for tests of other behaviour); null: GitLab's 250/200. */
  maxComplexity: number | null = null;
  /** GraphQL complexity scores of the queries run, in order. */
  readonly graphqlComplexity: number[] = [];
  readonly #tokens = new Map<string, { username: string; revoked: 'revoked' | 'expired' | null }>();
  readonly #budgets = new Map<string, Budget>();
  readonly #options: Required<Omit<GitLabEmulatorOptions, 'now' | 'port'>>;
  #renderer: Renderer | null = null;

  constructor(options: GitLabEmulatorOptions = {}) {
    super(faultSchema, options.port ?? 0);
    this.model = new GitLabModel(options.now);
    const root = (options.relativeUrlRoot ?? '').replace(/\/+$/, '');
    this.#options = {
      relativeUrlRoot: root === '' || root.startsWith('/') ? root : `/${root}`,
      acceptAnyToken: options.acceptAnyToken ?? false,
      rateLimit: options.rateLimit ?? 2000,
      unauthenticatedRateLimit: options.unauthenticatedRateLimit ?? 500,
      rateLimitWindowS: options.rateLimitWindowS ?? 60,
      rateLimitHeaders: options.rateLimitHeaders ?? false,
      paginationCountLimit: options.paginationCountLimit ?? 10_000,
    };
  }

  override async start(): Promise<this> {
    await super.start();
    this.#renderer = new Renderer(this.model, this.webUrl);
    return this;
  }

  protected answerCrash(res: ServerResponse, error: unknown): void {
    this.#json(res, 500, { message: '500 Internal Server Error', detail: String(error) });
  }

  /** The instance's web address (the provider's `web_url`), with any relative root. */
  get webUrl(): string {
    return this.origin + this.#options.relativeUrlRoot;
  }

  /** REST base, `…/api/v4` (the provider's `api_url`). */
  get apiUrl(): string {
    return `${this.webUrl}/api/v4`;
  }

  /** GraphQL endpoint, `…/api/graphql` ("The GitLab GraphQL API endpoint is located at `/api/graphql`"). */
  get graphqlUrl(): string {
    return `${this.webUrl}/api/graphql`;
  }

  get renderer(): Renderer {
    if (!this.#renderer) throw new Error('the emulator is not started');
    return this.#renderer;
  }

  /** Accepts `token` for `username` (sent as `PRIVATE-TOKEN: …` or `Authorization: Bearer …`). */
  addToken(token: string, username = 'agent'): void {
    this.model.user(username);
    this.#tokens.set(token, { username, revoked: null });
  }

  /** Revokes a token, or lets it expire: both are then answered 401. */
  revokeToken(token: string, how: 'revoked' | 'expired' = 'revoked'): void {
    const state = this.#tokens.get(token);
    if (state) state.revoked = how;
    else this.#tokens.set(token, { username: 'revoked', revoked: how });
  }

  /** The throttle state of a user (`RateLimit-Observed` etc.). */
  budget(username: string): { limit: number; observed: number; remaining: number } {
    const b = this.#budgets.get(`user:${username.toLowerCase()}`);
    const limit = this.#options.rateLimit;
    const observed = b && Date.now() < b.resetAt ? b.observed : 0;
    return { limit, observed, remaining: Math.max(0, limit - observed) };
  }

  // ---- request handling ----------------------------------------------------------------------

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const url = new URL(raw, this.origin);
    const rawPath = raw.split('?')[0]!;
    if (rawPath.startsWith('/_emulator/')) return this.#admin(req, res, url);
    const root = this.#options.relativeUrlRoot;
    const avatar = new RegExp(`^${escapeRe(root)}/uploads/-/system/user/avatar/(\\d+)/avatar\\.png$`).exec(
      rawPath,
    );
    if (avatar && req.method === 'GET') return this.#avatar(res, Number(avatar[1]));

    const method = req.method ?? 'GET';
    const apiRoot = `${root}/api/v4`;
    const isGraphql = rawPath === `${root}/api/graphql` && (method === 'POST' || method === 'GET');
    // Paths are matched before decoding: a project path must come URL-encoded (`group%2Frepo`);
    // unencoded it "doesn't match an API endpoint and responds with a 404" (REST docs, "Path parameters").
    const sub = rawPath.startsWith(`${apiRoot}/`) ? rawPath.slice(apiRoot.length) : null;
    const route = isGraphql
      ? { name: 'graphql' as const, params: [] as string[] }
      : sub !== null && method === 'GET'
        ? matchRoute(sub)
        : null;
    const { token, header } = readToken(req);
    const record = (status: number) => {
      this.countAnswer(route?.name ?? null, method, url.pathname, status);
      this.log.push({
        method,
        path: url.pathname + url.search,
        route: route?.name ?? null,
        status,
        token_header: header,
        token_fingerprint: token ? fingerprint(token) : null,
      });
      if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
    };
    if (!route) {
      // Grape's answer for a path no endpoint matches.
      record(404);
      return this.#json(res, 404, { error: '404 Not Found' });
    }

    if (this.latencyMs > 0) await sleep(this.latencyMs);
    // Mergeability checks asked for by earlier requests have run in the background by now.
    this.model.settleMergeChecks();
    const fault = this.takeFault(isGraphql ? '/graphql' : sub!);
    if (fault?.kind === 'latency') await sleep(fault.latency_ms ?? 1000);

    // Authentication: an unknown, revoked or expired token is refused; no token is anonymous.
    let viewer: string | null = null;
    if (token !== null || fault?.kind === 'unauthorized') {
      const state = token === null ? undefined : this.#tokens.get(token);
      if (state === undefined && token !== null && this.#options.acceptAnyToken) {
        this.addToken(token);
        viewer = 'agent';
      } else if (!state || state.revoked || fault?.kind === 'unauthorized') {
        record(401);
        if (isGraphql) return this.#json(res, 401, { errors: [{ message: 'Invalid token' }] });
        if (state?.revoked === 'expired')
          return this.#json(
            res,
            401,
            { error: 'invalid_token', error_description: 'Token has expired.' },
            { 'www-authenticate': 'Bearer realm="Protected by OAuth 2.0", error="invalid_token"' },
          );
        if (state?.revoked === 'revoked')
          return this.#json(
            res,
            401,
            {
              error: 'invalid_token',
              error_description: 'Token was revoked. You have to re-authorize from the user.',
            },
            { 'www-authenticate': 'Bearer realm="Protected by OAuth 2.0", error="invalid_token"' },
          );
        return this.#json(res, 401, { message: '401 Unauthorized' });
      } else viewer = state.username;
    }

    // Rack::Attack throttles: one budget per user (authenticated) or per client (anonymous),
    // shared by REST and GraphQL, both under /api/.
    const throttle = this.#throttle(viewer);
    if (fault?.kind === 'rate_limit' || throttle.exceeded) {
      record(429);
      const resetIn = fault?.kind === 'rate_limit' ? (fault.reset_in_s ?? 60) : throttle.resetIn;
      const resetAt = Math.ceil(Date.now() / 1000) + resetIn;
      // "A request that exceeds a rate limit returns a `429` response code and a plain-text body,
      // which by default is `Retry later`" (User and IP rate limits, "Response headers").
      res.writeHead(429, {
        'content-type': 'text/plain',
        ...throttle.headers,
        'ratelimit-remaining': '0',
        'ratelimit-reset': String(resetAt),
        'ratelimit-resettime': new Date(resetAt * 1000).toUTCString(),
        'retry-after': String(resetIn),
      });
      return void res.end('Retry later\n');
    }
    const limits = this.#options.rateLimitHeaders ? throttle.headers : {};
    if (fault?.kind === 'status') {
      const status = fault.status ?? 502;
      record(status);
      return this.#json(res, status, { message: `${status} ${statusText(status)}` }, limits);
    }
    if (fault?.kind === 'timeout') {
      record(0);
      this.hang(res);
      return;
    }
    if (fault?.kind === 'garbage') {
      record(200);
      res.writeHead(200, { 'content-type': 'application/json', ...limits });
      return void res.end('{"id": 1, "iid": 1, "title": "trunc');
    }

    if (isGraphql) {
      if (fault?.kind === 'graphql_error') {
        record(200);
        return this.#json(
          res,
          200,
          { errors: [{ message: fault.message ?? 'Internal server error' }] },
          limits,
        );
      }
      const { status, body } = await this.#graphql(req, url, viewer);
      if (fault?.kind === 'graphql_partial')
        nullFirst(body, fault.field ?? 'diffStatsSummary', fault.message);
      record(status);
      return this.#json(res, status, body, limits);
    }

    try {
      const answer = this.#answer(route.name, route.params, url, viewer);
      if ('redirect' in answer) {
        record(301);
        res.writeHead(301, { location: answer.redirect, 'content-type': 'text/plain', ...limits });
        return void res.end(`This resource has been moved permanently to ${answer.redirect}`);
      }
      record(200);
      this.#json(res, 200, answer.body, { ...limits, ...answer.headers });
    } catch (error) {
      if (!(error instanceof EmulatorError)) throw error;
      record(error.status);
      const body = error.status === 400 ? { error: error.message } : { message: error.message };
      this.#json(res, error.status, body, limits);
    }
  }

  async #graphql(
    req: IncomingMessage,
    url: URL,
    viewer: string | null,
  ): Promise<{ status: number; body: unknown }> {
    let request: unknown;
    if (req.method === 'GET') {
      const variables = url.searchParams.get('variables');
      request = {
        query: url.searchParams.get('query') ?? undefined,
        variables: variables ? safeJson(variables) : undefined,
        operationName: url.searchParams.get('operationName') ?? undefined,
      };
    } else {
      request = safeJson(await readBody(req, '413 Request Entity Too Large'));
      if (request === undefined)
        return { status: 200, body: { errors: [{ message: 'Unexpected end of document' }] } };
    }
    // `GraphqlController#limit_query_size` (`app/controllers/graphql_controller.rb`): the query's
    // characters — summed over a multiplexed batch — above `MAX_QUERY_SIZE` (10,000) raise
    // `Gitlab::Graphql::Errors::ArgumentError, "Query too large"`, which `ERROR_STATUS_MAP` answers
    // 422 with `render_error`'s body, `{"errors": [{"message": "Query too large"}]}`.
    const queryOf = (one: unknown) => {
      const q = (one as { query?: unknown } | null)?.query;
      return typeof q === 'string' ? q.length : 0;
    };
    const size = Array.isArray(request)
      ? request.reduce((n: number, one) => n + queryOf(one), 0)
      : queryOf(request);
    if (size > MAX_QUERY_SIZE) return { status: 422, body: { errors: [{ message: 'Query too large' }] } };
    const run = async (one: unknown) => {
      const r = (typeof one === 'object' && one !== null ? one : {}) as Record<string, unknown>;
      const { body, complexity } = await executeGitLabGraphql(this.renderer, r, {
        viewer,
        maxComplexity: this.maxComplexity,
        canSee: (p) => this.model.canSee(p, viewer),
      });
      if (complexity !== null) {
        this.graphqlComplexity.push(complexity);
        if (this.graphqlComplexity.length > 5000) this.graphqlComplexity.splice(0, 1000);
      }
      return body;
    };
    // "GitLab supports batching queries into a single request" (GraphQL docs, "Multiplex queries").
    if (Array.isArray(request)) return { status: 200, body: await Promise.all(request.map(run)) };
    return { status: 200, body: await run(request) };
  }

  #visibleProject(idOrPath: string, viewer: string | null): GlProject | { redirect: number } {
    const project = this.model.findProject(idOrPath);
    if (project) {
      // A project the token cannot see answers exactly as a missing one.
      if (!this.model.canSee(project, viewer)) throw new EmulatorError(404, '404 Project Not Found');
      return project;
    }
    const moved = this.model.redirects.get(idOrPath.toLowerCase());
    const target = moved === undefined ? undefined : this.model.findProject(moved);
    if (target && this.model.canSee(target, viewer)) return { redirect: target.id };
    throw new EmulatorError(404, '404 Project Not Found');
  }

  #answer(
    name: RouteName,
    params: string[],
    url: URL,
    viewer: string | null,
  ): { body: unknown; headers?: Record<string, string> } | { redirect: string } {
    const r = this.renderer;
    const m = this.model;
    const found = this.#visibleProject(params[0]!, viewer);
    if ('redirect' in found) {
      const rest = url.pathname
        .slice(`${new URL(this.apiUrl).pathname}/projects/`.length)
        .split('/')
        .slice(1);
      return {
        redirect: `${this.apiUrl}/projects/${found.redirect}${rest.length ? `/${rest.join('/')}` : ''}${url.search}`,
      };
    }
    const project = found;
    const q = url.searchParams;
    const mr = () => m.mergeRequest(project.id, Number(params[1]));
    switch (name) {
      case 'get_project':
        return { body: r.project(project) };
      case 'get_merge_request': {
        // "The mergeability of each merge request is checked asynchronously when a request is made
        // to this endpoint" (merge_requests.md, "Single merge request response notes").
        const one = mr();
        m.requestMergeCheck(one);
        return { body: r.mergeRequest(one, viewer) };
      }
      case 'list_discussions': {
        const one = mr();
        const { slice, headers } = this.#paginate(one.discussions, url);
        return { body: slice.map((d) => r.discussion(one, d)), headers };
      }
      case 'list_members_all': {
        // Members with their access level, direct and inherited ("Group and project members
        // API", "List all members of a group or project"), filtered by `user_ids` (an array:
        // `user_ids[]=1&user_ids[]=2`, or Grape's comma-separated form).
        const ids = new Set(
          [...q.getAll('user_ids[]'), ...q.getAll('user_ids').flatMap((v) => v.split(','))]
            .filter((v) => v !== '')
            .map(Number),
        );
        const members = [...m.users.values()]
          .map((u) => ({ u, level: m.accessLevel(project, u.username) }))
          .filter(({ u, level }) => level !== null && (ids.size === 0 || ids.has(u.id)))
          .sort((a, b) => a.u.id - b.u.id);
        const { slice, headers } = this.#paginate(members, url);
        return { body: slice.map(({ u, level }) => r.member(u.username, level!)), headers };
      }
      case 'get_approvals':
        return { body: r.approvals(mr(), viewer) };
      case 'get_reviewers':
        return { body: r.reviewers(mr()) };
      case 'list_commits': {
        const list = [...mr().commits].reverse();
        const { slice, headers } = this.#paginate(list, url);
        return {
          body: slice.map((c) => r.commit(project, c, list[list.indexOf(c) + 1]?.id ?? null)),
          headers,
        };
      }
      case 'list_merge_requests': {
        const state = q.get('state') ?? 'all';
        const orderBy = q.get('order_by') ?? 'created_at';
        const sort = q.get('sort') ?? 'desc';
        // Grape validation errors: 400 `{"error": "<param> does not have a valid value"}`.
        if (!['opened', 'closed', 'locked', 'merged', 'all'].includes(state))
          throw new EmulatorError(400, 'state does not have a valid value');
        if (!['created_at', 'updated_at', 'merged_at', 'title'].includes(orderBy))
          throw new EmulatorError(400, 'order_by does not have a valid value');
        if (!['asc', 'desc'].includes(sort)) throw new EmulatorError(400, 'sort does not have a valid value');
        const iids = q.getAll('iids[]').map(Number);
        if (iids.some((n) => !Number.isInteger(n))) throw new EmulatorError(400, 'iids is invalid');
        const list = m.listMergeRequests(project, {
          state: state as MrState | 'all',
          source_branch: q.get('source_branch') ?? undefined,
          target_branch: q.get('target_branch') ?? undefined,
          iids,
          order_by: orderBy as 'created_at',
          sort: sort as 'asc',
        });
        const { slice, headers } = this.#paginate(list, url);
        const body = slice.map((x) => r.mergeRequestBasic(x));
        // A list does not recompute mergeability unless asked; then it requests (but does not
        // wait for) a recheck of the MRs listed (merge_requests.md, "Merge requests list response
        // notes") — only for a token that may update the project's MRs, silently ignored otherwise
        // (`recheck_mergeability_of`: `return unless can?(current_user, :update_merge_request,
        // user_project)`, `lib/api/merge_requests.rb`).
        if (q.get('with_merge_status_recheck') === 'true' && m.canUpdateMergeRequests(project, viewer))
          for (const x of slice) m.requestMergeCheck(x);
        return { body, headers };
      }
      case 'graphql':
        throw new EmulatorError(500, 'GraphQL is answered elsewhere');
    }
  }

  /**
   * Offset pagination (REST docs, "Pagination"): `page` (default 1), `per_page` (default 20, at
   * most 100 — larger values are cut to 100, not refused), `x-page`, `x-per-page`, `x-next-page`
   * and `x-prev-page` (empty when none), `x-total`, `x-total-pages`, and a `Link` header with
   * prev/next/first/last. Past the count limit the totals and `rel="last"` are left out.
   */
  #paginate<T>(items: T[], url: URL): { slice: T[]; headers: Record<string, string> } {
    const q = url.searchParams;
    const int = (name: string, fallback: number) => {
      const raw = q.get(name);
      if (raw === null || raw === '') return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new EmulatorError(400, `${name} is invalid`);
      return n;
    };
    const perPage = Math.min(100, Math.max(1, int('per_page', 20)));
    const page = Math.max(1, int('page', 1));
    const total = items.length;
    const pages = Math.max(1, Math.ceil(total / perPage));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const hasNext = page * perPage < total;
    const link = (p: number) => {
      const u = new URL(url.toString());
      u.searchParams.set('page', String(p));
      u.searchParams.set('per_page', String(perPage));
      return `${this.origin}${u.pathname}${u.search}`;
    };
    const counted = total <= this.#options.paginationCountLimit;
    const links = [
      ...(page > 1 ? [`<${link(page - 1)}>; rel="prev"`] : []),
      ...(hasNext ? [`<${link(page + 1)}>; rel="next"`] : []),
      `<${link(1)}>; rel="first"`,
      ...(counted ? [`<${link(pages)}>; rel="last"`] : []),
    ];
    return {
      slice,
      headers: {
        link: links.join(', '),
        'x-page': String(page),
        'x-per-page': String(perPage),
        'x-next-page': hasNext ? String(page + 1) : '',
        'x-prev-page': page > 1 ? String(page - 1) : '',
        ...(counted ? { 'x-total': String(total), 'x-total-pages': String(pages) } : {}),
      },
    };
  }

  /**
   * Counts the request against its throttle and returns its RateLimit-* headers (RateLimit-Name,
   * -Limit, -Observed, -Remaining, -Reset; `Gitlab::RackAttack.throttled_response_headers`): sent
   * with a throttled answer, and with every answer only when `rateLimitHeaders` is set.
   */
  #throttle(viewer: string | null): { exceeded: boolean; resetIn: number; headers: Record<string, string> } {
    const key = viewer === null ? 'ip:127.0.0.1' : `user:${viewer.toLowerCase()}`;
    const limit = viewer === null ? this.#options.unauthenticatedRateLimit : this.#options.rateLimit;
    const now = Date.now();
    let b = this.#budgets.get(key);
    if (!b || now >= b.resetAt) {
      b = { observed: 0, resetAt: now + this.#options.rateLimitWindowS * 1000 };
      this.#budgets.set(key, b);
    }
    b.observed++;
    const resetAt = Math.ceil(b.resetAt / 1000);
    return {
      exceeded: b.observed > limit,
      resetIn: Math.max(1, Math.ceil((b.resetAt - now) / 1000)),
      headers: {
        'ratelimit-name': viewer === null ? 'throttle_unauthenticated_api' : 'throttle_authenticated_api',
        'ratelimit-limit': String(limit),
        'ratelimit-observed': String(b.observed),
        'ratelimit-remaining': String(Math.max(0, limit - b.observed)),
        'ratelimit-reset': String(resetAt),
      },
    };
  }

  /** A generated avatar (initial on a colour), so pages work offline. */
  #avatar(res: ServerResponse, id: number): void {
    const user = [...this.model.users.values()].find((u) => u.id === id);
    const name = user?.username ?? '?';
    const hue = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
    const letter = (name[0] ?? '?').toUpperCase().replace(/[^A-Z0-9]/, '?');
    res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=3600' });
    res.end(
      `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="hsl(${hue},55%,45%)"/>` +
        `<text x="20" y="26" font-family="sans-serif" font-size="18" fill="#fff" text-anchor="middle">${letter}</text></svg>`,
    );
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'max-age=0, private, must-revalidate',
      vary: 'Origin',
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  // ---- admin API (for `gitsync demo` and out-of-process tests) ---------------------------------

  #admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    return answerAdmin(req, res, url, (method, parts, input) => this.#adminAction(method, parts, input));
  }

  /**
   * Admin routes; a project is named by its URL-encoded path, e.g.
   * `POST /_emulator/projects/group%2Frepo/merge_requests`.
   */
  #adminAction(method: string, parts: string[], input: unknown): unknown {
    const m = this.model;
    const variable =
      parts[0] === 'projects' ? [1, 3, 5] : parts[0] === 'tokens' || parts[0] === 'users' ? [1] : [];
    const key = `${method} ${parts.map((p, i) => (variable.includes(i) ? ':' : p)).join('/')}`;
    const [, path, , iidRaw] = parts;
    const iid = Number(iidRaw);
    const user = z.strictObject({ username: z.string().min(1) });
    switch (key) {
      case 'POST reset':
        m.projects.clear();
        m.mergeRequests.clear();
        m.redirects.clear();
        this.faults.length = 0;
        this.latencyMs = 0;
        this.resetCounters();
        return { ok: true };
      case 'POST tokens': {
        const t = z.strictObject({ token: z.string().min(1), username: z.string().optional() }).parse(input);
        this.addToken(t.token, t.username);
        return { ok: true };
      }
      case 'DELETE tokens/:':
        this.revokeToken(parts[1]!);
        return { ok: true };
      case 'POST users': {
        const t = z
          .strictObject({
            username: z.string().min(1),
            name: z.string().optional(),
            avatar_url: z.string().nullable().optional(),
            bot: z.boolean().optional(),
          })
          .parse(input);
        return { id: m.createUser(t.username, t).id };
      }
      case 'DELETE users/:':
        m.deleteUser(parts[1]!);
        return { ok: true };
      case 'POST projects': {
        const t = z
          .strictObject({
            path: z.string().min(3),
            visibility: z.enum(['private', 'internal', 'public']).optional(),
            members: z.array(z.string().min(1)).optional(),
            reporters: z.array(z.string().min(1)).optional(),
            forked_from: z.string().optional(),
            default_branch: z.string().optional(),
            approvals_required: z.number().int().min(0).optional(),
            tier: z.enum(['free', 'premium']).optional(),
            ...projectSettings,
          })
          .parse(input);
        const p = m.createProject(t);
        return { id: p.id, web_url: this.renderer.projectWebUrl(p) };
      }
      case 'PATCH projects/:': {
        const t = z
          .strictObject({
            visibility: z.enum(['private', 'internal', 'public']).optional(),
            approvals_required: z.number().int().min(0).optional(),
            tier: z.enum(['free', 'premium']).optional(),
            members: z.array(z.string().min(1)).optional(),
            reporters: z.array(z.string().min(1)).optional(),
            path: z.string().min(3).optional(),
            ...projectSettings,
          })
          .parse(input);
        if (t.visibility) m.setVisibility(path!, t.visibility);
        m.configureProject(path!, t);
        if (t.path) m.moveProject(path!, t.path);
        return { ok: true };
      }
      case 'POST projects/:/push': {
        const t = z
          .strictObject({
            branch: z.string().min(1),
            count: z.number().int().min(1).optional(),
            author: z.string().optional(),
          })
          .parse(input);
        return { sha: m.push(path!, t.branch, t) };
      }
      case 'POST projects/:/merge_requests': {
        const t = z
          .strictObject({
            source_branch: z.string().min(1),
            source_project: z.string().optional(),
            target_branch: z.string().optional(),
            title: z.string().optional(),
            description: z.string().optional(),
            draft: z.boolean().optional(),
            author: z.string().optional(),
            additions: z.number().int().min(0).optional(),
            deletions: z.number().int().min(0).optional(),
            file_count: z.number().int().min(0).optional(),
            commits: z.number().int().min(0).optional(),
            prepared: z.boolean().optional(),
          })
          .parse(input);
        const mr = m.openMergeRequest(path!, t);
        return { iid: mr.iid, web_url: this.renderer.mergeRequestWebUrl(mr) };
      }
      case 'PATCH projects/:/merge_requests/:': {
        const t = z
          .strictObject({
            title: z.string().optional(),
            description: z.string().optional(),
            draft: z.boolean().optional(),
            target_branch: z.string().optional(),
            merge_check: z.enum(DETAILED_MERGE_STATUSES).nullable().optional(),
            user_notes_count: z.number().int().min(0).optional(),
            conflicts: z.boolean().optional(),
            behind: z.boolean().optional(),
          })
          .parse(input);
        const { conflicts, behind, ...patch } = t;
        m.updateMergeRequest(path!, iid, patch);
        if (conflicts !== undefined || behind !== undefined) m.setGitState(path!, iid, { conflicts, behind });
        return { ok: true };
      }
      case 'POST projects/:/pipelines': {
        const t = z
          .strictObject({
            ref: z.string().min(1),
            sha: z.string().optional(),
            status: z.enum(CI_STATUSES).optional(),
            source: z.string().optional(),
            jobs: z.array(jobInput).optional(),
          })
          .parse(input);
        const p = m.createPipeline(path!, t);
        return { id: p.id, web_url: this.renderer.pipelineWebUrl(p) };
      }
      case 'PATCH projects/:/pipelines/:/jobs/:': {
        const t = z
          .strictObject({ status: z.enum(CI_STATUSES), failure_reason: failureReason.optional() })
          .parse(input);
        m.updateJob(Number(parts[3]), parts[5]!, t);
        return { ok: true };
      }
      case 'POST projects/:/pipelines/:/jobs/:/retry':
        m.retryJob(Number(parts[3]), parts[5]!);
        return { ok: true };
      case 'POST projects/:/merge_requests/:/notes': {
        const t = z.strictObject({ author: z.string().min(1), body: z.string() }).parse(input);
        return { discussion_id: m.comment(path!, iid, t).id };
      }
      case 'POST projects/:/merge_requests/:/discussions': {
        const t = z
          .strictObject({
            author: z.string().min(1),
            body: z.string(),
            file: z.string().optional(),
            line: z.number().int().positive().optional(),
          })
          .parse(input);
        return { discussion_id: m.startThread(path!, iid, t).id };
      }
      case 'POST projects/:/merge_requests/:/discussions/:/notes': {
        const t = z.strictObject({ author: z.string().min(1), body: z.string() }).parse(input);
        m.reply(path!, iid, parts[5]!, t);
        return { ok: true };
      }
      case 'PUT projects/:/merge_requests/:/discussions/:': {
        const t = z.strictObject({ resolved: z.boolean(), by: z.string().optional() }).parse(input);
        m.resolveThread(path!, iid, parts[5]!, t.resolved, t.by);
        return { ok: true };
      }
      case 'PUT projects/:/merge_requests/:/diff': {
        const t = z
          .strictObject({
            stats: z
              .strictObject({
                additions: z.number().int().min(0),
                deletions: z.number().int().min(0),
                file_count: z.number().int().min(0),
              })
              .nullable(),
          })
          .parse(input);
        m.setDiffStats(path!, iid, t.stats);
        return { ok: true };
      }
      case 'POST projects/:/merge_requests/:/reviewers':
        m.requestReview(path!, iid, user.parse(input).username);
        return { ok: true };
      case 'POST projects/:/merge_requests/:/reviews': {
        const t = z.strictObject({ username: z.string().min(1), state: z.enum(REVIEW_STATES) }).parse(input);
        m.review(path!, iid, t.username, t.state);
        return { ok: true };
      }
      case 'POST projects/:/merge_requests/:/approve':
        m.approve(path!, iid, user.parse(input).username);
        return { ok: true };
      case 'POST projects/:/merge_requests/:/unapprove':
        m.unapprove(path!, iid, user.parse(input).username);
        return { ok: true };
      case 'POST projects/:/merge_requests/:/lock':
        m.lock(path!, iid);
        return { ok: true };
      case 'POST projects/:/merge_requests/:/merge':
        m.merge(path!, iid);
        return { ok: true };
      case 'POST projects/:/merge_requests/:/close':
        m.close(path!, iid);
        return { ok: true };
      case 'POST projects/:/merge_requests/:/reopen':
        m.reopen(path!, iid);
        return { ok: true };
      case 'POST faults':
        this.addFaults(...z.strictObject({ faults: z.array(faultSchema) }).parse(input).faults);
        return { ok: true };
      case 'DELETE faults':
        this.clearFaults();
        return { ok: true };
      case 'PUT latency':
        this.latencyMs = z.strictObject({ ms: z.number().int().min(0).max(600_000) }).parse(input).ms;
        return { ok: true };
      case 'GET counters':
        return this.counters;
      case 'POST counters/reset':
        this.resetCounters();
        return { ok: true };
      case 'GET requests':
        return { requests: this.log };
      default:
        return undefined;
    }
  }
}

/**
 * The REST route of a path below `/api/v4`. Segments are split before decoding, so
 * `/projects/group%2Fsub%2Frepo/merge_requests` names project `group/sub/repo`, while the
 * unencoded `/projects/group/sub/repo` matches nothing.
 */
function matchRoute(path: string): { name: RouteName; params: string[] } | null {
  let seg: string[];
  try {
    seg = path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return null;
  }
  if (seg[0] !== 'projects' || seg.length < 2 || seg[1] === '') return null;
  const [, id, kind, iid, sub] = seg;
  if (seg.length === 2) return { name: 'get_project', params: [id!] };
  if (kind === 'members' && iid === 'all' && seg.length === 4)
    return { name: 'list_members_all', params: [id!] };
  if (kind !== 'merge_requests') return null;
  if (seg.length === 3) return { name: 'list_merge_requests', params: [id!] };
  if (!/^\d+$/.test(iid!)) return null;
  if (seg.length === 4) return { name: 'get_merge_request', params: [id!, iid!] };
  if (seg.length !== 5) return null;
  if (sub === 'approvals') return { name: 'get_approvals', params: [id!, iid!] };
  if (sub === 'reviewers') return { name: 'get_reviewers', params: [id!, iid!] };
  if (sub === 'commits') return { name: 'list_commits', params: [id!, iid!] };
  if (sub === 'discussions') return { name: 'list_discussions', params: [id!, iid!] };
  return null;
}

/**
 * GitLab takes a personal/project/group access token as `PRIVATE-TOKEN: <token>` or as
 * `Authorization: Bearer <token>` (REST docs, "Authentication").
 */
function readToken(req: IncomingMessage): { token: string | null; header: LoggedRequest['token_header'] } {
  const privateToken = req.headers['private-token'];
  if (typeof privateToken === 'string' && privateToken !== '')
    return { token: privateToken, header: 'private-token' };
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (m) return { token: m[1]!, header: 'authorization' };
  return { token: null, header: null };
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
    403: 'Forbidden',
    404: 'Not Found',
  };
  return texts[status] ?? 'Error';
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startGitLabEmulator(options: GitLabEmulatorOptions = {}): Promise<GitLabEmulator> {
  return new GitLabEmulator(options).start();
}

/** Nulls the first `field` found in a GraphQL answer's data and adds an error with its path. */
function nullFirst(body: unknown, field: string, message = 'Internal server error'): void {
  const answer = body as { data?: unknown; errors?: unknown[] };
  const walk = (node: unknown, path: (string | number)[]): (string | number)[] | null => {
    if (node === null || typeof node !== 'object') return null;
    const entries: [string | number, unknown][] = Array.isArray(node)
      ? node.map((v, i) => [i, v])
      : Object.entries(node as Record<string, unknown>);
    for (const [key, value] of entries) {
      if (key === field) {
        (node as Record<string, unknown>)[key] = null;
        return [...path, key];
      }
      const found = walk(value, [...path, key]);
      if (found) return found;
    }
    return null;
  };
  const path = walk(answer.data, []);
  if (path)
    answer.errors = [...(answer.errors ?? []), { message, locations: [{ line: 1, column: 1 }], path }];
}
