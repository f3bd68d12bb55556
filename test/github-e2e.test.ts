import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { type ChangeEvent, InProcessBus } from '../src/events/publisher.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import type { SqlStore } from '../src/store/sql-store.ts';
import { createTestDatabase, createTestStore, type TestDatabase } from './helpers/databases.ts';
import { schemaUrl } from './helpers/processes.ts';
import { SseClient } from './helpers/sse.ts';

/** Engine + PostgreSQL store + GitHub provider + GitHub emulator, all real, over 127.0.0.1. */
describe('GitHub end to end on PostgreSQL', () => {
  let gh: GitHubEmulator;
  let other: GitHubEmulator;
  let test: TestDatabase & { store: SqlStore };
  let engine: Engine;
  let clock: FakeClock;
  let events: ChangeEvent[];
  const owner = randomUUID();
  const ownerToken = 'ghp_owner_one';
  const settings = { ...DEFAULT_WORKER_SETTINGS };

  beforeEach(async () => {
    gh = await startGitHubEmulator();
    other = await startGitHubEmulator();
    gh.addToken(ownerToken, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    const bus = new InProcessBus();
    events = [];
    bus.subscribe((e) => events.push(e));
    test = await createTestStore('postgres', undefined, bus);
    // Real time to start from: the emulator's rate-limit reset headers are wall-clock times.
    clock = new FakeClock(new Date());
    const provider = (id: string, e: GitHubEmulator) =>
      new GitHubProvider(
        { id, type: 'github', web_url: e.webUrl, api_url: e.apiUrl },
        { clock, requestTimeoutMs: 2000 },
      );
    engine = new Engine({
      store: test.store,
      providers: new ProviderRegistry([provider('github', gh), provider('other', other)]),
      clock,
      settings,
      logger: silentLogger,
    });
    await test.store.putToken(owner, 'github', ownerToken, clock.now());
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await Promise.all([gh.close(), other.close(), test.drop()]);
  });

  const chatWithRef = async (branch: string, opts: { owner?: string; origin?: string } = {}) => {
    const id = randomUUID();
    await test.store.putChat({ id, owner_id: opts.owner ?? owner }, clock.now());
    await engine.reportRef({
      chat_id: id,
      origin:
        opts.origin ?? `${gh.webUrl.replace('http://', 'http://x-access-token:ghs_secret@')}/acme/app.git`,
      branch,
    });
    return id;
  };
  const status = async (chat: string) => (await test.store.getChat(chat))!.diff_status!;
  const later = async (ms: number) => {
    clock.advance(ms);
    return engine.tick();
  };
  /** Once GitHub has computed the mergeability the first reads asked for (emulator time), read again. */
  const settled = async () => {
    await new Promise((r) => setTimeout(r, gh.model.mergeComputeMs + 10));
    return later(settings.merge_unknown_ttl_ms);
  };

  it('follows a PR from before it exists to merged', async () => {
    const chat = await chatWithRef('feature');
    expect((await status(chat)).git_remote_origin).toBe(`${gh.webUrl}/acme/app`);
    await engine.tick();
    expect((await status(chat)).url).toBeNull();

    gh.model.openPull('acme/app', { head: 'feature', title: 'Agent work', additions: 7, deletions: 1 });
    events.length = 0;
    await later(settings.no_pr_backoff_ms);
    expect(await status(chat)).toMatchObject({
      url: `${gh.webUrl}/acme/app/pull/1`,
      pull_request_state: 'open',
      pull_request_title: 'Agent work',
      additions: 7,
      deletions: 1,
    });
    expect(events.map((e) => e.kind)).toEqual(['diff_status_change']);

    gh.model.review('acme/app', 1, { login: 'alice', state: 'CHANGES_REQUESTED' });
    await later(settings.fresh_ttl_ms);
    expect(await status(chat)).toMatchObject({ changes_requested: true, approved: false, reviewer_count: 1 });

    gh.model.review('acme/app', 1, { login: 'alice', state: 'APPROVED' });
    await later(settings.fresh_ttl_ms);
    expect(await status(chat)).toMatchObject({ changes_requested: false, approved: true, reviewer_count: 1 });

    gh.model.merge('acme/app', 1);
    await later(settings.fresh_ttl_ms);
    expect((await status(chat)).pull_request_state).toBe('merged');

    // The agent pushes the branch again and opens a second PR: the ref follows it, the merged one
    // becomes history, and the move is published.
    gh.model.push('acme/app', 'feature');
    gh.model.openPull('acme/app', { head: 'feature', title: 'Follow-up' });
    events.length = 0;
    await later(settings.settled_ttl_ms);
    expect(await status(chat)).toMatchObject({
      url: `${gh.webUrl}/acme/app/pull/2`,
      pull_request_state: 'open',
      pull_request_title: 'Follow-up',
      previous_prs: [{ url: `${gh.webUrl}/acme/app/pull/1`, pr_number: 1, pull_request_state: 'merged' }],
    });
    expect(events.map((e) => e.kind)).toEqual(['diff_status_change']);
  });

  it('an unchanged PR is refreshed with 304s only', async () => {
    gh.model.mergeComputeMs = 200;
    gh.model.openPull('acme/app', { head: 'feature' });
    const chat = await chatWithRef('feature');
    await engine.tick();
    // GitHub computes mergeability on the first read: asked again soon, it has the answer.
    expect((await status(chat)).merge_state).toBe('unknown');
    await settled();
    expect((await status(chat)).merge_state).toBe('clean');
    gh.resetCounters();
    await later(settings.fresh_ttl_ms);
    expect((await status(chat)).refreshed_at).toEqual(clock.now());
    // The PR, its reviews, and its head commit's check runs and statuses: all unchanged.
    expect(
      gh.count('get_pull', 304) +
        gh.count('list_reviews', 304) +
        gh.count('list_check_runs', 304) +
        gh.count('combined_status', 304),
    ).toBe(4);
    expect(gh.counters.total).toBe(4);
  });

  it('several known PRs of one owner are refreshed with one GraphQL request', async () => {
    const chats: string[] = [];
    for (let i = 0; i < 5; i++) {
      gh.model.openPull('acme/app', { head: `b${i}` });
      chats.push(await chatWithRef(`b${i}`));
    }
    await engine.tick();
    // Quiet for over ten minutes (PRs without checks are settled only then): read in full once more.
    await later(660_000);
    gh.model.review('acme/app', 3, { login: 'alice', state: 'APPROVED' });
    gh.resetCounters();
    events.length = 0;
    await later(settings.fresh_ttl_ms);
    // The repository's PR list says which moved: the other four are answered from it; the PR
    // that changed is read, its checks and threads again in a second query.
    expect(gh.count('list_pulls', 200)).toBe(1);
    expect(gh.count('graphql', 200)).toBe(2);
    expect(gh.counters.total).toBe(3);
    expect((await status(chats[2]!)).approved).toBe(true);
    expect(events.map((e) => e.kind)).toEqual(['diff_status_change']);
  });

  it('chats tracking the same branch are all answered by one lookup', async () => {
    gh.model.openPull('acme/app', { head: 'shared' });
    const chats = [await chatWithRef('shared'), await chatWithRef('shared'), await chatWithRef('shared')];
    gh.resetCounters();
    await engine.tick();
    // One cheap candidate query for the branch, then one read of the chosen PR (docs/github.md).
    expect(gh.counters.total).toBe(2);
    for (const chat of chats) expect((await status(chat)).pr_number).toBe(1);
  });

  it('finds a PR merged before the first look, and a PR from a fork', async () => {
    const merged = gh.model.openPull('acme/app', { head: 'early' });
    gh.model.merge('acme/app', merged.number);
    gh.model.createRepo({ owner: 'agent-bot', name: 'app', fork_of: 'acme/app' });
    gh.model.openPull('acme/app', { head: 'agent-bot:fix', title: 'From a fork' });
    const a = await chatWithRef('early');
    const b = await chatWithRef('fix', { origin: `git@${new URL(gh.webUrl).hostname}:agent-bot/app.git` });
    await engine.tick();
    expect((await status(a)).pull_request_state).toBe('merged');
    expect(await status(b)).toMatchObject({
      pull_request_title: 'From a fork',
      url: `${gh.webUrl}/acme/app/pull/2`,
    });
  });

  it('a revoked token puts that owner’s refs in an error state; other owners are unaffected', async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    const second = randomUUID();
    gh.addToken('ghp_owner_two', 'two');
    await test.store.putToken(second, 'github', 'ghp_owner_two', clock.now());
    const mine = await chatWithRef('feature');
    const theirs = await chatWithRef('feature', { owner: second });
    gh.revokeToken(ownerToken);
    await engine.tick();
    expect(await status(mine)).toMatchObject({ pull_request_state: null, error_count: 1 });
    expect((await status(mine)).last_error).toMatch(/rejected the token/);
    expect((await status(mine)).last_error).not.toContain(ownerToken);
    expect((await status(theirs)).pull_request_state).toBe('open');
  });

  it('a rate limit pauses that token until the reset; other tokens go on', async () => {
    gh.model.openPull('acme/app', { head: 'b0' });
    const limited: string[] = [];
    for (let i = 0; i < 3; i++) limited.push(await chatWithRef(`b${i}`));
    const second = randomUUID();
    gh.addToken('ghp_owner_two', 'two');
    await test.store.putToken(second, 'github', 'ghp_owner_two', clock.now());
    const theirs = await chatWithRef('b0', { owner: second });
    // The owner's token has spent both of its budgets (REST and GraphQL) for the hour.
    gh.addToken(ownerToken, 'agent', 0, 0);
    // One call at a time, so which rows were "not yet started" is certain.
    const serial = new Engine({
      store: test.store,
      providers: new ProviderRegistry([
        new GitHubProvider(
          { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
          { clock },
        ),
      ]),
      clock,
      settings: { ...settings, concurrency: 1 },
      logger: silentLogger,
    });
    await serial.tick();
    // The batch met the GraphQL limit, the rows' REST reads the REST limit: all paused.
    const rows = await Promise.all(limited.map(status));
    for (const row of rows) {
      expect(row.last_error).toMatch(/rate limited until/);
      expect(row.paused_until!.getTime() - Date.now()).toBeGreaterThan(3_500_000);
      expect(row.stale_at).toEqual(row.paused_until);
    }
    expect((await status(theirs)).pull_request_state).toBe('open');
    // Reported again: due at once, but nothing goes to the host with that token before the reset.
    const before = gh.log.filter((r) => r.token_fingerprint === fingerprint(ownerToken)).length;
    await serial.reportRef({ chat_id: limited[0]!, origin: `${gh.webUrl}/acme/app`, branch: 'b0' });
    await serial.tick();
    expect(gh.log.filter((r) => r.token_fingerprint === fingerprint(ownerToken)).length).toBe(before);
  });

  it("never sends one provider's token to another provider's host", async () => {
    other.model.createRepo({ owner: 'acme', name: 'app' });
    const chat = await chatWithRef('feature', { origin: `${other.webUrl}/acme/app` });
    await engine.tick();
    expect((await status(chat)).last_error).toBe('no token for other');
    expect(other.counters.total).toBe(0);
    expect(other.log.some((r) => r.token_fingerprint === fingerprint(ownerToken))).toBe(false);
  });
});

/**
 * GitHub through the whole service as `gitsync serve` wires it, over real HTTP: what the API and
 * the event stream show of a PR's requested reviewers, read through GraphQL (the worker's batch)
 * and through REST (refresh now) alike.
 */
describe('GitHub end to end through the HTTP API', () => {
  const ADMIN = 'github-e2e-admin-key-0123';
  const TOKEN = 'ghp_e2e_api_owner';
  let gh: GitHubEmulator;
  let db: TestDatabase;
  let runtime: Runtime;
  let server: ReturnType<typeof serve>;
  let base: string;
  const owner = randomUUID();

  beforeAll(async () => {
    gh = await startGitHubEmulator();
    gh.addToken(TOKEN, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    db = await createTestDatabase('postgres');
    const config = loadConfig({});
    const clock = new FakeClock(new Date());
    runtime = await openRuntime(
      {
        ...config,
        database_url: schemaUrl(db.schema),
        admin_token: ADMIN,
        encryption_key: 'ab'.repeat(32),
        log_level: 'silent',
        providers: [],
        worker: { ...config.worker, enabled: false },
      },
      {
        clock,
        logger: pino({ level: 'silent' }),
        providers: [
          new GitHubProvider(
            { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
            { clock, requestTimeoutMs: 2000 },
          ),
        ],
      },
    );
    await runtime.start();
    server = serve({ fetch: runtime.http.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await api('PUT', `/api/v1/owners/${owner}/tokens/github`, { token: TOKEN });
  });
  afterAll(async () => {
    expect(gh?.counters.unexpected).toEqual([]);
    await new Promise((r) => server?.close(r));
    await runtime?.close();
    await gh?.close();
    await db?.drop();
  });

  async function api(method: string, path: string, body?: unknown) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON
    return { status: res.status, json: (text ? JSON.parse(text) : null) as any };
  }
  const chatReporting = async (branch: string) => {
    const chat = randomUUID();
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: owner, title: `chat on ${branch}` });
    const origin = `${gh.webUrl}/acme/app.git`;
    expect((await api('POST', '/api/v1/git-refs', { chat_id: chat, origin, branch })).status).toBe(202);
    return chat;
  };
  const ref = async (chat: string) => (await api('GET', `/api/v1/chats/${chat}`)).json.diff_status;

  it('requested reviewers: people and @org teams, the same through GraphQL and REST, in the API and events', async () => {
    const asked = [
      { kind: 'user', name: 'alice' },
      { kind: 'user', name: 'zed' },
      { kind: 'team', name: 'acme/core' },
    ];
    for (const branch of ['asked-one', 'asked-two']) {
      const pull = gh.model.openPull('acme/app', { head: branch, author: 'agent' });
      gh.model.requestReviewers('acme/app', pull.number, {
        reviewers: ['zed', 'alice'],
        team_reviewers: ['core'],
      });
    }
    const chats = [await chatReporting('asked-one'), await chatReporting('asked-two')];
    const stream = await SseClient.open(`${base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    try {
      // Two rows of one owner: looked up and read together through GraphQL.
      gh.resetCounters();
      await runtime.engine.tick();
      expect(gh.count('graphql', 200)).toBe(2);
      expect(gh.count('get_pull')).toBe(0);
      for (const chat of chats) expect((await ref(chat)).requested_reviewers).toEqual(asked);
      // The reports' own events (no PR yet) may still be on their way: wait for the one with the PR.
      const change = await stream.waitFor(
        (e) =>
          e.event === 'diff_status_change' &&
          JSON.parse(e.data).chat.id === chats[0] &&
          JSON.parse(e.data).changed_diff_status.pr_number === 1,
      );
      expect(JSON.parse(change.data).changed_diff_status.requested_reviewers).toEqual(asked);

      // Alice reviews: her request is answered. Refresh now reads through REST and agrees.
      gh.model.review('acme/app', 1, { login: 'alice', state: 'COMMENTED' });
      const refreshed = await api('POST', `/api/v1/chats/${chats[0]}/diff-status/refresh`, {});
      expect(gh.count('get_pull', 200)).toBe(1);
      expect(refreshed.json).toMatchObject({
        outcome: 'updated',
        diff_status: { requested_reviewers: asked.slice(1) },
      });
      await stream.waitFor(
        (e) =>
          e.event === 'diff_status_change' &&
          JSON.parse(e.data).changed_diff_status.requested_reviewers?.length === 2,
      );
      // The untouched PR through REST gives what GraphQL gave.
      const other = await api('POST', `/api/v1/chats/${chats[1]}/diff-status/refresh`, {});
      expect(other.json.diff_status.requested_reviewers).toEqual(asked);
    } finally {
      await stream.close();
    }
  });
});
