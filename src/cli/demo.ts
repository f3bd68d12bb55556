import { randomBytes, randomUUID } from 'node:crypto';
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

const DEMO_TOKEN = 'ghp_demo_service_token';
const REPO = 'acme/webapp';
const GITLAB_TOKEN = 'glpat-demo-service-token';
/** A project in nested groups on a self-managed GitLab under `/gitlab`. */
const GITLAB_PROJECT = 'platform/backend/api';

/** Steps of one simulated agent: each changes the code host or reports a push, a few seconds apart. */
type Step = (ctx: StoryContext) => Promise<void> | void;
interface StoryContext {
  gh: GitHubEmulator;
  gl: GitLabEmulator;
  chat: (key: string) => string;
  report: (chatKey: string, branch: string, host?: 'github' | 'gitlab') => Promise<void>;
  pr: (branch: string) => number;
}

const push =
  (branch: string, chatKey: string): Step =>
  async (ctx) => {
    ctx.gh.model.push(REPO, branch);
    await ctx.report(chatKey, branch);
  };
const open =
  (
    branch: string,
    title: string,
    opts: { draft?: boolean; additions?: number; deletions?: number; files?: number } = {},
  ): Step =>
  (ctx) => {
    ctx.gh.model.openPull(REPO, {
      head: branch,
      title,
      draft: opts.draft,
      author: 'agent-bot',
      additions: opts.additions ?? 40,
      deletions: opts.deletions ?? 8,
      changed_files: opts.files ?? 3,
    });
  };
const grow =
  (branch: string, additions: number, chatKey: string): Step =>
  async (ctx) => {
    const pull = ctx.gh.model.pull(REPO, ctx.pr(branch));
    ctx.gh.model.updatePull(REPO, pull.number, {
      additions: pull.additions + additions,
      changed_files: pull.changed_files + 1,
    });
    await push(branch, chatKey)(ctx);
  };
const ready =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gh.model.setReady(REPO, ctx.pr(branch));
const review =
  (branch: string, login: string, state: 'APPROVED' | 'CHANGES_REQUESTED'): Step =>
  (ctx) =>
    void ctx.gh.model.review(REPO, ctx.pr(branch), { login, state });
const merge =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gh.model.merge(REPO, ctx.pr(branch));
const close =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gh.model.close(REPO, ctx.pr(branch));
const rateLimitOnce: Step = (ctx) => ctx.gh.addFaults({ kind: 'rate_limit', reset_in_s: 20, times: 1 });

// The same on GitLab: an MR whose diff GitLab prepares a step later, reviews, a merge.
const glMr = (ctx: StoryContext, branch: string) =>
  ctx.gl.model.listMergeRequests(ctx.gl.model.project(GITLAB_PROJECT), {
    source_branch: branch,
    state: 'all',
    order_by: 'created_at',
    sort: 'desc',
  })[0]!.iid;
const glPush =
  (branch: string, chatKey: string): Step =>
  async (ctx) => {
    ctx.gl.model.push(GITLAB_PROJECT, branch);
    await ctx.report(chatKey, branch, 'gitlab');
  };
const glOpen =
  (branch: string, title: string): Step =>
  (ctx) =>
    void ctx.gl.model.openMergeRequest(GITLAB_PROJECT, {
      source_branch: branch,
      title,
      author: 'agent-bot',
      prepared: false,
    });
const glPrepared =
  (branch: string, additions: number, deletions: number, files: number): Step =>
  (ctx) =>
    void ctx.gl.model.setDiffStats(GITLAB_PROJECT, glMr(ctx, branch), {
      additions,
      deletions,
      file_count: files,
    });
const glReview =
  (branch: string, username: string, state: 'approved' | 'requested_changes'): Step =>
  (ctx) => {
    const iid = glMr(ctx, branch);
    ctx.gl.model.requestReview(GITLAB_PROJECT, iid, username);
    if (state === 'approved') ctx.gl.model.approve(GITLAB_PROJECT, iid, username);
    else ctx.gl.model.review(GITLAB_PROJECT, iid, username, state);
  };
const glMerge =
  (branch: string): Step =>
  (ctx) =>
    void ctx.gl.model.merge(GITLAB_PROJECT, glMr(ctx, branch));

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
        open(b('auth-refactor'), 'Refactor session handling', {
          draft: true,
          additions: 120,
          deletions: 64,
          files: 7,
        }),
        push(b('auth-tests'), 'auth-tests'),
        open(b('auth-tests'), 'Add tests for session expiry', { additions: 210, deletions: 0, files: 4 }),
        ready(b('auth-refactor')),
        review(b('auth-refactor'), 'maria', 'CHANGES_REQUESTED'),
        push(b('auth-docs'), 'auth-docs'),
        grow(b('auth-refactor'), 35, 'auth'),
        review(b('auth-tests'), 'maria', 'APPROVED'),
        review(b('auth-refactor'), 'maria', 'APPROVED'),
        merge(b('auth-tests')),
        merge(b('auth-refactor')),
      ],
    },
    {
      chats: [{ key: 'api', title: 'Add pagination to the orders API (GitLab)' }],
      steps: [
        glPush(b('orders-pagination'), 'api'),
        glOpen(b('orders-pagination'), 'Paginate GET /orders'),
        glPrepared(b('orders-pagination'), 86, 12, 5),
        glReview(b('orders-pagination'), 'sam', 'requested_changes'),
        glPush(b('orders-pagination'), 'api'),
        glReview(b('orders-pagination'), 'noor', 'approved'),
        glMerge(b('orders-pagination')),
      ],
    },
    {
      chats: [{ key: 'ci', title: 'Fix the flaky CI job' }],
      steps: [
        push(b('flaky-ci'), 'ci'),
        open(b('flaky-ci'), 'Retry the integration job on network errors', {
          additions: 12,
          deletions: 3,
          files: 1,
        }),
        rateLimitOnce,
        review(b('flaky-ci'), 'devon', 'APPROVED'),
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
        open(b('deps'), 'Upgrade the web framework to the next major', {
          additions: 340,
          deletions: 298,
          files: 22,
        }),
        review(b('deps'), 'lee', 'CHANGES_REQUESTED'),
        grow(b('deps'), 60, 'deps'),
        close(b('deps')),
      ],
    },
  ];
}

/**
 * `gitsync demo`: the GitHub emulator, the service against it on a fresh embedded database, and
 * simulated agents that create chats, push, open PRs, get reviews, merges and a rate limit —
 * all offline. Ctrl-C stops it cleanly.
 */
export async function demo(): Promise<void> {
  const base = loadConfig();
  const dataDir = mkdtempSync(join(tmpdir(), 'gitsync-demo-'));
  const adminKey = `gsk_demo_${randomBytes(18).toString('base64url')}`;
  const gh = await startGitHubEmulator({ acceptAnyToken: false });
  gh.addToken(DEMO_TOKEN, 'agent-bot', 1_000_000);
  gh.model.createRepo({ owner: 'acme', name: 'webapp' });
  const gl = await startGitLabEmulator({ relativeUrlRoot: '/gitlab', rateLimit: 1_000_000 });
  gl.addToken(GITLAB_TOKEN, 'agent-bot');
  gl.model.createProject({
    path: GITLAB_PROJECT,
    visibility: 'public',
    members: ['agent-bot', 'sam', 'noor'],
  });
  const config = {
    ...base,
    database_url: undefined,
    data_dir: dataDir,
    admin_token: adminKey,
    providers: [],
    // Quick cadence so the page changes every few seconds.
    worker: {
      ...base.worker,
      tick_interval_ms: 1000,
      fresh_ttl_ms: 3000,
      settled_ttl_ms: 15_000,
      no_pr_backoff_ms: 1500,
    },
  };
  const logger = createLogger(base.log_level === 'info' ? 'warn' : base.log_level);
  const provider = new GitHubProvider(
    { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl, service_token: DEMO_TOKEN },
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
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      `cannot listen on ${config.host}:${config.port}: ${errorMessage(error)} (set GITSYNC_PORT to another port)`,
    );
  }
  const address = server.address();
  const url = `http://${config.host}:${typeof address === 'object' && address ? address.port : config.port}`;
  const stop = new AbortController();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stop.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        stop.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      stop.signal.addEventListener('abort', done);
    });
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await runtime.http.fetch(
      new Request(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  const owner = randomUUID();
  const finished: string[] = [];

  const runStory = async (story: Story) => {
    const ids = new Map<string, string>();
    for (const chat of story.chats) {
      const id = randomUUID();
      ids.set(chat.key, id);
      await api('PUT', `/api/v1/chats/${id}`, {
        owner_id: owner,
        title: chat.title,
        ...(chat.parent ? { parent_chat_id: ids.get(chat.parent) } : {}),
      });
    }
    const ctx: StoryContext = {
      gh,
      gl,
      chat: (key) => ids.get(key)!,
      report: (key, branch, host = 'github') =>
        api('POST', '/api/v1/git-refs', {
          chat_id: ids.get(key),
          origin: host === 'gitlab' ? `${gl.webUrl}/${GITLAB_PROJECT}.git` : `${gh.webUrl}/${REPO}.git`,
          branch,
        }),
      pr: (branch) => {
        const pull = gh.model.listPulls(REPO, {
          state: 'all',
          head: `acme:${branch}`,
          sort: 'created',
          direction: 'desc',
        })[0];
        if (!pull) throw new Error(`no PR for ${branch}`);
        return pull.number;
      },
    };
    for (const step of story.steps) {
      await sleep(2500 + Math.random() * 2500);
      if (stop.signal.aborted) return;
      await step(ctx);
    }
    finished.push(ids.get(story.chats[0]!.key)!);
  };

  const agents = (async () => {
    for (let round = 1; !stop.signal.aborted; round++) {
      await Promise.all(
        stories(round).map(async (story, i) => {
          await sleep(i * 1500);
          if (!stop.signal.aborted) await runStory(story);
        }),
      );
      // Keep the board readable: older finished chats move to the archive.
      while (finished.length > 3) await api('POST', `/api/v1/chats/${finished.shift()}/archive`);
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
      `  dashboard: ${url}/#key=${adminKey}\n` +
      `  API key:   ${adminKey}\n` +
      `  listening on ${url} \n` +
      'Simulated agents will create chats, push branches and open PRs every few seconds. Ctrl-C stops.\n',
  );

  await stopped;
  process.stdout.write('demo stopped\n');
}
