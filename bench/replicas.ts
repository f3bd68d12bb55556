/**
 * Replicas add up: 1 and N `gitsync serve` processes on one PostgreSQL against the GitHub emulator
 * answering in 50 ms, with more refs due than they can refresh (so each run shows what its replicas
 * can do), and an event stream open on every replica.
 *
 * Two probes in the database (triggers, not gitsync code) see what the replicas do: the fault
 * suite's claim log (`installStaleLog`: every claim, by replica, through its connections'
 * application_name) finds double claims within a lease; a refresh log records every refresh with
 * the time since that ref's previous one (its staleness). Refreshes/s count the refreshes inside
 * the measured window only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/core/clock.ts';
import type { Database } from '../src/store/database.ts';
import {
  ADMIN_KEY,
  adminPool,
  analyseClaims,
  installStaleLog,
  Replica,
  RssSampler,
  replicaEnv,
  SERVICE_TOKEN,
  writeConfig,
} from '../test/chaos/harness.ts';
import { SseClient } from '../test/helpers/sse.ts';
import { benchRepo, githubProvider, seedGitHubRows, startEmulatorProcess } from './capacity.ts';
import { cpuSecondsOf, machineCpu } from './proc.ts';
import { benchEngine, spreadLastRefreshes } from './seed.ts';
import { percentile } from './stats.ts';

export interface ReplicasScenario {
  refs: number;
  prsPerRepo: number;
  /** Short: refreshed refs are due again soon, so no replica ever runs out of due rows. */
  ttlMs: number;
  leaseMs: number;
  latencyMs: number;
  /** After every replica is up and every stream open, before the window. */
  warmupMs: number;
  windowMs: number;
  /** PR titles changed on the code host per second, from the warm-up on: what makes events. */
  changesPerSecond: number;
  /** Each replica's `worker` settings. */
  worker: Record<string, number>;
}

export interface ReplicasRun {
  replicas: number;
  refreshes: number;
  per_second: number;
  /** Refreshes/s of each replica in the window. */
  per_replica: number[];
  claims: number;
  double_claims: number;
  takeovers: number;
  /** diff_status_change events published in the window, and how many of them each replica's stream delivered. */
  events_published: number;
  events_delivered: number[];
  staleness_p50_s: number;
  staleness_p99_s: number;
  max_rss_mb: number;
  /** CPU in the window, in cores: all replicas together, and the whole machine (PostgreSQL, this process's emulator and clients). */
  replicas_cpu_cores: number;
  machine_cpu_cores: number;
  /** Mean claim and tick durations in the window, over all replicas (their /metrics), in ms. */
  claim_ms: number;
  tick_ms: number;
}

/** Sum and count of a Prometheus histogram, over all label sets. */
async function histogram(url: string, name: string): Promise<{ sum: number; count: number }> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const value = (suffix: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}_${suffix} `) || l.startsWith(`${name}_${suffix}{`))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  return { sum: value('sum'), count: value('count') };
}

/** Mean of a histogram between two readings of every replica, in ms. */
function meanMs(before: { sum: number; count: number }[], after: { sum: number; count: number }[]): number {
  const sum = after.reduce((a, h, i) => a + h.sum - before[i]!.sum, 0);
  const count = after.reduce((a, h, i) => a + h.count - before[i]!.count, 0);
  return count > 0 ? Math.round((sum / count) * 10_000) / 10 : 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One run with `replicas` processes. `db` is the run's own migrated schema; `databaseUrl` reaches
 * it (with its search_path) for the replicas and the probes.
 */
export async function measureReplicas(
  db: Database,
  databaseUrl: string,
  replicas: number,
  s: ReplicasScenario,
): Promise<ReplicasRun> {
  // The emulator in a process of its own, as a code host is: in this one it would share an event
  // loop with the streams' clients and the probes. PRs change through its admin API.
  const gh = await startEmulatorProcess({
    refs: s.refs,
    perRepo: s.prsPerRepo,
    token: SERVICE_TOKEN,
    latencyMs: s.latencyMs,
  });
  await seedGitHubRows(db, { refs: s.refs, perRepo: s.prsPerRepo, webUrl: gh.webUrl });
  const provider = githubProvider(gh, SERVICE_TOKEN);
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-bench-replicas-'));
  const pool = adminPool(databaseUrl);
  const started: Replica[] = [];
  const streams: SseClient[] = [];
  const rss = new RssSampler();
  let mutator: NodeJS.Timeout | null = null;
  try {
    // Every ref shows its PR first (found here, by an engine in this process), so that the
    // replicas refresh unchanged PRs and only the host's changes make events.
    {
      const { engine } = benchEngine(db, provider, systemClock, { batch_size: 1000, concurrency: 50 });
      while ((await engine.tick()).claimed > 0) {}
    }
    // Last refreshed one TTL ago, spread over 10 s: all due, stalest first.
    await spreadLastRefreshes(db, new Date(Date.now() - s.ttlMs), 10_000, s.ttlMs);
    const tolerance = Math.min(1_000, s.leaseMs / 4);
    await installStaleLog(pool, s.leaseMs, tolerance);
    await pool.query(`
      CREATE TABLE bench_refresh_log (row_id bigint NOT NULL, app text NOT NULL, at timestamptz NOT NULL,
                                      since_ms float8);
      CREATE FUNCTION bench_log_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.refreshed_at IS DISTINCT FROM OLD.refreshed_at THEN
          INSERT INTO bench_refresh_log VALUES (NEW.id, current_setting('application_name'), clock_timestamp(),
            extract(epoch FROM (NEW.refreshed_at - OLD.refreshed_at)) * 1000);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER bench_log_refresh AFTER UPDATE ON diff_statuses
        FOR EACH ROW EXECUTE FUNCTION bench_log_refresh();
    `);

    const config = writeConfig(dir, gh, { ...s.worker, fresh_ttl_ms: s.ttlMs, lease_ms: s.leaseMs });
    const names = Array.from({ length: replicas }, (_, i) => `replica-${i + 1}`);
    started.push(
      ...(await Promise.all(
        names.map((name) =>
          Replica.start(name, { ...replicaEnv(databaseUrl, config, name), GITSYNC_LOG_LEVEL: 'warn' }),
        ),
      )),
    );
    for (const r of started) rss.watch(r.name, r.pid);
    rss.start(500);
    for (const r of started) {
      const stream = await SseClient.open(`${r.url}/api/v1/events`, { authorization: `Bearer ${ADMIN_KEY}` });
      if (stream.status !== 200) throw new Error(`events stream of ${r.name}: ${stream.status}`);
      streams.push(stream);
    }

    // PRs change on the host in small steps, spread over all repositories.
    const perTick = s.changesPerSecond / 10;
    let owed = 0;
    let changed = 0;
    mutator = setInterval(() => {
      for (owed += perTick; owed >= 1; owed--) {
        const n = 1 + Math.floor(Math.random() * s.refs);
        const repo = `bench/${benchRepo(n, s.prsPerRepo)}`;
        const number = 1 + ((n - 1) % s.prsPerRepo);
        void fetch(`${gh.webUrl}/_emulator/repos/${repo}/pulls/${number}`, {
          method: 'PATCH',
          body: JSON.stringify({ title: `change ${++changed}` }),
        }).then(
          (r) => {
            if (!r.ok) process.stderr.write(`replicas: changing ${repo}#${number}: ${r.status}\n`);
            return r.body?.cancel();
          },
          () => {},
        );
      }
    }, 100);

    await sleep(s.warmupMs);
    const replicasCpu = () => started.reduce((sum, r) => sum + (cpuSecondsOf(r.pid) ?? 0), 0);
    const timings = () =>
      Promise.all(
        started.map(async (r) => ({
          claim: await histogram(r.url, 'gitsync_claim_duration_seconds'),
          tick: await histogram(r.url, 'gitsync_tick_duration_seconds'),
        })),
      );
    const timings0 = await timings();
    const cpu0 = { replicas: replicasCpu(), machine: machineCpu() };
    const t0 = new Date();
    await sleep(s.windowMs);
    const t1 = new Date();
    const cpu1 = { replicas: replicasCpu(), machine: machineCpu() };
    const timings1 = await timings();
    clearInterval(mutator);
    mutator = null;

    // Events of the window: each stream should deliver every one (a few seconds to arrive).
    const published = await pool.query<{ id: string }>(
      `SELECT id::text AS id FROM events WHERE kind = 'diff_status_change' AND created_at >= $1 AND created_at < $2`,
      [t0, t1],
    );
    const ids = new Set(published.rows.map((r) => r.id));
    const delivered = () =>
      streams.map(
        (c) => c.events.filter((e) => e.event === 'diff_status_change' && e.id && ids.has(e.id)).length,
      );
    const deadline = Date.now() + 15_000;
    while (delivered().some((n) => n < ids.size) && Date.now() < deadline) await sleep(100);

    const refreshed = await pool.query<{ app: string; n: string }>(
      'SELECT app, count(*) AS n FROM bench_refresh_log WHERE at >= $1 AND at < $2 GROUP BY app',
      [t0, t1],
    );
    const since = await pool.query<{ since_ms: number }>(
      'SELECT since_ms FROM bench_refresh_log WHERE at >= $1 AND at < $2 AND since_ms IS NOT NULL',
      [t0, t1],
    );
    const staleness = since.rows.map((r) => Number(r.since_ms));
    const seconds = (t1.getTime() - t0.getTime()) / 1000;
    const byApp = new Map(refreshed.rows.map((r) => [r.app, Number(r.n)]));
    const total = [...byApp.values()].reduce((a, b) => a + b, 0);
    const deliveredCounts = delivered();

    await Promise.all(streams.splice(0).map((c) => c.close()));
    await Promise.all(started.map((r) => r.stop('SIGTERM')));
    rss.stop();
    const claims = await analyseClaims(pool, s.leaseMs, tolerance);
    const crashed = started.filter((r) => r.exit?.code !== 0 && r.exit?.code !== null);
    if (crashed.length > 0)
      throw new Error(`replicas exited badly: ${crashed.map((r) => `${r.name} ${JSON.stringify(r.exit)}`)}`);
    return {
      replicas,
      refreshes: total,
      per_second: Math.round(total / seconds),
      per_replica: names.map((n) => Math.round((byApp.get(n) ?? 0) / seconds)),
      claims: claims.claims,
      double_claims: claims.doubleClaims.length,
      takeovers: claims.takeovers,
      events_published: ids.size,
      events_delivered: deliveredCounts,
      staleness_p50_s: Math.round(percentile(staleness, 50) / 100) / 10,
      staleness_p99_s: Math.round(percentile(staleness, 99) / 100) / 10,
      max_rss_mb: Math.round(rss.overall),
      claim_ms: meanMs(
        timings0.map((t) => t.claim),
        timings1.map((t) => t.claim),
      ),
      tick_ms: meanMs(
        timings0.map((t) => t.tick),
        timings1.map((t) => t.tick),
      ),
      replicas_cpu_cores: Math.round(((cpu1.replicas - cpu0.replicas) / seconds) * 100) / 100,
      // Busy share of all cores' time, times the cores: what of the machine was in use.
      machine_cpu_cores:
        Math.round(
          ((cpu1.machine.busy - cpu0.machine.busy) / (cpu1.machine.total - cpu0.machine.total)) *
            availableParallelism() *
            100,
        ) / 100,
    };
  } finally {
    if (mutator) clearInterval(mutator);
    rss.stop();
    await Promise.all(streams.map((c) => c.close()));
    await Promise.all(started.map((r) => r.stop('SIGKILL')));
    await pool.end().catch(() => {});
    await gh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
