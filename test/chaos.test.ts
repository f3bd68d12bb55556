/**
 * The fault suite's small versions in the normal test run (`npm run chaos` runs the full ones):
 * a replica SIGKILLed mid-tick, a code host answering with every kind of fault, and PostgreSQL
 * stopped and crashed under load (on a server of the test's own), against real `gitsync serve`
 * processes; each ends with the secret scan. Every wait has a deadline; nothing asserts on time.
 */
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adminPool, Invariants } from './chaos/harness.ts';
import { HOST_FAULTS_TEST, hostFaults } from './chaos/host-faults.ts';
import { KILL_REPLICA_QUICK, killReplica } from './chaos/kill-replica.ts';
import { RESTART_POSTGRES_QUICK, restartPostgres } from './chaos/restart-postgres.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { EmbeddedPostgres } from './helpers/embedded-postgres.ts';
import { schemaUrl } from './helpers/processes.ts';

describe('fault suite (small)', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  const lines: string[] = [];
  const inv = () => new Invariants((line) => lines.push(line));

  beforeEach(async () => {
    lines.length = 0;
    db = await createTestDatabase('postgres');
    pool = adminPool(schemaUrl(db.schema));
  });
  afterEach(async () => {
    await pool.end();
    await db.drop();
  });

  /** Failures with every line printed, so a red test says what failed and with which figures. */
  const failuresOf = (i: Invariants) => i.failures.map((f) => `${f.name} — ${f.detail}`);

  it('kill-replica: a replica SIGKILLed mid-tick loses nothing, no double claims, no secret leaks', async () => {
    const i = inv();
    await killReplica(i, schemaUrl(db.schema), pool, KILL_REPLICA_QUICK);
    expect(failuresOf(i), lines.join('\n')).toEqual([]);
    expect(i.results.length).toBeGreaterThanOrEqual(7);
  }, 60_000);

  it('host-faults: 5xx, timeouts, garbage, 401s and rate limits never crash it; every ref recovers', async () => {
    const i = inv();
    await hostFaults(i, schemaUrl(db.schema), pool, HOST_FAULTS_TEST);
    expect(failuresOf(i), lines.join('\n')).toEqual([]);
    expect(i.results.length).toBeGreaterThanOrEqual(6);
  }, 60_000);

  it('restart-postgres: the database stopped and crashed under load; nothing crashes, nothing accepted is lost', async () => {
    // A server of its own, since this one is stopped and restarted.
    const cluster = await EmbeddedPostgres.create();
    try {
      await cluster.start();
      const url = cluster.url;
      const own = adminPool(url);
      try {
        await own.query('ALTER DATABASE postgres SET synchronous_commit = on');
        const i = inv();
        await restartPostgres(i, url, own, cluster, { ...RESTART_POSTGRES_QUICK, chats: 20, downMs: 2_000 });
        expect(failuresOf(i), lines.join('\n')).toEqual([]);
      } finally {
        await own.end().catch(() => {});
      }
    } finally {
      await cluster.destroy();
    }
  }, 90_000);
});
