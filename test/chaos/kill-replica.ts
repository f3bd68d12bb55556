/**
 * kill-replica: two replicas on one PostgreSQL, reports flowing to both, PRs changing on the code
 * host; a replica is SIGKILLed while it holds claimed rows (mid-tick), several times, and
 * restarted each time. Nothing may be lost, no row claimed twice within a lease, memory bounded.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { startGitHubEmulator } from '../../emulator/github/server.ts';
import {
  ADMIN_KEY,
  Api,
  allRefs,
  analyseClaims,
  type Invariants,
  installStaleLog,
  mismatches,
  missingReports,
  OWNER_TOKEN,
  Replica,
  ReportLoad,
  RssSampler,
  replicaEnv,
  rowsHeldBy,
  SERVICE_TOKEN,
  SecretWatch,
  scanForSecrets,
  setUpOwner,
  sleep,
  waitUntil,
  writeConfig,
} from './harness.ts';
import { World } from './world.ts';

export interface KillReplicaSizes {
  chats: number;
  kills: number;
  /** Load between kills. */
  phaseMs: number;
  reportsPerSecond: number;
  latencyMs: number;
  leaseMs: number;
  rssBoundMb: number;
}

export const KILL_REPLICA_FULL: KillReplicaSizes = {
  chats: 300,
  kills: 4,
  phaseMs: 6_000,
  reportsPerSecond: 40,
  latencyMs: 50,
  leaseMs: 5_000,
  rssBoundMb: 300,
};
export const KILL_REPLICA_QUICK: KillReplicaSizes = {
  chats: 40,
  kills: 1,
  phaseMs: 2_000,
  reportsPerSecond: 20,
  latencyMs: 50,
  leaseMs: 3_000,
  rssBoundMb: 300,
};

const SCENARIO = 'kill-replica';

export async function killReplica(
  inv: Invariants,
  databaseUrl: string,
  pool: pg.Pool,
  s: KillReplicaSizes,
): Promise<void> {
  // Claims are recognised by stale_at landing within this of now + lease; every other schedule
  // below (TTLs, backoffs) keeps further away than that from the lease.
  const tolerance = Math.min(1_000, s.leaseMs / 4);
  const worker = {
    tick_interval_ms: 200,
    batch_size: 25,
    concurrency: 10,
    tick_timeout_ms: 10_000,
    lease_ms: s.leaseMs,
    fresh_ttl_ms: Math.round(s.leaseMs * 0.4),
    settled_ttl_ms: Math.round(s.leaseMs * 0.6),
    error_backoff_ms: Math.round(s.leaseMs * 0.4),
    no_pr_backoff_ms: 500,
  };
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-chaos-kill-'));
  const gh = await startGitHubEmulator();
  const secrets = new SecretWatch();
  secrets.add('admin key', ADMIN_KEY);
  secrets.add('service token', SERVICE_TOKEN);
  const api = new Api(secrets, ADMIN_KEY);
  const replicas: Replica[] = [];
  const rss = new RssSampler();
  let load: ReportLoad | null = null;
  let mutator: NodeJS.Timeout | null = null;
  try {
    gh.addToken(SERVICE_TOKEN, 'chaos-service');
    gh.latencyMs = s.latencyMs;
    const config = writeConfig(dir, gh, worker);
    await installStaleLog(pool, s.leaseMs, tolerance);
    const start = async (name: string) => {
      const r = await Replica.start(name, replicaEnv(databaseUrl, config, name));
      replicas.push(r);
      rss.watch(`${name}#${replicas.filter((x) => x.name === name).length}`, r.pid);
      return r;
    };
    const live: Record<string, Replica> = {};
    [live.a, live.b] = await Promise.all([start('replica-a'), start('replica-b')]);
    rss.start(250);
    const base = live.a!.url;
    // One owner with a token of its own (linked through the API), one served by the service token.
    const owners = [
      await setUpOwner(api, base, secrets, gh, randomUUID(), OWNER_TOKEN),
      await setUpOwner(api, base, secrets, gh, randomUUID()),
    ];
    const world = new World(gh, ['acme/app0', 'acme/app1', 'acme/app2', 'acme/app3'], 7);
    await world.createChats(api, base, owners, s.chats);

    load = new ReportLoad(
      api,
      () =>
        Object.values(live)
          .filter((r) => r.alive)
          .map((r) => r.url),
      () => world.nextReport(),
      { ratePerSecond: s.reportsPerSecond, concurrency: 4, timeoutMs: 10_000 },
    ).start();
    mutator = setInterval(() => world.mutate(), 200);

    const kills: { victim: string; held: number; rows: string[]; at: number }[] = [];
    for (let k = 0; k < s.kills; k++) {
      await sleep(s.phaseMs);
      const name = k % 2 === 0 ? 'replica-a' : 'replica-b';
      const key = name === 'replica-a' ? 'a' : 'b';
      // Mid-tick: the next few code-host answers are slowed (2 s) so that a tick in flight is
      // certainly caught, then wait until the victim holds claimed rows it has not finished. On a
      // busy machine the other replica may take the slowed answers and the victim finish its
      // rows between the look and the kill: such a kill caught nothing, and is tried again.
      let held: { row_id: string }[] = [];
      let at = 0;
      for (let attempt = 1; attempt <= 3 && held.length === 0; attempt++) {
        const victim = live[key]!;
        gh.addFaults({ kind: 'latency', latency_ms: 2_000, times: 4 });
        await waitUntil(async () => (await rowsHeldBy(pool, name)).length > 0, 15_000, 5);
        await victim.stop('SIGKILL');
        at = Date.now();
        // Its open transaction (if any) is rolled back once PostgreSQL sees the connection gone.
        await sleep(200);
        held = await rowsHeldBy(pool, name);
        inv.info(
          `kill ${k + 1}${attempt > 1 ? ` (attempt ${attempt})` : ''}: SIGKILL ${name} (pid ${victim.pid}) holding ${held.length} claimed rows`,
        );
        live[key] = await start(name);
      }
      kills.push({ victim: name, held: held.length, rows: held.map((h) => h.row_id), at });
    }
    await sleep(s.phaseMs);
    await load.stop();
    if (mutator) clearInterval(mutator);
    mutator = null;
    world.settle();
    const stoppedAt = Date.now();

    // Converged: every ref shows the code host's truth. Stranded rows need the lease to run out.
    let last: string[] = [];
    const converged = await waitUntil(
      async () => {
        last = mismatches(gh, await allRefs(pool));
        return last.length === 0;
      },
      s.leaseMs * 3 + 30_000,
      250,
    );
    const convergeMs = Date.now() - stoppedAt;
    const refs = await allRefs(pool);
    rss.stop();
    {
      const l = load;
      const lost = await missingReports(pool, l);
      inv.check(
        SCENARIO,
        'every report answered 202 is present',
        lost.length === 0,
        `${l.accepted.size - lost.length}/${l.accepted.size} refs present (${l.sent} reports sent, ${l.ok} answered 202; not 202: ${l.describeRefused()}; slowest answer ${l.maxMs.toFixed(0)} ms)` +
          (lost.length ? `; missing e.g. ${lost.slice(0, 3).join(' | ')}` : ''),
      );
      inv.check(
        SCENARIO,
        "every tracked ref reaches the code host's final PR state",
        converged,
        `${refs.length - last.length}/${refs.length} refs match the emulator ${converged ? `${convergeMs} ms` : 'still not'} after the load stopped` +
          (last.length ? `; e.g. ${last.slice(0, 3).join(' | ')}` : ''),
      );
      const claims = await analyseClaims(pool, s.leaseMs, tolerance);
      inv.check(
        SCENARIO,
        'no row claimed twice within a lease',
        claims.doubleClaims.length === 0,
        `${claims.doubleClaims.length} double claims in ${claims.claims} claims (${Object.entries(
          claims.byApp,
        )
          .map(([a, n]) => `${a} ${n}`)
          .join(', ')}); ${claims.takeovers} rows taken over after their lease ran out` +
          (claims.doubleClaims.length ? `; e.g. ${JSON.stringify(claims.doubleClaims.slice(0, 3))}` : ''),
      );
      const stranded = kills.reduce((n, k) => n + k.held, 0);
      // Every row a killed replica held was later claimed again (after the lease) or re-reported.
      const afterKill = await pool.query<{ row_id: string; n: string }>(
        `SELECT row_id::text, count(*) AS n FROM chaos_stale_log l
         WHERE row_id = ANY($1::bigint[]) AND kind IN ('claim', 'report') AND at > $2 GROUP BY row_id`,
        [kills.flatMap((k) => k.rows), new Date(Math.min(...kills.map((k) => k.at), Date.now()))],
      );
      const pickedUp = new Set(afterKill.rows.map((r) => r.row_id));
      const abandoned = kills.flatMap((k) => k.rows).filter((r) => !pickedUp.has(r));
      inv.check(
        SCENARIO,
        'each kill hit a replica mid-tick, and every row it held was picked up again',
        kills.length === s.kills && kills.every((k) => k.held > 0) && abandoned.length === 0,
        `${kills.length} kills holding ${kills.map((k) => k.held).join('+')} = ${stranded} claimed rows; ${stranded - abandoned.length} picked up again` +
          (abandoned.length ? `; never again: ${abandoned.slice(0, 5).join(', ')}` : ''),
      );
      inv.check(
        SCENARIO,
        `each replica's RSS stays under ${s.rssBoundMb} MB`,
        rss.overall < s.rssBoundMb,
        `max ${rss.overall.toFixed(0)} MB (${rss.describe()})`,
      );
      const crashed = replicas.filter((r) => !r.alive && !r.expectedExit);
      inv.check(
        SCENARIO,
        'no replica exited by itself',
        crashed.length === 0,
        `${replicas.length} processes started, ${kills.length} killed by us, ${crashed.length} exited on their own` +
          (crashed.length
            ? `: ${crashed.map((r) => `${r.name} ${JSON.stringify(r.exit)} ${r.stderr.slice(-500)}`).join(' | ')}`
            : ''),
      );
      await scanForSecrets(SCENARIO, inv, secrets, replicas, pool, api);
    }
  } finally {
    if (mutator) clearInterval(mutator);
    await load?.stop();
    rss.stop();
    await Promise.all(replicas.map((r) => r.stop('SIGTERM')));
    await gh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
