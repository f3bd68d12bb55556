import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { fingerprint, HostEmulator } from '../host-emulator.ts';
import {
  EmulatorError,
  GiteaModel,
  type GtPull,
  type GtRepo,
  type GtStatus,
  type RenderOptions,
} from './model.ts';

/** API routes the emulator serves; anything else is "unexpected", recorded and answered 404. */
export type RouteName =
  | 'version'
  | 'get_repo'
  | 'list_pulls'
  | 'get_pull'
  | 'list_reviews'
  | 'list_review_comments'
  | 'list_commits'
  | 'combined_status'
  | 'get_collaborator_permission'
  | 'search_issues';

export const FAULT_KINDS = ['latency', 'status', 'timeout', 'garbage', 'unauthorized', 'rate_limit'] as const;

const faultSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS),
  /** Regular expression tested against the path below `/api/v1` (`/repos/o/r/pulls/1`). */
  match: z.string().optional(),
  /** How many matching requests it applies to; omitted: all of them until cleared. */
  times: z.number().int().positive().optional(),
  /** `status`: the status to answer (default 502). */
  status: z.number().int().min(200).max(599).optional(),
  latency_ms: z.number().int().min(0).max(600_000).optional(),
  /** `rate_limit`: seconds in `Retry-After`; null sends a 429 without it (a bare proxy's answer). */
  retry_after_s: z.number().int().min(0).max(86_400).nullable().optional(),
});
export type Fault = z.infer<typeof faultSchema>;

export interface LoggedRequest {
  method: string;
  path: string;
  route: RouteName | null;
  status: number;
  /** How the token came: `token` (Gitea's own scheme) or `bearer` (OAuth2). */
  token_scheme: 'token' | 'bearer' | null;
  /** First 12 hex digits of sha256(token); never the token. */
  token_fingerprint: string | null;
}

export interface GiteaEmulatorOptions {
  port?: number;
  /** Serve under a path, as an instance with `ROOT_URL = https://host/gitea/` does. */
  subUrl?: string;
  /** `[api] MAX_RESPONSE_ITEMS` (Config Cheat Sheet: default 50): the largest page answered. */
  maxResponseItems?: number;
  /** `[api] DEFAULT_PAGING_NUM` (default 30): the page size when none is asked. */
  defaultPagingNum?: number;
  /** `[ui] ISSUE_PAGING_NUM` (default 20): the issue search's page size when none is asked. */
  issuePagingNum?: number;
  /** false: answer 404 for `GET /repos/issues/search` (a proxy that lets only some routes through). */
  issueSearch?: boolean;
  /** Answer like an older server: no `draft`, sizes or team reviewers on PRs. */
  legacy?: boolean;
  /** false: leave `additions`/`deletions`/`changed_files` out of list items. */
  sizesInLists?: boolean;
  /** false: no `X-Total-Count` (a proxy in front that drops it, or a server that never sends it). */
  totalCount?: boolean;
  /** Accept any non-empty token as user `agent` (demo). */
  acceptAnyToken?: boolean;
  /** Product name in `GET /version` and logs. */
  product?: 'gitea' | 'forgejo';
  /**
   * How long each conflict check takes (by `now`), `mergeable` reading false meanwhile; omitted:
   * a check ends at the first read that saw it (`GiteaModel.checkLagMs`).
   */
  checkLagMs?: number;
  now?: () => Date;
}

export { fingerprint };

/** An HTTP server on 127.0.0.1 answering like the REST API v1 of Gitea and Forgejo. */
export class GiteaEmulator extends HostEmulator<RouteName, Fault, LoggedRequest> {
  readonly model: GiteaModel;
  latencyMs = 0;
  readonly #tokens = new Map<string, string>();
  readonly #options: Required<Omit<GiteaEmulatorOptions, 'now' | 'port' | 'checkLagMs'>>;

  constructor(options: GiteaEmulatorOptions = {}) {
    super(faultSchema, options.port ?? 0);
    this.model = new GiteaModel(options.now);
    this.model.checkLagMs = options.checkLagMs ?? null;
    const sub = (options.subUrl ?? '').replace(/\/+$/, '');
    this.#options = {
      subUrl: sub === '' || sub.startsWith('/') ? sub : `/${sub}`,
      maxResponseItems: options.maxResponseItems ?? 50,
      defaultPagingNum: options.defaultPagingNum ?? 30,
      issuePagingNum: options.issuePagingNum ?? 20,
      issueSearch: options.issueSearch ?? true,
      legacy: options.legacy ?? false,
      sizesInLists: options.sizesInLists ?? true,
      totalCount: options.totalCount ?? true,
      acceptAnyToken: options.acceptAnyToken ?? false,
      product: options.product ?? 'gitea',
    };
  }

  protected answerCrash(res: ServerResponse, error: unknown): void {
    this.#json(res, 500, { message: String(error) });
  }

  /** The instance's web address (the provider's `web_url`), with any sub-path. */
  get webUrl(): string {
    return this.origin + this.#options.subUrl;
  }

  /** `…/api/v1` (the provider's `api_url`). */
  get apiUrl(): string {
    return `${this.webUrl}/api/v1`;
  }

  get render(): RenderOptions {
    return {
      webUrl: this.webUrl,
      apiUrl: this.apiUrl,
      legacy: this.#options.legacy,
      sizesInLists: this.#options.sizesInLists,
    };
  }

  /** Accepts `token` for `login`. */
  addToken(token: string, login = 'agent'): void {
    this.model.user(login);
    this.#tokens.set(token, login);
  }

  revokeToken(token: string): void {
    this.#tokens.delete(token);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const url = new URL(raw, this.origin);
    const method = req.method ?? 'GET';
    const apiRoot = `${this.#options.subUrl}/api/v1`;
    const rawPath = raw.split('?')[0]!;
    const sub = rawPath.startsWith(`${apiRoot}/`) ? rawPath.slice(apiRoot.length) : null;
    const matched = sub !== null && method === 'GET' ? matchRoute(sub) : null;
    const route = matched?.name === 'search_issues' && !this.#options.issueSearch ? null : matched;
    const { token, scheme } = readToken(req);
    const record = (status: number) => {
      this.countAnswer(route?.name ?? null, method, url.pathname, status);
      this.log.push({
        method,
        path: url.pathname + url.search,
        route: route?.name ?? null,
        status,
        token_scheme: scheme,
        token_fingerprint: token ? fingerprint(token) : null,
      });
      if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
    };
    if (!route) {
      record(404);
      return this.#json(res, 404, { message: 'Not Found', url: this.apiUrl });
    }

    if (this.latencyMs > 0) await sleep(this.latencyMs);
    const fault = this.takeFault(sub!);
    if (fault?.kind === 'latency') await sleep(fault.latency_ms ?? 1000);

    // Authentication: an unknown token is refused (401); no token is anonymous.
    let viewer: string | null = null;
    if (token !== null || fault?.kind === 'unauthorized') {
      let login = token === null ? undefined : this.#tokens.get(token);
      if (login === undefined && token !== null && this.#options.acceptAnyToken) {
        this.addToken(token);
        login = 'agent';
      }
      if (login === undefined || fault?.kind === 'unauthorized') {
        record(401);
        return this.#json(res, 401, { message: 'token is required', url: this.apiUrl });
      }
      viewer = login;
    }
    if (fault?.kind === 'rate_limit') {
      record(429);
      const retry = fault.retry_after_s === undefined ? 60 : fault.retry_after_s;
      res.writeHead(429, {
        'content-type': 'text/plain',
        ...(retry === null ? {} : { 'retry-after': String(retry) }),
      });
      return void res.end('Too Many Requests\n');
    }
    if (fault?.kind === 'status') {
      const status = fault.status ?? 502;
      record(status);
      return this.#json(res, status, { message: `${status}`, url: this.apiUrl });
    }
    if (fault?.kind === 'timeout') {
      record(0);
      this.hang(res);
      return;
    }
    if (fault?.kind === 'garbage') {
      record(200);
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"id": 1, "number": 1, "title": "trunc');
    }
    try {
      const answer = this.#answer(route.name, route.params, url, viewer);
      record(200);
      return this.#json(res, 200, answer.body, answer.headers);
    } catch (error) {
      if (!(error instanceof EmulatorError)) throw error;
      record(error.status);
      return this.#json(res, error.status, { message: error.message, url: this.apiUrl });
    }
  }

  #answer(
    name: RouteName,
    params: string[],
    url: URL,
    viewer: string | null,
  ): { body: unknown; headers?: Record<string, string> } {
    const m = this.model;
    const o = this.render;
    if (name === 'version')
      return { body: { version: this.#options.product === 'forgejo' ? '11.0.0+gitea-1.22.0' : '1.24.0' } };
    if (name === 'search_issues') return this.#searchIssues(url, viewer);
    // A repository the viewer may not read is answered exactly as a missing one (404).
    const repo = m.repos.get(`${params[0]}/${params[1]}`.toLowerCase());
    if (!repo || !m.canRead(repo, viewer)) throw new EmulatorError(404, "The target couldn't be found.");
    if (name === 'get_repo') return { body: m.renderRepo(repo, o) };
    if (name === 'combined_status') return this.#combinedStatus(repo, params[2]!, url);
    if (name === 'get_collaborator_permission') {
      // `GetRepoPermissions` (routers/api/v1/repo/collaborators.go): a site admin, a repository
      // admin or the user themself may ask; anyone else gets 403.
      const asked = params[2]!;
      const doer = viewer?.toLowerCase() ?? null;
      const doerPermission = doer === null ? 'none' : m.permission(repo, doer);
      if (
        doer === null ||
        (!m.siteAdmins.has(doer) &&
          doer !== asked.toLowerCase() &&
          !['admin', 'owner'].includes(doerPermission))
      )
        throw new EmulatorError(
          403,
          'Only admins can query all permissions, repo admins can query all repo permissions, collaborators can query only their own',
        );
      if (!m.users.has(asked.toLowerCase()))
        throw new EmulatorError(404, `user does not exist [uid: 0, name: ${asked}]`);
      const permission = m.permission(repo, asked);
      return { body: { permission, role_name: permission, user: m.renderUser(asked, o) } };
    }
    if (name === 'list_pulls') {
      const state = url.searchParams.get('state') ?? 'open';
      if (!['open', 'closed', 'all'].includes(state)) throw new EmulatorError(422, `invalid state ${state}`);
      const sort = url.searchParams.get('sort') ?? '';
      let pulls = repo.pulls.filter((p) => state === 'all' || p.state === state);
      // Sort orders of `repoListPullRequests` (swagger): oldest, recentupdate, leastupdate, …;
      // without one, newest first. `recentupdate` orders by `issue.updated_unix` (whole seconds),
      // then creation and id, all descending; `leastupdate` the reverse (`applySorts`,
      // models/issues/issue_search.go).
      const updated = (p: GtPull) => Math.floor(p.updated_at.getTime() / 1000);
      const created = (p: GtPull) => Math.floor(p.created_at.getTime() / 1000);
      const byUpdate = (a: GtPull, b: GtPull) =>
        updated(a) - updated(b) || created(a) - created(b) || a.id - b.id;
      if (sort === 'recentupdate') pulls = [...pulls].sort((a, b) => byUpdate(b, a));
      else if (sort === 'leastupdate') pulls = [...pulls].sort(byUpdate);
      else if (sort === 'oldest') pulls = [...pulls].sort((a, b) => a.id - b.id);
      else pulls = [...pulls].sort((a, b) => b.id - a.id);
      const { slice, headers } = this.#slice(url, pulls);
      const body = slice.map((p) => m.renderPull(p, o, true));
      for (const p of slice) m.observe(p);
      return { body, headers };
    }
    const pull = repo.pulls.find((p) => String(p.number) === params[2]);
    if (!pull) throw new EmulatorError(404, "The target couldn't be found.");
    if (name === 'get_pull') {
      const body = m.renderPull(pull, o, false);
      m.observe(pull);
      return { body };
    }
    if (name === 'list_reviews') return this.#page(url, pull.reviews, (r) => m.renderReview(pull, r, o));
    if (name === 'list_review_comments') {
      // Not paged: Gitea answers every code comment of the review.
      const review = pull.reviews.find((r) => String(r.id) === params[3]);
      if (!review) throw new EmulatorError(404, "The target couldn't be found.");
      return { body: review.comments.map((c) => m.renderReviewComment(pull, review, c, o)) };
    }
    // list_commits
    const commits = Array.from({ length: pull.commits }, (_, i) => i);
    return this.#page(url, commits, (i) => m.renderCommit(pull as GtPull, i, o));
  }

  /**
   * `GET /repos/{o}/{r}/commits/{ref}/status` (`repoGetCombinedStatusByRef`): the latest status
   * per context of a commit (a branch name is resolved to its head), paged like a list, with the
   * combined state as Gitea 1.25 computes it (`CommitStatusStates.Combine`: failure if any is
   * error or failure, success if all are success, warning or skipped, else pending). A commit
   * without statuses gets an empty `CombinedStatus` (`state` "", `statuses` null) and no total.
   */
  #combinedStatus(repo: GtRepo, ref: string, url: URL) {
    const commit = repo.branches.get(ref) ?? ref;
    const all = this.model.latestStatuses(repo, commit);
    if (all.length === 0)
      return {
        body: {
          state: '',
          sha: '',
          total_count: 0,
          statuses: null,
          repository: null,
          commit_url: '',
          url: '',
        },
      };
    const { slice, headers } = this.#slice(url, all);
    const combine = (list: readonly GtStatus[]) =>
      list.some((s) => s.state === 'error' || s.state === 'failure')
        ? 'failure'
        : list.every((s) => s.state === 'success' || s.state === 'warning' || s.state === 'skipped')
          ? 'success'
          : 'pending';
    const api = `${this.apiUrl}/repos/${repo.owner}/${repo.name}`;
    return {
      body: {
        state: combine(slice),
        sha: commit,
        total_count: slice.length,
        statuses: slice.map((s) => this.model.renderStatus(repo, commit, s, this.render)),
        repository: this.model.renderRepo(repo, this.render),
        commit_url: `${api}/commits/${commit}`,
        url: `${api}/commits/${commit}/status`,
      },
      headers,
    };
  }

  /**
   * `GET /repos/issues/search` (`SearchIssues`, routers/api/v1/repo/issue.go; the same in
   * Forgejo, which also takes `sort`): issues and PRs across repositories. Without `owner`, the
   * repositories the viewer may read and every public one (`AllPublic`); with it, that user's
   * repositories the viewer may read (an unknown owner: 400). `type` (`pulls` | `issues`; this
   * emulator holds PRs only), `state` (default `open`), `since` / `before` (RFC 3339, else 422;
   * `issue.updated_unix >=` / `<=` their whole seconds). Without a keyword it reads the database
   * (`SearchIssues`, modules/indexer/issues/indexer.go), newest created first (`SortByCreatedDesc`:
   * `created_unix`, then id, descending). `limit` 0 or absent: `[ui] ISSUE_PAGING_NUM`; above
   * `MAX_RESPONSE_ITEMS`: that. `X-Total-Count` and `Link` as for any list.
   */
  #searchIssues(url: URL, viewer: string | null) {
    const m = this.model;
    const q = url.searchParams;
    const bound = (name: string): number | null => {
      const raw = q.get(name);
      if (!raw) return null;
      const at = Date.parse(raw);
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(raw) || Number.isNaN(at))
        throw new EmulatorError(422, `parsing time "${raw}" as "2006-01-02T15:04:05Z07:00": cannot parse`);
      return Math.floor(at / 1000);
    };
    const since = bound('since');
    const before = bound('before');
    const owner = q.get('owner') ?? '';
    if (owner !== '' && !m.users.has(owner.toLowerCase()))
      throw new EmulatorError(400, `user redirect does not exist [name: ${owner.toLowerCase()}]`);
    const repos = [...m.repos.values()].filter((r) =>
      owner !== ''
        ? r.owner.toLowerCase() === owner.toLowerCase() && m.canRead(r, viewer)
        : m.canRead(r, viewer) || !r.private,
    );
    const state = q.get('state');
    const type = q.get('type');
    const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
    const pulls = (type === 'issues' ? [] : repos.flatMap((r) => r.pulls))
      .filter((p) =>
        state === 'all' ? true : state === 'closed' ? p.state === 'closed' : p.state === 'open',
      )
      .filter((p) => since === null || seconds(p.updated_at) >= since)
      .filter((p) => before === null || seconds(p.updated_at) <= before)
      .sort((a, b) => seconds(b.created_at) - seconds(a.created_at) || b.id - a.id);
    const { slice, headers } = this.#slice(url, pulls, this.#options.issuePagingNum);
    return { body: slice.map((p) => m.renderPullIssue(p, this.render)), headers };
  }

  /**
   * One page of a list as Gitea pages it (Gitea docs, "API Usage", "Pagination"): `page` from 1,
   * `limit` capped at `MAX_RESPONSE_ITEMS` (a larger ask silently gets the cap), `X-Total-Count`
   * and a `Link` header with `next`/`last`.
   */
  #page<T>(url: URL, items: readonly T[], render: (item: T) => unknown) {
    const { slice, headers } = this.#slice(url, items);
    return { body: slice.map(render), headers };
  }

  /** The items of the page `url` asks for, and the paging headers. */
  #slice<T>(url: URL, items: readonly T[], defaultLimit = this.#options.defaultPagingNum) {
    const asked = Number(url.searchParams.get('limit') ?? 0);
    const limit = Math.min(
      this.#options.maxResponseItems,
      Number.isInteger(asked) && asked > 0 ? asked : defaultLimit,
    );
    const askedPage = Number(url.searchParams.get('page') ?? 1);
    const page = Number.isInteger(askedPage) && askedPage > 0 ? askedPage : 1;
    const slice = items.slice((page - 1) * limit, page * limit);
    const last = Math.max(1, Math.ceil(items.length / limit));
    const link = (p: number) => {
      const u = new URL(url.toString());
      u.searchParams.set('page', String(p));
      u.searchParams.set('limit', String(limit));
      return `<${u.toString()}>`;
    };
    const links = [
      ...(page < last ? [`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`] : []),
      ...(page > 1 ? [`${link(1)}; rel="first"`, `${link(page - 1)}; rel="prev"`] : []),
    ];
    return {
      slice,
      headers: {
        ...(this.#options.totalCount
          ? { 'x-total-count': String(items.length), 'access-control-expose-headers': 'X-Total-Count, Link' }
          : {}),
        ...(links.length > 0 ? { link: links.join(',') } : {}),
      },
    };
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    // `Date`: the instance's time, the one it stamps `updated_at` with (Go's server sends it always).
    res.writeHead(status, {
      'content-type': 'application/json;charset=utf-8',
      date: this.model.time.toUTCString(),
      ...headers,
    });
    res.end(JSON.stringify(body));
  }
}

/** The route of a path below `/api/v1` (segments decoded after splitting). */
function matchRoute(path: string): { name: RouteName; params: string[] } | null {
  let seg: string[];
  try {
    seg = path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return null;
  }
  if (seg.length === 1 && seg[0] === 'version') return { name: 'version', params: [] };
  // Registered before `/repos/{owner}/{repo}` (routers/api/v1/api.go), so it wins over a repository
  // `issues/search`.
  if (seg.length === 3 && seg[0] === 'repos' && seg[1] === 'issues' && seg[2] === 'search')
    return { name: 'search_issues', params: [] };
  if (seg[0] !== 'repos' || seg.length < 3 || !seg[1] || !seg[2]) return null;
  const [, owner, repo, kind, index, sub, id, leaf] = seg as [
    string,
    string,
    string,
    string?,
    string?,
    string?,
    string?,
    string?,
  ];
  if (seg.length === 3) return { name: 'get_repo', params: [owner, repo] };
  if (kind === 'collaborators' && seg.length === 6 && index && sub === 'permission')
    return { name: 'get_collaborator_permission', params: [owner, repo, index] };
  if (kind === 'commits' && seg.length === 6 && index && sub === 'status')
    return { name: 'combined_status', params: [owner, repo, index] };
  if (kind !== 'pulls') return null;
  if (seg.length === 4) return { name: 'list_pulls', params: [owner, repo] };
  if (!/^\d+$/.test(index ?? '')) return null;
  if (seg.length === 5) return { name: 'get_pull', params: [owner, repo, index!] };
  if (seg.length === 8 && sub === 'reviews' && /^\d+$/.test(id ?? '') && leaf === 'comments')
    return { name: 'list_review_comments', params: [owner, repo, index!, id!] };
  if (seg.length !== 6) return null;
  if (sub === 'reviews') return { name: 'list_reviews', params: [owner, repo, index!] };
  if (sub === 'commits') return { name: 'list_commits', params: [owner, repo, index!] };
  return null;
}

/**
 * Gitea takes a token as `Authorization: token <token>`, or `Authorization: bearer <token>` for
 * OAuth2 access tokens (Gitea docs, "API Usage", "Authentication").
 */
function readToken(req: IncomingMessage): { token: string | null; scheme: LoggedRequest['token_scheme'] } {
  const m = /^(token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return { token: null, scheme: null };
  return { token: m[2]!, scheme: m[1]!.toLowerCase() as 'token' | 'bearer' };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startGiteaEmulator(options: GiteaEmulatorOptions = {}): Promise<GiteaEmulator> {
  return new GiteaEmulator(options).start();
}
