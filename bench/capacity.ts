import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { systemClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { Database } from '../src/store/database.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { seedRefs } from './seed.ts';
import { percentile } from './stats.ts';

export interface CapacityScenario {
  refs: number;
  ttlMs: number;
  latencyMs: number;
  runMs: number;
  settings: Partial<WorkerSettings>;
}

/**
 * Keeps `refs` open PRs fresh in real time with the worker loop, against a code host answering
 * in `latencyMs`, and reports how stale rows were when they were refreshed (time since their
 * previous refresh): the goal is p99 ≤ TTL + 10 s at ≥ refs/TTL refreshes per second.
 */
export async function measureCapacity(db: Database, s: CapacityScenario) {
  const store = new SqlStore(db, new TokenCipher(null));
  const host = new FakeCodeHost('https://fake.test');
  host.latencyMs = s.latencyMs;
  const settings = {
    ...DEFAULT_WORKER_SETTINGS,
    ...s.settings,
    fresh_ttl_ms: s.ttlMs,
    tick_interval_ms: 200,
  };
  const staleness: number[] = [];
  // Record, for every claimed row already refreshed once, how long since its last refresh.
  const measured = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'claimStaleRefs') return Reflect.get(target, prop, receiver);
      return async (now: Date, limit: number, lease: Date) => {
        const rows = await target.claimStaleRefs(now, limit, lease);
        for (const r of rows) if (r.refreshed_at) staleness.push(now.getTime() - r.refreshed_at.getTime());
        return rows;
      };
    },
  });
  let refreshes = 0;
  const engine = new Engine({
    store: measured,
    providers: new ProviderRegistry([new FakeProvider(host, { service_token: 'bench' })]),
    clock: systemClock,
    settings,
    logger: silentLogger,
    observer: {
      tick: (r) => {
        refreshes += r.outcomes.updated;
      },
    },
  });

  // Seed: every ref already refreshed once, spread over one TTL, as in a steady state.
  const now = Date.now();
  const pulls = Array.from({ length: s.refs }, (_, i) =>
    host.openPull('bench/repo', { head_branch: `b${i + 1}`, pr_number: i + 1 }),
  );
  // Refreshed at times spread over the last TTL (due one TTL after), reported an hour ago.
  const refreshedAt = (n: number) => new Date(now - Math.floor((s.ttlMs * (n % 1000)) / 1000));
  await seedRefs(db, {
    refs: s.refs,
    owners: Array.from({ length: 100 }, () => randomUUID()),
    origin: 'https://fake.test/bench/repo',
    provider_id: 'fake',
    branch: (n) => `b${n}`,
    chats_created_at: new Date(now),
    reported_at: new Date(now - 3_600_000),
    stale_at: (n) => new Date(refreshedAt(n).getTime() + s.ttlMs),
    shows: (n) => ({ pr: pulls[n - 1]!, refreshed_at: refreshedAt(n) }),
  });

  const started = performance.now();
  engine.start();
  const rssSamples: number[] = [];
  while (performance.now() - started < s.runMs) {
    await new Promise((r) => setTimeout(r, 1000));
    rssSamples.push(process.memoryUsage().rss);
  }
  await engine.stop();
  const seconds = (performance.now() - started) / 1000;
  return {
    refreshes,
    per_second: Math.round(refreshes / seconds),
    needed_per_second: Math.round(s.refs / (s.ttlMs / 1000)),
    staleness_p50_s: Math.round(percentile(staleness, 50) / 100) / 10,
    staleness_p99_s: Math.round(percentile(staleness, 99) / 100) / 10,
    max_rss_mb: Math.round(Math.max(...rssSamples) / 1024 / 1024),
  };
}
