import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { InProcessBus } from '../src/events/publisher.ts';
import { FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { Database } from '../src/store/database.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';

export interface ThroughputScenario {
  refs: number;
  owners: number;
  latencyMs: number;
  settings: Partial<WorkerSettings>;
  /** Stop a pass after this long even if not every ref was refreshed. */
  budgetMs: number;
}

export interface PassFigures {
  refreshes: number;
  seconds: number;
  per_second: number;
  tick_p50_ms: number;
  tick_p99_ms: number;
  statements_per_refresh: number;
  events: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/**
 * Seeds `refs` tracked refs (one per chat, chats spread over `owners`), each with an open PR on
 * the fake host, then runs the engine's ticks back to back, as the loop does with a backlog:
 * pass 1 sees every PR for the first time (every row written and published), pass 2 finds
 * every PR as stored (the steady state: written, nothing published).
 */
export async function measureThroughput(db: Database, scenario: ThroughputScenario) {
  const clock = new FakeClock(new Date());
  const host = new FakeCodeHost('https://fake.test');
  host.latencyMs = scenario.latencyMs;
  const provider = new FakeProvider(host, { service_token: 'bench-service-token' });
  const settings = { ...DEFAULT_WORKER_SETTINGS, ...scenario.settings };
  const bus = new InProcessBus();
  let events = 0;
  bus.subscribe(() => events++);
  const store = new SqlStore(db, new TokenCipher(null), bus);
  const engine = new Engine({
    store,
    providers: new ProviderRegistry([provider]),
    clock,
    settings,
    logger: silentLogger,
  });

  const owners = Array.from({ length: scenario.owners }, () => randomUUID());
  const chatIds = Array.from({ length: scenario.refs }, () => randomUUID());
  const now = clock.now();
  await db.query(
    `INSERT INTO chats (id, owner_id, root_chat_id, created_at, updated_at)
     SELECT id, owner_id, id, $3, $3 FROM unnest($1::uuid[], $2::uuid[]) AS t(id, owner_id)`,
    [chatIds, chatIds.map((_, i) => owners[i % owners.length]!), now],
  );
  await db.query(
    `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, provider_id, stale_at, created_at, updated_at)
     SELECT id, 'https://fake.test/bench/repo', 'branch-' || n, 'fake', $2, $3, $3
     FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
    [chatIds, new Date(now.getTime() - 1000), new Date(now.getTime() - 600_000)],
  );
  for (let i = 1; i <= scenario.refs; i++) host.openPull('bench/repo', { head_branch: `branch-${i}` });

  const pass = async (): Promise<PassFigures> => {
    const ticks: number[] = [];
    let refreshes = 0;
    let published = 0;
    const statementsBefore = db.statements;
    const eventsBefore = events;
    const started = performance.now();
    while (refreshes < scenario.refs && performance.now() - started < scenario.budgetMs) {
      const t0 = performance.now();
      const result = await engine.tick();
      ticks.push(performance.now() - t0);
      if (result.claimed === 0) break;
      refreshes += result.outcomes.updated;
      published += result.published;
    }
    const seconds = (performance.now() - started) / 1000;
    ticks.sort((a, b) => a - b);
    return {
      refreshes,
      seconds: round(seconds, 2),
      per_second: Math.round(refreshes / seconds),
      tick_p50_ms: round(percentile(ticks, 50), 1),
      tick_p99_ms: round(percentile(ticks, 99), 1),
      statements_per_refresh: round((db.statements - statementsBefore) / Math.max(1, refreshes), 3),
      events: events - eventsBefore || published,
    };
  };

  const first = await pass();
  // Steady state: every row already shows exactly what the host has (as after a full first
  // pass, which a time budget may have cut short), and is due again.
  await db.query(
    `UPDATE diff_statuses SET
       pr_number = substr(git_branch, 8)::int, url = 'https://fake.test/bench/repo/pull/' || substr(git_branch, 8),
       pull_request_state = 'open', pull_request_title = 'PR ' || substr(git_branch, 8), pull_request_draft = false,
       changes_requested = false, approved = false, reviewer_count = 0, additions = 0, deletions = 0,
       changed_files = 0, commits = 1, author_login = 'agent', author_avatar_url = NULL, base_branch = 'main',
       head_branch = git_branch, stale_at = $1`,
    [clock.now()],
  );
  const steady = await pass();
  return { first, steady, rss_mb: Math.round(process.memoryUsage().rss / 1024 / 1024) };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
