/**
 * What one claim statement costs as the backlog grows (docs/architecture.md, "Owners share
 * fairly"): 100,000 refs of `owners` owners, `due` of them due (spread evenly over the owners, all
 * at the same `stale_at`, as after an outage), one claim of `limit` rows; median of 7 claims, the
 * claimed rows made due again after each. With `explain`, one more claim runs under
 * EXPLAIN (ANALYZE, BUFFERS) and its execution time, shared buffers and plan come back.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Database } from '../src/store/database.ts';
import { seedRefs } from './seed.ts';
import { percentile, round } from './stats.ts';

/** A claim statement and its parameters (`$1` now, `$2` limit, `$3` lease, as the store passes). */
export interface ClaimStatement {
  sql: string;
  params: (now: Date, limit: number, lease: Date) => unknown[];
}

export interface ClaimCost {
  due: number;
  statement: string;
  median_ms: number;
  /** From EXPLAIN (ANALYZE, BUFFERS): the server's own execution time and shared buffers touched. */
  explain_ms?: number;
  shared_buffers?: number;
  plan?: string;
}

export async function measureClaimStatements(
  db: Database,
  s: {
    refs: number;
    owners: number;
    dueCounts: readonly number[];
    limit: number;
    statements: Record<string, ClaimStatement>;
    explain?: boolean;
  },
): Promise<ClaimCost[]> {
  const now = new Date();
  const later = new Date(now.getTime() + 3_600_000);
  const dueAt = new Date(now.getTime() - 1000);
  const lease = new Date(now.getTime() + 300_000);
  const seeded = await seedRefs(db, {
    refs: s.refs,
    owners: Array.from({ length: s.owners }, () => randomUUID()),
    origin: 'https://fake.test/bench/repo',
    provider_id: 'fake',
    branch: (n) => `b${n}`,
    chats_created_at: now,
    reported_at: now,
    stale_at: () => later,
  });
  await db.query('ANALYZE diff_statuses');
  // What a claim took is due again for the next one.
  const undo = () => db.query('UPDATE diff_statuses SET stale_at = $1 WHERE stale_at = $2', [dueAt, lease]);
  const out: ClaimCost[] = [];
  for (const due of s.dueCounts) {
    const ids = seeded.slice(0, due).map((r) => r.id);
    await db.query('UPDATE diff_statuses SET stale_at = $2 WHERE id = ANY($1::bigint[])', [ids, dueAt]);
    await db.query('VACUUM ANALYZE diff_statuses');
    for (const [name, st] of Object.entries(s.statements)) {
      const params = st.params(now, s.limit, lease);
      const ms: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        await db.query(st.sql, params);
        ms.push(performance.now() - t0);
        await undo();
      }
      const cost: ClaimCost = { due, statement: name, median_ms: round(percentile(ms, 50), 1) };
      if (s.explain) {
        const r = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${st.sql}`, params);
        await undo();
        const plan = r.rows.map((row) => row['QUERY PLAN']).join('\n');
        cost.plan = plan;
        cost.explain_ms = Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? Number.NaN);
        // The top node's buffers count its children's.
        cost.shared_buffers = Number(/Buffers: shared hit=(\d+)/.exec(plan)?.[1] ?? Number.NaN);
      }
      out.push(cost);
    }
    await db.query('UPDATE diff_statuses SET stale_at = $2 WHERE id = ANY($1::bigint[])', [ids, later]);
  }
  return out;
}
