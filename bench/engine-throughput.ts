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
import { seedRefs, showPrs } from './seed.ts';
import { percentile, round } from './stats.ts';

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

  const now = clock.now();
  // Reported ten minutes ago and due now, no PR known yet; the host has one PR per branch.
  const refs = await seedRefs(db, {
    refs: scenario.refs,
    owners: Array.from({ length: scenario.owners }, () => randomUUID()),
    origin: 'https://fake.test/bench/repo',
    provider_id: 'fake',
    branch: (n) => `branch-${n}`,
    chats_created_at: now,
    reported_at: new Date(now.getTime() - 600_000),
    stale_at: () => new Date(now.getTime() - 1000),
  });
  const pulls = refs.map((ref) => host.openPull('bench/repo', { head_branch: `branch-${ref.n}` }));

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
  await showPrs(db, refs, 'fake', (ref) => pulls[ref.n - 1]!, clock.now(), clock.now());
  const steady = await pass();
  return { first, steady, rss_mb: Math.round(process.memoryUsage().rss / 1024 / 1024) };
}
