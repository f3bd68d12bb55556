/**
 * Owners cannot hurt each other (docs/operations.md, "Owners share fairly"):
 *
 * - `measureFloodStaleness`: one owner floods the worker (20,000 refs due at once), another owner
 *   has 10 refs coming due just after; the loop runs in real time against a code host answering in
 *   `latencyMs`, and the other owner's refs' staleness when claimed (time since their previous
 *   refresh) is compared with TTL + 10 s — with today's claim (turns per owner) and with the claim
 *   before it (stalest first, whoever owns the rows), side by side.
 * - `measureClaimCost`: what one claim statement costs on 100,000 refs with more or fewer due.
 * - `measureServiceShare`: one owner spends the service token round after round while another's
 *   few refs go on being refreshed — with `service_per_owner` (0.1) and without it (1: any owner
 *   may spend the service token's whole share).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock, systemClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { type FakeCall, FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { CallOptions } from '../src/providers/types.ts';
import type { Database } from '../src/store/database.ts';
import { claimDueRefs } from '../src/store/sql/refs.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { seedRefs } from './seed.ts';
import { percentile, round } from './stats.ts';

/** SPEC §7: p99 staleness ≤ TTL + 10 s. */
const SLACK_MS = 10_000;
const ORIGIN = 'https://fake.test/bench/repo';

export interface FloodScenario {
  claim: 'fair' | 'stalest';
  floodRefs: number;
  fewRefs: number;
  ttlMs: number;
  latencyMs: number;
  settings: Partial<WorkerSettings>;
  /** The run ends when every one of the few refs was claimed once, or after this long. */
  maxMs: number;
}

/** A store whose claim is the one named (`stalest`: the statement before owners shared ticks). */
function storeWith(
  db: Database,
  claim: 'fair' | 'stalest',
  onClaim: (now: Date, rows: Awaited<ReturnType<SqlStore['claimStaleRefs']>>) => void,
) {
  return new (class extends SqlStore {
    override async claimStaleRefs(now: Date, limit: number, lease: Date) {
      const rows = await claimDueRefs(db, now, limit, lease, claim);
      onClaim(now, rows);
      return rows;
    }
  })(db, new TokenCipher(null));
}

export async function measureFloodStaleness(db: Database, s: FloodScenario) {
  const host = new FakeCodeHost('https://fake.test');
  host.latencyMs = s.latencyMs;
  // Owners without tokens of their own, served by the service token.
  const provider = new FakeProvider(host, { service_token: 'bench-service', service_token_for: 'all' });
  const flooder = randomUUID();
  const other = randomUUID();
  const now = Date.now();
  for (let n = 1; n <= s.floodRefs + s.fewRefs; n++) host.openPull('bench/repo', { head_branch: `b${n}` });
  // The flood: every ref due five seconds ago (as after a burst of reports), no PR known yet.
  await seedRefs(db, {
    refs: s.floodRefs,
    owners: [flooder],
    origin: ORIGIN,
    provider_id: 'fake',
    branch: (n) => `b${n}`,
    chats_created_at: new Date(now),
    reported_at: new Date(now - 5000),
    stale_at: () => new Date(now - 5000),
  });
  // The other owner's refs: last refreshed one TTL ago less a second, so due a second from now —
  // behind every row of the flood in "stalest first".
  const refreshedAt = new Date(now - s.ttlMs + 1000);
  const few = await seedRefs(db, {
    refs: s.fewRefs,
    owners: [other],
    origin: ORIGIN,
    provider_id: 'fake',
    branch: (n) => `b${s.floodRefs + n}`,
    chats_created_at: new Date(now),
    reported_at: new Date(now - s.ttlMs),
    stale_at: () => new Date(refreshedAt.getTime() + s.ttlMs),
  });
  await db.query('UPDATE diff_statuses SET refreshed_at = $2 WHERE id = ANY($1::bigint[])', [
    few.map((r) => r.id),
    refreshedAt,
  ]);
  const fewIds = new Set(few.map((r) => r.id));
  const staleness = new Map<string, number>();
  let floodClaimed = 0;
  const store = storeWith(db, s.claim, (at, rows) => {
    for (const r of rows) {
      if (fewIds.has(r.id) && !staleness.has(r.id) && r.refreshed_at)
        staleness.set(r.id, at.getTime() - r.refreshed_at.getTime());
      else if (!fewIds.has(r.id)) floodClaimed++;
    }
  });
  const settings: WorkerSettings = { ...DEFAULT_WORKER_SETTINGS, ...s.settings, fresh_ttl_ms: s.ttlMs };
  const engine = new Engine({
    store,
    providers: new ProviderRegistry([provider]),
    clock: systemClock,
    settings,
    logger: silentLogger,
  });
  const started = performance.now();
  engine.start();
  while (staleness.size < s.fewRefs && performance.now() - started < s.maxMs) await sleep(200);
  const seconds = (performance.now() - started) / 1000;
  await engine.stop();
  // A ref never claimed within the run is at least as stale as the run made it.
  const ends = Date.now();
  for (const id of fewIds) if (!staleness.has(id)) staleness.set(id, ends - refreshedAt.getTime());
  const values = [...staleness.values()];
  return {
    p50_s: round(percentile(values, 50) / 1000, 1),
    p99_s: round(percentile(values, 99) / 1000, 1),
    within: values.filter((v) => v <= s.ttlMs + SLACK_MS).length,
    flood_claimed_before: floodClaimed,
    seconds: round(seconds, 1),
  };
}

/**
 * Median time of one claim of `limit` rows among `refs` refs of 100 owners, `due` of them due, with
 * each statement; the claimed rows are made due again after each claim.
 */
export async function measureClaimCost(
  db: Database,
  refs: number,
  dueCounts: readonly number[],
  limit: number,
) {
  const now = new Date();
  const owners = Array.from({ length: 100 }, () => randomUUID());
  const seeded = await seedRefs(db, {
    refs,
    owners,
    origin: ORIGIN,
    provider_id: 'fake',
    branch: (n) => `b${n}`,
    chats_created_at: now,
    reported_at: now,
    stale_at: () => new Date(now.getTime() + 3_600_000),
  });
  await db.query('ANALYZE diff_statuses');
  const out: { due: number; fair_ms: number; stalest_ms: number }[] = [];
  for (const due of dueCounts) {
    const ids = seeded.slice(0, due).map((r) => r.id);
    const dueAt = new Date(now.getTime() - 1000);
    await db.query('UPDATE diff_statuses SET stale_at = $2 WHERE id = ANY($1::bigint[])', [ids, dueAt]);
    const time = async (claim: 'fair' | 'stalest') => {
      const ms: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        const rows = await claimDueRefs(db, now, limit, new Date(now.getTime() + 300_000), claim);
        ms.push(performance.now() - t0);
        await db.query('UPDATE diff_statuses SET stale_at = $2 WHERE id = ANY($1::bigint[])', [
          rows.map((r) => r.id),
          dueAt,
        ]);
      }
      return round(percentile(ms, 50), 1);
    };
    out.push({ due, stalest_ms: await time('stalest'), fair_ms: await time('fair') });
    await db.query('UPDATE diff_statuses SET stale_at = $2 WHERE id = ANY($1::bigint[])', [
      ids,
      new Date(now.getTime() + 3_600_000),
    ]);
  }
  return out;
}

/**
 * A fake host that keeps a budget per token, as GitHub does: `limit` units an hour, one a
 * request, told in every answer.
 */
class BudgetedHost extends FakeCodeHost {
  readonly used = new Map<string, number>();
  constructor(
    readonly limit: number,
    readonly resetAt: Date,
  ) {
    super('https://fake.test');
  }
  override answer<T>(
    call: FakeCall,
    token: string,
    signal: AbortSignal | undefined,
    fn: () => T,
    onBudget?: CallOptions['onBudget'],
  ): Promise<T> {
    return super.answer(call, token, signal, fn, (o) => {
      const used = (this.used.get(token) ?? 0) + o.charged;
      this.used.set(token, used);
      onBudget?.({
        scope: '',
        limit: this.limit,
        remaining: Math.max(0, this.limit - used),
        reset_at: this.resetAt,
        charged: o.charged,
      });
    });
  }
}

/**
 * One owner with `greedyRefs` refs and another with `modestRefs`, both served by the service token
 * (`limit` units an hour); every round the PRs change and the clock moves one TTL on. Per round:
 * whether every one of the modest owner's refs was refreshed; in the end what each owner spent.
 */
export async function measureServiceShare(
  db: Database,
  s: { perOwner: number; limit: number; greedyRefs: number; modestRefs: number; rounds: number },
) {
  const clock = new FakeClock(new Date());
  const host = new BudgetedHost(s.limit, new Date(clock.now().getTime() + 3_600_000));
  const provider = new FakeProvider(host, {
    service_token: 'bench-service',
    service_token_for: 'all',
    max_budget_share: { owner: 0.5, service: 0.9, service_per_owner: s.perOwner },
  });
  const greedy = randomUUID();
  const modest = randomUUID();
  const refs = s.greedyRefs + s.modestRefs;
  const pulls = Array.from({ length: refs }, (_, i) =>
    host.openPull('bench/repo', { head_branch: `b${i + 1}` }),
  );
  const settings = { ...DEFAULT_WORKER_SETTINGS, batch_size: 1000, fresh_ttl_ms: 60_000 };
  const store = new SqlStore(db, new TokenCipher(null));
  const seeded = await seedRefs(db, {
    refs,
    owners: [greedy],
    origin: ORIGIN,
    provider_id: 'fake',
    branch: (n) => `b${n}`,
    chats_created_at: clock.now(),
    reported_at: clock.now(),
    stale_at: () => new Date(clock.now().getTime() - 1000),
  });
  // The last `modestRefs` are the other owner's.
  const modestChats = seeded.slice(s.greedyRefs).map((r) => r.chat_id);
  await db.query('UPDATE chats SET owner_id = $2 WHERE id = ANY($1::uuid[])', [modestChats, modest]);
  await db.query('UPDATE diff_statuses SET owner_id = $2 WHERE chat_id = ANY($1::uuid[])', [
    modestChats,
    modest,
  ]);
  const engine = new Engine({
    store,
    providers: new ProviderRegistry([provider]),
    clock,
    settings,
    logger: silentLogger,
  });
  let modestServed = 0;
  let greedyPausedFrom: number | null = null;
  for (let round = 1; round <= s.rounds; round++) {
    for (const p of pulls) p.pull_request_title = `round ${round}`;
    while ((await engine.tick(1000)).claimed > 0);
    const r = await db.query<{ owner_id: string; fresh: string; paused: string }>(
      `SELECT owner_id, count(*) FILTER (WHERE refreshed_at = $1) AS fresh,
              count(*) FILTER (WHERE paused_until IS NOT NULL) AS paused
       FROM diff_statuses GROUP BY owner_id`,
      [clock.now()],
    );
    const of = (o: string) => r.rows.find((x) => x.owner_id === o);
    if (Number(of(modest)?.fresh ?? 0) === s.modestRefs) modestServed++;
    if (greedyPausedFrom === null && Number(of(greedy)?.paused ?? 0) > 0) greedyPausedFrom = round;
    clock.advance(settings.fresh_ttl_ms);
  }
  await engine.budgets.flush({ force: true });
  const spent = await db.query<{ owner_id: string; units: string }>(
    'SELECT owner_id, sum(units) AS units FROM service_usage GROUP BY owner_id',
  );
  const unitsOf = (o: string) => Number(spent.rows.find((x) => x.owner_id === o)?.units ?? 0);
  return {
    greedy_units: unitsOf(greedy),
    modest_units: unitsOf(modest),
    token_units: host.used.get('bench-service') ?? 0,
    greedy_paused_from_round: greedyPausedFrom,
    modest_rounds_served: modestServed,
  };
}
