import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { SqlStore } from '../src/store/sql-store.ts';
import { createTestStore, DATABASE_KINDS, type TestDatabase } from './helpers/databases.ts';

/**
 * GitHub's REST (`core`) and GraphQL budgets are separate: the engine pauses one without stopping
 * the other (engine + store + GitHub provider + emulator, all real, over 127.0.0.1).
 */
describe.each(DATABASE_KINDS)('separate REST and GraphQL pauses (%s)', (kind) => {
  let gh: GitHubEmulator;
  let test: TestDatabase & { store: SqlStore };
  let engine: Engine;
  let clock: FakeClock;
  const owner = randomUUID();
  const token = 'ghp_scopes';

  beforeEach(async () => {
    gh = await startGitHubEmulator();
    gh.addToken(token, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    test = await createTestStore(kind);
    // Real time: the emulator's reset headers are wall-clock times.
    clock = new FakeClock(new Date());
    engine = new Engine({
      store: test.store,
      providers: new ProviderRegistry([
        new GitHubProvider(
          { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
          { clock, requestTimeoutMs: 2000 },
        ),
      ]),
      clock,
      settings: { ...DEFAULT_WORKER_SETTINGS },
      logger: silentLogger,
    });
    await test.store.putToken(owner, 'github', token, clock.now());
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await Promise.all([gh.close(), test.drop()]);
  });

  const report = async (branch: string) => {
    const id = randomUUID();
    await test.store.putChat({ id, owner_id: owner }, clock.now());
    await engine.reportRef({ chat_id: id, origin: `${gh.webUrl}/acme/app`, branch });
    return id;
  };
  const status = async (chat: string) => (await test.store.getChat(chat))!.diff_status!;

  it('a GraphQL limit leaves REST open: the batch’s rows are read through REST, and GraphQL waits', async () => {
    gh.model.openPull('acme/app', { head: 'one' });
    gh.model.openPull('acme/app', { head: 'two' });
    const chats = [await report('one'), await report('two')];
    gh.addFaults({ kind: 'graphql_rate_limit', type: 'RATE_LIMIT', reset_in_s: 600, times: 1 });
    const first = await engine.tick();
    expect(first.outcomes).toMatchObject({ updated: 2, failed: 0 });
    for (const chat of chats)
      expect(await status(chat)).toMatchObject({ paused_until: null, last_error: null });
    expect(gh.count('graphql')).toBe(1);
    expect(gh.count('list_pulls', 200)).toBe(2);
    // Still paused: two more rows go through REST again, and nothing is sent to GraphQL.
    gh.model.openPull('acme/app', { head: 'three' });
    gh.model.openPull('acme/app', { head: 'four' });
    await report('three');
    await report('four');
    gh.resetCounters();
    expect((await engine.tick()).outcomes).toMatchObject({ updated: 2 });
    expect(gh.count('graphql')).toBe(0);
  });

  it('a REST limit leaves GraphQL open: batch reads go on while single reads wait', async () => {
    gh.model.openPull('acme/app', { head: 'alone' });
    gh.addFaults({ kind: 'rate_limit', match: '^/repos/', reset_in_s: 600, times: 1 });
    const alone = await report('alone');
    expect((await engine.tick()).outcomes).toMatchObject({ failed: 1 });
    expect((await status(alone)).paused_until).not.toBeNull();
    gh.model.openPull('acme/app', { head: 'one' });
    gh.model.openPull('acme/app', { head: 'two' });
    const chats = [await report('one'), await report('two')];
    gh.resetCounters();
    const tick = await engine.tick();
    expect(tick.outcomes.updated).toBe(2);
    for (const chat of chats) expect(await status(chat)).toMatchObject({ pr_number: expect.any(Number) });
    expect(gh.count('graphql')).toBe(2);
    // No REST request went out while `core` is paused.
    expect(gh.counters.total - gh.count('graphql')).toBe(0);
  });
});
