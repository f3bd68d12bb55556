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
  const ids = Array.from({ length: s.refs }, () => randomUUID());
  const owners = Array.from({ length: 100 }, () => randomUUID());
  for (let i = 0; i < s.refs; i += 20_000) {
    const part = ids.slice(i, i + 20_000);
    await db.query(
      `INSERT INTO chats (id, owner_id, root_chat_id, created_at, updated_at)
       SELECT id, owner_id, id, $3, $3 FROM unnest($1::uuid[], $2::uuid[]) AS t(id, owner_id)`,
      [part, part.map((_, j) => owners[(i + j) % owners.length]!), new Date(now)],
    );
    await db.query(
      `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, provider_id, url, pull_request_state,
         pull_request_title, pull_request_draft, changes_requested, approved, reviewer_count, additions, deletions,
         changed_files, commits, pr_number, author_login, base_branch, head_branch, refreshed_at, stale_at, created_at, updated_at)
       SELECT id, 'https://fake.test/bench/repo', 'b' || n, 'fake', 'https://fake.test/bench/repo/pull/' || n, 'open',
         'PR ' || n, false, false, false, 0, 0, 0, 0, 1, n, 'agent', 'main', 'b' || n,
         to_timestamp(($3::bigint - ($4::bigint * (n % 1000)) / 1000) / 1000.0),
         to_timestamp(($3::bigint - ($4::bigint * (n % 1000)) / 1000 + $4::bigint) / 1000.0), $5, $5
       FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n0), LATERAL (SELECT (n0 + $2)::int AS n) x`,
      [part, i, now, s.ttlMs, new Date(now - 3_600_000)],
    );
  }
  for (let n = 1; n <= s.refs; n++) host.openPull('bench/repo', { head_branch: `b${n}`, pr_number: n });

  const started = performance.now();
  engine.start();
  const rssSamples: number[] = [];
  while (performance.now() - started < s.runMs) {
    await new Promise((r) => setTimeout(r, 1000));
    rssSamples.push(process.memoryUsage().rss);
  }
  await engine.stop();
  const seconds = (performance.now() - started) / 1000;
  staleness.sort((a, b) => a - b);
  const pct = (p: number) =>
    staleness[Math.min(staleness.length - 1, Math.floor((p / 100) * staleness.length))] ?? 0;
  return {
    refreshes,
    per_second: Math.round(refreshes / seconds),
    needed_per_second: Math.round(s.refs / (s.ttlMs / 1000)),
    staleness_p50_s: Math.round(pct(50) / 100) / 10,
    staleness_p99_s: Math.round(pct(99) / 100) / 10,
    max_rss_mb: Math.round(Math.max(...rssSamples) / 1024 / 1024),
  };
}
