import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { addMs } from '../src/core/clock.ts';
import { RateLimitedError } from '../src/core/errors.ts';
import { DEFAULT_LIMITS } from '../src/core/limits.ts';
import type { Database } from '../src/store/database.ts';
import {
  CLAIM_CANDIDATES_PER_ROW,
  CLAIM_DUE_SQL,
  CLAIM_TURN_ROWS,
  CLAIM_TURNS_AT_LEAST,
} from '../src/store/sql/refs.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from './helpers/databases.ts';
import { createEngineHarness, type EngineHarness, REPO } from './helpers/engine-harness.ts';

/**
 * Owners cannot hurt each other through the worker: each tick is shared between the owners that
 * have rows due (one owner's backlog does not hold back another's refs), and an owner tracks at
 * most `refs_per_owner` refs.
 */

/** `count` due refs of one owner, one chat each, inserted in bulk (as a flood of reports leaves them). */
async function seedDue(db: Database, owner: string, count: number, dueAt: Date, prefix = 'flood') {
  await db.query(
    `WITH c AS (
       INSERT INTO chats (id, owner_id, root_chat_id, created_at, updated_at)
       SELECT id, $1, id, $2, $2 FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $3)) g
       RETURNING id)
     INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, stale_at, created_at, updated_at)
     SELECT id, $4, $5 || '-' || row_number() OVER (), $2, $2, $2 FROM c`,
    [owner, dueAt, count, REPO, prefix],
  );
}

describe.each(DATABASE_KINDS)('owners share the worker fairly on %s', (kind) => {
  let h: EngineHarness;
  afterEach(async () => {
    await h.engine.stop();
    await h.drop();
  });

  it('a claim shares the tick between owners: one owner’s flood of older rows does not hold back another’s', async () => {
    h = await createEngineHarness(kind);
    const flooder = randomUUID();
    const now = h.clock.now();
    // 500 refs of one owner due for a minute already; three of another owner just due.
    await seedDue(h.db, flooder, 500, addMs(now, -60_000));
    const few = await Promise.all(['a', 'b', 'c'].map((b) => h.trackedChat(b)));
    const claimed = await h.store.claimStaleRefs(now, 50, addMs(now, h.settings.lease_ms));
    expect(claimed).toHaveLength(50);
    const of = (owner: string) => claimed.filter((r) => r.owner_id === owner);
    expect(
      of(h.owner)
        .map((r) => r.chat_id)
        .sort(),
    ).toEqual([...few].sort());
    expect(of(flooder)).toHaveLength(47);
    // The flooder's rows still go stalest first among its own.
    const next = await h.store.claimStaleRefs(now, 1000, addMs(now, h.settings.lease_ms));
    expect(next).toHaveLength(453);
    expect(next.every((r) => r.owner_id === flooder)).toBe(true);
  });

  it('through the engine: the other owner’s refs are refreshed in the first tick despite the flood', async () => {
    h = await createEngineHarness(kind, { settings: { batch_size: 20 } });
    h.host.openPull('acme/app', { head_branch: 'mine' });
    await seedDue(h.db, randomUUID(), 300, addMs(h.clock.now(), -600_000));
    const chat = await h.trackedChat('mine');
    await h.engine.tick();
    expect(await h.ref(chat)).toMatchObject({ pr_number: 1, last_error: null });
  });

  it('an owner tracks at most refs_per_owner refs over all chats; 429 quota_exceeded beyond, others unaffected', async () => {
    h = await createEngineHarness(kind);
    const limits = { ...DEFAULT_LIMITS, refs_per_owner: 3 };
    const [one, two] = [await h.newChat(), await h.newChat()];
    const report = (chat_id: string, branch: string, owner = h.owner) =>
      h.engine.reportRef({ chat_id, origin: REPO, branch }, owner, limits);
    await report(one!, 'a');
    await report(one!, 'b');
    await report(two!, 'c');
    const refused = await report(two!, 'd').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect(refused).toMatchObject({ code: 'quota_exceeded' });
    expect((refused as Error).message).toMatch(/refs_per_owner/);
    expect((await h.store.getChat(two!))!.diff_statuses.map((d) => d.git_branch)).toEqual(['c']);
    // A ref already tracked can always be reported again; another owner is not counted with this one.
    await report(one!, 'a');
    const stranger = randomUUID();
    const theirs = await h.newChat({ owner: stranger });
    await report(theirs, 'a', stranger);
    await report(theirs, 'b', stranger);
    // Deleting a chat frees its refs.
    await h.store.deleteChat(one!);
    await report(two!, 'd');
  });
});

/**
 * The first `limit` due rows in turn order, what a claim must take: each owner's rows stalest
 * first, cut into turns of `ceil(limit / owners)` rows rounded down to whole `CLAIM_TURN_ROWS` or,
 * when more, `CLAIM_TURN_ROWS` but at most a `CLAIM_TURNS_AT_LEAST`th of the claim; turn by turn, within a turn whole blocks, the one
 * holding the stalest row first.
 */
const TURN_ORDER_SQL = `
  SELECT id FROM (
    SELECT id, turn, stale_at, first_value(stale_at) OVER b AS block_at, first_value(id) OVER b AS block_id
    FROM (
      SELECT d.id, d.owner_id, d.stale_at,
             (row_number() OVER (PARTITION BY d.owner_id ORDER BY d.stale_at, d.id) - 1) / t.rows AS turn
      FROM diff_statuses d, (
        SELECT greatest(${CLAIM_TURN_ROWS} * floor(ceil($2::float8 / greatest(count(DISTINCT owner_id), 1)) / ${CLAIM_TURN_ROWS}),
                        least(${CLAIM_TURN_ROWS}, floor($2::float8 / ${CLAIM_TURNS_AT_LEAST})), 1)::int AS rows
        FROM diff_statuses WHERE stale_at <= $1 AND NOT chat_archived) t
      WHERE d.stale_at <= $1 AND NOT d.chat_archived AND d.git_remote_origin <> '' AND d.git_branch <> '') r
    WINDOW b AS (PARTITION BY owner_id, turn ORDER BY stale_at, id)) x
  ORDER BY turn, block_at, block_id, stale_at, id LIMIT $2`;

/**
 * Refs of `counts.length` owners, `counts[i]` for the i-th, one chat each, due at one of a few
 * seconds before `now` (so many share a `stale_at`), with some archived, some without a branch
 * and some not due yet mixed in (none of those may be claimed).
 */
/** Rows of diff_statuses one claim of 50 read (produced or filtered out by its plan's nodes, over all their loops). */
async function claimRowsRead(db: Database, now: Date): Promise<number> {
  const plan = (
    await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${CLAIM_DUE_SQL}`, [
      now,
      50,
      addMs(now, 300_000),
      50 * CLAIM_CANDIDATES_PER_ROW,
      now,
    ])
  ).rows[0]!['QUERY PLAN'];
  type Node = Record<string, unknown> & { Plans?: Node[] };
  const rowsRead = (node: Node): number =>
    (node['Relation Name'] === 'diff_statuses'
      ? ((node['Actual Rows'] as number) + ((node['Rows Removed by Filter'] as number | undefined) ?? 0)) *
        (node['Actual Loops'] as number)
      : 0) + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child), 0);
  const root = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan: Node }[];
  return rowsRead(root[0]!.Plan);
}

async function seedMix(db: Database, counts: readonly number[], now: Date) {
  await db.query(
    `WITH o AS (SELECT gen_random_uuid() AS owner_id, n FROM unnest($1::int[]) AS n),
     c AS (
       INSERT INTO chats (id, owner_id, root_chat_id, created_at, updated_at)
       SELECT id, owner_id, id, $2, $2 FROM (
         SELECT gen_random_uuid() AS id, owner_id FROM o, generate_series(1, o.n)) g
       RETURNING id, owner_id)
     INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, chat_archived, stale_at, created_at, updated_at)
     SELECT id, $3, CASE WHEN k % 17 = 0 THEN '' ELSE 'b' || k END, k % 13 = 0,
            $2 - (k % 5) * interval '1 second' + CASE WHEN k % 11 = 0 THEN interval '1 hour' ELSE interval '0' END,
            $2, $2
     FROM (SELECT id, row_number() OVER () AS k FROM c) n`,
    [counts, now, REPO],
  );
}

describe.each(DATABASE_KINDS)('the claim on %s', (kind) => {
  let test: TestDatabase;
  afterEach(async () => {
    await test.drop();
  });

  it('takes exactly the first rows in turn order, claim after claim, for one owner, a few uneven ones, and more than a thousand', async () => {
    test = await createTestDatabase(kind);
    const store = new SqlStore(test.db, new TokenCipher(null));
    const now = new Date();
    // One owner; five uneven ones (some with fewer rows than their share of a claim, some with
    // many more); 1,200 owners with one to three rows each.
    for (const counts of [[300], [200, 1, 1, 7, 60], Array.from({ length: 1200 }, (_, i) => 1 + (i % 3))]) {
      await seedMix(test.db, counts, now);
      for (;;) {
        const expected = (await test.db.query<{ id: string }>(TURN_ORDER_SQL, [now, 50])).rows.map((r) =>
          String(r.id),
        );
        const claimed = await store.claimStaleRefs(now, 50, addMs(now, 300_000));
        expect(claimed.map((r) => r.id).sort()).toEqual(expected.sort());
        if (claimed.length === 0) break;
      }
      await test.db.query('DELETE FROM chats');
    }
  });

  it('gives each owner a batch’s worth at a time: a claim of 1,000 among 100 owners’ backlogs takes whole turns of CLAIM_TURN_ROWS, the stalest owners first', async () => {
    test = await createTestDatabase(kind);
    const store = new SqlStore(test.db, new TokenCipher(null));
    const now = new Date();
    // 100 owners with 100 rows each, each owner's due a second earlier than the next one's.
    const owners = Array.from({ length: 100 }, () => randomUUID());
    for (const [i, owner] of owners.entries())
      await seedDue(test.db, owner, 100, addMs(now, -1000 * (100 - i)), `o${i}`);
    const rows = await store.claimStaleRefs(now, 1000, addMs(now, 300_000));
    const perOwner = new Map<string, number>();
    for (const r of rows) perOwner.set(r.owner_id, (perOwner.get(r.owner_id) ?? 0) + 1);
    // Whole turns, the owners whose rows waited longest first: 20 owners' 49 rows and the 21st
    // owner's first 20 (its turn goes on first in the next claim), not 10 rows of every owner.
    expect(owners.slice(0, 21).map((o) => perOwner.get(o))).toEqual([
      ...Array.from({ length: 20 }, () => CLAIM_TURN_ROWS),
      1000 - 20 * CLAIM_TURN_ROWS,
    ]);
    expect(perOwner.size).toBe(21);
  });

  it('fills an owner’s first turn with its rows due soon, up to the fill horizon: none later, none failing, none on a short wait, none of owners with nothing due', async () => {
    test = await createTestDatabase(kind);
    const store = new SqlStore(test.db, new TokenCipher(null));
    const now = new Date();
    const [busy, idle] = [randomUUID(), randomUUID()];
    // The busy owner: 5 rows due, 60 due within the next 10 s, 10 more due in a minute; one of
    // the soon rows last failed. The idle owner: 30 rows due in 5 s, none due now.
    await seedDue(test.db, busy, 5, addMs(now, -1000), 'due');
    await seedDue(test.db, busy, 60, addMs(now, 5000), 'soon');
    await seedDue(test.db, busy, 10, addMs(now, 60_000), 'later');
    await seedDue(test.db, idle, 30, addMs(now, 5000), 'idle');
    // Each was last read a TTL before it is due; but soon-2 and soon-3 wait only 15 s (a PR the
    // host is still computing, a branch waiting for its PR): filling would read them far more often.
    await test.db.query(`UPDATE diff_statuses SET refreshed_at = stale_at - interval '120 seconds'`);
    await test.db.query(
      `UPDATE diff_statuses SET refreshed_at = stale_at - interval '15 seconds' WHERE git_branch IN ('soon-2', 'soon-3')`,
    );
    await test.db.query(`UPDATE diff_statuses SET last_error = 'rate limited' WHERE git_branch = 'soon-1'`);
    // Without a horizon, only the due rows.
    const plain = await store.claimStaleRefs(now, 1000, addMs(now, 300_000));
    expect(plain.map((r) => r.git_branch).sort()).toEqual(['due-1', 'due-2', 'due-3', 'due-4', 'due-5']);
    await test.db.query('UPDATE diff_statuses SET stale_at = $1 WHERE git_branch LIKE $2', [
      addMs(now, -1000),
      'due-%',
    ]);
    // With one: the first turn (a batch's worth) filled with the soonest rows that did not fail.
    const filled = await store.claimStaleRefs(now, 1000, addMs(now, 300_000), addMs(now, 10_000));
    expect(filled).toHaveLength(CLAIM_TURN_ROWS);
    expect(filled.every((r) => r.owner_id === busy)).toBe(true);
    expect(filled.filter((r) => r.git_branch.startsWith('due-'))).toHaveLength(5);
    expect(filled.filter((r) => r.git_branch.startsWith('soon-'))).toHaveLength(CLAIM_TURN_ROWS - 5);
    expect(filled.some((r) => ['soon-1', 'soon-2', 'soon-3'].includes(r.git_branch))).toBe(false);
  });

  it('claims every owner’s rows as whole batches: its last one filled with rows due soon, its turn a whole number of batches', async () => {
    test = await createTestDatabase(kind);
    const store = new SqlStore(test.db, new TokenCipher(null));
    const now = new Date();
    // Each of 10 owners: 60 rows due (more than a batch), 100 more due within the next 10 s.
    const owners = Array.from({ length: 10 }, () => randomUUID());
    for (const [i, owner] of owners.entries()) {
      await seedDue(test.db, owner, 60, addMs(now, -1000 * (10 - i)), `due${i}`);
      await seedDue(test.db, owner, 100, addMs(now, 5000), `soon${i}`);
    }
    await test.db.query(`UPDATE diff_statuses SET refreshed_at = stale_at - interval '120 seconds'`);
    const perOwner = async (limit: number) => {
      const rows = await store.claimStaleRefs(now, limit, addMs(now, 300_000), addMs(now, 10_000));
      const counts = new Map<string, { due: number; soon: number }>();
      for (const r of rows) {
        const c = counts.get(r.owner_id) ?? { due: 0, soon: 0 };
        if (r.git_branch.startsWith('due')) c.due++;
        else c.soon++;
        counts.set(r.owner_id, c);
      }
      return owners.map((o) => counts.get(o) ?? { due: 0, soon: 0 });
    };
    // A claim of 1,000 among 10 owners: turns of 98 (100 rounded down to whole batches), so each
    // owner's 60 due rows and 38 of its soon ones: two full batches each, not 49 + 11.
    expect(await perOwner(1000)).toEqual(owners.map(() => ({ due: 60, soon: 2 * CLAIM_TURN_ROWS - 60 })));
    // The owners' next claim: each has 62 soon rows left, none due: nothing is claimed early alone.
    expect((await perOwner(1000)).every((c) => c.due + c.soon === 0)).toBe(true);
  });

  it('reads a number of rows bounded by the claim, not by the backlog: one owner’s 20,000 due rows and another’s few', async () => {
    test = await createTestDatabase(kind);
    const now = new Date();
    await seedMix(test.db, [20_000, 3], now);
    await test.db.query('ANALYZE diff_statuses');
    // Every row the plan's nodes on diff_statuses produced or filtered out, over all their loops.
    // 200 candidates, found, re-checked and 50 of them updated: a few hundred rows, not 20,000.
    expect(await claimRowsRead(test.db, now)).toBeLessThan(2_000);
  });

  it('reads the table at most about once, not once per owner, when statistics say nothing is due', async () => {
    test = await createTestDatabase(kind);
    const now = new Date();
    // Statistics taken while every row was an hour away (after a bulk report, an outage, or on the
    // embedded database, which never analyzes on its own), then everything comes due.
    await seedMix(
      test.db,
      Array.from({ length: 20 }, () => 1_000),
      addMs(now, 3_600_000),
    );
    await test.db.query('ANALYZE diff_statuses');
    await test.db.query('UPDATE diff_statuses SET stale_at = $1', [addMs(now, -1_000)]);
    // 20,000 rows: walked once per owner through the due index that would be 20 × 20,000.
    expect(await claimRowsRead(test.db, now)).toBeLessThan(25_000);
  });
});

describe('replicas claiming at once on PostgreSQL', () => {
  let test: TestDatabase;
  const pools: Database[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
    await test.drop();
  });

  it('sessions run without JIT compilation (a claim estimated past jit_above_cost spent a second compiling)', async () => {
    test = await createTestDatabase('postgres');
    const rows = await Promise.all(
      [0, 1, 2].map(() => test.db.query<{ jit: string }>('SHOW jit').then((r) => r.rows[0]!.jit)),
    );
    expect(rows).toEqual(['off', 'off', 'off']);
  });

  it('four claimers over 20 owners’ due rows claim every row exactly once, each claim shared between owners', async () => {
    test = await createTestDatabase('postgres');
    const now = new Date();
    const owners = Array.from({ length: 20 }, () => randomUUID());
    // Owner 0 floods; the others have 50 each, due later.
    await seedDue(test.db, owners[0]!, 1000, addMs(now, -60_000));
    for (const owner of owners.slice(1)) await seedDue(test.db, owner, 50, addMs(now, -1000), owner);
    const stores = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        const db = await test.openAnother(4);
        pools.push(db);
        return new SqlStore(db, new TokenCipher(null));
      }),
    );
    const claimedBy = new Map<string, number>();
    let duplicates = 0;
    let firstClaims = 0;
    await Promise.all(
      stores.map(async (store, worker) => {
        for (let claim = 0; ; claim++) {
          const rows = await store.claimStaleRefs(now, 40, addMs(now, 300_000));
          // An empty claim may only mean the others hold every candidate it found: done once
          // nothing is due any more.
          if (rows.length === 0) {
            if ((await store.countDueRefs(now, now)).due === 0) return;
            continue;
          }
          // While all 20 owners have rows due, a claim of 40 takes at most two turns of the
          // flooder's (4 rows each: a tenth of the claim), however many more of its rows are due.
          if (claim === 0) {
            firstClaims++;
            expect(rows.filter((r) => r.owner_id === owners[0]).length).toBeLessThanOrEqual(
              2 * (40 / CLAIM_TURNS_AT_LEAST),
            );
          }
          for (const row of rows) {
            if (claimedBy.has(row.id)) duplicates++;
            claimedBy.set(row.id, worker);
          }
        }
      }),
    );
    expect(duplicates).toBe(0);
    expect(claimedBy.size).toBe(1000 + 19 * 50);
    // Several claims raced from the start (how many of the four get rows in their first claim
    // depends on how the machine schedules them).
    expect(firstClaims).toBeGreaterThanOrEqual(2);
    expect(new Set(claimedBy.values()).size).toBeGreaterThanOrEqual(2);
  });
});
