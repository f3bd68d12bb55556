import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { fingerprint, HostEmulator } from '../host-emulator.ts';
import {
  type BbComment,
  type BbPull,
  type BbRepo,
  type BbStatus,
  BitbucketModel,
  EmulatorError,
  PR_STATES,
} from './model.ts';

/** API routes the emulator serves; anything else is "unexpected", recorded and answered 404. */
export type RouteName =
  | 'get_repository'
  | 'list_pullrequests'
  | 'get_pullrequest'
  | 'pullrequest_diffstat'
  | 'repository_diffstat'
  | 'pullrequest_commits'
  | 'pullrequest_statuses'
  | 'commit_statuses'
  | 'pullrequest_conflicts'
  | 'repository_file_conflicts'
  | 'pullrequest_comments'
  | 'current_user'
  | 'user_pullrequests';

export const FAULT_KINDS = [
  'latency',
  'status',
  'timeout',
  'garbage',
  'unauthorized',
  'rate_limit',
  'near_limit',
] as const;

const faultSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS),
  /** Regular expression tested against the path below `/2.0` (`/repositories/…`). */
  match: z.string().optional(),
  /** How many matching requests it applies to; omitted: all until cleared. */
  times: z.number().int().positive().optional(),
  /** `status`: the status to answer (default 502). */
  status: z.number().int().min(200).max(599).optional(),
  latency_ms: z.number().int().min(0).max(600_000).optional(),
});
export type Fault = z.infer<typeof faultSchema>;

export interface LoggedRequest {
  method: string;
  path: string;
  route: RouteName | null;
  status: number;
  /** How the credentials came: `Authorization: Bearer` or `Authorization: Basic`. */
  auth: 'bearer' | 'basic' | null;
  /** First 12 hex digits of sha256(token, or `user:secret` for Basic); never the secret. */
  token_fingerprint: string | null;
}

export interface BitbucketEmulatorOptions {
  port?: number;
  /**
   * The web address links point at (`links.html.href`), default `https://bitbucket.org`: the
   * API is served here on 127.0.0.1 under `/2.0`, the web is elsewhere, as on Bitbucket Cloud.
   */
  webUrl?: string;
  /** Requests per identity per rolling window ("API request limits": 1,000 an hour). */
  rateLimit?: number;
  rateLimitWindowS?: number;
  /**
   * Below this share of the limit left, access-token answers carry `X-RateLimit-NearLimit: true`.
   * Atlassian does not publish the threshold; 20 % is this emulator's assumption.
   */
  nearLimitShare?: number;
  /** Entries per diffstat page when the caller gives no `pagelen` (Bitbucket: 500). */
  diffstatPagelen?: number;
  /**
   * Whether PR answers carry `mergeable` ("whether the pull request passes all merge checks", in
   * Atlassian's current description of the `pullrequest` object); false answers without it.
   */
  sendsMergeable?: boolean;
  now?: () => Date;
}

interface Credential {
  user: string;
  /** A workspace (or project/repository) access token reads the private repositories of its workspace. */
  workspace: string | null;
  kind: 'access_token' | 'api_token';
  revoked: boolean;
}

export { fingerprint };

const PULLS_PAGELEN = { default: 10, max: 50 };
const COMMITS_PAGELEN = { default: 10, max: 100 };
/** "Pagination": 10 by default, 100 at most, for statuses and comments. */
const PAGELEN_100 = { default: 10, max: 100 };
/** The fields of a `commitstatus` (Bitbucket's OpenAPI description) a status list sorts by. */
const STATUS_SORT_FIELDS = [
  'created_on',
  'updated_on',
  'key',
  'state',
  'name',
  'url',
  'description',
  'refname',
] as const;

/** An HTTP server on 127.0.0.1 answering like Bitbucket Cloud's REST API 2.0 (the parts gitsync reads). */
export class BitbucketEmulator extends HostEmulator<RouteName, Fault, LoggedRequest> {
  readonly model: BitbucketModel;
  readonly #credentials = new Map<string, Credential>();
  /** Identity → times of its requests in the rolling window. */
  readonly #windows = new Map<string, number[]>();
  readonly #options: Required<Omit<BitbucketEmulatorOptions, 'now' | 'port'>>;
  /**
   * false: the user's PR list across a workspace ignores `q` and `sort` (Atlassian documents
   * that it "supports filtering and sorting"; this stands for a server that does not).
   */
  userListFilters = true;

  constructor(options: BitbucketEmulatorOptions = {}) {
    super(faultSchema, options.port ?? 0);
    this.model = new BitbucketModel(options.now);
    this.#options = {
      webUrl: (options.webUrl ?? 'https://bitbucket.org').replace(/\/+$/, ''),
      rateLimit: options.rateLimit ?? 1000,
      rateLimitWindowS: options.rateLimitWindowS ?? 3600,
      nearLimitShare: options.nearLimitShare ?? 0.2,
      diffstatPagelen: options.diffstatPagelen ?? 500,
      sendsMergeable: options.sendsMergeable ?? true,
    };
  }

  protected answerCrash(res: ServerResponse, error: unknown): void {
    this.#error(res, 500, `internal emulator error: ${String(error)}`);
  }

  /** Where links point (the provider's `web_url`). */
  get webUrl(): string {
    return this.#options.webUrl;
  }

  /** The API base (the provider's `api_url`), `http://127.0.0.1:PORT/2.0`. */
  get apiUrl(): string {
    return `${this.origin}/2.0`;
  }

  /**
   * Accepts a workspace/project/repository access token (`Authorization: Bearer …`) acting as
   * `user`; with `workspace`, it reads that workspace's private repositories.
   */
  addAccessToken(token: string, options: { user?: string; workspace?: string } = {}): void {
    const user = this.model.user(options.user ?? 'access-token').nickname;
    this.#credentials.set(`bearer ${token}`, {
      user,
      workspace: options.workspace?.toLowerCase() ?? null,
      kind: 'access_token',
      revoked: false,
    });
  }

  /** Accepts an Atlassian API token for `user`, sent as Basic with the account e-mail ("Using API tokens"). */
  addApiToken(email: string, token: string, user: string): void {
    this.model.user(user);
    this.#credentials.set(`basic ${email}:${token}`, {
      user: user.toLowerCase(),
      workspace: null,
      kind: 'api_token',
      revoked: false,
    });
  }

  /** Revokes a credential (`bearer TOKEN` or `basic EMAIL:TOKEN`'s token): answered 401 from then on. */
  revoke(token: string): void {
    for (const [k, c] of this.#credentials)
      if (k.endsWith(` ${token}`) || k.endsWith(`:${token}`)) c.revoked = true;
  }

  // ---- rendering --------------------------------------------------------------------------

  #account(nickname: string) {
    const u = this.model.user(nickname);
    return {
      type: 'user',
      display_name: u.display_name,
      uuid: u.uuid,
      account_id: u.account_id,
      nickname: u.nickname,
      links: {
        self: { href: `${this.apiUrl}/users/${encodeURIComponent(u.uuid)}` },
        avatar: { href: `${this.webUrl}/account/${u.nickname}/avatar/` },
        html: { href: `${this.webUrl}/${encodeURIComponent(u.uuid)}/` },
      },
    };
  }

  #repoMini(fullName: string) {
    const repo = this.model.repo(fullName);
    const name = this.model.fullName(repo);
    return {
      type: 'repository',
      full_name: name,
      name: repo.slug,
      uuid: `{${createHash('md5').update(name).digest('hex')}}`,
      links: {
        self: { href: `${this.apiUrl}/repositories/${name}` },
        html: { href: `${this.webUrl}/${name}` },
      },
    };
  }

  repository(repo: BbRepo) {
    const name = this.model.fullName(repo);
    return {
      ...this.#repoMini(name),
      is_private: repo.is_private,
      scm: 'git',
      workspace: { type: 'workspace', slug: repo.workspace },
      mainbranch: { type: 'branch', name: repo.mainbranch },
      created_on: repo.created_on.toISOString(),
      updated_on: repo.updated_on.toISOString(),
      ...(repo.parent ? { parent: this.#repoMini(repo.parent) } : {}),
    };
  }

  /** A pull request as the single read shows it (`full`) or as a list item (no participants or reviewers). */
  pullRequest(pr: BbPull, full = true) {
    const base = `${this.apiUrl}/repositories/${pr.repo}/pullrequests/${pr.id}`;
    const destHash =
      this.model.repo(pr.repo).branches.get(pr.destination_branch)?.at(-1) ?? pr.destination_hash;
    return {
      type: 'pullrequest',
      id: pr.id,
      title: pr.title,
      description: pr.description,
      state: pr.state,
      draft: pr.draft,
      author: this.#account(pr.author),
      source: {
        branch: { name: pr.source_branch },
        // "Pull Request Commit": the hash alone (`additionalProperties: false` in the description).
        commit: { hash: pr.commits.at(-1)!.slice(0, 12) },
        repository: this.#repoMini(pr.source_repo),
      },
      destination: {
        branch: { name: pr.destination_branch },
        commit: { hash: destHash.slice(0, 12) },
        repository: this.#repoMini(pr.repo),
      },
      // "The number of comments for a specific pull request": general, inline and replies. Whether
      // Bitbucket counts deleted comments or drafts is not documented; here neither counts (gitsync
      // relies on neither: docs/bitbucket.md, "Comments and threads").
      comment_count: pr.comments.filter((c) => !c.deleted && !c.pending).length,
      task_count: 0,
      close_source_branch: pr.close_source_branch,
      // Merge checks fail with conflicts, or a configured check (approvals, builds, tasks) failing.
      ...(this.#options.sendsMergeable ? { mergeable: pr.conflicts.length === 0 && !pr.checks_failing } : {}),
      created_on: pr.created_on.toISOString(),
      updated_on: pr.updated_on.toISOString(),
      ...(full
        ? {
            reviewers: pr.reviewers.map((r) => this.#account(r)),
            participants: pr.participants.map((p) => ({
              type: 'participant',
              user: this.#account(p.nickname),
              role: p.role,
              approved: p.approved,
              state: p.state,
              participated_on: p.participated_on?.toISOString() ?? null,
            })),
          }
        : {}),
      links: {
        self: { href: base },
        html: { href: `${this.webUrl}/${pr.repo}/pull-requests/${pr.id}` },
        commits: { href: `${base}/commits` },
        diffstat: { href: `${base}/diffstat` },
      },
    };
  }

  /** A build status as "Commit statuses" shows it, linked to its commit by full hash. */
  #status(repo: string, commit: string, s: BbStatus) {
    const at = `${this.apiUrl}/repositories/${repo}/commit/${commit}`;
    return {
      type: 'build',
      uuid: `{${createHash('md5').update(`${commit} ${s.key}`).digest('hex')}}`,
      key: s.key,
      state: s.state,
      name: s.name,
      url: s.url,
      description: s.description,
      ...(s.refname ? { refname: s.refname } : {}),
      created_on: s.created_on.toISOString(),
      updated_on: s.updated_on.toISOString(),
      links: { self: { href: `${at}/statuses/build/${encodeURIComponent(s.key)}` }, commit: { href: at } },
    };
  }

  /** One comment of a PR as Bitbucket shows it (for webhook payloads). */
  pullRequestComment(pr: BbPull, commentId: number) {
    const c = pr.comments.find((x) => x.id === commentId);
    if (!c) throw new EmulatorError(404, `Comment ${commentId} not found`);
    return this.#comment(pr, c);
  }

  /** A PR comment ("Pull Request Comment"): `inline`, `parent` and `resolution` only where set. */
  #comment(pr: BbPull, c: BbComment) {
    const self = `${this.apiUrl}/repositories/${pr.repo}/pullrequests/${pr.id}/comments/${c.id}`;
    return {
      type: 'pullrequest_comment',
      id: c.id,
      created_on: c.created_on.toISOString(),
      updated_on: c.created_on.toISOString(),
      content: { raw: c.raw, markup: 'markdown', html: `<p>${c.raw}</p>` },
      user: this.#account(c.author),
      deleted: c.deleted,
      pending: c.pending,
      ...(c.inline
        ? {
            // Integers where set ("Pull Request Comment": `inline.from`, `inline.to`); a side
            // the comment is not on is left out.
            inline: {
              path: c.inline.path,
              ...(c.inline.from !== null ? { from: c.inline.from } : {}),
              ...(c.inline.to !== null ? { to: c.inline.to } : {}),
            },
          }
        : {}),
      ...(c.parent !== null
        ? {
            parent: {
              type: 'pullrequest_comment',
              id: c.parent,
              links: {
                self: {
                  href: `${this.apiUrl}/repositories/${pr.repo}/pullrequests/${pr.id}/comments/${c.parent}`,
                },
              },
            },
          }
        : {}),
      ...(c.resolution
        ? {
            resolution: {
              type: 'comment_resolution',
              user: this.#account(c.resolution.by),
              created_on: c.resolution.at.toISOString(),
            },
          }
        : {}),
      links: {
        self: { href: self },
        html: { href: `${this.webUrl}/${pr.repo}/pull-requests/${pr.id}/_/diff#comment-${c.id}` },
      },
    };
  }

  // ---- request handling -------------------------------------------------------------------

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', this.origin);
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const sub = rawPath.startsWith('/2.0/') ? rawPath.slice('/2.0'.length) : null;
    const route = sub !== null && method === 'GET' ? matchRoute(sub) : null;
    const auth = readAuth(req);
    // Every answer says when it was made (RFC 9110 `Date`), by the model's clock, like its times.
    res.setHeader('date', this.model.now().toUTCString());
    const record = (status: number) => {
      this.countAnswer(route?.name ?? null, method, url.pathname, status);
      this.log.push({
        method,
        path: url.pathname + url.search,
        route: route?.name ?? null,
        status,
        auth: auth?.kind ?? null,
        token_fingerprint: auth ? fingerprint(auth.secret) : null,
      });
      if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
    };
    if (!route) {
      record(404);
      return this.#error(res, 404, `Resource not found`);
    }
    const fault = this.takeFault(sub!);
    if (fault?.kind === 'latency') await sleep(fault.latency_ms ?? 1000);

    // Authentication: unknown or revoked credentials are refused; none at all is anonymous.
    let credential: Credential | null = null;
    if (auth || fault?.kind === 'unauthorized') {
      const found = auth ? this.#credentials.get(`${auth.kind} ${auth.secret}`) : undefined;
      if (!found || found.revoked || fault?.kind === 'unauthorized') {
        record(401);
        return this.#error(res, 401, 'Token is invalid, expired, or not supported for this endpoint.', {
          'www-authenticate': auth?.kind === 'basic' ? 'Basic realm="Bitbucket.org HTTP"' : 'Bearer',
        });
      }
      credential = found;
    }

    // The rolling hour, per user (authenticated) or per client (anonymous: 60 an hour).
    const identity = credential ? `user:${credential.user}` : 'ip:127.0.0.1';
    const limit = credential ? this.#options.rateLimit : 60;
    const now = Date.now();
    const window = (this.#windows.get(identity) ?? []).filter(
      (t) => t > now - this.#options.rateLimitWindowS * 1000,
    );
    window.push(now);
    this.#windows.set(identity, window);
    if (fault?.kind === 'rate_limit' || window.length > limit) {
      record(429);
      // No Retry-After, no reset time: Bitbucket sends none ("API request limits").
      return this.#error(res, 429, 'Rate limit for this resource has been exceeded');
    }
    // Access tokens on the scaled `/2.0/repositories/*` endpoints get the rate-limit headers
    // (Atlassian blog, "Introducing Scaled Rate Limits for Bitbucket Cloud API").
    const limits: Record<string, string> =
      credential?.kind === 'access_token'
        ? {
            'x-ratelimit-limit': String(limit),
            'x-ratelimit-resource': 'api',
            'x-ratelimit-nearlimit': String(
              fault?.kind === 'near_limit' || limit - window.length < limit * this.#options.nearLimitShare,
            ),
          }
        : {};
    if (fault?.kind === 'status') {
      const status = fault.status ?? 502;
      record(status);
      return this.#error(res, status, `Error ${status}`, limits);
    }
    if (fault?.kind === 'timeout') {
      record(0);
      this.hang(res);
      return;
    }
    if (fault?.kind === 'garbage') {
      record(200);
      res.writeHead(200, { 'content-type': 'application/json', ...limits });
      return void res.end('{"type": "pullrequest", "id": 1, "title": "trunc');
    }
    try {
      const answer = this.#answer(route.name, route.params, url, credential);
      if ('redirect' in answer) {
        record(302);
        res.writeHead(302, { location: answer.redirect, ...limits });
        return void res.end();
      }
      const fields = url.searchParams.get('fields');
      const body = JSON.stringify(fields === null ? answer.body : partialResponse(answer.body, fields));
      const etag = `"${createHash('sha1').update(body).digest('hex')}"`;
      if (req.headers['if-none-match'] === etag) {
        record(304);
        res.writeHead(304, { etag, ...limits });
        return void res.end();
      }
      record(200);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', etag, ...limits });
      res.end(body);
    } catch (error) {
      if (!(error instanceof EmulatorError)) throw error;
      record(error.status);
      this.#error(res, error.status, error.message, limits);
    }
  }

  #readable(fullName: string, credential: Credential | null): BbRepo {
    const repo = this.model.repo(fullName);
    const viewer = { user: credential?.user ?? null, workspace: credential?.workspace ?? null };
    // A private repository the caller may not read is "not found", exactly like a missing one.
    if (!this.model.canRead(repo, viewer)) throw new EmulatorError(404, `Repository ${fullName} not found`);
    return repo;
  }

  #answer(
    name: RouteName,
    params: string[],
    url: URL,
    credential: Credential | null,
  ): { body: unknown } | { redirect: string } {
    if (name === 'current_user') {
      // "Get current user": the account the credentials act as; anonymous callers are refused.
      if (!credential) throw new EmulatorError(401, 'This API is only accessible with authentication');
      return { body: this.#account(credential.user) };
    }
    if (name === 'user_pullrequests')
      return { body: this.#userPulls(params[0]!, params[1]!, url, credential) };
    const [workspace, slug] = params;
    const fullName = `${workspace}/${slug}`;
    const repo = this.#readable(fullName, credential);
    const id = Number(params[2]);
    switch (name) {
      case 'get_repository':
        return { body: this.repository(repo) };
      case 'list_pullrequests':
        return { body: this.#pullList(url, this.model.listPulls(fullName)) };
      case 'get_pullrequest':
        return { body: this.pullRequest(this.model.pull(fullName, id)) };
      case 'pullrequest_diffstat': {
        // "Redirects to the repository diffstat with the revspec that corresponds to the pull request."
        const pr = this.model.pull(fullName, id);
        const view = this.pullRequest(pr);
        const spec = `${pr.source_repo}:${view.source.commit.hash}%0D${view.destination.commit.hash}`;
        return {
          redirect: `${this.apiUrl}/repositories/${pr.repo}/diffstat/${spec}?from_pullrequest_id=${pr.id}&topic=true`,
        };
      }
      case 'repository_diffstat': {
        const prId = Number(url.searchParams.get('from_pullrequest_id'));
        if (!Number.isInteger(prId) || prId <= 0) throw new EmulatorError(404, 'Unknown revision spec');
        const pr = this.model.pull(fullName, prId);
        const entries = pr.files.map((f) => ({
          type: 'diffstat',
          status:
            f.lines_removed > 0 && f.lines_added > 0 ? 'modified' : f.lines_added > 0 ? 'added' : 'modified',
          lines_added: f.lines_added,
          lines_removed: f.lines_removed,
          old: { path: f.path, type: 'commit_file' },
          new: { path: f.path, type: 'commit_file' },
        }));
        const dflt = this.#options.diffstatPagelen;
        return { body: this.#page(url, entries, { default: dflt, max: Math.max(500, dflt) }) };
      }
      case 'pullrequest_statuses': {
        // "List commit statuses for a pull request": the statuses of every commit the PR has had —
        // a pushed-over or force-pushed commit's builds stay listed — by `created_on`, oldest
        // first unless `sort` says otherwise ("Defaults to `created_on`").
        const pr = this.model.pull(fullName, id);
        const statuses = this.model
          .pullCommitsEver(pr)
          .flatMap((commit) =>
            [...(this.model.statuses.get(commit)?.values() ?? [])].map((s) => ({ commit, s })),
          );
        return { body: this.#statusPage(url, pr.source_repo, statuses) };
      }
      case 'commit_statuses': {
        // "List commit statuses for a commit": that commit's statuses only; `refname` keeps those
        // "created without a refname, or … with the specified refname". 404 "If the repository
        // or commit does not exist".
        const commit = this.model.resolveCommit(fullName, params[2]!);
        if (!commit) throw new EmulatorError(404, `Commit ${params[2]} not found`);
        const refname = url.searchParams.get('refname');
        const statuses = [...(this.model.statuses.get(commit)?.values() ?? [])]
          .filter((s) => refname === null || s.refname === null || s.refname === refname)
          .map((s) => ({ commit, s }));
        return { body: this.#statusPage(url, fullName, statuses) };
      }
      case 'pullrequest_conflicts': {
        // "Redirects to the repository file conflicts with the revspec that corresponds to the pull request."
        const pr = this.model.pull(fullName, id);
        const view = this.pullRequest(pr);
        const spec = `${view.source.commit.hash}..${view.destination.commit.hash}`;
        return {
          redirect: `${this.apiUrl}/repositories/${pr.repo}/file-conflicts/${spec}?from_pullrequest_id=${pr.id}`,
        };
      }
      case 'repository_file_conflicts': {
        const prId = Number(url.searchParams.get('from_pullrequest_id'));
        if (!Number.isInteger(prId) || prId <= 0) throw new EmulatorError(404, 'Unknown revision spec');
        const pr = this.model.pull(fullName, prId);
        const entries = pr.conflicts.map((c) => ({
          type: 'file_conflict',
          path: c.path,
          scenario: c.scenario,
          message: c.message,
        }));
        return { body: this.#page(url, entries, { default: 500, max: 500 }) };
      }
      case 'pullrequest_comments': {
        // "This includes both global, inline comments and replies", oldest first; a draft
        // (`pending`) only to its author. `q` and `sort` (which Bitbucket supports here) are not
        // implemented: answered 400, so that a request relying on them fails loudly.
        for (const param of ['q', 'sort'])
          if (url.searchParams.has(param))
            throw new EmulatorError(400, `${param} on comments is not implemented by this emulator`);
        const pr = this.model.pull(fullName, id);
        const shown = pr.comments.filter((c) => !c.pending || c.author === credential?.user);
        return {
          body: this.#page(
            url,
            shown.map((c) => this.#comment(pr, c)),
            PAGELEN_100,
          ),
        };
      }
      case 'pullrequest_commits': {
        const pr = this.model.pull(fullName, id);
        // Newest first, as Bitbucket lists commits; "This list will be empty if the source branch
        // no longer exists" ("List commits on a pull request") — merged with its branch closed.
        const listed = this.model.sourceBranchExists(pr) ? [...pr.commits].reverse() : [];
        const commits = listed.map((hash) => ({
          type: 'commit',
          hash,
          message: `commit ${hash.slice(0, 7)}\n`,
          author: { type: 'author', raw: `${pr.author} <${pr.author}@example.com>` },
        }));
        return { body: this.#page(url, commits, COMMITS_PAGELEN) };
      }
    }
  }

  /**
   * "List workspace pull requests for a user" (`GET /workspaces/{workspace}/pullrequests/{selected_user}`,
   * Bitbucket Cloud OpenAPI description): "all workspace pull requests authored by the specified
   * user", open only unless `state` (repeatable) says otherwise, with filtering and sorting — here
   * as on a repository's list. `selected_user` is "the username of the pull request author, the
   * author's UUID surrounded by curly-braces … or the author's Atlassian ID"; one that does not
   * exist is a 404 ("If the specified user does not exist"). What the description leaves unsaid is
   * this emulator's assumption: a workspace it does not know is a 404 too, the PRs listed are those
   * of repositories the caller may read (a private one it may not read is left out, as everywhere
   * else), and pages are those of a repository's list (10 by default, 50 at most).
   */
  #userPulls(workspace: string, selected: string, url: URL, credential: Credential | null) {
    const ws = workspace.toLowerCase();
    const repos = [...this.model.repos.values()].filter((r) => r.workspace.toLowerCase() === ws);
    if (repos.length === 0 && !this.model.users.has(ws))
      throw new EmulatorError(404, `Workspace ${workspace} not found`);
    const wanted = selected.toLowerCase();
    const user = [...this.model.users.values()].find(
      (u) =>
        u.uuid.toLowerCase() === wanted ||
        u.account_id.toLowerCase() === wanted ||
        u.nickname.toLowerCase() === wanted,
    );
    if (!user) throw new EmulatorError(404, `User ${selected} not found`);
    const viewer = { user: credential?.user ?? null, workspace: credential?.workspace ?? null };
    const pulls = repos
      .filter((r) => this.model.canRead(r, viewer))
      .flatMap((r) => this.model.listPulls(this.model.fullName(r)))
      .filter((p) => p.author.toLowerCase() === user.nickname.toLowerCase());
    if (!this.userListFilters) {
      const plain = new URL(url);
      plain.searchParams.delete('q');
      plain.searchParams.delete('sort');
      return this.#pullList(plain, pulls);
    }
    return this.#pullList(url, pulls);
  }

  /**
   * A page of PRs as a list shows them ("Pullrequests": `state` repeatable, OPEN only by default;
   * `q` and `sort`, "Filter and sort API objects"), from `pulls` in any order.
   */
  #pullList(url: URL, all: BbPull[]) {
    const states = url.searchParams.getAll('state').map((s) => s.toUpperCase());
    for (const s of states)
      if (!(PR_STATES as readonly string[]).includes(s)) throw new EmulatorError(400, `Invalid state ${s}`);
    // "By default only open pull requests are returned" (Pullrequests: `state`).
    const wanted = states.length > 0 ? states : ['OPEN'];
    let pulls = all.filter((p) => wanted.includes(p.state));
    const q = url.searchParams.get('q');
    if (q !== null) {
      const filter = parseQuery(q);
      pulls = pulls.filter(
        (p) =>
          (filter.branch === undefined || p.source_branch === filter.branch) &&
          (filter.sourceRepo === undefined ||
            p.source_repo.toLowerCase() === filter.sourceRepo.toLowerCase()) &&
          meetsTimes(p.updated_on.getTime(), filter.updated ?? []),
      );
    }
    const sort = url.searchParams.get('sort');
    if (sort !== null && sort !== 'updated_on' && sort !== '-updated_on' && sort !== 'id' && sort !== '-id')
      throw new EmulatorError(400, `Invalid sort field ${sort}`);
    const field = sort?.replace(/^-/, '') === 'id' ? 'id' : 'updated_on';
    const dir = sort?.startsWith('-') ? -1 : 1;
    if (sort !== null)
      pulls.sort((a, b) =>
        field === 'id' ? (a.id - b.id) * dir : (a.updated_on.getTime() - b.updated_on.getTime()) * dir,
      );
    return this.#page(
      url,
      pulls.map((p) => this.pullRequest(p, false)),
      PULLS_PAGELEN,
    );
  }

  /**
   * A page of build statuses, ordered by `sort` ("Filter and sort API objects": a field of the
   * object, `-` first for descending; the status lists default to `created_on`). A field the
   * object lacks is a 400, as on Bitbucket. `q` (BBQL filtering, which Bitbucket supports here)
   * is not implemented by this emulator, and gitsync does not send it: answered 400 so that a
   * request relying on it fails loudly instead of being answered unfiltered.
   */
  #statusPage(url: URL, repo: string, statuses: { commit: string; s: BbStatus }[]) {
    if (url.searchParams.has('q'))
      throw new EmulatorError(400, 'q on commit statuses is not implemented by this emulator');
    const sort = url.searchParams.get('sort') ?? 'created_on';
    const field = sort.replace(/^-/, '');
    if (!(STATUS_SORT_FIELDS as readonly string[]).includes(field))
      throw new EmulatorError(400, `Invalid sort field: commitstatus has no field named '${field}'`);
    const dir = sort.startsWith('-') ? -1 : 1;
    const value = (s: BbStatus): string | number =>
      field === 'created_on' || field === 'updated_on'
        ? s[field].getTime()
        : String(s[field as 'key' | 'state' | 'name' | 'url' | 'description' | 'refname'] ?? '');
    const sorted = [...statuses].sort(({ s: a }, { s: b }) => {
      const [x, y] = [value(a), value(b)];
      return (x < y ? -1 : x > y ? 1 : a.seq - b.seq) * dir;
    });
    return this.#page(
      url,
      sorted.map(({ commit, s }) => this.#status(repo, commit, s)),
      PAGELEN_100,
    );
  }

  /** A page `{size, page, pagelen, next?, previous?, values}` ("Pagination"). */
  #page(url: URL, items: unknown[], limits: { default: number; max: number }) {
    const int = (name: string, fallback: number) => {
      const raw = url.searchParams.get(name);
      if (raw === null) return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new EmulatorError(400, `Invalid ${name}`);
      return n;
    };
    const pagelen = int('pagelen', limits.default);
    if (pagelen > limits.max) throw new EmulatorError(400, `Invalid pagelen`);
    const page = int('page', 1);
    const link = (p: number) => {
      const u = new URL(url.toString());
      u.searchParams.set('page', String(p));
      return `${this.origin}${u.pathname}${u.search}`;
    };
    const hasNext = page * pagelen < items.length;
    return {
      size: items.length,
      page,
      pagelen,
      ...(hasNext ? { next: link(page + 1) } : {}),
      ...(page > 1 ? { previous: link(page - 1) } : {}),
      values: items.slice((page - 1) * pagelen, page * pagelen),
    };
  }

  /** Bitbucket's error body: `{"type": "error", "error": {"message": …}}`. */
  #error(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify({ type: 'error', error: { message } }));
  }
}

/**
 * A partial response ("Partial responses": `fields`, a comma-separated list of dotted field paths
 * that are kept, through arrays — `values.id` keeps the `id` of every item). What is not named is
 * left out, the page's own `next` included (so a caller that pages must ask for it: GitLab's
 * Bitbucket Cloud importer lost every page after the first without it, gitlab-org/gitlab MR
 * 157158). Only this inclusive form is implemented: `-field`, `+field` and `*` are answered 400.
 */
export function partialResponse(value: unknown, fields: string): unknown {
  type Tree = Map<string, Tree>;
  const tree: Tree = new Map();
  for (const spec of fields.split(',').map((f) => f.trim())) {
    if (spec === '') continue;
    if (/^[-+]|\*/.test(spec))
      throw new EmulatorError(
        400,
        `fields ${spec}: only inclusive field paths are implemented by this emulator`,
      );
    let node = tree;
    for (const part of spec.split('.')) {
      if (!node.has(part)) node.set(part, new Map());
      node = node.get(part)!;
    }
  }
  const keep = (v: unknown, t: Tree): unknown => {
    if (t.size === 0 || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((item) => keep(item, t));
    const out: Record<string, unknown> = {};
    for (const [k, sub] of t) if (k in v) out[k] = keep((v as Record<string, unknown>)[k], sub);
    return out;
  };
  return keep(value, tree);
}

/** The route of a path below `/2.0`. */
function matchRoute(path: string): { name: RouteName; params: string[] } | null {
  let seg: string[];
  try {
    seg = path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return null;
  }
  if (seg[0] === 'user' && seg.length === 1) return { name: 'current_user', params: [] };
  if (seg[0] === 'workspaces' && seg.length === 4 && seg[1] && seg[2] === 'pullrequests' && seg[3])
    return { name: 'user_pullrequests', params: [seg[1], seg[3]] };
  if (seg[0] !== 'repositories' || !seg[1] || !seg[2]) return null;
  const [, ws, slug, kind, id, sub] = seg;
  if (seg.length === 3) return { name: 'get_repository', params: [ws!, slug!] };
  if (kind === 'diffstat' && seg.length >= 5) return { name: 'repository_diffstat', params: [ws!, slug!] };
  if (kind === 'file-conflicts' && seg.length >= 5)
    return { name: 'repository_file_conflicts', params: [ws!, slug!] };
  if (kind === 'commit' && seg.length === 6 && seg[5] === 'statuses')
    return { name: 'commit_statuses', params: [ws!, slug!, id!] };
  if (kind !== 'pullrequests') return null;
  if (seg.length === 4) return { name: 'list_pullrequests', params: [ws!, slug!] };
  if (!/^\d+$/.test(id!)) return null;
  if (seg.length === 5) return { name: 'get_pullrequest', params: [ws!, slug!, id!] };
  if (seg.length !== 6) return null;
  if (sub === 'diffstat') return { name: 'pullrequest_diffstat', params: [ws!, slug!, id!] };
  if (sub === 'commits') return { name: 'pullrequest_commits', params: [ws!, slug!, id!] };
  if (sub === 'statuses') return { name: 'pullrequest_statuses', params: [ws!, slug!, id!] };
  if (sub === 'conflicts') return { name: 'pullrequest_conflicts', params: [ws!, slug!, id!] };
  if (sub === 'comments') return { name: 'pullrequest_comments', params: [ws!, slug!, id!] };
  return null;
}

/** A comparison of `updated_on` in a query: `>`, `>=`, `<`, `<=` or `=` a time (ms). */
export interface TimeClause {
  op: '>' | '>=' | '<' | '<=' | '=';
  at: number;
}

/** Whether a time meets every comparison. */
export const meetsTimes = (t: number, clauses: readonly TimeClause[]) =>
  clauses.every(({ op, at }) =>
    op === '>' ? t > at : op === '>=' ? t >= at : op === '<' ? t < at : op === '<=' ? t <= at : t === at,
  );

/**
 * The BBQL this emulator understands ("Filter and sort API objects"), clauses joined by `AND`:
 * `source.branch.name = "…"`, `source.repository.full_name = "…"` (string literals in double quotes
 * with `\"` and `\\` escapes), and `updated_on` compared (`>`, `>=`, `<`, `<=`, `=`) with an ISO
 * 8601 time, quoted or not (`updated_on > "2026-12-07T10:00:00.123456+00:00"`, or a bare date; no
 * zone is UTC). Anything else — another field, `OR`, parentheses, a time that does not parse — is
 * a 400 "Invalid filter", as Bitbucket answers a query it cannot apply.
 */
export function parseQuery(q: string): { branch?: string; sourceRepo?: string; updated?: TimeClause[] } {
  const out: { branch?: string; sourceRepo?: string; updated?: TimeClause[] } = {};
  const invalid = () =>
    new EmulatorError(
      400,
      `Invalid filter: ${q} (this emulator parses source.branch.name = "…", source.repository.full_name = "…" and updated_on compared with a time, joined by AND)`,
    );
  const text = /^\s*(source\.branch\.name|source\.repository\.full_name)\s*=\s*"((?:[^"\\]|\\.)*)"\s*/;
  const time = /^\s*updated_on\s*(>=|<=|>|<|=)\s*(?:"([^"\\]*)"|([0-9][0-9T:.+\-Z]*))\s*/;
  const iso = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
  let rest = q;
  for (let i = 0; ; i++) {
    const m = text.exec(rest);
    const t = m ? null : time.exec(rest);
    if (m) {
      const value = m[2]!.replace(/\\(.)/g, '$1');
      if (m[1] === 'source.branch.name') out.branch = value;
      else out.sourceRepo = value;
      rest = rest.slice(m[0].length);
    } else if (t) {
      const raw = t[2] ?? t[3]!;
      const shape = iso.exec(raw);
      // A time without a zone is UTC; a bare date is its midnight.
      const at = shape ? Date.parse(shape[1] || !raw.includes('T') ? raw : `${raw}Z`) : Number.NaN;
      if (Number.isNaN(at)) throw invalid();
      out.updated = [...(out.updated ?? []), { op: t[1] as TimeClause['op'], at }];
      rest = rest.slice(t[0].length);
    } else throw invalid();
    if (rest === '') return out;
    const and = /^AND\s+/i.exec(rest);
    if (!and || i > 4) throw invalid();
    rest = rest.slice(and[0].length);
  }
}

function readAuth(req: IncomingMessage): { kind: 'bearer' | 'basic'; secret: string } | null {
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return { kind: 'bearer', secret: bearer[1]! };
  const basic = /^Basic\s+(\S+)$/i.exec(header);
  if (basic) return { kind: 'basic', secret: Buffer.from(basic[1]!, 'base64').toString('utf8') };
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startBitbucketEmulator(
  options: BitbucketEmulatorOptions = {},
): Promise<BitbucketEmulator> {
  return new BitbucketEmulator(options).start();
}
