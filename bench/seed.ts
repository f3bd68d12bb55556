/**
 * Seeds the rows a scenario starts from, in bulk (a benchmark's setup is not what it measures).
 * Chats and refs are inserted directly; the PR a ref already shows is written with the store's
 * own refresh write, so seeding follows the schema as the worker does.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../src/core/schedule.ts';
import { PR_FIELD_NAMES, type PrFields } from '../src/core/types.ts';
import { Engine } from '../src/engine/engine.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { Provider } from '../src/providers/types.ts';
import type { Database } from '../src/store/database.ts';
import { writeRefreshes } from '../src/store/sql/refs.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import type { Outbox, RefWrite } from '../src/store/store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';

export interface SeedSpec {
  refs: number;
  /** Each ref has a chat of its own; the chats go to these owners in turn. */
  owners: readonly string[];
  origin: string;
  provider_id: string;
  /** The n-th ref's branch (n counts from 1). */
  branch: (n: number) => string;
  /** When the chats were created. */
  chats_created_at: Date;
  /** When the refs were reported (`created_at` and `updated_at`). */
  reported_at: Date;
  /** When the n-th ref is due. */
  stale_at: (n: number) => Date;
  /** The PR the n-th ref already shows, as refreshed at `refreshed_at`; none: no PR known yet. */
  shows?: ((n: number) => { pr: PrFields; refreshed_at: Date }) | undefined;
}

export interface SeededRef {
  /** The ref row's id. */
  id: string;
  chat_id: string;
  owner_id: string;
  /** Its number in the spec, from 1. */
  n: number;
}

/** Rows per statement: large enough to be quick, small enough for PGlite's memory. */
const CHUNK = 20_000;

export async function seedRefs(db: Database, spec: SeedSpec): Promise<SeededRef[]> {
  const seeded: SeededRef[] = [];
  for (let first = 1; first <= spec.refs; first += CHUNK) {
    const ns = Array.from({ length: Math.min(CHUNK, spec.refs - first + 1) }, (_, i) => first + i);
    const chats = ns.map((n) => ({
      n,
      id: randomUUID(),
      owner_id: spec.owners[(n - 1) % spec.owners.length]!,
    }));
    await db.query(
      `INSERT INTO chats (id, owner_id, root_chat_id, created_at, updated_at)
       SELECT id, owner_id, id, $3, $3 FROM unnest($1::uuid[], $2::uuid[]) AS t(id, owner_id)`,
      [chats.map((c) => c.id), chats.map((c) => c.owner_id), spec.chats_created_at],
    );
    const r = await db.query<{ id: string; chat_id: string }>(
      `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, provider_id, stale_at, created_at, updated_at)
       SELECT chat_id, $4, branch, $5, stale_at, $6, $6
       FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS t(chat_id, branch, stale_at)
       RETURNING id, chat_id`,
      [
        chats.map((c) => c.id),
        ns.map(spec.branch),
        ns.map(spec.stale_at),
        spec.origin,
        spec.provider_id,
        spec.reported_at,
      ],
    );
    const refId = new Map(r.rows.map((row) => [row.chat_id, String(row.id)]));
    const refs = chats.map((c) => ({ id: refId.get(c.id)!, chat_id: c.id, owner_id: c.owner_id, n: c.n }));
    if (spec.shows) {
      const shows = spec.shows;
      await writeRefreshes(
        db,
        refs.map((ref) => {
          const { pr, refreshed_at } = shows(ref.n);
          // pr_changed_at stays unknown, as for a row the worker has not seen change.
          return shownWrite(ref.id, spec.provider_id, pr, refreshed_at, spec.stale_at(ref.n), null);
        }),
      );
    }
    seeded.push(...refs);
  }
  return seeded;
}

/**
 * Spreads the refs' last refreshes over `overMs` before `before` (by id, in 1,000 steps), each due
 * `ttlMs` after it: the steady state, where about as many come due each moment.
 */
export async function spreadLastRefreshes(
  db: Database,
  before: Date,
  overMs: number,
  ttlMs: number,
): Promise<void> {
  await db.query(
    `UPDATE diff_statuses SET refreshed_at = $1::timestamptz - (id % 1000) * ($2::float8 / 1000) * interval '1 millisecond',
                              stale_at = $1::timestamptz - (id % 1000) * ($2::float8 / 1000) * interval '1 millisecond' + $3::float8 * interval '1 millisecond'`,
    [before, overMs, ttlMs],
  );
}

/**
 * Makes every ref show the PR the host has and be due at `stale_at`, as after a refresh at `now`
 * that found it changed (the steady state, where the next refresh finds nothing new).
 */
export async function showPrs(
  db: Database,
  refs: readonly SeededRef[],
  provider_id: string,
  pr: (ref: SeededRef) => PrFields,
  now: Date,
  stale_at: Date,
): Promise<void> {
  for (let i = 0; i < refs.length; i += CHUNK) {
    await writeRefreshes(
      db,
      refs.slice(i, i + CHUNK).map((ref) => shownWrite(ref.id, provider_id, pr(ref), now, stale_at, now)),
    );
  }
}

/** Only the PR fields of a host's pull (which may carry more). */
export function prFieldsOf(pull: PrFields): PrFields {
  const out: Record<string, unknown> = {};
  for (const f of PR_FIELD_NAMES) out[f] = pull[f];
  return out as unknown as PrFields;
}

function shownWrite(
  id: string,
  provider_id: string,
  pr: PrFields,
  refreshed_at: Date,
  stale_at: Date,
  pr_changed_at: Date | null,
): RefWrite {
  return {
    id,
    lease_until: null,
    pr: prFieldsOf(pr),
    provider_id,
    refreshed_at,
    stale_at,
    last_error: null,
    last_error_at: null,
    error_count: 0,
    paused_until: null,
    pr_changed_at,
    previous_prs: [],
    publish: false,
  };
}

/**
 * The engine a benchmark drives by hand (no loop): one provider, tokens unsealed, events to
 * `outbox` if given. The scenario ticks it and reads the code host's counters.
 */
export function benchEngine(
  db: Database,
  provider: Provider,
  clock: Clock,
  settings: Partial<WorkerSettings> = {},
  outbox?: Outbox,
): { engine: Engine; store: SqlStore; settings: WorkerSettings } {
  const all = { ...DEFAULT_WORKER_SETTINGS, ...settings };
  const store = new SqlStore(db, new TokenCipher(null), outbox);
  const engine = new Engine({
    store,
    providers: new ProviderRegistry([provider]),
    clock,
    settings: all,
    logger: silentLogger,
  });
  return { engine, store, settings: all };
}
