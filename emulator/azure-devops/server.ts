import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { fingerprint, HostEmulator } from '../host-emulator.ts';
import {
  type AzEvaluation,
  type AzIdentity,
  type AzPolicy,
  type AzProject,
  type AzPull,
  type AzPullStatus,
  type AzRepo,
  type AzThread,
  AzureDevOpsModel,
  EmulatorError,
  POLICY_TYPES,
  type PullStatus,
} from './model.ts';

/** API routes the emulator serves; anything else is "unexpected", recorded and answered 404. */
export type RouteName =
  | 'get_project'
  | 'get_repository'
  | 'list_pull_requests'
  | 'list_project_pull_requests'
  | 'get_pull_request'
  | 'list_iterations'
  | 'get_iteration_changes'
  | 'list_pull_request_commits'
  | 'list_pull_request_threads'
  | 'list_pull_request_statuses'
  | 'list_policy_evaluations'
  | 'list_policy_configurations';

export const FAULT_KINDS = [
  'latency',
  'status',
  'timeout',
  'garbage',
  /** 401 with a JSON TF400813 body. */
  'unauthorized',
  /** 203 with the HTML sign-in page, as Azure DevOps answers a PAT it does not accept. */
  'signin',
  /** 429 with Retry-After (`reset_in_s`). */
  'rate_limit',
  /** 200, but with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` `reset_in_s` ahead (delayed). */
  'throttle',
] as const;

const faultSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS),
  /** Regular expression tested against the request path and query (`/{org}/{project}/_apis/…?…`). */
  match: z.string().optional(),
  times: z.number().int().positive().optional(),
  status: z.number().int().min(200).max(599).optional(),
  latency_ms: z.number().int().min(0).max(600_000).optional(),
  reset_in_s: z.number().int().min(0).max(86_400).optional(),
});
export type Fault = z.infer<typeof faultSchema>;

export interface LoggedRequest {
  method: string;
  path: string;
  route: RouteName | null;
  status: number;
  /** How the credential came. */
  auth: 'basic' | 'bearer' | null;
  /** First 12 hex digits of sha256(token); never the token. */
  token_fingerprint: string | null;
}

export interface AzureDevOpsEmulatorOptions {
  port?: number;
  /**
   * The web address rendered in `webUrl` / `remoteUrl` (default: the emulator's own address).
   * Set it to `https://dev.azure.com` to have a provider at that web address read from the
   * emulator as its `api_url`.
   */
  webUrl?: string;
  /** Requests per user per window before 429 (stands in for Azure DevOps' TSTU budget). */
  rateLimit?: number;
  /** From this many requests in a window, answers carry `X-RateLimit-Remaining: 0` and a delay. */
  delayFrom?: number;
  rateLimitWindowS?: number;
  /**
   * Keep each new test merge `queued` until the next read of the PR (`AzureDevOpsModel.mergeOnRead`),
   * for tests of what a provider does meanwhile; by default it is computed at once.
   */
  mergeOnRead?: boolean;
  /** Accept any PAT as `agent@example.com` (demo); by default only tokens from `addToken`. */
  acceptAnyToken?: boolean;
  now?: () => Date;
}

export { fingerprint };

/**
 * The page Azure DevOps answers with status 203 when a PAT is not accepted: the HTML of its
 * sign-in page instead of JSON.
 */
export const SIGN_IN_PAGE =
  '<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head><body>Sign in to your account</body></html>';

/** "Please note that description field will be truncated up to 400 symbols in the result" (both PR lists). */
const LISTED_DESCRIPTION = 400;
const API_VERSION = /^(\d+)\.(\d+)(-preview(\.\d+)?)?$/;

/**
 * An HTTP server on 127.0.0.1 answering like Azure DevOps Services' REST API 7.1 (the Git pull
 * request, repository and project reads gitsync uses), strictly: anything else is recorded as
 * unexpected and answered 404.
 */
export class AzureDevOpsEmulator extends HostEmulator<RouteName, Fault, LoggedRequest> {
  readonly model: AzureDevOpsModel;
  readonly #pats = new Map<string, string>();
  readonly #bearers = new Map<string, string>();
  readonly #budgets = new Map<string, { observed: number; resetAt: number }>();
  readonly #options: Required<Omit<AzureDevOpsEmulatorOptions, 'now' | 'port' | 'webUrl' | 'mergeOnRead'>> & {
    webUrl?: string;
  };

  constructor(options: AzureDevOpsEmulatorOptions = {}) {
    super(faultSchema, options.port ?? 0);
    this.model = new AzureDevOpsModel(options.now);
    this.model.mergeOnRead = options.mergeOnRead ?? false;
    const rateLimit = options.rateLimit ?? 10_000;
    this.#options = {
      rateLimit,
      delayFrom: options.delayFrom ?? Math.floor(rateLimit * 0.9),
      rateLimitWindowS: options.rateLimitWindowS ?? 300,
      acceptAnyToken: options.acceptAnyToken ?? false,
      ...(options.webUrl ? { webUrl: options.webUrl.replace(/\/+$/, '') } : {}),
    };
  }

  protected answerCrash(res: ServerResponse, error: unknown): void {
    this.#json(res, 500, { message: String(error) });
  }

  /** Where the API is served (the provider's `api_url`). */
  get url(): string {
    return this.origin;
  }

  /** The web address rendered in answers (the provider's `web_url`). */
  get webUrl(): string {
    return this.#options.webUrl ?? this.origin;
  }

  /** Accepts `token` as a PAT of `uniqueName` (sent as Basic, any user name, the PAT as password). */
  addToken(token: string, uniqueName = 'agent@example.com'): void {
    this.model.user(uniqueName);
    this.#pats.set(token, uniqueName);
  }

  /** Accepts `token` as an Entra ID access token of `uniqueName` (sent as Bearer). */
  addBearer(token: string, uniqueName = 'agent@example.com'): void {
    this.model.user(uniqueName);
    this.#bearers.set(token, uniqueName);
  }

  revokeToken(token: string): void {
    this.#pats.delete(token);
    this.#bearers.delete(token);
  }

  // ---- rendering (REST API 7.1 shapes) -----------------------------------------------------------

  repoWebUrl(repo: AzRepo): string {
    return `${this.webUrl}/${enc(repo.org)}/${enc(repo.project.name)}/_git/${enc(repo.name)}`;
  }

  pullWebUrl(pull: AzPull): string {
    return `${this.repoWebUrl(pull.repo)}/pullrequest/${pull.id}`;
  }

  #api(org: string): string {
    return `${this.origin}/${enc(org)}`;
  }

  identity(i: AzIdentity) {
    return {
      displayName: i.displayName,
      url: `${this.#api('_')}/_apis/Identities/${i.id}`,
      id: i.id,
      // The service account system threads are written by has no sign-in name.
      ...(i.uniqueName ? { uniqueName: i.uniqueName } : {}),
      imageUrl: `${this.webUrl}/_api/_common/identityImage?id=${i.id}`,
      ...(i.isContainer ? { isContainer: true } : {}),
    };
  }

  project(p: AzProject) {
    return {
      id: p.id,
      name: p.name,
      url: `${this.#api(p.org)}/_apis/projects/${p.id}`,
      state: 'wellFormed',
      revision: 1,
      visibility: p.visibility,
      lastUpdateTime: '2026-01-01T00:00:00Z',
    };
  }

  /** A `GitRepository`; `full` adds the fork fields of "Repositories - Get Repository". */
  repository(repo: AzRepo, full = false) {
    const host = new URL(this.webUrl).hostname;
    const parent = repo.parentId ? this.model.repoById(repo.parentId) : undefined;
    return {
      id: repo.id,
      name: repo.name,
      url: `${this.#api(repo.org)}/${repo.project.id}/_apis/git/repositories/${repo.id}`,
      project: this.project(repo.project),
      defaultBranch: 'refs/heads/main',
      remoteUrl: `${new URL(this.webUrl).protocol}//${enc(repo.org)}@${new URL(this.webUrl).host}/${enc(repo.org)}/${enc(repo.project.name)}/_git/${enc(repo.name)}`,
      sshUrl: `git@ssh.${host}:v3/${enc(repo.org)}/${enc(repo.project.name)}/${enc(repo.name)}`,
      webUrl: this.repoWebUrl(repo),
      ...(full
        ? {
            isDisabled: false,
            isInMaintenance: false,
            ...(repo.parentId ? { isFork: true } : {}),
            ...(parent
              ? {
                  parentRepository: {
                    id: parent.id,
                    name: parent.name,
                    isFork: parent.parentId !== null,
                    url: `${this.#api(parent.org)}/${parent.project.id}/_apis/git/repositories/${parent.id}`,
                    project: this.project(parent.project),
                  },
                }
              : {}),
          }
        : {}),
    };
  }

  #commit(repo: AzRepo, commitId: string) {
    return {
      commitId,
      url: `${this.#api(repo.org)}/${repo.project.id}/_apis/git/repositories/${repo.id}/commits/${commitId}`,
    };
  }

  /**
   * A `GitPullRequest` as "Pull Requests - Get Pull Request" returns it; in a list (`listed`:
   * "Get Pull Requests", "… By Project") "description field will be truncated up to 400 symbols".
   */
  pull(p: AzPull, listed = false) {
    const last = p.iterations.at(-1)!;
    return {
      repository: this.repository(p.repo),
      pullRequestId: p.id,
      codeReviewId: p.id,
      status: p.status,
      createdBy: this.identity(p.createdBy),
      creationDate: p.creationDate.toISOString(),
      ...(p.closedDate ? { closedDate: p.closedDate.toISOString() } : {}),
      ...(p.deletedSourceBranch ? { completionOptions: { deleteSourceBranch: true } } : {}),
      title: p.title,
      description: listed ? p.description.slice(0, LISTED_DESCRIPTION) : p.description,
      sourceRefName: p.sourceRefName,
      targetRefName: p.targetRefName,
      mergeStatus: p.mergeStatus,
      isDraft: p.isDraft,
      mergeId: '00000000-0000-0000-0000-000000000000',
      lastMergeSourceCommit: this.#commit(p.sourceRepo, last.sourceCommit),
      lastMergeTargetCommit: this.#commit(p.repo, p.targetCommit),
      reviewers: p.reviewers.map((r) => ({
        reviewerUrl: `${this.#api(p.repo.org)}/_apis/git/repositories/${p.repo.id}/pullRequests/${p.id}/reviewers/${r.identity.id}`,
        vote: r.vote,
        hasDeclined: r.hasDeclined,
        isFlagged: false,
        ...(r.isRequired ? { isRequired: true } : {}),
        ...(r.votedFor.length ? { votedFor: r.votedFor.map((g) => this.identity(g)) } : {}),
        ...this.identity(r.identity),
      })),
      url: `${this.#api(p.repo.org)}/${p.repo.project.id}/_apis/git/repositories/${p.repo.id}/pullRequests/${p.id}`,
      supportsIterations: true,
      artifactId: `vstfs:///Git/PullRequestId/${p.repo.project.id}%2f${p.repo.id}%2f${p.id}`,
      ...(p.sourceRepo !== p.repo
        ? { forkSource: { name: p.sourceRefName, repository: this.repository(p.sourceRepo) } }
        : {}),
    };
  }

  /** A `GitPullRequestCommentThread` as "Pull Request Threads - List" returns it. */
  thread(t: AzThread) {
    const at = t.line ? { line: t.line.line, offset: 1 } : null;
    return {
      pullRequestThreadContext: null,
      id: t.id,
      publishedDate: t.publishedDate.toISOString(),
      lastUpdatedDate: t.lastUpdatedDate.toISOString(),
      comments: t.comments.map((c) => ({
        id: c.id,
        parentCommentId: c.parentCommentId,
        author: this.identity(c.author),
        // A deleted comment keeps its place, without content.
        ...(c.isDeleted ? { isDeleted: true } : { content: c.content }),
        publishedDate: c.publishedDate.toISOString(),
        lastUpdatedDate: c.publishedDate.toISOString(),
        commentType: c.commentType,
        usersLiked: [],
      })),
      // System threads (votes, pushes) carry no status.
      ...(t.status ? { status: t.status } : {}),
      threadContext: t.filePath
        ? {
            filePath: t.filePath,
            ...(at && t.line?.side === 'left' ? { leftFileStart: at, leftFileEnd: at } : {}),
            ...(at && t.line?.side === 'right' ? { rightFileStart: at, rightFileEnd: at } : {}),
          }
        : null,
      properties: t.properties,
      isDeleted: t.isDeleted,
    };
  }

  /** A `GitPullRequestStatus` as "Pull Request Statuses - List" returns it. */
  status(pull: AzPull, s: AzPullStatus) {
    const repoApi = `${this.#api(pull.repo.org)}/${pull.repo.project.id}/_apis/git/repositories/${pull.repo.id}`;
    return {
      id: s.id,
      state: s.state,
      ...(s.description !== null ? { description: s.description } : {}),
      context: { name: s.name, ...(s.genre !== null ? { genre: s.genre } : {}) },
      creationDate: s.creationDate.toISOString(),
      updatedDate: s.creationDate.toISOString(),
      createdBy: this.identity(s.createdBy),
      ...(s.targetUrl !== null ? { targetUrl: s.targetUrl } : {}),
      ...(s.iterationId !== null ? { iterationId: s.iterationId } : {}),
      _links: {
        self: { href: `${repoApi}/pullRequests/${pull.id}/statuses/${s.id}` },
        repository: { href: repoApi },
      },
    };
  }

  /**
   * A `PolicyConfiguration` as "Policy Configurations - Get" returns it and an evaluation carries
   * it: type, whether enabled and blocking, settings (with the scope it applies to).
   */
  configuration(p: AzPolicy) {
    const type = POLICY_TYPES[p.kind];
    const projectApi = `${this.#api(p.repo.org)}/${p.repo.project.id}/_apis/policy`;
    return {
      createdBy: this.identity(p.createdBy),
      createdDate: p.createdDate.toISOString(),
      isEnabled: p.isEnabled,
      isBlocking: p.isBlocking,
      isDeleted: false,
      settings: p.settings,
      isEnterpriseManaged: false,
      revision: 1,
      id: p.id,
      url: `${projectApi}/configurations/${p.id}`,
      type: { id: type.id, url: `${projectApi}/types/${type.id}`, displayName: type.displayName },
    };
  }

  /** A `PolicyEvaluationRecord` as "Evaluations - List" returns it. */
  evaluation(pull: AzPull, e: AzEvaluation) {
    const p = e.policy;
    const build = p.kind === 'build' ? e.build : null;
    return {
      configuration: this.configuration(p),
      // As Azure DevOps stores it: the project id and PR id joined by an encoded slash.
      artifactId: `vstfs:///CodeReview/CodeReviewId/${pull.repo.project.id}%2f${pull.id}`,
      evaluationId: e.id,
      startedDate: e.startedDate.toISOString(),
      ...(e.completedDate ? { completedDate: e.completedDate.toISOString() } : {}),
      status: e.status,
      ...(build
        ? {
            context: {
              lastMergeCommitId: '0'.repeat(40),
              lastMergeSourceCommitId: build.sourceCommit,
              lastMergeTargetCommitId: build.targetCommit,
              buildId: build.id,
              buildDefinitionId: p.settings.buildDefinitionId,
              buildDefinitionName: `${p.repo.name}-ci`,
              buildIsNotCurrent: build.sourceCommit !== this.model.head(pull),
              buildStartedUtc: build.startedDate.toISOString(),
              isExpired: e.expired,
              buildAfterMerge: false,
              wasAutoRequeued: false,
              buildOutputPreview:
                build.errors.length > 0
                  ? {
                      jobName: 'Job',
                      taskName: 'Build',
                      errors: build.errors.map((message, i) => ({ lineNumber: i + 1, message })),
                      lastLineNumber: build.errors.length,
                    }
                  : null,
            },
          }
        : {}),
    };
  }

  // ---- request handling ----------------------------------------------------------------------

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const url = new URL(raw, this.origin);
    const method = req.method ?? 'GET';
    const segments = raw
      .split('?')[0]!
      .split('/')
      .filter((s) => s !== '')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      });
    const route = method === 'GET' ? matchRoute(segments) : null;
    const auth = readAuth(req);
    const record = (status: number) => {
      this.countAnswer(route?.name ?? null, method, url.pathname, status);
      this.log.push({
        method,
        path: url.pathname + url.search,
        route: route?.name ?? null,
        status,
        auth: auth?.scheme ?? null,
        token_fingerprint: auth ? fingerprint(auth.token) : null,
      });
      if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
    };
    if (!route) {
      record(404);
      return this.#json(res, 404, {
        message: 'The controller for path was not found or does not implement IController.',
      });
    }

    const fault = this.takeFault(url.pathname + url.search);
    if (fault?.kind === 'latency') await new Promise((r) => setTimeout(r, fault.latency_ms ?? 1000));

    // "Every API request should include an api-version" (REST API versioning).
    const version = url.searchParams.get('api-version');
    const v = version ? API_VERSION.exec(version) : null;
    if (!v || Number(v[1]) > 7 || (Number(v[1]) === 7 && Number(v[2]) > 2)) {
      record(400);
      return this.#json(res, 400, {
        message: version
          ? `The requested REST API version of ${version} is out of range for this server.`
          : 'No api-version was supplied for the "GET" request. The version must be supplied either as part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter (e.g. \'?api-version=1.0\').',
        typeKey: version ? 'VssVersionOutOfRangeException' : 'VssVersionNotSpecifiedException',
      });
    }
    // A preview API must be asked for as one ("Evaluations - List" is `7.1-preview.1` only).
    if (route.name === 'list_policy_evaluations' && !v[3]) {
      record(400);
      return this.#json(res, 400, {
        message: `The requested version "${version}" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: "${version}-preview"`,
        typeKey: 'VssInvalidPreviewVersionException',
      });
    }

    // Authentication: a PAT in Basic (any user name), or an Entra token as Bearer.
    let viewer: string | null = null;
    if (fault?.kind === 'signin') return this.#signIn(res, record);
    if (fault?.kind === 'unauthorized') return this.#unauthorized(res, record);
    if (auth?.scheme === 'basic') {
      viewer = this.#pats.get(auth.token) ?? null;
      if (!viewer && this.#options.acceptAnyToken && auth.token !== '') {
        this.addToken(auth.token);
        viewer = 'agent@example.com';
      }
      if (!viewer) return this.#signIn(res, record);
    } else if (auth?.scheme === 'bearer') {
      viewer = this.#bearers.get(auth.token) ?? null;
      if (!viewer) return this.#unauthorized(res, record);
    }

    const limit = this.#throttle(viewer ?? 'anonymous');
    if (fault?.kind === 'rate_limit' || limit.exceeded) {
      record(429);
      const resetIn = fault?.kind === 'rate_limit' ? (fault.reset_in_s ?? 60) : limit.resetIn;
      return this.#json(
        res,
        429,
        {
          message: `TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'ATCPU' in namespace 'User'.`,
          typeKey: 'RequestBlockedException',
        },
        {
          'retry-after': String(resetIn),
          'x-ratelimit-resource': 'ATCPU',
          'x-ratelimit-limit': String(this.#options.rateLimit),
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + resetIn),
        },
      );
    }
    const limits: Record<string, string> =
      fault?.kind === 'throttle'
        ? {
            'x-ratelimit-resource': 'ATCPU',
            'x-ratelimit-delay': '0.5',
            'x-ratelimit-limit': String(this.#options.rateLimit),
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + (fault.reset_in_s ?? 60)),
          }
        : limit.headers;
    if (fault?.kind === 'status') {
      const status = fault.status ?? 500;
      record(status);
      return this.#json(res, status, { message: `TF246017: The service answered ${status}.` }, limits);
    }
    if (fault?.kind === 'timeout') {
      record(0);
      this.hang(res);
      return;
    }
    if (fault?.kind === 'garbage') {
      record(200);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', ...limits });
      return void res.end('{"pullRequestId": 1, "title": "trunc');
    }

    try {
      const answer = this.#answer(route.name, route.params, url.searchParams, viewer);
      record(200);
      this.#json(res, 200, answer.body, { ...limits, ...(answer.headers ?? {}) });
    } catch (error) {
      if (!(error instanceof EmulatorError)) throw error;
      record(error.status);
      this.#json(res, error.status, { message: error.message, typeKey: error.typeKey }, limits);
    }
  }

  #signIn(res: ServerResponse, record: (s: number) => void): void {
    record(203);
    res.writeHead(203, { 'content-type': 'text/html; charset=utf-8' });
    res.end(SIGN_IN_PAGE);
  }

  #unauthorized(res: ServerResponse, record: (s: number) => void): void {
    record(401);
    this.#json(
      res,
      401,
      {
        message: "TF400813: The user '' is not authorized to access this resource.",
        typeKey: 'UnauthorizedRequestException',
      },
      { 'www-authenticate': 'Bearer authorization_uri=https://login.microsoftonline.com/common' },
    );
  }

  #visibleProject(org: string, name: string, viewer: string | null): AzProject {
    const project = this.model.project(org, name);
    // Anonymous requests see public projects only; a hidden project answers as a missing one.
    if (!project || (viewer === null && project.visibility !== 'public'))
      throw new EmulatorError(
        404,
        `TF200016: The following project does not exist: ${name}.`,
        'ProjectDoesNotExistWithNameException',
      );
    return project;
  }

  #answer(
    name: RouteName,
    params: string[],
    q: URLSearchParams,
    viewer: string | null,
  ): { body: unknown; headers?: Record<string, string> } {
    const m = this.model;
    if (name === 'get_project') {
      const project = this.#visibleProject(params[0]!, params[1]!, viewer);
      return { body: this.project(project) };
    }
    const project = this.#visibleProject(params[0]!, params[1]!, viewer);
    if (name === 'list_policy_evaluations') return { body: this.#evaluations(project, q) };
    if (name === 'list_policy_configurations') return this.#configurations(project, q);
    if (name === 'list_project_pull_requests') {
      // "searchCriteria.repositoryId: If set, search for pull requests whose target branch is in
      // this repository" (an id; a name is not resolved here).
      const repositoryId = q.get('searchCriteria.repositoryId');
      return this.#pullList(
        (p) =>
          p.repo.project === project &&
          (!repositoryId || p.repo.id.toLowerCase() === repositoryId.toLowerCase()),
        q,
      );
    }
    const repo = m.findRepo(project, params[2]!);
    if (!repo)
      throw new EmulatorError(
        404,
        `TF401019: The Git repository with name or identifier ${params[2]} does not exist or you do not have permissions for the operation you are attempting.`,
        'GitRepositoryNotFoundException',
      );
    if (name === 'get_repository') return { body: this.repository(repo, true) };
    if (name === 'list_pull_requests') return this.#pullList((p) => p.repo === repo, q);
    const id = Number(params[3]);
    const pull = m.pulls.find((p) => p.repo === repo && p.id === id);
    if (!pull)
      throw new EmulatorError(
        404,
        `TF401180: The requested pull request was not found.`,
        'GitPullRequestNotFoundException',
      );
    switch (name) {
      case 'get_pull_request': {
        const body = this.pull(pull);
        m.settleMerge(pull);
        return { body };
      }
      case 'list_pull_request_statuses': {
        // Every status posted, oldest first, on the PR and on its iterations alike (the
        // published example, `httpExamples/pullRequestStatuses/GET_git_pullRequestStatuses_statuses.json`).
        const value = pull.statuses.map((s) => this.status(pull, s));
        return { body: { value, count: value.length } };
      }
      case 'list_pull_request_threads': {
        // Every thread, system ones included; the list is not paged.
        const value = pull.threads.map((t) => this.thread(t));
        return { body: { value, count: value.length } };
      }
      case 'list_iterations': {
        const value = pull.iterations.map((it) => ({
          id: it.id,
          description: '',
          author: this.identity(pull.createdBy),
          createdDate: it.createdDate.toISOString(),
          updatedDate: it.createdDate.toISOString(),
          sourceRefCommit: { commitId: it.sourceCommit },
          targetRefCommit: { commitId: it.targetCommit },
          commonRefCommit: { commitId: it.targetCommit },
          hasMoreCommits: false,
          reason: it.id === 1 ? 'create' : 'push',
        }));
        return { body: { value, count: value.length } };
      }
      case 'get_iteration_changes': {
        const iteration = pull.iterations.find((it) => it.id === Number(params[4]));
        if (!iteration) throw new EmulatorError(404, `TF401175: The iteration ${params[4]} does not exist.`);
        // `$top`: "The default value is 100 and the maximum value is 2000."
        const top = Math.min(2000, int(q, '$top', 100));
        const skip = int(q, '$skip', 0);
        const page = iteration.changes.slice(skip, skip + top);
        const more = skip + top < iteration.changes.length;
        return {
          body: {
            changeEntries: page.map((c, i) => ({
              changeTrackingId: skip + i + 1,
              changeId: skip + i + 1,
              item: { objectId: '0'.repeat(40), path: c.path, ...(c.isFolder ? { isFolder: true } : {}) },
              changeType: c.changeType,
            })),
            ...(more ? { nextSkip: skip + top, nextTop: top } : { nextSkip: 0, nextTop: 0 }),
          },
        };
      }
      case 'list_pull_request_commits': {
        const top = int(q, '$top', 100);
        const token = q.get('continuationToken');
        const start = token ? Number(Buffer.from(token, 'base64').toString('utf8')) : 0;
        if (!Number.isInteger(start) || start < 0)
          throw new EmulatorError(400, 'The continuation token is not valid.');
        const newestFirst = [...pull.commits].reverse();
        const page = newestFirst.slice(start, start + top);
        const next =
          start + top < newestFirst.length ? Buffer.from(String(start + top)).toString('base64') : null;
        return {
          body: {
            count: page.length,
            value: page.map((c) => ({
              commitId: c,
              author: {
                name: pull.createdBy.displayName,
                email: pull.createdBy.uniqueName,
                date: pull.creationDate.toISOString(),
              },
              committer: {
                name: pull.createdBy.displayName,
                email: pull.createdBy.uniqueName,
                date: pull.creationDate.toISOString(),
              },
              comment: 'A change',
              url: `${this.#api(repo.org)}/${repo.project.id}/_apis/git/repositories/${repo.id}/commits/${c}`,
            })),
          },
          ...(next ? { headers: { 'x-ms-continuationtoken': next } } : {}),
        };
      }
    }
    throw new EmulatorError(404, 'not found');
  }

  /**
   * "Pull Requests - Get Pull Requests" (one repository's) and "… By Project" (every repository's
   * of the project; each item names its `repository`): the same search criteria and paging.
   */
  #pullList(inScope: (p: AzPull) => boolean, q: URLSearchParams): { body: unknown } {
    const m = this.model;
    const status = (q.get('searchCriteria.status') ?? 'active').toLowerCase();
    if (!['active', 'completed', 'abandoned', 'all', 'notset'].includes(status))
      throw new EmulatorError(400, `The value '${status}' is not valid for searchCriteria.status.`);
    const source = q.get('searchCriteria.sourceRefName');
    const target = q.get('searchCriteria.targetRefName');
    const sourceRepo = q.get('searchCriteria.sourceRepositoryId');
    // `$top` is undocumented beyond "the number of pull requests to retrieve": unset, Azure
    // DevOps answers 101 (vsts-rest-api-specs issues 405 and 539), and never more than 1,000
    // however many are asked (a `$top=5000` answered 1,000, rfennell/AzurePipelines issue 843).
    const top = Math.min(1000, int(q, '$top', 101));
    const skip = int(q, '$skip', 0);
    // `minTime` / `maxTime` filter on the creation or the closing time
    // (`searchCriteria.queryTimeRangeType`, `created` unless set; REST 7.1): there is no
    // update time to ask by. A PR never closed has no closing time to compare.
    const range = (q.get('searchCriteria.queryTimeRangeType') ?? 'created').toLowerCase();
    if (range !== 'created' && range !== 'closed')
      throw new EmulatorError(
        400,
        `The value '${range}' is not valid for searchCriteria.queryTimeRangeType.`,
      );
    const minTime = time(q, 'searchCriteria.minTime');
    const maxTime = time(q, 'searchCriteria.maxTime');
    const when = (p: AzPull) => (range === 'closed' ? p.closedDate : p.creationDate)?.getTime();
    const list = m.pulls
      .filter(inScope)
      .filter((p) => status === 'all' || p.status === (status as PullStatus))
      .filter((p) => !source || p.sourceRefName.toLowerCase() === source.toLowerCase())
      .filter((p) => !target || p.targetRefName.toLowerCase() === target.toLowerCase())
      .filter((p) => !sourceRepo || p.sourceRepo.id.toLowerCase() === sourceRepo.toLowerCase())
      .filter((p) => minTime === null || (when(p) ?? Number.NaN) >= minTime)
      .filter((p) => maxTime === null || (when(p) ?? Number.NaN) <= maxTime)
      // Newest first, by id (the published example lists 22, 21, 1).
      .sort((a, b) => b.id - a.id)
      .slice(skip, skip + top);
    const body = { value: list.map((p) => this.pull(p, true)), count: list.length };
    for (const p of list) m.settleMerge(p);
    return { body };
  }

  /**
   * "Evaluations - List": the evaluations of the PR an `artifactId`
   * (`vstfs:///CodeReview/CodeReviewId/{projectId}/{pullRequestId}`) names, those of policies that
   * do not apply left out unless `includeNotApplicable`, paged by `$top` / `$skip`. An artifact of
   * another project, or of no PR, has none.
   */
  #evaluations(project: AzProject, q: URLSearchParams) {
    const artifact = q.get('artifactId');
    if (!artifact)
      throw new EmulatorError(
        400,
        'Value cannot be null.\r\nParameter name: artifactId',
        'ArgumentNullException',
      );
    const m = /^vstfs:\/\/\/CodeReview\/CodeReviewId\/([^/]+)(?:\/|%2f)(\d+)$/i.exec(artifact);
    if (!m) throw new EmulatorError(400, `The artifact ID ${artifact} is not valid.`);
    const pull =
      m[1]!.toLowerCase() === project.id.toLowerCase()
        ? this.model.pulls.find((p) => p.repo.project === project && p.id === Number(m[2]))
        : undefined;
    const all = pull
      ? this.model
          .evaluations(pull)
          .filter((e) => q.get('includeNotApplicable') === 'true' || e.status !== 'notApplicable')
          .sort((a, b) => a.policy.id - b.policy.id)
      : [];
    const skip = int(q, '$skip', 0);
    const page = all.slice(skip, skip + int(q, '$top', all.length));
    return { value: page.map((e) => this.evaluation(pull!, e)), count: page.length };
  }

  /**
   * "Policy Configurations - Get" (Git, REST 7.1): with `repositoryId` and `refName`, "all policy
   * configurations that *apply* to a particular branch in a repository", enabled or not; with
   * `repositoryId` alone, all of that repository's. Every policy the emulator keeps is a
   * repository's branch policy, so without `repositoryId` (the project-level ones) there are
   * none. `policyType` filters by type id; `$top` pages, and the next page starts at the
   * configuration id the `x-ms-continuationtoken` answer header names ("Pass a policy
   * configuration ID to fetch the next page of results").
   */
  #configurations(
    project: AzProject,
    q: URLSearchParams,
  ): { body: unknown; headers?: Record<string, string> } {
    const repositoryId = q.get('repositoryId')?.toLowerCase();
    const refName = q.get('refName');
    const type = q.get('policyType')?.toLowerCase();
    const from = int(q, 'continuationToken', 0);
    const all = this.model.policies
      .filter((p) => p.repo.project === project && repositoryId !== undefined && p.repo.id === repositoryId)
      .filter((p) => !refName || `refs/heads/${p.branch}` === refName)
      .filter((p) => !type || POLICY_TYPES[p.kind].id === type)
      .filter((p) => p.id >= from)
      .sort((a, b) => a.id - b.id);
    const top = int(q, '$top', all.length);
    const page = all.slice(0, top);
    const next = all[top];
    return {
      body: { value: page.map((p) => this.configuration(p)), count: page.length },
      ...(next ? { headers: { 'x-ms-continuationtoken': String(next.id) } } : {}),
    };
  }

  /**
   * A budget per identity per window (Azure DevOps counts TSTUs per user in a sliding five
   * minutes, "Rate and usage limits"). Near the limit answers are delayed: they carry
   * `X-RateLimit-Remaining: 0`, `X-RateLimit-Delay` and `X-RateLimit-Reset`; past it, 429.
   */
  #throttle(who: string): { exceeded: boolean; resetIn: number; headers: Record<string, string> } {
    const now = Date.now();
    let b = this.#budgets.get(who);
    if (!b || now >= b.resetAt) {
      b = { observed: 0, resetAt: now + this.#options.rateLimitWindowS * 1000 };
      this.#budgets.set(who, b);
    }
    b.observed++;
    const resetIn = Math.max(1, Math.ceil((b.resetAt - now) / 1000));
    const delayed = b.observed > this.#options.delayFrom;
    return {
      exceeded: b.observed > this.#options.rateLimit,
      resetIn,
      headers: delayed
        ? {
            'x-ratelimit-resource': 'ATCPU',
            'x-ratelimit-delay': '0.25',
            'x-ratelimit-limit': String(this.#options.rateLimit),
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(Math.ceil(b.resetAt / 1000)),
          }
        : {},
    };
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8; api-version=7.1', ...headers });
    res.end(JSON.stringify(body));
  }
}

const enc = encodeURIComponent;

/** A time parameter (ISO 8601) in milliseconds, null when unset; 400 for one that is not a time. */
function time(q: URLSearchParams, name: string): number | null {
  const raw = q.get(name);
  if (raw === null || raw === '') return null;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) throw new EmulatorError(400, `The value '${raw}' is not valid for ${name}.`);
  return at;
}

function int(q: URLSearchParams, name: string, fallback: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new EmulatorError(400, `The value '${raw}' is not valid for ${name}.`);
  return n;
}

/** The credential of a request: a PAT from Basic (the password; any user name), or a Bearer token. */
function readAuth(req: IncomingMessage): { scheme: 'basic' | 'bearer'; token: string } | null {
  const header = req.headers.authorization ?? '';
  const basic = /^Basic\s+(\S+)$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return { scheme: 'basic', token: colon < 0 ? decoded : decoded.slice(colon + 1) };
  }
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  return bearer ? { scheme: 'bearer', token: bearer[1]! } : null;
}

/**
 * Route table. Literal segments compare without case, as Azure DevOps does (`pullRequests` and
 * `pullrequests` are one route).
 */
function matchRoute(s: string[]): { name: RouteName; params: string[] } | null {
  const is = (i: number, word: string) => s[i]?.toLowerCase() === word.toLowerCase();
  if (s.length === 4 && is(1, '_apis') && is(2, 'projects'))
    return { name: 'get_project', params: [s[0]!, s[3]!] };
  if (s.length === 5 && is(2, '_apis') && is(3, 'policy') && is(4, 'evaluations'))
    return { name: 'list_policy_evaluations', params: [s[0]!, s[1]!] };
  if (s.length === 6 && is(2, '_apis') && is(3, 'git') && is(4, 'policy') && is(5, 'configurations'))
    return { name: 'list_policy_configurations', params: [s[0]!, s[1]!] };
  if (s.length === 5 && is(2, '_apis') && is(3, 'git') && is(4, 'pullrequests'))
    return { name: 'list_project_pull_requests', params: [s[0]!, s[1]!] };
  if (s.length < 6 || !is(2, '_apis') || !is(3, 'git') || !is(4, 'repositories')) return null;
  const [org, project, , , , repo] = s as [string, string, string, string, string, string];
  const base = [org, project, repo];
  if (s.length === 6) return { name: 'get_repository', params: base };
  if (!is(6, 'pullrequests')) return null;
  if (s.length === 7) return { name: 'list_pull_requests', params: base };
  const id = s[7]!;
  if (!/^\d+$/.test(id)) return null;
  if (s.length === 8) return { name: 'get_pull_request', params: [...base, id] };
  if (s.length === 9 && is(8, 'iterations')) return { name: 'list_iterations', params: [...base, id] };
  if (s.length === 9 && is(8, 'commits')) return { name: 'list_pull_request_commits', params: [...base, id] };
  if (s.length === 9 && is(8, 'threads')) return { name: 'list_pull_request_threads', params: [...base, id] };
  if (s.length === 9 && is(8, 'statuses'))
    return { name: 'list_pull_request_statuses', params: [...base, id] };
  if (s.length === 11 && is(8, 'iterations') && /^\d+$/.test(s[9]!) && is(10, 'changes'))
    return { name: 'get_iteration_changes', params: [...base, id, s[9]!] };
  return null;
}

export async function startAzureDevOpsEmulator(
  options: AzureDevOpsEmulatorOptions = {},
): Promise<AzureDevOpsEmulator> {
  return new AzureDevOpsEmulator(options).start();
}
