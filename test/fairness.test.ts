import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { addMs } from '../src/core/clock.ts';
import { RateLimitedError } from '../src/core/errors.ts';
import { DEFAULT_LIMITS } from '../src/core/limits.ts';
import type { Database } from '../src/store/database.ts';
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

describe('replicas claiming at once on PostgreSQL', () => {
  let test: TestDatabase;
  const pools: Database[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
    await test.drop();
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
          if (rows.length === 0) return;
          // While all 20 owners have rows due, a claim of 40 takes at most 2 of the flooder's
          // (its first two turns), however many more of its rows are due.
          if (claim === 0) {
            firstClaims++;
            expect(rows.filter((r) => r.owner_id === owners[0]).length).toBeLessThanOrEqual(4);
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
    expect(firstClaims).toBe(4);
    expect(new Set(claimedBy.values()).size).toBe(4);
  });
});
