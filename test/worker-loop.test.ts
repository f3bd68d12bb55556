import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/core/logger.ts';
import {
  DEFAULT_WORKER_SETTINGS,
  MIN_PACED_WAIT_MS,
  nextTick,
  TickPacer,
  type TickReport,
  type WorkerSettings,
} from '../src/core/schedule.ts';
import type { PrFields } from '../src/core/types.ts';
import { Engine, type TickResult } from '../src/engine/engine.ts';
import { FakeProvider } from '../src/providers/fake/fake-provider.ts';
import type { CallOptions, PullRef, RepoRef } from '../src/providers/types.ts';
import { DATABASE_KINDS } from './helpers/databases.ts';
import { createEngineHarness, type EngineHarness } from './helpers/engine-harness.ts';
import { waitFor } from './helpers/wait.ts';

describe('nextTick (how the loop sizes and spaces ticks)', () => {
  const s: WorkerSettings = {
    ...DEFAULT_WORKER_SETTINGS,
    batch_size: 50,
    max_batch_size: 1000,
    tick_interval_ms: 10_000,
    tick_timeout_ms: 30_000,
  };
  const tick = (t: Partial<TickReport>): TickReport => ({
    limit: 50,
    claimed: 50,
    released: 0,
    duration_ms: 100,
    due_per_ms: null,
    ...t,
  });

  it('a full claim goes on at once with twice the rows, up to max_batch_size', () => {
    expect(nextTick(s, tick({}))).toEqual({ limit: 100, wait_ms: 0 });
    expect(nextTick(s, tick({ limit: 800, claimed: 800 }))).toEqual({ limit: 1000, wait_ms: 0 });
    expect(nextTick(s, tick({ limit: 1000, claimed: 1000 }))).toEqual({ limit: 1000, wait_ms: 0 });
  });

  it('max_batch_size at or below batch_size keeps every claim at batch_size', () => {
    for (const max of [1, 50]) {
      expect(nextTick({ ...s, max_batch_size: max }, tick({}))).toEqual({ limit: 50, wait_ms: 0 });
    }
  });

  it('a full claim that took a while keeps its size; past half the deadline, or cut off by it, it halves', () => {
    expect(nextTick(s, tick({ limit: 400, claimed: 400, duration_ms: 10_000 })).limit).toBe(400);
    expect(nextTick(s, tick({ limit: 400, claimed: 400, duration_ms: 16_000 })).limit).toBe(200);
    expect(nextTick(s, tick({ limit: 400, claimed: 400, released: 3 })).limit).toBe(200);
    // Never below batch_size.
    expect(nextTick(s, tick({ limit: 50, claimed: 50, released: 50 })).limit).toBe(50);
  });

  it('a claim that was not full keeps at most twice what it found', () => {
    expect(nextTick(s, tick({ limit: 1000, claimed: 700 })).limit).toBe(1000);
    expect(nextTick(s, tick({ limit: 1000, claimed: 100 })).limit).toBe(200);
    expect(nextTick(s, tick({ limit: 1000, claimed: 3 })).limit).toBe(50);
  });

  it('after catching up it waits the interval, or less while rows come due fast', () => {
    // Nothing due, or the rate not known yet: the interval.
    expect(nextTick(s, tick({ claimed: 0 })).wait_ms).toBe(10_000);
    expect(nextTick(s, tick({ claimed: 10, due_per_ms: null })).wait_ms).toBe(10_000);
    // 10 rows/s: 1,000 rows take 100 s to come due, longer than the interval.
    expect(nextTick(s, tick({ claimed: 10, due_per_ms: 0.01 })).wait_ms).toBe(10_000);
    // 833 rows/s (100,000 refs, TTL 120 s): about the time 1,000 rows take to come due.
    expect(nextTick(s, tick({ limit: 1000, claimed: 900, due_per_ms: 0.833 })).wait_ms).toBe(1200);
    // Very fast: never below the floor (nor above the interval when that is shorter).
    expect(nextTick(s, tick({ claimed: 10, due_per_ms: 1000 })).wait_ms).toBe(MIN_PACED_WAIT_MS);
    expect(nextTick({ ...s, tick_interval_ms: 20 }, tick({ claimed: 10, due_per_ms: 1000 })).wait_ms).toBe(
      20,
    );
  });
});

describe('TickPacer (the loop’s pacing over its ticks)', () => {
  const s: WorkerSettings = { ...DEFAULT_WORKER_SETTINGS, batch_size: 50, max_batch_size: 1000 };

  it('measures the due rate from the loop’s start to its first catch-up, then from catch-up to catch-up', () => {
    const pacer = new TickPacer(s, 0);
    expect(pacer.limit).toBe(50);
    // Full claims: at once, growing.
    expect(pacer.after({ claimed: 50, released: 0 }, 0, 100)).toBe(0);
    expect(pacer.limit).toBe(100);
    expect(pacer.after({ claimed: 100, released: 0 }, 100, 100)).toBe(0);
    // Caught up 1 s after the start with 50 + 100 + 50 = 200 rows claimed: 0.2 rows/ms, so
    // 1,000 rows come due in 5 s (under the 10 s interval).
    expect(pacer.after({ claimed: 50, released: 0 }, 1000, 100)).toBe(5000);
    // The next catch-up counts from the last: 60 rows in 10 s, 1,000 in almost three minutes: the interval.
    expect(pacer.limit).toBe(100);
    expect(pacer.after({ claimed: 60, released: 0 }, 11_000, 100)).toBe(s.tick_interval_ms);
  });
});

/** The fake provider, watching its calls: how many are in flight, and whether a row's overlap. */
class WatchedProvider extends FakeProvider {
  inFlight = 0;
  maxInFlight = 0;
  /** Calls that started while a call for the same row was still in flight. */
  overlaps = 0;
  readonly calls = new Map<string, number>();
  readonly #busy = new Set<string>();

  async #watch<T>(key: string, call: () => Promise<T>): Promise<T> {
    if (this.#busy.has(key)) this.overlaps++;
    this.#busy.add(key);
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      return await call();
    } finally {
      this.inFlight--;
      this.#busy.delete(key);
    }
  }

  override findPullForBranch(repo: RepoRef, branch: string, options: CallOptions): Promise<PrFields | null> {
    return this.#watch(branch, () => super.findPullForBranch(repo, branch, options));
  }

  override fetchPull(pull: PullRef, options: CallOptions): Promise<PrFields> {
    return this.#watch(`#${pull.number}`, () => super.fetchPull(pull, options));
  }
}

describe.each(DATABASE_KINDS)('the worker loop on %s', (kind) => {
  const settings: Partial<WorkerSettings> = {
    batch_size: 5,
    max_batch_size: 40,
    concurrency: 4,
    tick_interval_ms: 60_000,
  };
  let h: EngineHarness;
  let provider: WatchedProvider;
  let engine: Engine | null = null;
  afterEach(async () => {
    await engine?.stop();
    engine = null;
    await h.drop();
  });

  /** The harness with `rows` refs due, each with its own branch, and a loop that records its ticks. */
  const setUp = async (rows: number, onTick: (r: TickResult) => void) => {
    h = await createEngineHarness(kind, {
      settings,
      providers: (host) => {
        provider = new WatchedProvider(host);
        return [provider];
      },
    });
    h.host.latencyMs = 2;
    for (let i = 0; i < rows; i++) {
      h.host.openPull('acme/app', { head_branch: `b${i}` });
      await h.trackedChat(`b${i}`);
    }
    engine = new Engine({
      store: h.store,
      providers: h.registry,
      clock: h.clock,
      settings: h.settings,
      logger: silentLogger,
      observer: { tick: onTick },
    });
    return engine;
  };

  /** Every ref: refreshed (shows its PR), or due now with no error (never left leased). */
  const refs = async () => {
    const r = await h.db.query<{ pr_number: number | null; stale_at: Date; last_error: string | null }>(
      'SELECT pr_number, stale_at, last_error FROM diff_statuses',
    );
    return r.rows;
  };

  it('claims grow while a backlog is due, and no row is refreshed twice or beyond the concurrency limit', async () => {
    const claims: number[] = [];
    let refreshed = 0;
    const loop = await setUp(200, (r) => {
      claims.push(r.claimed);
      refreshed += r.outcomes.updated;
    });
    loop.start();
    // The interval is a minute: only full claims going on at once can finish this.
    await waitFor(() => refreshed === 200, 20_000, 'every row refreshed');
    await loop.stop();

    expect(claims.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(Math.max(...claims)).toBe(40);
    expect(claims.reduce((a, b) => a + b, 0)).toBe(200);
    // Each row was asked once (the fake clock stands still: a refreshed row is not due again).
    expect(provider.calls.size).toBe(200);
    expect([...provider.calls.values()].every((n) => n === 1)).toBe(true);
    expect(provider.overlaps).toBe(0);
    expect(provider.maxInFlight).toBeLessThanOrEqual(4);
    expect(provider.maxInFlight).toBeGreaterThan(1);
    const all = await refs();
    expect(all.every((r) => r.pr_number !== null)).toBe(true);
  });

  it('stopping while a grown claim is in flight releases every unfinished row at once, without an error', async () => {
    let last: TickResult | null = null;
    let hanging = false;
    const loop = await setUp(150, (r) => {
      last = r;
      // Once claims reach their largest, the host stops answering: the next claim hangs mid-tick.
      if (r.claimed === 40 && !hanging) {
        hanging = true;
        h.host.latencyMs = 3_600_000;
      }
    });
    loop.start();
    await waitFor(() => hanging && provider.inFlight === 4, 20_000, 'a grown claim in flight');
    await loop.stop();

    const final = last as TickResult | null;
    expect(final?.claimed).toBe(40);
    expect(final?.outcomes.released).toBe(40);
    const all = await refs();
    const waiting = all.filter((r) => r.pr_number === null);
    expect(waiting.length).toBeGreaterThanOrEqual(40);
    const now = h.clock.now().getTime();
    // Not left leased: due again at once for any replica, and no error recorded.
    expect(waiting.every((r) => r.stale_at.getTime() <= now && r.last_error === null)).toBe(true);
    expect(provider.overlaps).toBe(0);
    expect(provider.maxInFlight).toBeLessThanOrEqual(4);
  });
});
