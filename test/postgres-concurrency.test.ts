import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addMs, systemClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { Database } from '../src/store/database.ts';
import { loadMigrations, migrate } from '../src/store/migrate.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { waitFor } from './helpers/wait.ts';

const cipher = new TokenCipher(null);

/** Several independent pools on one PostgreSQL schema: replicas, as far as the database can tell. */
describe('several workers on one PostgreSQL', () => {
  let test: TestDatabase;
  let replicas: Database[];
  beforeEach(async () => {
    test = await createTestDatabase('postgres');
    replicas = [];
  });
  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await test.drop();
  });

  const replica = async () => {
    const db = await test.openAnother(4);
    replicas.push(db);
    return new SqlStore(db, cipher);
  };

  async function seed(store: SqlStore, owner: string, rows: number, now: Date) {
    const chat = randomUUID();
    await store.putChat({ id: chat, owner_id: owner }, now);
    // One batched insert: 2,000 refs of one chat, all due.
    await test.db.query(
      `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, stale_at, created_at, updated_at)
       SELECT $1, 'https://fake.test/acme/app', 'branch-' || g, $2, $2, $2 FROM generate_series(1, $3) g`,
      [chat, addMs(now, -1000), rows],
    );
    return chat;
  }

  it('four workers claiming 2,000 due rows at once claim every row exactly once per lease', async () => {
    const now = new Date();
    const stores = await Promise.all([replica(), replica(), replica(), replica()]);
    await seed(stores[0]!, randomUUID(), 2000, now);
    // Each pool connected before the race (a connection made under the whole suite's load can take
    // longer than the other three need for all 2,000 rows).
    await Promise.all(replicas.map((db) => db.query('SELECT 1')));
    const claimedBy = new Map<string, number>();
    let duplicates = 0;
    await Promise.all(
      stores.map(async (store, worker) => {
        for (;;) {
          const rows = await store.claimStaleRefs(now, 50, addMs(now, 300_000));
          // An empty claim may only mean the others hold every candidate it found: done once
          // nothing is due any more.
          if (rows.length === 0) {
            if ((await store.countDueRefs(now, now)).due === 0) return;
            continue;
          }
          for (const row of rows) {
            if (claimedBy.has(row.id)) duplicates++;
            claimedBy.set(row.id, worker);
          }
        }
      }),
    );
    expect(duplicates).toBe(0);
    expect(claimedBy.size).toBe(2000);
    // Several workers took part, so the claims really did race (how many get a share of 40 claims
    // depends on how the machine schedules them).
    expect(new Set(claimedBy.values()).size).toBeGreaterThanOrEqual(2);
  });

  it('rows of a worker that dies mid-tick are refreshed by another after the lease', async () => {
    const host = new FakeCodeHost('https://fake.test');
    host.openPull('acme/app', { head_branch: 'feature' });
    const owner = randomUUID();
    const leaseMs = 400;
    const engineOn = async (h: FakeCodeHost) => {
      const store = await replica();
      await store.putToken(owner, 'fake', 'token', new Date());
      return {
        store,
        engine: new Engine({
          store,
          providers: new ProviderRegistry([new FakeProvider(h)]),
          clock: systemClock,
          settings: { ...DEFAULT_WORKER_SETTINGS, lease_ms: leaseMs, tick_interval_ms: 50, batch_size: 20 },
          logger: silentLogger,
        }),
      };
    };
    // The doomed worker's code host never answers: it claims and then hangs.
    const hanging = new FakeCodeHost('https://fake.test');
    hanging.latencyMs = 3_600_000;
    const doomed = await engineOn(hanging);
    const chats: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = randomUUID();
      await doomed.store.putChat({ id, owner_id: owner }, new Date());
      await doomed.engine.reportRef({ chat_id: id, origin: 'https://fake.test/acme/app', branch: 'feature' });
      chats.push(id);
    }
    const claimedAt = Date.now();
    void doomed.engine.tick().catch(() => {});
    await waitFor(async () => hanging.calls.find === 10);
    // "Kill" it: its connections go away with every row still claimed.
    await replicas[0]!.close();
    replicas.shift();

    const survivor = await engineOn(host);
    survivor.engine.start();
    try {
      await waitFor(async () => {
        const views = await survivor.store.getChats(chats);
        return chats.every((c) => views.get(c)?.diff_status?.pr_number === 1);
      });
      // Nothing was taken over before the lease ran out.
      expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(leaseMs);
      expect(host.calls.find).toBe(10);
    } finally {
      await survivor.engine.stop();
    }
  });

  it('archive of a parent racing unarchive of its child never leaves an active child under an archived parent', async () => {
    const a = await replica();
    const b = await replica();
    const owner = randomUUID();
    const outcomes = { refused: 0, unarchivedFirst: 0 };
    for (let i = 0; i < 25; i++) {
      const parent = randomUUID();
      const child = randomUUID();
      const now = new Date();
      await a.putChat({ id: parent, owner_id: owner }, now);
      await a.putChat({ id: child, owner_id: owner, parent_chat_id: parent }, now);
      await a.archiveChat(child, now);
      const [, unarchive] = await Promise.allSettled([
        a.archiveChat(parent, now),
        b.unarchiveChat(child, now),
      ]);
      if (unarchive.status === 'rejected') {
        expect(unarchive.reason).toMatchObject({ kind: 'conflict' });
        outcomes.refused++;
      } else outcomes.unarchivedFirst++;
      const view = await a.getChat(parent);
      expect(view?.archived).toBe(true);
      expect(view?.children[0]?.archived).toBe(true);
    }
    expect(outcomes.refused + outcomes.unarchivedFirst).toBe(25);
  });

  it('archives and unarchives all over one tree at once never deadlock (only refusals)', async () => {
    const dbs = [await replica(), await replica(), await replica(), await replica()];
    const owner = randomUUID();
    const errors: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      const [root, mid, leaf] = [randomUUID(), randomUUID(), randomUUID()];
      const now = new Date();
      await dbs[0]!.putChat({ id: root, owner_id: owner }, now);
      await dbs[0]!.putChat({ id: mid, owner_id: owner, parent_chat_id: root }, now);
      await dbs[0]!.putChat({ id: leaf, owner_id: owner, parent_chat_id: mid }, now);
      await dbs[0]!.archiveChat(leaf, now);
      // Child-first and parent-first lockers together: the mix that deadlocked.
      const results = await Promise.allSettled([
        dbs[0]!.archiveChat(root, now),
        dbs[1]!.unarchiveChat(leaf, now),
        dbs[2]!.unarchiveChat(mid, now),
        dbs[3]!.archiveChat(mid, now),
      ]);
      for (const r of results) {
        if (r.status === 'rejected' && (r.reason as { kind?: string }).kind !== 'conflict')
          errors.push(r.reason);
      }
    }
    expect(errors).toEqual([]);
  });

  it('a child created while its parent is being archived ends up archived', async () => {
    const a = await replica();
    const b = await replica();
    const owner = randomUUID();
    for (let i = 0; i < 25; i++) {
      const parent = randomUUID();
      const child = randomUUID();
      const now = new Date();
      await a.putChat({ id: parent, owner_id: owner }, now);
      await Promise.all([
        a.archiveChat(parent, now),
        b.putChat({ id: child, owner_id: owner, parent_chat_id: parent }, now),
      ]);
      expect((await a.getChat(child))?.archived).toBe(true);
    }
  });

  it('two processes migrating one empty schema at once apply each migration once', async () => {
    const fresh = await createTestDatabase('postgres', { migrate: false });
    const other = await fresh.openAnother(2);
    try {
      const all = loadMigrations().map((m) => m.version);
      const [x, y] = await Promise.all([migrate(fresh.db), migrate(other)]);
      // One of them applied everything, the other nothing.
      expect([x, y].sort((a, b) => a.length - b.length)).toEqual([[], all]);
      const rows = await fresh.db.query<{ version: number }>(
        'SELECT version FROM gitsync_migrations ORDER BY version',
      );
      expect(rows.rows.map((r) => r.version)).toEqual(all);
      expect(await migrate(fresh.db)).toEqual([]);
    } finally {
      await other.close();
      await fresh.drop();
    }
  });
});
