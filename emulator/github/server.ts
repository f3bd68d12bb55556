import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { graphqlUrlFor } from '../../src/providers/github/client.ts';
import { fingerprint, HostEmulator } from '../host-emulator.ts';
import { answerAdmin, readBody } from '../http.ts';
import { type AppAnswer, GitHubApps } from './app.ts';
import {
  executeGitHubGraphql,
  type HiddenFields,
  MERGE_INFO_FIELDS,
  prepareGraphql,
  restrictionMessage,
} from './graphql.ts';
import { CHECK_RUN_CONCLUSIONS, CHECK_RUN_STATUSES, EmulatorError, GitHubModel } from './model.ts';
import { Renderer } from './render.ts';

/** API routes the emulator serves; anything else is "unexpected" and answered 404. */
export type RouteName =
  | 'get_repo'
  | 'list_pulls'
  | 'get_pull'
  | 'list_reviews'
  | 'list_check_runs'
  | 'combined_status'
  | 'graphql'
  // A GitHub App's routes (emulator/github/app.ts)
  | AppAnswer['route'];

export const FAULT_KINDS = [
  'latency',
  'status',
  'timeout',
  'garbage',
  'unauthorized',
  'rate_limit',
  'secondary_rate_limit',
  'too_many_requests',
  'graphql_rate_limit',
  'graphql_field_error',
] as const;

/** The `type` of GitHub's GraphQL primary rate-limit error: RATE_LIMITED, and since 2026 also RATE_LIMIT. */
export const GRAPHQL_RATE_LIMIT_TYPES = ['RATE_LIMITED', 'RATE_LIMIT'] as const;

/** GitHub's words for a secondary rate limit (GitHub docs, "Rate limits for the REST API"). */
export const SECONDARY_LIMIT_MESSAGE =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.';

const faultSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS),
  /** Regular expression tested against the request path (API prefix removed). */
  match: z.string().optional(),
  /** How many matching requests it applies to; omitted: all of them until cleared. */
  times: z.number().int().positive().optional(),
  /** `status`: the status to answer; `secondary_rate_limit`: 403 (default), 429 or — GraphQL — 200. */
  status: z.number().int().min(200).max(599).optional(),
  latency_ms: z.number().int().min(0).max(600_000).optional(),
  /**
   * For the rate-limit kinds: seconds until the limit resets (retry-after / x-ratelimit-reset).
   * `secondary_rate_limit` sends `retry-after` only when this is given, as GitHub often does not.
   */
  reset_in_s: z.number().int().min(0).max(86_400).optional(),
  /** `graphql_rate_limit`: the error type GitHub sends (default RATE_LIMITED). */
  type: z.enum(GRAPHQL_RATE_LIMIT_TYPES).optional(),
  /** `graphql_field_error`: the PullRequest field that fails (its value is nulled, the rest answered). */
  field: z.string().optional(),
});
export type Fault = z.infer<typeof faultSchema>;

export interface LoggedRequest {
  method: string;
  path: string;
  route: RouteName | null;
  status: number;
  /** First 12 hex digits of sha256(token): lets tests check which token was sent, without the token. */
  token_fingerprint: string | null;
  /** The request's `Accept` header, as sent (null without one): shows which media types a client asked for. */
  accept: string | null;
}

/**
 * Where `PullRequest.mergeStateStatus` (and `canBeRebased`) can be read: `public` — github.com,
 * whatever `Accept` says (its published schema, which @octokit/graphql-schema downloads without a
 * preview media type, has them, and github.com's schema previews list no longer names them:
 * github/docs, src/graphql/data/fpt/previews.json); `preview` — an Enterprise Server that shows
 * them only with `application/vnd.github.merge-info-preview+json` in `Accept` (its previews list,
 * e.g. github/docs, src/graphql/data/ghes-3.11/previews.json, "Merge info preview"); `absent` — an
 * Enterprise Server that lacks them altogether. A query naming a field the server does not show
 * fails validation as a whole, as graphql-ruby answers it (see `undefinedFieldErrors`).
 */
export const MERGE_INFO_MODES = ['public', 'preview', 'absent'] as const;
export type MergeInfoMode = (typeof MERGE_INFO_MODES)[number];

/** The merge-info preview's media type ("Schema previews", "Merge info preview"). */
const MERGE_INFO_PREVIEW_TYPE = /(^|[\s,])application\/vnd\.github\.merge-info-preview(\+json)?\s*(;|,|$)/i;

export interface GitHubEmulatorOptions {
  port?: number;
  /** Path prefix of the REST API: `/api/v3` as on GitHub Enterprise Server (default), or `` like api.github.com. */
  apiPrefix?: string;
  /** Accept any non-empty token (demo); by default only tokens registered with `addToken`. */
  acceptAnyToken?: boolean;
  /** Primary rate-limit budget per token per window (GitHub: 5,000 per hour). */
  rateLimit?: number;
  /** GraphQL budget in points per token per window, separate from REST's (GitHub: 5,000 an hour). */
  graphqlRateLimit?: number;
  /** The `type` of the GraphQL rate-limit error once the budget is spent. */
  graphqlRateLimitType?: (typeof GRAPHQL_RATE_LIMIT_TYPES)[number];
  /** Where `mergeStateStatus` can be read (default `public`, as github.com); see MergeInfoMode. */
  mergeInfo?: MergeInfoMode;
  rateLimitWindowS?: number;
  now?: () => Date;
}

interface Budget {
  limit: number;
  used: number;
  resetAt: number;
}

/**
 * REST (`core`) and GraphQL are separate budgets: "The GraphQL API has its own rate limit, distinct
 * from the REST API" (GitHub docs, "Rate limits and node limits for the GraphQL API").
 */
interface TokenState {
  login: string;
  core: Budget;
  graphql: Budget;
  revoked: boolean;
  /** An installation token's expiry (ms since the epoch, the model's clock); none for others. */
  expiresAt?: number;
}

type Resource = 'core' | 'graphql';

export { fingerprint };

/** An HTTP server on 127.0.0.1 that answers like GitHub's REST API for the calls gitsync makes. */
export class GitHubEmulator extends HostEmulator<RouteName, Fault, LoggedRequest> {
  readonly model: GitHubModel;
  latencyMs = 0;
  /** API requests received, counted on arrival (before latency or faults). */
  received = 0;
  readonly #tokens = new Map<string, TokenState>();
  readonly #options: Required<Omit<GitHubEmulatorOptions, 'now' | 'port' | 'mergeInfo'>>;
  /** GraphQL points charged, in total (GitHub's formula); `graphqlCosts` per query. */
  graphqlPoints = 0;
  readonly graphqlCosts: { cost: number; nodes: number }[] = [];
  /** GraphQL queries refused unrun: invalid (a field this server does not show) or over a limit. */
  graphqlRefusals = 0;
  /** See MergeInfoMode; `PUT /_emulator/merge_info` changes it. */
  mergeInfo: MergeInfoMode;
  #renderer: Renderer | null = null;
  /** GitHub Apps, their installations and installation tokens. */
  readonly apps: GitHubApps;
  /** Each installation's budgets, shared by all its tokens (GitHub limits installations, not tokens). */
  readonly #installationBudgets = new Map<number, Pick<TokenState, 'core' | 'graphql'>>();

  constructor(options: GitHubEmulatorOptions = {}) {
    super(faultSchema, options.port ?? 0);
    this.model = new GitHubModel(options.now);
    const self = this;
    this.apps = new GitHubApps({
      model: this.model,
      renderer: () => this.#renderer!,
      get webUrl() {
        return self.webUrl;
      },
      get apiUrl() {
        return self.apiUrl;
      },
      addInstallationToken: (token, login, installation, limit, expiresAt) => {
        const resetAt = Date.now() + this.#options.rateLimitWindowS * 1000;
        const budgets = this.#installationBudgets.get(installation) ?? {
          core: { limit, used: 0, resetAt },
          graphql: { limit, used: 0, resetAt },
        };
        this.#installationBudgets.set(installation, budgets);
        this.#tokens.set(token, { login, ...budgets, revoked: false, expiresAt: expiresAt.getTime() });
      },
      revokeToken: (token) => this.revokeToken(token),
    });
    this.mergeInfo = options.mergeInfo ?? 'public';
    this.#options = {
      apiPrefix: (options.apiPrefix ?? '/api/v3').replace(/\/+$/, ''),
      acceptAnyToken: options.acceptAnyToken ?? false,
      rateLimit: options.rateLimit ?? 5000,
      graphqlRateLimit: options.graphqlRateLimit ?? options.rateLimit ?? 5000,
      graphqlRateLimitType: options.graphqlRateLimitType ?? 'RATE_LIMITED',
      rateLimitWindowS: options.rateLimitWindowS ?? 3600,
    };
  }

  override async start(): Promise<this> {
    await super.start();
    this.#renderer = new Renderer(this.model, this.webUrl, this.apiUrl);
    return this;
  }

  protected answerCrash(res: ServerResponse, error: unknown): void {
    this.#json(res, 500, { message: String(error) });
  }

  /** Where html_url links point; the provider's `web_url`. */
  get webUrl(): string {
    return this.origin;
  }

  /** The REST API base; the provider's `api_url`. */
  get apiUrl(): string {
    return this.origin + this.#options.apiPrefix;
  }

  addToken(
    token: string,
    login = 'agent',
    limit = this.#options.rateLimit,
    graphqlLimit = Math.max(limit, this.#options.graphqlRateLimit),
  ): void {
    const resetAt = Date.now() + this.#options.rateLimitWindowS * 1000;
    this.#tokens.set(token, {
      login,
      core: { limit, used: 0, resetAt },
      graphql: { limit: graphqlLimit, used: 0, resetAt },
      revoked: false,
    });
  }

  revokeToken(token: string): void {
    const state = this.#tokens.get(token);
    if (state) state.revoked = true;
    else
      this.#tokens.set(token, {
        login: 'revoked',
        core: { limit: 0, used: 0, resetAt: 0 },
        graphql: { limit: 0, used: 0, resetAt: 0 },
        revoked: true,
      });
  }

  /** A token's budget: what `GET /rate_limit` would show for `core` or `graphql`. */
  budget(token: string, resource: Resource): { limit: number; used: number; remaining: number } {
    const b = this.#tokens.get(token)?.[resource];
    return b
      ? { limit: b.limit, used: b.used, remaining: Math.max(0, b.limit - b.used) }
      : { limit: 0, used: 0, remaining: 0 };
  }

  // ---- request handling ----------------------------------------------------------------------

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    if (url.pathname.startsWith('/_emulator/')) return this.#admin(req, res, url);
    if (url.pathname.startsWith('/avatars/'))
      return this.#avatar(res, url.pathname.slice(9).replace(/\.png$/, ''));
    this.received++;
    const prefix = this.#options.apiPrefix;
    const graphqlPath = new URL(graphqlUrlFor(this.apiUrl)).pathname;
    const isGraphql = req.method === 'POST' && url.pathname === graphqlPath;
    const path = isGraphql
      ? '/graphql'
      : url.pathname.startsWith(`${prefix}/`) || prefix === ''
        ? url.pathname.slice(prefix.length)
        : null;
    const route = isGraphql
      ? { name: 'graphql' as const, params: [] }
      : path === null
        ? null
        : matchRoute(path);
    const token = bearer(req.headers.authorization);
    const record = (status: number, name: RouteName | null = route?.name ?? null) => {
      this.countAnswer(name, req.method ?? '', url.pathname, status);
      this.log.push({
        method: req.method ?? '',
        path: url.pathname + url.search,
        route: name,
        status,
        token_fingerprint: token ? fingerprint(token) : null,
        accept: req.headers.accept ?? null,
      });
      if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
    };
    const app =
      path === null || isGraphql
        ? null
        : this.apps.answer(req.method ?? '', path, url.searchParams, req.headers.authorization);
    if (app) {
      record(app.status, app.route);
      return this.#json(res, app.status, app.body);
    }
    if ((req.method !== 'GET' && !isGraphql) || !route || path === null) {
      record(404);
      return this.#json(res, 404, {
        message: 'Not Found',
        documentation_url: 'https://docs.github.com/rest',
      });
    }

    if (this.latencyMs > 0) await sleep(this.latencyMs);
    const fault = this.takeFault(path);
    if (fault?.kind === 'latency') await sleep(fault.latency_ms ?? 1000);

    const auth = this.#authenticate(token);
    if (auth === 'bad' || fault?.kind === 'unauthorized') {
      record(401);
      return this.#json(res, 401, {
        message: 'Bad credentials',
        documentation_url: 'https://docs.github.com/rest',
        status: '401',
      });
    }
    const resource: Resource = isGraphql ? 'graphql' : 'core';
    const limits = this.#rateHeaders(token!, resource);
    if (fault && fault.kind !== 'latency' && fault.kind !== 'graphql_field_error') {
      const handled = this.#injectFault(fault, res, limits, record, isGraphql);
      if (handled) return;
    }
    const tokenState = this.#tokens.get(token!);
    const budget = tokenState?.[resource];
    if (tokenState && budget && budget.used >= budget.limit) {
      const message = `API rate limit exceeded for user ID ${this.model.userId(tokenState.login)}.`;
      if (isGraphql) {
        // GraphQL's primary limit: HTTP 200 with an error whose type is RATE_LIMITED (RATE_LIMIT
        // since 2026) and x-ratelimit-remaining: 0.
        record(200);
        return this.#json(
          res,
          200,
          { data: null, errors: [{ type: this.#options.graphqlRateLimitType, message }] },
          limits,
        );
      }
      record(403);
      // GitHub's primary rate limit response: 403 with x-ratelimit-remaining: 0.
      return this.#json(res, 403, { message, documentation_url: RATE_LIMIT_DOCS }, limits);
    }

    const login = tokenState?.login ?? null;
    if (isGraphql) {
      // GraphQL: always 200 (errors travel in the body), no ETags, charged by GitHub's formula.
      const body = await this.#graphql(
        req,
        login,
        token!,
        fault?.kind === 'graphql_field_error' ? fault : null,
      );
      record(200);
      return this.#json(res, 200, body, this.#rateHeaders(token!, 'graphql'));
    }
    let params = route.params;
    if (route.byId) {
      const repo = [...this.model.repos.values()].find((r) => String(r.id) === route.params[0]);
      params = repo ? [repo.owner, repo.name, ...route.params.slice(1)] : ['', '', ...route.params.slice(1)];
    }
    const renamed = this.model.renames.get(`${params[0]}/${params[1]}`.toLowerCase());
    const target = this.model.repos.get((renamed ?? `${params[0]}/${params[1]}`).toLowerCase());
    if (target && !this.model.canSee(target, login)) {
      // GitHub hides a private repository from a token without access behind 404, not 403
      // (GitHub REST docs, "Troubleshooting": "404 … resources that require authentication").
      record(404);
      this.#spend(token!, 'core');
      return this.#json(
        res,
        404,
        { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' },
        this.#rateHeaders(token!, 'core'),
      );
    }
    if (target?.restriction) {
      // An organization enforcing SAML SSO or an IP allow list refuses the token with 403 and says why.
      record(403);
      this.#spend(token!, 'core');
      return this.#json(
        res,
        403,
        {
          message: restrictionMessage(target.restriction, target.owner),
          documentation_url: 'https://docs.github.com/rest',
        },
        this.#rateHeaders(token!, 'core'),
      );
    }
    if (renamed && target && !this.model.repos.has(`${params[0]}/${params[1]}`.toLowerCase())) {
      // GitHub answers requests for a renamed or transferred repository with 301 to the
      // repository's id-based address (`/repositories/{id}/…`; GitHub REST docs, "Best practices:
      // Follow redirects").
      record(301);
      const rest = path
        .split('/')
        .slice(route.byId ? 3 : 4)
        .join('/');
      const location = `${this.apiUrl}/repositories/${target.id}${rest ? `/${rest}` : ''}${url.search}`;
      return this.#json(
        res,
        301,
        { message: 'Moved Permanently', url: location, documentation_url: 'https://docs.github.com/rest' },
        { location, ...limits },
      );
    }
    let body: unknown;
    let next: string | null = null;
    try {
      ({ body, next } = this.#answer({ name: route.name, params: params.map(String) }, url));
    } catch (error) {
      if (!(error instanceof EmulatorError)) throw error;
      record(error.status);
      this.#spend(token!, 'core');
      return this.#json(
        res,
        error.status,
        { message: error.message, documentation_url: 'https://docs.github.com/rest' },
        this.#rateHeaders(token!, 'core'),
      );
    }
    const text = JSON.stringify(body);
    const etag = `W/"${createHash('sha256').update(text).digest('hex')}"`;
    if (req.headers['if-none-match'] === etag) {
      // Conditional hit: no body, and (as on GitHub) not charged to the primary rate limit.
      record(304);
      res.writeHead(304, { etag, ...limits });
      return void res.end();
    }
    this.#spend(token!, 'core');
    record(200);
    const headers: Record<string, string> = { etag, ...this.#rateHeaders(token!, 'core') };
    if (next) headers.link = `<${next}>; rel="next"`;
    this.#json(res, 200, body, headers);
  }

  /** Executes a GraphQL query against GitHub's published schema, answering from the model. */
  async #graphql(
    req: IncomingMessage,
    login: string | null,
    token: string,
    fieldFault: Fault | null,
  ): Promise<unknown> {
    let request: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      request = JSON.parse(await readBody(req));
    } catch {
      return { errors: [{ message: 'Problems parsing JSON' }] };
    }
    if (typeof request.query !== 'string')
      return { errors: [{ message: 'A query attribute must be specified and must be a string.' }] };
    const variables = (request.variables ?? {}) as Record<string, unknown>;
    const prepared = prepareGraphql(request.query, variables, this.#hiddenFields(req.headers.accept));
    if ('refused' in prepared) {
      this.graphqlRefusals++;
      return prepared.refused;
    }
    this.#spend(token, 'graphql', prepared.cost.cost);
    this.graphqlPoints += prepared.cost.cost;
    this.graphqlCosts.push({ cost: prepared.cost.cost, nodes: prepared.cost.nodes });
    if (this.graphqlCosts.length > 5000) this.graphqlCosts.splice(0, this.graphqlCosts.length - 5000);
    return executeGitHubGraphql(this.#renderer!, prepared.document, variables, {
      canSee: (repo) => this.model.canSee(repo, login),
      failingFields: fieldFault?.field ? [fieldFault.field] : [],
    });
  }

  /** The schema members this server does not show to a request with this `Accept` (see MergeInfoMode). */
  #hiddenFields(accept: string | undefined): HiddenFields {
    if (this.mergeInfo === 'public') return NONE_HIDDEN;
    if (this.mergeInfo === 'preview' && MERGE_INFO_PREVIEW_TYPE.test(accept ?? '')) return NONE_HIDDEN;
    return MERGE_INFO_FIELDS;
  }

  #answer(route: { name: RouteName; params: string[] }, url: URL): { body: unknown; next: string | null } {
    const r = this.#renderer!;
    const [owner, name, number] = route.params;
    const full = `${owner}/${name}`;
    const q = url.searchParams;
    const page = clampInt(q.get('page'), 1, 1, 10_000);
    const perPage = clampInt(q.get('per_page'), 30, 1, 100);
    const paginate = <T>(items: T[]) => {
      const slice = items.slice((page - 1) * perPage, page * perPage);
      let next: string | null = null;
      if (page * perPage < items.length) {
        const n = new URL(url.toString());
        n.searchParams.set('page', String(page + 1));
        next = this.origin + n.pathname + n.search;
      }
      return { slice, next };
    };
    switch (route.name) {
      case 'graphql':
      case 'get_app':
      case 'list_installations':
      case 'get_repo_installation':
      case 'create_installation_token':
        throw new EmulatorError(400, 'GraphQL and the App routes are answered elsewhere');
      case 'get_repo':
        return { body: r.fullRepository(this.model.repo(full)), next: null };
      case 'get_pull':
        return { body: r.pull(this.model.pull(full, Number(number))), next: null };
      case 'list_reviews': {
        const pull = this.model.pull(full, Number(number));
        const { slice, next } = paginate([...pull.reviews].sort((a, b) => a.id - b.id));
        return { body: slice.map((rv) => r.review(pull, rv)), next };
      }
      case 'list_check_runs':
      case 'combined_status': {
        const repo = this.model.repo(full);
        // A branch name stands for its head commit, as GitHub resolves refs.
        const sha = repo.branches.get(number!) ?? number!;
        const first = <T>(list: T[]) => list.slice((page - 1) * perPage, page * perPage);
        // Both are paged (`per_page` at most 100, `page`) and count everything in `total_count`;
        // GitHub's description gives the check runs a `Link` header and the combined status none
        // (@octokit/openapi, "List check runs for a Git reference", "Get the combined status for a
        // specific reference"), so a client must page the statuses by number.
        return route.name === 'list_check_runs'
          ? { body: r.checkRuns(full, sha, first), next: paginate(this.model.checksOf(sha).runs).next }
          : { body: r.combinedStatus(full, sha, first), next: null };
      }
      case 'list_pulls': {
        const state = q.get('state') ?? 'open';
        const sort = q.get('sort') ?? 'created';
        const direction = q.get('direction') ?? (sort === 'created' ? 'desc' : 'desc');
        if (
          !['open', 'closed', 'all'].includes(state) ||
          !['created', 'updated'].includes(sort) ||
          !['asc', 'desc'].includes(direction)
        ) {
          throw new EmulatorError(422, 'Validation Failed');
        }
        const list = this.model.listPulls(full, {
          state: state as 'open',
          head: q.get('head') ?? undefined,
          sort: sort as 'created',
          direction: direction as 'asc',
        });
        const { slice, next } = paginate(list);
        return { body: slice.map((p) => r.pullSimple(p)), next };
      }
    }
  }

  #authenticate(token: string | null): 'ok' | 'bad' {
    if (!token) return 'bad';
    const state = this.#tokens.get(token);
    if (state?.revoked) return 'bad';
    // An installation token is refused once it expires ("Bad credentials", as any unknown token).
    if (state?.expiresAt !== undefined && this.model.now().getTime() >= state.expiresAt) return 'bad';
    if (!state) {
      if (!this.#options.acceptAnyToken) return 'bad';
      this.addToken(token);
    }
    return 'ok';
  }

  #spend(token: string, resource: Resource, points = 1): void {
    const state = this.#tokens.get(token)?.[resource];
    if (!state) return;
    if (Date.now() >= state.resetAt) {
      state.used = 0;
      state.resetAt = Date.now() + this.#options.rateLimitWindowS * 1000;
    }
    state.used += points;
  }

  /** GitHub's rate-limit headers for one budget (GitHub docs, "Rate limits for the REST API"). */
  #rateHeaders(token: string, resource: Resource): Record<string, string> {
    const state = this.#tokens.get(token)?.[resource];
    if (!state) return {};
    return {
      'x-ratelimit-limit': String(state.limit),
      'x-ratelimit-remaining': String(Math.max(0, state.limit - state.used)),
      'x-ratelimit-used': String(state.used),
      'x-ratelimit-reset': String(Math.ceil(state.resetAt / 1000)),
      'x-ratelimit-resource': resource,
    };
  }

  /** Answers with the fault; returns false when the fault only delays (the request goes on). */
  #injectFault(
    fault: Fault,
    res: ServerResponse,
    limits: Record<string, string>,
    record: (s: number) => void,
    isGraphql: boolean,
  ): boolean {
    const resetIn = fault.reset_in_s ?? 60;
    switch (fault.kind) {
      case 'status': {
        const status = fault.status ?? 502;
        record(status);
        this.#json(res, status, { message: 'Server Error' }, limits);
        return true;
      }
      case 'timeout':
        // Never answer; the client's timeout (or close()) ends it.
        record(0);
        this.hang(res);
        return true;
      case 'garbage':
        record(200);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', ...limits });
        res.end('{"number": 1, "title": "trunc');
        return true;
      case 'rate_limit':
        record(403);
        this.#json(
          res,
          403,
          { message: 'API rate limit exceeded', documentation_url: RATE_LIMIT_DOCS },
          {
            ...limits,
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + resetIn),
          },
        );
        return true;
      case 'secondary_rate_limit': {
        // 403 or 429 (or, from GraphQL, sometimes 200) with only a message naming the secondary
        // limit; `retry-after` only sometimes, and x-ratelimit-remaining still above 0.
        const status = fault.status ?? 403;
        record(status);
        const retry: Record<string, string> =
          fault.reset_in_s !== undefined ? { 'retry-after': String(fault.reset_in_s) } : {};
        const body =
          status === 200 && isGraphql
            ? { errors: [{ message: SECONDARY_LIMIT_MESSAGE }] }
            : { message: SECONDARY_LIMIT_MESSAGE, documentation_url: SECONDARY_LIMIT_DOCS };
        this.#json(res, status, body, { ...limits, ...retry });
        return true;
      }
      case 'graphql_rate_limit':
        record(200);
        this.#json(
          res,
          200,
          {
            data: null,
            errors: [
              { type: fault.type ?? 'RATE_LIMITED', message: 'API rate limit exceeded for user ID 1.' },
            ],
          },
          {
            ...limits,
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + resetIn),
          },
        );
        return true;
      case 'too_many_requests':
        record(429);
        this.#json(
          res,
          429,
          { message: 'Too many requests', documentation_url: RATE_LIMIT_DOCS },
          { ...limits, 'retry-after': String(resetIn) },
        );
        return true;
      default:
        return false;
    }
  }

  /** A generated avatar (initial on a colour from the login), so pages work offline. */
  #avatar(res: ServerResponse, login: string): void {
    const hue = [...login].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
    const letter = (login[0] ?? '?').toUpperCase().replace(/[^A-Z0-9]/, '?');
    res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=3600' });
    res.end(
      `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="hsl(${hue},55%,45%)"/>` +
        `<text x="20" y="26" font-family="sans-serif" font-size="18" fill="#fff" text-anchor="middle">${letter}</text></svg>`,
    );
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      vary: 'Accept, Authorization, Cookie',
      'x-github-media-type': 'github.v3; format=json',
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  // ---- admin API -------------------------------------------------------------------------------

  #admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    return answerAdmin(req, res, url, (method, parts, input) => this.#adminAction(method, parts, input));
  }

  #adminAction(method: string, parts: string[], input: unknown): unknown {
    const m = this.model;
    // Route key with the variable segments (owner, repo, number, review id, token) as ':'.
    const variable =
      parts[0] === 'repos' ? [1, 2, 4, 6] : parts[0] === 'tokens' || parts[0] === 'users' ? [1] : [];
    const key = `${method} ${parts.map((p, i) => (variable.includes(i) ? ':' : p)).join('/')}`;
    const [, o, r, , n, , id] = parts;
    const full = `${o}/${r}`;
    switch (key) {
      case 'POST reset':
        this.model.repos.clear();
        this.model.pulls.clear();
        this.faults.length = 0;
        this.latencyMs = 0;
        this.resetCounters();
        return { ok: true };
      case 'POST tokens': {
        const t = z
          .strictObject({
            token: z.string().min(1),
            login: z.string().optional(),
            limit: z.number().int().min(0).optional(),
            graphql_limit: z.number().int().min(0).optional(),
          })
          .parse(input);
        this.addToken(t.token, t.login, t.limit, t.graphql_limit);
        return { ok: true };
      }
      case 'DELETE tokens/:':
        this.revokeToken(parts[1]!);
        return { ok: true };
      case 'POST repos': {
        const t = z
          .strictObject({
            owner: z.string().min(1),
            name: z.string().min(1),
            fork_of: z.string().optional(),
            default_branch: z.string().optional(),
            private: z.boolean().optional(),
            collaborators: z.array(z.string().min(1)).optional(),
            required_approvals: z.number().int().min(0).max(6).optional(),
            restriction: z.enum(['saml', 'ip_allow_list']).nullable().optional(),
          })
          .parse(input);
        const repo = m.createRepo(t);
        return { full_name: `${repo.owner}/${repo.name}` };
      }
      case 'PATCH repos/:/:': {
        const t = z
          .strictObject({
            private: z.boolean().optional(),
            name: z.string().min(1).optional(),
            required_approvals: z.number().int().min(0).max(6).optional(),
            restriction: z.enum(['saml', 'ip_allow_list']).nullable().optional(),
          })
          .parse(input);
        if (t.private !== undefined) m.setPrivate(full, t.private);
        m.configureRepo(full, t);
        if (t.name) m.renameRepo(full, t.name);
        return { ok: true };
      }
      case 'DELETE repos/:/:':
        m.deleteRepo(full);
        return { ok: true };
      case 'DELETE users/:':
        m.deleteUser(parts[1]!);
        return { ok: true };
      case 'POST repos/:/:/branches': {
        const t = z.strictObject({ branch: z.string().min(1), sha: z.string().optional() }).parse(input);
        return { sha: m.push(full, t.branch, t.sha) };
      }
      case 'DELETE repos/:/:/branches/:':
        m.deleteBranch(full, parts[4]!);
        return { ok: true };
      case 'POST repos/:/:/pulls': {
        const t = z
          .strictObject({
            head: z.string().min(1),
            base: z.string().optional(),
            title: z.string().optional(),
            body: z.string().optional(),
            draft: z.boolean().optional(),
            author: z.string().optional(),
            additions: z.number().int().min(0).optional(),
            deletions: z.number().int().min(0).optional(),
            changed_files: z.number().int().min(0).optional(),
            commits: z.number().int().min(0).optional(),
          })
          .parse(input);
        const pull = m.openPull(full, t);
        return { number: pull.number, html_url: this.#renderer!.pullSimple(pull).html_url };
      }
      case 'PATCH repos/:/:/pulls/:': {
        const t = z
          .strictObject({
            title: z.string().optional(),
            body: z.string().optional(),
            draft: z.boolean().optional(),
            head_ref: z.string().optional(),
            base_ref: z.string().optional(),
            additions: z.number().int().min(0).optional(),
            deletions: z.number().int().min(0).optional(),
            changed_files: z.number().int().min(0).optional(),
            commits: z.number().int().min(0).optional(),
            conflicting: z.boolean().optional(),
            behind: z.boolean().optional(),
          })
          .parse(input);
        m.updatePull(full, Number(n), t);
        return { ok: true };
      }
      case 'POST repos/:/:/pulls/:/reviews': {
        const t = z
          .strictObject({
            login: z.string().min(1),
            state: z.enum(['APPROVED', 'CHANGES_REQUESTED', 'COMMENTED', 'DISMISSED']),
            body: z.string().optional(),
          })
          .parse(input);
        return { id: m.review(full, Number(n), t).id };
      }
      case 'POST repos/:/:/pulls/:/requested_reviewers':
      case 'DELETE repos/:/:/pulls/:/requested_reviewers': {
        const t = z
          .strictObject({
            reviewers: z.array(z.string().min(1)).optional(),
            team_reviewers: z.array(z.string().min(1)).optional(),
          })
          .parse(input);
        if (method === 'POST') m.requestReviewers(full, Number(n), t);
        else m.removeRequestedReviewers(full, Number(n), t);
        return { ok: true };
      }
      case 'POST repos/:/:/pulls/:/reviews/:/dismiss':
        m.dismissReview(full, Number(n), Number(id));
        return { ok: true };
      case 'POST repos/:/:/pulls/:/merge': {
        // `delete_branch`: what "Automatically delete head branches" (or the "Delete branch"
        // button) does right after the merge.
        const t = z.strictObject({ delete_branch: z.boolean().optional() }).parse(input);
        const pull = m.merge(full, Number(n));
        if (t.delete_branch) m.deleteBranch(pull.head_repo, pull.head_ref);
        return { ok: true };
      }
      case 'POST repos/:/:/pulls/:/close':
        m.close(full, Number(n));
        return { ok: true };
      case 'POST repos/:/:/pulls/:/reopen':
        m.reopen(full, Number(n));
        return { ok: true };
      case 'POST repos/:/:/pulls/:/ready':
        m.setReady(full, Number(n));
        return { ok: true };
      case 'POST repos/:/:/check-runs': {
        const t = z
          .strictObject({
            head_sha: z.string().min(1),
            name: z.string().min(1),
            status: z.enum(CHECK_RUN_STATUSES).optional(),
            conclusion: z.enum(CHECK_RUN_CONCLUSIONS).nullable().optional(),
            details_url: z.string().nullable().optional(),
            title: z.string().nullable().optional(),
            summary: z.string().nullable().optional(),
          })
          .parse(input);
        m.repo(full);
        return { id: m.addCheckRun(t).id };
      }
      case 'PATCH repos/:/:/check-runs/:': {
        const t = z
          .strictObject({
            status: z.enum(CHECK_RUN_STATUSES).optional(),
            conclusion: z.enum(CHECK_RUN_CONCLUSIONS).nullable().optional(),
          })
          .parse(input);
        m.updateCheckRun(Number(n), t);
        return { ok: true };
      }
      case 'POST repos/:/:/statuses/:': {
        const t = z
          .strictObject({
            state: z.enum(['error', 'failure', 'pending', 'success']),
            context: z.string().min(1).default('default'),
            target_url: z.string().nullable().optional(),
            description: z.string().nullable().optional(),
          })
          .parse(input);
        m.repo(full);
        return { id: m.addStatus({ ...t, sha: n! }).id };
      }
      case 'POST repos/:/:/issues/:/comments': {
        const t = z.strictObject({ login: z.string().min(1), body: z.string() }).parse(input);
        return { id: m.comment(full, Number(n), t).id };
      }
      case 'POST repos/:/:/pulls/:/comments': {
        const t = z
          .strictObject({
            login: z.string().min(1),
            body: z.string(),
            path: z.string().min(1).optional(),
            line: z.number().int().positive().nullable().optional(),
            in_reply_to: z.number().int().optional(),
          })
          .parse(input);
        return { thread_id: m.reviewComment(full, Number(n), t).id };
      }
      case 'POST repos/:/:/pulls/:/threads/:/resolve':
      case 'POST repos/:/:/pulls/:/threads/:/unresolve':
        m.resolveThread(full, Number(n), Number(id), parts[7] === 'resolve');
        return { ok: true };
      case 'POST faults':
        this.faults.push(...z.strictObject({ faults: z.array(faultSchema) }).parse(input).faults);
        return { ok: true };
      case 'DELETE faults':
        this.faults.length = 0;
        return { ok: true };
      case 'PUT merge_info':
        this.mergeInfo = z.strictObject({ mode: z.enum(MERGE_INFO_MODES) }).parse(input).mode;
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
 * The API route of a path: `/repos/{owner}/{repo}/…`, or `/repositories/{id}/…` where GitHub
 * redirects a renamed repository to (then `byId`, and params start with the id).
 */
function matchRoute(path: string): { name: RouteName; params: string[]; byId?: boolean } | null {
  const raw = path.split('/').filter(Boolean).map(decodeURIComponent);
  const byId = raw[0] === 'repositories' && raw.length >= 2 && /^\d+$/.test(raw[1]!);
  const seg = byId ? ['repos', raw[1]!, '', ...raw.slice(2)] : raw;
  const found = matchRepoRoute(seg);
  return found && byId ? { ...found, params: [found.params[0]!, ...found.params.slice(2)], byId } : found;
}

function matchRepoRoute(seg: string[]): { name: RouteName; params: string[] } | null {
  if (seg[0] !== 'repos' || seg.length < 3) return null;
  const [, owner, repo, kind, number, sub] = seg;
  if (seg.length === 3) return { name: 'get_repo', params: [owner!, repo!] };
  // `commits/{ref}/check-runs` and `commits/{ref}/status` (the ref is a SHA, branch or tag).
  if (kind === 'commits' && seg.length === 6 && (sub === 'check-runs' || sub === 'status'))
    return {
      name: sub === 'status' ? 'combined_status' : 'list_check_runs',
      params: [owner!, repo!, number!],
    };
  if (kind !== 'pulls') return null;
  if (seg.length === 4) return { name: 'list_pulls', params: [owner!, repo!] };
  if (!/^\d+$/.test(number!)) return null;
  if (seg.length === 5) return { name: 'get_pull', params: [owner!, repo!, number!] };
  if (seg.length === 6 && sub === 'reviews')
    return { name: 'list_reviews', params: [owner!, repo!, number!] };
  return null;
}

function bearer(header: string | undefined): string | null {
  const m = /^(?:bearer|token)\s+(\S+)$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

function clampInt(raw: string | null, fallback: number, min: number, max: number): number {
  const n = raw === null ? fallback : Number(raw);
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

const RATE_LIMIT_DOCS =
  'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits';
const SECONDARY_LIMIT_DOCS =
  'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits';

const NONE_HIDDEN: HiddenFields = new Set();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startGitHubEmulator(options: GitHubEmulatorOptions = {}): Promise<GitHubEmulator> {
  return new GitHubEmulator(options).start();
}
