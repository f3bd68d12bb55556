import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve as listen } from '@hono/node-server';
import { type GitHubEmulator, startGitHubEmulator } from '../../emulator/github/server.ts';
import { type GitLabEmulator, startGitLabEmulator } from '../../emulator/gitlab/server.ts';
import { loadConfig } from '../config/config.ts';
import { errorMessage } from '../core/errors.ts';
import { GitHubProvider } from '../providers/github/github-provider.ts';
import { GitLabProvider } from '../providers/gitlab/gitlab-provider.ts';
import { createLogger, openRuntime } from '../runtime.ts';
import { CliError, EXIT } from './client.ts';
import { type AgentChat, type AgentRef, abortableSleep, DemoAgent } from './demo-agent.ts';

/** The demo GitHub App's webhook secret: its installation deliveries are verified with it. */
const APP_WEBHOOK_SECRET = 'demo-app-webhook-secret';
const REPO = 'acme/webapp';
/** The GitHub repository's reviewers: collaborators, so their reviews count and gitsync trusts them. */
const GITHUB_REVIEWERS = ['maria', 'devon', 'lee'];
const GITLAB_TOKEN = 'glpat-demo-service-token';
/** A project in nested groups on a self-managed GitLab under `/gitlab`. */
const GITLAB_PROJECT = 'platform/backend/api';

/** How a CI run ends: passing, or with one job failing (its name, and what its log says). */
type CiPlan = { fail?: { job: 'test' | 'build'; title: string; summary: string } };
const PASS: CiPlan = {};
const failing = (job: 'test' | 'build', title: string, summary: string): CiPlan => ({
  fail: { job, title, summary },
});

/** A review thread a reviewer opens on a line. */
interface Thread {
  path: string;
  line: number;
  body: string;
}

/** Steps of one simulated agent and the people around it, a few seconds apart. */
type Step = (ctx: StoryContext) => Promise<void> | void;
interface StoryContext {
  gh: GitHubEmulator;
  gl: GitLabEmulator;
  ci: DemoCi;
  /** The story's agent: its MCP session with gitsync. */
  agent: DemoAgent;
  chat: (key: string) => AgentChat;
  /** The default duration `ms` at the demo's pace; resolves early when the demo stops. */
  sleep: (ms: number) => Promise<void>;
  /** Runs `fn` after `ms` (paced) in the background: what a host does on its own a moment later. */
  later: (ms: number, fn: () => void) => void;
  /** Emulator seconds (rate-limit resets) at the demo's pace. */
  seconds: (s: number) => number;
}

// ---- GitHub ---------------------------------------------------------------------------------

const ghOrigin = (ctx: StoryContext) => `${ctx.gh.webUrl}/${REPO}.git`;
/** The newest PR of `branch`, if any. */
const ghPull = (ctx: StoryContext, branch: string) =>
  ctx.gh.model.listPulls(REPO, {
    state: 'all',
    head: `acme:${branch}`,
    sort: 'created',
    direction: 'desc',
  })[0];
const ghNumber = (ctx: StoryContext, branch: string) => {
  const pull = ghPull(ctx, branch);
  if (!pull) throw new Error(`no PR for ${branch}`);
  return pull.number;
};

/**
 * The agent pushes `branch` (its PR grows by `grow` lines), then says so with `report_push`. A
 * push to an open PR's branch starts CI on the new head.
 */
const push =
  (branch: string, chatKey: string, ci: CiPlan = PASS, grow = 0): Step =>
  async (ctx) => {
    const sha = ctx.gh.model.push(REPO, branch);
    const pull = ghPull(ctx, branch);
    if (pull?.state === 'open') {
      if (grow)
        ctx.gh.model.updatePull(REPO, pull.number, {
          additions: pull.additions + grow,
          changed_files: pull.changed_files + 1,
        });
      ctx.ci.github(sha, ctx.chat(chatKey), ci);
    }
    await ctx.agent.reportPush(ctx.chat(chatKey), branch, ghOrigin(ctx));
  };
/** The agent opens a PR of a pushed branch; CI starts on its head. */
const open =
  (
    branch: string,
    chatKey: string,
    title: string,
    opts: { draft?: boolean; additions?: number; deletions?: number; files?: number; ci?: CiPlan } = {},
  ): Step =>
  (ctx) => {
    const pull = ctx.gh.model.openPull(REPO, {
      head: branch,
      title,
      draft: opts.draft,
      author: 'agent-bot',
      additions: opts.additions ?? 40,
      deletions: opts.deletions ?? 8,
      changed_files: opts.files ?? 3,
    });
    ctx.ci.github(pull.head_sha, ctx.chat(chatKey), opts.ci ?? PASS);
  };
const ready =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gh.model.setReady(REPO, ghNumber(ctx, branch));
/** A review; one requesting changes opens a thread on the line it is about. */
const review =
  (branch: string, login: string, state: 'APPROVED' | 'CHANGES_REQUESTED', thread?: Thread): Step =>
  (ctx) => {
    const number = ghNumber(ctx, branch);
    if (thread) ctx.gh.model.reviewComment(REPO, number, { login, ...thread });
    ctx.gh.model.review(REPO, number, { login, state });
  };
/**
 * The reviewer resolves the threads they opened and approves. Both at once: resolving moves
 * nothing GitHub shows on the PR (emulator/github/model.ts, `resolveThread`), the approval does.
 */
const approve =
  (branch: string, login: string): Step =>
  (ctx) => {
    const number = ghNumber(ctx, branch);
    for (const t of ctx.gh.model.pull(REPO, number).threads)
      if (!t.resolved && t.comments[0]?.login === login) ctx.gh.model.resolveThread(REPO, number, t.id);
    ctx.gh.model.review(REPO, number, { login, state: 'APPROVED' });
  };
const merge =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gh.model.merge(REPO, ghNumber(ctx, branch), 'maria');
const close =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gh.model.close(REPO, ghNumber(ctx, branch));
const rateLimitOnce: Step = (ctx) =>
  ctx.gh.addFaults({ kind: 'rate_limit', reset_in_s: ctx.seconds(20), times: 1 });

// ---- GitLab ---------------------------------------------------------------------------------

const glOrigin = (ctx: StoryContext) => `${ctx.gl.webUrl}/${GITLAB_PROJECT}.git`;
const glMr = (ctx: StoryContext, branch: string) => {
  const mr = ctx.gl.model.listMergeRequests(ctx.gl.model.project(GITLAB_PROJECT), {
    source_branch: branch,
    state: 'all',
    order_by: 'created_at',
    sort: 'desc',
  })[0];
  if (!mr) throw new Error(`no MR for ${branch}`);
  return mr;
};
/**
 * The agent pushes to GitLab and reports it. An open MR of the branch gets the commit: a
 * pipeline starts, and GitLab prepares the new diff a moment later (till then its statistics are
 * unknown: emulator/gitlab/model.ts, `push`).
 */
const glPush =
  (branch: string, chatKey: string, ci: CiPlan = PASS, grow = 0): Step =>
  async (ctx) => {
    const project = ctx.gl.model.project(GITLAB_PROJECT);
    const mr = ctx.gl.model
      .listMergeRequests(project, {
        source_branch: branch,
        state: 'opened',
        order_by: 'created_at',
        sort: 'desc',
      })
      .at(0);
    const diff = mr?.diff ?? null;
    const sha = ctx.gl.model.push(GITLAB_PROJECT, branch, { author: 'agent-bot' });
    if (mr) {
      ctx.ci.gitlab(branch, sha, ctx.chat(chatKey), ci);
      if (diff)
        ctx.later(1500, () =>
          ctx.gl.model.setDiffStats(GITLAB_PROJECT, mr.iid, {
            ...diff,
            additions: diff.additions + grow,
            file_count: diff.file_count + (grow ? 1 : 0),
          }),
        );
    }
    await ctx.agent.reportPush(ctx.chat(chatKey), branch, glOrigin(ctx));
  };
/** The agent opens an MR; GitLab prepares its diff a step later; its pipeline starts. */
const glOpen =
  (branch: string, chatKey: string, title: string, ci: CiPlan = PASS): Step =>
  (ctx) => {
    const mr = ctx.gl.model.openMergeRequest(GITLAB_PROJECT, {
      source_branch: branch,
      title,
      author: 'agent-bot',
      prepared: false,
    });
    ctx.ci.gitlab(branch, ctx.gl.model.headSha(mr), ctx.chat(chatKey), ci);
  };
const glPrepared =
  (branch: string, additions: number, deletions: number, files: number): Step =>
  (ctx) =>
    void ctx.gl.model.setDiffStats(GITLAB_PROJECT, glMr(ctx, branch).iid, {
      additions,
      deletions,
      file_count: files,
    });
/** A reviewer requests changes, with a thread on the line it is about. */
const glRequestChanges =
  (branch: string, username: string, thread: Thread): Step =>
  (ctx) => {
    const iid = glMr(ctx, branch).iid;
    ctx.gl.model.startThread(GITLAB_PROJECT, iid, {
      author: username,
      body: thread.body,
      file: thread.path,
      line: thread.line,
    });
    ctx.gl.model.review(GITLAB_PROJECT, iid, username, 'requested_changes');
  };
/** A reviewer resolves the threads they opened and approves. */
const glApprove =
  (branch: string, username: string): Step =>
  (ctx) => {
    const mr = glMr(ctx, branch);
    for (const d of ctx.gl.model.unresolvedDiscussions(mr))
      if (d.notes[0]?.author === username)
        ctx.gl.model.resolveThread(GITLAB_PROJECT, mr.iid, d.id, true, username);
    ctx.gl.model.review(GITLAB_PROJECT, mr.iid, username, 'approved');
  };
const glMerge =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gl.model.merge(GITLAB_PROJECT, glMr(ctx, branch).iid, 'noor');

// ---- the agent's loop (through MCP) ---------------------------------------------------------

const blockedBy = (kinds: string[]) => (r: AgentRef) => r.blockers.some((b) => kinds.includes(b.kind));

/**
 * The agent's fix: it waits (`wait_for_pr_change`) until its PR shows one of `kinds`, reads what
 * to fix (`pr_feedback`), works on it a moment, and pushes the fix (`report_push`).
 */
const fix =
  (chatKey: string, branch: string, kinds: string[], pushFix: Step): Step =>
  async (ctx) => {
    const chat = ctx.chat(chatKey);
    if (!(await ctx.agent.waitUntil(chat, branch, blockedBy(kinds)))) return;
    await ctx.agent.feedback(chat, branch);
    await ctx.sleep(2000);
    await pushFix(ctx);
  };
/** The agent waits until its PR is ready to merge, and confirms with `pr_status`. */
const untilReady =
  (chatKey: string, branch: string): Step =>
  async (ctx) => {
    const chat = ctx.chat(chatKey);
    if (await ctx.agent.waitUntil(chat, branch, (r) => r.ready === true))
      await ctx.agent.status(chat, branch);
  };

// ---- the hosts' CI --------------------------------------------------------------------------

/**
 * CI on the emulated hosts. It runs for PRs — when one is opened and on every push to its branch —
 * as GitHub Actions' `pull_request` trigger does (activity types `opened`, `synchronize`: GitHub
 * docs, "Events that trigger workflows") and GitLab's merge request pipelines (`rules: - if:
 * $CI_PIPELINE_SOURCE == "merge_request_event"`: GitLab docs, "Merge request pipelines").
 * GitHub gets a commit status (`ci/build`, from an outside CI) and a check run (`test`); GitLab a
 * pipeline with a build and a test job. Each starts pending and ends a few seconds later — but not
 * before gitsync has shown the run pending, so that every stage shows on the dashboard however
 * slow the machine (at most `gateMs` later).
 */
class DemoCi {
  constructor(
    private readonly deps: {
      gh: GitHubEmulator;
      gl: GitLabEmulator;
      sleep: (ms: number) => Promise<void>;
      /** Whether gitsync shows the chat's ref at `sha` with its checks pending. */
      shownPending: (chat: AgentChat, sha: string) => Promise<boolean>;
      gateMs: number;
      signal: AbortSignal;
      onError: (error: unknown) => void;
    },
  ) {}

  #runs = 0;

  async #shown(chat: AgentChat, sha: string): Promise<void> {
    const deadline = Date.now() + this.deps.gateMs;
    while (Date.now() < deadline && !this.deps.signal.aborted) {
      if (await this.deps.shownPending(chat, sha)) return;
      await this.deps.sleep(250);
    }
  }

  #background(run: () => Promise<void>): void {
    run().catch((error) => {
      if (!this.deps.signal.aborted) this.deps.onError(error);
    });
  }

  github(sha: string, chat: AgentChat, plan: CiPlan): void {
    const { gh } = this.deps;
    const runUrl = `${gh.webUrl}/${REPO}/actions/runs/${++this.#runs}`;
    const build = { sha, context: 'ci/build', target_url: `${gh.webUrl}/${REPO}/commit/${sha}` };
    gh.model.addStatus({ ...build, state: 'pending', description: 'Build started' });
    const test = gh.model.addCheckRun({ head_sha: sha, name: 'test', status: 'queued', details_url: runUrl });
    this.#background(async () => {
      await this.deps.sleep(2000);
      await this.#shown(chat, sha);
      if (this.deps.signal.aborted) return;
      const buildFails = plan.fail?.job === 'build';
      gh.model.addStatus({
        ...build,
        state: buildFails ? 'failure' : 'success',
        description: buildFails ? plan.fail!.title : 'Build passed',
      });
      if (buildFails) {
        // The tests never ran: the workflow skips them when the build fails.
        gh.model.updateCheckRun(test.id, { conclusion: 'skipped' });
        return;
      }
      gh.model.updateCheckRun(test.id, { status: 'in_progress' });
      await this.deps.sleep(2500);
      if (this.deps.signal.aborted) return;
      if (plan.fail) {
        // The run's output (REST "Update a check run": `output.title`, `output.summary`).
        test.title = plan.fail.title;
        test.summary = plan.fail.summary;
        gh.model.updateCheckRun(test.id, { conclusion: 'failure' });
      } else {
        test.title = 'All tests passed';
        gh.model.updateCheckRun(test.id, { conclusion: 'success' });
      }
    });
  }

  gitlab(branch: string, sha: string, chat: AgentChat, plan: CiPlan): void {
    const { gl } = this.deps;
    const pipeline = gl.model.createPipeline(GITLAB_PROJECT, {
      ref: branch,
      sha,
      source: 'merge_request_event',
      jobs: [
        { name: 'build', stage: 'build', status: 'running' },
        { name: 'test', stage: 'test', status: 'created' },
      ],
    });
    this.#background(async () => {
      await this.deps.sleep(2000);
      await this.#shown(chat, sha);
      if (this.deps.signal.aborted) return;
      if (plan.fail?.job === 'build') {
        gl.model.updateJob(pipeline.id, 'build', { status: 'failed', failure_reason: 'script_failure' });
        gl.model.updateJob(pipeline.id, 'test', { status: 'skipped' });
        return;
      }
      gl.model.updateJob(pipeline.id, 'build', { status: 'success' });
      gl.model.updateJob(pipeline.id, 'test', { status: 'running' });
      await this.deps.sleep(2500);
      if (this.deps.signal.aborted) return;
      gl.model.updateJob(
        pipeline.id,
        'test',
        plan.fail ? { status: 'failed', failure_reason: 'script_failure' } : { status: 'success' },
      );
    });
  }
}

// ---- the stories ----------------------------------------------------------------------------

interface Story {
  chats: { key: string; title: string; parent?: string }[];
  steps: Step[];
}

/** Branch names get a run number so stories can repeat. */
function stories(n: number): Story[] {
  const b = (name: string) => `agent/${name}-${n}`;
  return [
    {
      chats: [
        { key: 'auth', title: 'Refactor the auth module' },
        { key: 'auth-tests', title: 'Sub-agent: write auth tests', parent: 'auth' },
        { key: 'auth-docs', title: 'Sub-agent: update auth docs', parent: 'auth' },
      ],
      steps: [
        push(b('auth-refactor'), 'auth'),
        open(b('auth-refactor'), 'auth', 'Refactor session handling', {
          draft: true,
          additions: 120,
          deletions: 64,
          files: 7,
        }),
        push(b('auth-tests'), 'auth-tests'),
        open(b('auth-tests'), 'auth-tests', 'Add tests for session expiry', {
          additions: 210,
          deletions: 0,
          files: 4,
        }),
        ready(b('auth-refactor')),
        review(b('auth-refactor'), 'maria', 'CHANGES_REQUESTED', {
          path: 'src/auth/session.ts',
          line: 88,
          body: 'Compare session tokens in constant time (crypto.timingSafeEqual), not with ===.',
        }),
        push(b('auth-docs'), 'auth-docs'),
        fix('auth', b('auth-refactor'), ['changes_requested'], push(b('auth-refactor'), 'auth', PASS, 35)),
        review(b('auth-tests'), 'maria', 'APPROVED'),
        approve(b('auth-refactor'), 'maria'),
        untilReady('auth-tests', b('auth-tests')),
        merge(b('auth-tests')),
        untilReady('auth', b('auth-refactor')),
        merge(b('auth-refactor')),
      ],
    },
    {
      chats: [{ key: 'api', title: 'Add pagination to the orders API (GitLab)' }],
      steps: [
        glPush(b('orders-pagination'), 'api'),
        glOpen(
          b('orders-pagination'),
          'api',
          'Paginate GET /orders',
          // GitLab shows its own words for a failed job (its failure reason's message).
          failing('test', 'rspec: 1 failure', 'orders_spec.rb: expected 20 orders per page, got 50'),
        ),
        glPrepared(b('orders-pagination'), 86, 12, 5),
        fix(
          'api',
          b('orders-pagination'),
          ['checks_failing'],
          glPush(b('orders-pagination'), 'api', PASS, 6),
        ),
        glRequestChanges(b('orders-pagination'), 'sam', {
          path: 'app/api/orders.rb',
          line: 42,
          body: 'Cap per_page at 100: a client can ask for every order at once.',
        }),
        fix(
          'api',
          b('orders-pagination'),
          ['unresolved_threads', 'changes_requested'],
          glPush(b('orders-pagination'), 'api', PASS, 3),
        ),
        glApprove(b('orders-pagination'), 'sam'),
        untilReady('api', b('orders-pagination')),
        glMerge(b('orders-pagination')),
      ],
    },
    {
      chats: [{ key: 'ci', title: 'Fix the flaky CI job' }],
      steps: [
        push(b('flaky-ci'), 'ci'),
        open(b('flaky-ci'), 'ci', 'Retry the integration job on network errors', {
          additions: 12,
          deletions: 3,
          files: 1,
          ci: failing(
            'test',
            '1 test failed',
            'FAIL test/integration/orders.test.ts › retries on ECONNRESET\n  expected 3 attempts, saw 1',
          ),
        }),
        fix('ci', b('flaky-ci'), ['checks_failing'], push(b('flaky-ci'), 'ci', PASS, 4)),
        rateLimitOnce,
        review(b('flaky-ci'), 'devon', 'APPROVED'),
        untilReady('ci', b('flaky-ci')),
        merge(b('flaky-ci')),
      ],
    },
    {
      chats: [
        { key: 'deps', title: 'Upgrade dependencies' },
        { key: 'deps-check', title: 'Sub-agent: check breaking changes', parent: 'deps' },
      ],
      steps: [
        push(b('deps'), 'deps'),
        push(b('deps-check'), 'deps-check'),
        open(b('deps'), 'deps', 'Upgrade the web framework to the next major', {
          additions: 340,
          deletions: 298,
          files: 22,
          ci: failing('build', "error TS2345: Argument of type 'Context' is not assignable", ''),
        }),
        review(b('deps'), 'lee', 'CHANGES_REQUESTED', {
          path: 'package.json',
          line: 31,
          body: 'This major drops Node 18, and our deploy images still run it.',
        }),
        fix('deps', b('deps'), ['checks_failing'], push(b('deps'), 'deps', PASS, 60)),
        close(b('deps')),
      ],
    },
  ];
}

/** `--pace`: a factor of the default time between steps (0.2: five times as fast). */
function paceOf(value: string | undefined): number {
  if (value === undefined) return 1;
  const pace = Number(value);
  if (!Number.isFinite(pace) || pace < 0.05 || pace > 20)
    throw new CliError(`--pace must be a number from 0.05 to 20 (got ${JSON.stringify(value)})`, EXIT.usage);
  return pace;
}

/**
 * `gitsync demo`: the GitHub and GitLab emulators, the service against them on a fresh embedded
 * database, and simulated agents that create chats, push, open PRs, go through CI and reviews
 * with gitsync's MCP tools, and get merged — all offline. Ctrl-C stops it cleanly.
 */
export async function demo(options: { pace?: string } = {}): Promise<void> {
  const pace = paceOf(options.pace);
  const paced = (ms: number) => Math.max(10, Math.round(ms * pace));
  const base = loadConfig();
  const dataDir = mkdtempSync(join(tmpdir(), 'gitsync-demo-'));
  const adminKey = `gsk_demo_${randomBytes(18).toString('base64url')}`;
  const gh = await startGitHubEmulator({ acceptAnyToken: false });
  // GitHub is read through a GitHub App installed on the organization, not a personal token: the
  // App's key pair is made here, its public half registered with the emulator, which checks every
  // JWT with it and mints installation tokens that expire after an hour.
  const appKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const githubApp = gh.apps.registerApp({ slug: 'gitsync-demo', owner: 'acme', publicKey: appKey.publicKey });
  gh.apps.install(githubApp, 'acme', 'all', 1_000_000);
  // One approval required: an unreviewed PR shows `needs_approval` until a collaborator approves.
  gh.model.createRepo({
    owner: 'acme',
    name: 'webapp',
    collaborators: GITHUB_REVIEWERS,
    required_approvals: 1,
  });
  const gl = await startGitLabEmulator({ relativeUrlRoot: '/gitlab', rateLimit: 1_000_000 });
  gl.addToken(GITLAB_TOKEN, 'agent-bot');
  gl.model.createProject({
    path: GITLAB_PROJECT,
    visibility: 'public',
    members: ['agent-bot', 'sam', 'noor'],
    // A Premium project with an approval rule, whose MRs merge only with a passing pipeline and
    // every thread resolved (project settings "Merge checks").
    tier: 'premium',
    approvals_required: 1,
    only_allow_merge_if_pipeline_succeeds: true,
    only_allow_merge_if_all_discussions_are_resolved: true,
  });
  const config = {
    ...base,
    database_url: undefined,
    data_dir: dataDir,
    admin_token: adminKey,
    providers: [],
    // Quick cadence (at the demo's pace) so the page changes every few seconds.
    worker: {
      ...base.worker,
      tick_interval_ms: Math.max(100, paced(1000)),
      fresh_ttl_ms: paced(3000),
      settled_ttl_ms: paced(15_000),
      no_pr_backoff_ms: paced(1500),
    },
  };
  const logger = createLogger(base.log_level === 'info' ? 'warn' : base.log_level);
  const provider = new GitHubProvider(
    {
      id: 'github',
      type: 'github',
      web_url: gh.webUrl,
      api_url: gh.apiUrl,
      app: { app_id: String(githubApp.id), private_key: appKey.privateKey },
      webhook_secret: APP_WEBHOOK_SECRET,
    },
    { clock: { now: () => new Date() } },
  );
  const gitlab = new GitLabProvider(
    { id: 'gitlab', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl, service_token: GITLAB_TOKEN },
    { clock: { now: () => new Date() } },
  );
  const runtime = await openRuntime(config, { providers: [provider, gitlab], logger });
  await runtime.start();
  const server = listen({ fetch: runtime.http.fetch, hostname: config.host, port: config.port });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (error) {
    await runtime.close();
    await gh.close();
    await gl.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      `cannot listen on ${config.host}:${config.port}: ${errorMessage(error)} (set GITSYNC_PORT to another port)`,
    );
  }
  const address = server.address();
  const url = `http://${config.host}:${typeof address === 'object' && address ? address.port : config.port}`;
  // The App's organization-wide webhook: installation events reach gitsync.
  githubApp.webhook = { url: `${url}/api/v1/webhooks/github`, secret: APP_WEBHOOK_SECRET };
  const stop = new AbortController();
  const sleep = (ms: number) => abortableSleep(paced(ms), stop.signal);
  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await runtime.http.fetch(
      new Request(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : res.json();
  };
  const owner = randomUUID();
  // The agents' key: an owner key of the owner whose chats they work on (docs/agents.md, "Which
  // key"). A report key would do for report_push alone; the loop's waits, feedback and status
  // need the owner's.
  const { key: agentKey } = (await api('POST', '/api/v1/keys', { owner_id: owner, name: 'demo agents' })) as {
    key: string;
  };
  const toolCalls = new Map<string, number>();
  const log = (line: string) => {
    if (!stop.signal.aborted) process.stdout.write(`  ${line}\n`);
  };
  const ci = new DemoCi({
    gh,
    gl,
    sleep,
    gateMs: 30_000,
    signal: stop.signal,
    onError: (error) => logger.error({ err: errorMessage(error) }, 'demo CI run failed'),
    shownPending: async (chat, sha) => {
      const view = (await api('GET', `/api/v1/chats/${chat.id}`)) as {
        diff_statuses?: { head_sha?: string | null; checks_state?: string | null }[];
      };
      return (view.diff_statuses ?? []).some((d) => d.head_sha === sha && d.checks_state === 'pending');
    },
  });
  const finished: string[] = [];

  const runStory = async (story: Story) => {
    const chats = new Map<string, AgentChat>();
    for (const chat of story.chats) {
      const id = randomUUID();
      chats.set(chat.key, { id, title: chat.title });
      await api('PUT', `/api/v1/chats/${id}`, {
        owner_id: owner,
        title: chat.title,
        ...(chat.parent ? { parent_chat_id: chats.get(chat.parent)!.id } : {}),
      });
    }
    const agent = await DemoAgent.connect(url, agentKey, {
      counts: toolCalls,
      log,
      signal: stop.signal,
      waitS: 20,
      giveUpMs: 120_000,
      pause: () => sleep(5000),
    });
    try {
      const ctx: StoryContext = {
        gh,
        gl,
        ci,
        agent,
        chat: (key) => chats.get(key)!,
        sleep,
        later: (ms, fn) =>
          void sleep(ms).then(() => {
            if (!stop.signal.aborted) fn();
          }),
        seconds: (s) => Math.max(1, Math.round(s * pace)),
      };
      for (const step of story.steps) {
        await sleep(2500 + Math.random() * 2500);
        if (stop.signal.aborted) return;
        await step(ctx);
      }
      finished.push(chats.get(story.chats[0]!.key)!.id);
    } finally {
      await agent.close().catch(() => {});
    }
  };

  const agents = (async () => {
    for (let round = 1; !stop.signal.aborted; round++) {
      await Promise.all(
        stories(round).map(async (story, i) => {
          await sleep(i * 1500);
          if (stop.signal.aborted) return;
          // One story's trouble is logged; the others go on.
          await runStory(story).catch((error) => {
            if (!stop.signal.aborted) logger.error({ err: errorMessage(error) }, 'demo story stopped');
          });
        }),
      );
      // Keep the board readable: older finished chats move to the archive.
      while (finished.length > 3 && !stop.signal.aborted)
        await api('POST', `/api/v1/chats/${finished.shift()}/archive`);
      await sleep(5000);
    }
  })().catch((error) => {
    if (!stop.signal.aborted) logger.error({ err: errorMessage(error) }, 'demo agents stopped');
  });

  // Signals are handled before readiness is announced: whoever reads it may stop us at once.
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => {
      process.stdout.write('\nstopping the demo…\n');
      const watchdog = setTimeout(() => process.exit(1), 15_000);
      watchdog.unref();
      stop.abort();
      server.close();
      void agents
        .then(() => runtime.close())
        .then(() => gh.close())
        .then(() => gl.close())
        .catch((error) => logger.error({ err: errorMessage(error) }, 'error while stopping'))
        .finally(() => {
          (server as import('node:http').Server).closeAllConnections();
          rmSync(dataDir, { recursive: true, force: true });
          resolve();
        });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  process.stdout.write(
    `gitsync demo is running (offline: GitHub emulator at ${gh.webUrl}, GitLab emulator at ${gl.webUrl}, embedded database in ${dataDir})\n` +
      `  GitHub is read through GitHub App ${githubApp.id} installed on acme (installation tokens, no personal token)\n` +
      `  dashboard: ${url}/#key=${adminKey}\n` +
      `  API key:   ${adminKey}\n` +
      `  listening on ${url} \n` +
      'Simulated agents create chats, push branches and open PRs; CI runs and reviewers review; the agents\n' +
      'follow their PRs through the MCP tools at /mcp (report_push, wait_for_pr_change, pr_feedback,\n' +
      'pr_status) and fix what fails. Their steps are printed below. Ctrl-C stops.\n',
  );

  await stopped;
  const calls = [...toolCalls].map(([name, n]) => `${name} ${n}`).join(', ');
  const total = [...toolCalls.values()].reduce((a, n) => a + n, 0);
  process.stdout.write(`the agents made ${total} MCP tool calls${total ? ` (${calls})` : ''}\n`);
  process.stdout.write('demo stopped\n');
}
