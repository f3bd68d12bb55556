import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { ProviderConfig } from '../src/providers/types.ts';
import { Metrics } from '../src/server/metrics.ts';
import type { SqlStore } from '../src/store/sql-store.ts';
import { createTestStore, type TestDatabase } from './helpers/databases.ts';

/**
 * The owner's budget on GitHub, through the real provider and emulator on PostgreSQL: read from
 * every answer, shared by replicas through the database, spent only up to the configured share,
 * and paused at the owner's word.
 */
describe('the owner’s budget', () => {
  let gh: GitHubEmulator;
  let test: TestDatabase & { store: SqlStore };
  let clock: FakeClock;
  const owner = randomUUID();
  const token = 'ghp_budget_owner';
  const settings = { ...DEFAULT_WORKER_SETTINGS };

  beforeEach(async () => {
    gh = await startGitHubEmulator();
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    test = await createTestStore('postgres');
    // Real time to start from: the emulator's reset headers are wall-clock times.
    clock = new FakeClock(new Date());
    await test.store.putToken(owner, 'github', token, clock.now());
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await Promise.all([gh.close(), test.drop()]);
  });

  /** A replica: its own engine (its own caches and pauses) on the shared database. */
  const replica = (config: Partial<ProviderConfig> = {}) =>
    new Engine({
      store: test.store,
      providers: new ProviderRegistry([
        new GitHubProvider(
          { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl, ...config },
          { clock, requestTimeoutMs: 2000 },
        ),
      ]),
      clock,
      settings,
      logger: silentLogger,
    });
  const chatWithPr = async (engine: Engine, branch: string) => {
    gh.model.openPull('acme/app', { head: branch });
    const id = randomUUID();
    await test.store.putChat({ id, owner_id: owner }, clock.now());
    await engine.reportRef({ chat_id: id, origin: `${gh.webUrl}/acme/app`, branch });
    return id;
  };
  const ref = async (chat: string) => (await test.store.getChat(chat))!.diff_status!;

  it('lists every budget the provider keeps before the host has spoken of any, with nothing known yet', async () => {
    const engine = replica();
    expect((await engine.budget(owner)).providers).toEqual(
      ['graphql', 'core'].map((scope) =>
        expect.objectContaining({ provider_id: 'github', scope, token: 'own', limit: null, remaining: null }),
      ),
    );
    // One scope spoken of: the other is still listed.
    gh.addToken(token, 'agent', 5000, 5000);
    await chatWithPr(engine, 'one');
    await engine.tick();
    const after = (await engine.budget(owner)).providers;
    expect(after.map((p) => p.scope).sort()).toEqual(['core', 'graphql']);
    expect(after.find((p) => p.scope === 'core')).toMatchObject({ limit: 5000 });
    expect(after.find((p) => p.scope === 'graphql')).toMatchObject({ limit: null, remaining: null });
  });

  it('reads the remaining budget of each scope from every answer and shows it per provider', async () => {
    gh.addToken(token, 'agent', 5000, 5000);
    const engine = replica();
    await chatWithPr(engine, 'one');
    await engine.tick();
    // One PR of the owner in a tick: REST (`core`); two: a batch through GraphQL.
    await chatWithPr(engine, 'two');
    await chatWithPr(engine, 'three');
    clock.advance(settings.fresh_ttl_ms);
    await engine.tick();
    const { providers } = await engine.budget(owner);
    const core = providers.find((p) => p.scope === 'core');
    const graphql = providers.find((p) => p.scope === 'graphql');
    expect(core).toMatchObject({
      provider_id: 'github',
      token: 'own',
      limit: 5000,
      max_share: 0.5,
      paused: false,
    });
    expect(core!.remaining).toBeLessThan(5000);
    expect(core!.used_last_hour).toBeGreaterThanOrEqual(4);
    expect(core!.reset_at!.getTime()).toBeGreaterThan(Date.now());
    expect(graphql).toMatchObject({ limit: 5000, stretched: false });
    expect(graphql!.used_last_hour).toBeGreaterThanOrEqual(1);
    // Another replica sees the same, from the database.
    expect((await replica().budget(owner)).providers).toEqual(providers);
    // /metrics names a budget by provider, scope and token fingerprint: never the token or its owner.
    const metrics = new Metrics({
      store: test.store,
      providers: new ProviderRegistry([]),
      clock,
      overdueAfterMs: 60_000,
    });
    metrics.budgets = () => engine.budgets.all();
    const text = await metrics.registry.metrics();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('gitsync_token_budget_remaining{') && l.includes('scope="core"'));
    expect(line).toMatch(
      /^gitsync_token_budget_remaining\{provider="github",scope="core",token="[\w-]{12}"\} \d+$/,
    );
    expect(text).not.toContain(token);
    expect(text).not.toContain(owner);
  });

  it('spends at most its share: once only the owner’s part is left, nothing is sent until the reset', async () => {
    // Eight REST units an hour, half of them the owner's; finding and reading a PR spends five
    // (the branch's PRs, the PR, its reviews, its head commit's check runs and statuses).
    gh.addToken(token, 'agent', 8, 8);
    const engine = replica();
    const chat = await chatWithPr(engine, 'feature');
    await engine.tick();
    expect((await ref(chat)).pr_number).toBe(1);
    gh.model.updatePull('acme/app', 1, { title: 'changed' });
    const sent = gh.counters.total;
    clock.advance(settings.fresh_ttl_ms);
    await engine.tick();
    expect(gh.counters.total).toBe(sent);
    const row = await ref(chat);
    expect(row.last_error).toMatch(/share of the token's budget is spent until/);
    expect(row.paused_until!.getTime()).toBeGreaterThan(clock.now().getTime() + 3_000_000);
    expect((await engine.budget(owner)).providers.find((p) => p.scope === 'core')).toMatchObject({
      remaining: 3,
      paused: true,
      stretched: true,
    });
    // A service token may spend 90 %: the same budget does not hold it back.
    const served = replica({ service_token: token, max_budget_share: { owner: 0.5, service: 0.9 } });
    await test.store.deleteToken(owner, 'github');
    const other = randomUUID();
    await test.store.putChat({ id: other, owner_id: randomUUID() }, clock.now());
    await served.reportRef({ chat_id: other, origin: `${gh.webUrl}/acme/app`, branch: 'feature' });
    await served.tick();
    expect(gh.counters.total).toBeGreaterThan(sent);
  });

  it('stretches next checks while its pace would spend the share before the reset, active PRs least', async () => {
    // 60 units: 30 kept for the owner. A first read spends 5, so the pace (5 in five minutes)
    // would spend 60 by the reset against 25 left of the share.
    gh.addToken(token, 'agent', 60, 60);
    const engine = replica();
    const chat = await chatWithPr(engine, 'feature');
    await engine.tick();
    expect((await ref(chat)).stale_at).toEqual(new Date(clock.now().getTime() + settings.fresh_ttl_ms));
    gh.model.updatePull('acme/app', 1, { title: 'changed' });
    clock.advance(settings.fresh_ttl_ms);
    await engine.tick();
    const wait = (await ref(chat)).stale_at.getTime() - clock.now().getTime();
    expect(wait).toBeGreaterThan(settings.fresh_ttl_ms * 1.5);
    expect(wait).toBeLessThan(settings.fresh_ttl_ms * 3);
    expect((await engine.budget(owner)).providers.find((p) => p.scope === 'core')!.stretched).toBe(true);
  });

  it('a rate limit one replica meets pauses the others, without a request of their own', async () => {
    gh.addToken(token, 'agent', 5000, 5000);
    const a = replica();
    const b = replica();
    const first = await chatWithPr(a, 'a');
    gh.addFaults({ kind: 'rate_limit', match: '^/repos/', reset_in_s: 600, times: 1 });
    await a.tick();
    expect((await ref(first)).last_error).toMatch(/rate limited until/);
    const second = await chatWithPr(b, 'b');
    const sent = gh.counters.total;
    await b.tick();
    expect(gh.counters.total).toBe(sent);
    expect((await ref(second)).paused_until).toEqual((await ref(first)).paused_until);
  });

  it('the service token serves each owner at most service_per_owner of its budget: past it their refs wait, others’ go on, on every replica', async () => {
    const service = 'ghp_budget_service';
    gh.addToken(service, 'gitsync-bot', 100, 100);
    // 1 % of 100 units an hour: one owner's first refresh (a few units) spends it.
    const config = {
      service_token: service,
      service_token_for: 'all' as const,
      max_budget_share: { owner: 0.5, service: 0.9, service_per_owner: 0.01 },
    };
    const a = replica(config);
    const [greedy, modest] = [randomUUID(), randomUUID()];
    const chatOf = async (who: string, branch: string) => {
      gh.model.openPull('acme/app', { head: branch });
      const id = randomUUID();
      await test.store.putChat({ id, owner_id: who }, clock.now());
      await a.reportRef({ chat_id: id, origin: `${gh.webUrl}/acme/app`, branch });
      return id;
    };
    const first = await chatOf(greedy, 'greedy-1');
    await a.tick();
    expect((await ref(first)).pr_number).toBeGreaterThan(0);

    // The greedy owner's refs wait until the budget's reset; the other owner's are served.
    const second = await chatOf(greedy, 'greedy-2');
    const theirs = await chatOf(modest, 'modest-1');
    clock.advance(settings.fresh_ttl_ms);
    const sent = gh.counters.total;
    await a.tick();
    expect(gh.counters.total).toBeGreaterThan(sent);
    expect(await ref(theirs)).toMatchObject({ last_error: null });
    expect((await ref(theirs)).pr_number).toBeGreaterThan(0);
    for (const chat of [first, second]) {
      const row = await ref(chat);
      expect(row.last_error).toMatch(/this owner's share of the service token's budget is spent until/);
      expect(row.paused_until!.getTime()).toBeGreaterThan(clock.now().getTime() + 3_000_000);
    }
    expect((await ref(second)).pr_number).toBeNull();

    // Another replica knows it from the database: nothing is sent for the greedy owner.
    const b = replica(config);
    const third = await chatOf(greedy, 'greedy-3');
    const before = gh.counters.total;
    await b.tick();
    expect(gh.counters.total).toBe(before);
    expect((await ref(third)).last_error).toMatch(/share of the service token's budget is spent/);

    // The owner's view of the service token: their own use and allowance, never its totals.
    const mine = (await b.budget(greedy)).providers.find((p) => p.scope === 'core')!;
    expect(mine).toMatchObject({ token: 'service', limit: 1, remaining: 0, max_share: 0.01, paused: true });
    expect(mine.used_last_hour).toBeGreaterThan(0);
    const admin = (await b.budget(greedy, { admin: true })).providers.find((p) => p.scope === 'core')!;
    expect(admin).toMatchObject({ token: 'service', limit: 100, max_share: 0.9, paused: true });
    expect(admin.used_last_hour).toBeGreaterThan(mine.used_last_hour);
    expect(admin.remaining).toBe(100 - admin.used_last_hour);
  });

  it('the owner’s pause switch: nothing is sent until resumed, then the refs are due at once', async () => {
    gh.addToken(token, 'agent', 5000, 5000);
    const engine = replica();
    const chat = await chatWithPr(engine, 'feature');
    await engine.setPaused(owner, 'github', true);
    await engine.tick();
    expect(gh.counters.total).toBe(0);
    expect((await ref(chat)).last_error).toMatch(/paused by the owner/);
    expect((await engine.budget(owner)).providers[0]).toMatchObject({ provider_id: 'github', paused: true });
    // Feedback and refresh now respect it too.
    await expect(engine.refreshNow(chat, {}, owner)).rejects.toMatchObject({ code: 'paused' });
    expect(gh.counters.total).toBe(0);
    await engine.setPaused(owner, 'github', false);
    expect((await ref(chat)).stale_at.getTime()).toBeLessThanOrEqual(clock.now().getTime());
    await engine.tick();
    expect(await ref(chat)).toMatchObject({ pr_number: 1, last_error: null });
  });
});
