/**
 * restart-postgres: one replica under load while PostgreSQL is stopped cleanly ("fast") for a few
 * seconds and started, then crashed ("immediate") and started. The process must stay up, keep
 * answering /healthz, say 503 on /readyz while the database is away, refuse reports with a clear
 * 5xx (never hang), keep every report it accepted, and go back to refreshing.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { startGitHubEmulator } from '../../emulator/github/server.ts';
import type { EmbeddedPostgres } from '../helpers/embedded-postgres.ts';
import {
  ADMIN_KEY,
  Api,
  type ApiAnswer,
  allRefs,
  hasErrorBody,
  type Invariants,
  mismatches,
  missingReports,
  OWNER_TOKEN,
  Replica,
  ReportLoad,
  RssSampler,
  replicaEnv,
  SERVICE_TOKEN,
  SecretWatch,
  scanForSecrets,
  setUpOwner,
  sleep,
  waitUntil,
  writeConfig,
} from './harness.ts';
import { World } from './world.ts';

export interface RestartPostgresSizes {
  chats: number;
  /** How long the database stays away each time. */
  downMs: number;
  reportsPerSecond: number;
  /** Our client's deadline per request: an answer slower than this counts as a hang. */
  requestTimeoutMs: number;
  latencyMs: number;
  rssBoundMb: number;
}

export const RESTART_POSTGRES_FULL: RestartPostgresSizes = {
  chats: 150,
  downMs: 5_000,
  reportsPerSecond: 20,
  requestTimeoutMs: 10_000,
  latencyMs: 50,
  rssBoundMb: 300,
};
export const RESTART_POSTGRES_QUICK: RestartPostgresSizes = {
  ...RESTART_POSTGRES_FULL,
  chats: 40,
  downMs: 3_000,
};

const SCENARIO = 'restart-postgres';

interface Probe {
  path: string;
  start: number;
  end: number;
  status: number;
}

export async function restartPostgres(
  inv: Invariants,
  databaseUrl: string,
  pool: pg.Pool,
  cluster: EmbeddedPostgres,
  s: RestartPostgresSizes,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-chaos-pg-'));
  const gh = await startGitHubEmulator();
  const secrets = new SecretWatch();
  secrets.add('admin key', ADMIN_KEY);
  secrets.add('service token', SERVICE_TOKEN);
  const api = new Api(secrets, ADMIN_KEY);
  const replicas: Replica[] = [];
  const rss = new RssSampler();
  const probes: Probe[] = [];
  const reports: { a: ApiAnswer; start: number; end: number }[] = [];
  let probing = false;
  let prober: Promise<void> | null = null;
  let load: ReportLoad | null = null;
  try {
    gh.addToken(SERVICE_TOKEN, 'chaos-service');
    gh.latencyMs = s.latencyMs;
    const config = writeConfig(dir, gh, {
      tick_interval_ms: 200,
      batch_size: 50,
      concurrency: 10,
      tick_timeout_ms: 10_000,
      lease_ms: 5_000,
      fresh_ttl_ms: 2_000,
      settled_ttl_ms: 3_000,
      error_backoff_ms: 1_000,
      no_pr_backoff_ms: 500,
    });
    const replica = await Replica.start('replica', replicaEnv(databaseUrl, config, 'replica'));
    replicas.push(replica);
    rss.watch('replica', replica.pid);
    rss.start(250);
    const owners = [
      await setUpOwner(api, replica.url, secrets, gh, randomUUID(), OWNER_TOKEN),
      await setUpOwner(api, replica.url, secrets, gh, randomUUID()),
    ];
    const world = new World(gh, ['acme/db0', 'acme/db1'], 11);
    await world.createChats(api, replica.url, owners, s.chats);
    load = new ReportLoad(
      api,
      () => (replica.alive ? [replica.url] : []),
      () => world.nextReport(),
      {
        ratePerSecond: s.reportsPerSecond,
        concurrency: 4,
        timeoutMs: s.requestTimeoutMs,
        onAnswer: (a, start, end) => reports.push({ a, start, end }),
      },
    ).start();

    // /healthz and /readyz every 100 ms, each with a deadline: a hang shows as status 0.
    probing = true;
    prober = (async () => {
      while (probing) {
        await Promise.all(
          ['/healthz', '/readyz'].map(async (path) => {
            const start = Date.now();
            const a = await api.call(replica.url, 'GET', path, { key: null, timeoutMs: 3_000 });
            probes.push({ path, start, end: Date.now(), status: a.status });
          }),
        );
        await sleep(100);
      }
    })();

    const outages: { mode: string; down: number; upStart: number; up: number; readyMs: number | null }[] = [];
    for (const mode of ['fast', 'immediate'] as const) {
      await sleep(2_000);
      await cluster.stop(mode);
      const down = Date.now();
      await sleep(s.downMs);
      const upStart = Date.now();
      await cluster.start();
      const up = Date.now();
      const ready = await waitUntil(
        async () =>
          (await api.call(replica.url, 'GET', '/readyz', { key: null, timeoutMs: 3_000 })).status === 200,
        30_000,
        50,
      );
      outages.push({ mode, down, upStart, up, readyMs: ready ? Date.now() - up : null });
      inv.info(
        `PostgreSQL stopped (${mode}) for ${((upStart - down) / 1000).toFixed(1)} s; /readyz 200 again ${ready ? `${Date.now() - up} ms` : 'never'} after it was back`,
      );
    }
    await sleep(2_000);
    await load.stop();
    world.settle();
    probing = false;
    await prober;
    const lastUp = outages.at(-1)!.up;

    // Refreshing resumed: every ref matches the code host, refreshed after the last restart.
    let last: string[] = [];
    let notRefreshed = 0;
    const resumed = await waitUntil(
      async () => {
        const refs = await allRefs(pool);
        last = mismatches(gh, refs);
        notRefreshed = refs.filter(
          (r) => r.pr_number !== null && !(r.refreshed_at && r.refreshed_at.getTime() > lastUp),
        ).length;
        return last.length === 0 && notRefreshed === 0;
      },
      30_000,
      250,
    );
    const refs = await allRefs(pool);
    rss.stop();

    inv.check(
      SCENARIO,
      'the process stays alive',
      replica.alive,
      replica.alive
        ? `pid ${replica.pid} up through ${outages.length} outages`
        : `exited ${JSON.stringify(replica.exit)}: ${replica.stderr.slice(-800)}`,
    );
    const health = probes.filter((p) => p.path === '/healthz');
    const healthBad = health.filter((p) => p.status !== 200);
    inv.check(
      SCENARIO,
      '/healthz answers 200 throughout',
      healthBad.length === 0,
      `${health.length - healthBad.length}/${health.length} probes 200, slowest ${Math.max(...health.map((p) => p.end - p.start))} ms`,
    );
    const inOutage = (start: number, end: number) => outages.some((o) => start >= o.down && end <= o.upStart);
    const readyDown = probes.filter((p) => p.path === '/readyz' && inOutage(p.start, p.end));
    // After a recovery and before the next outage (half a second of slack each side).
    const readyAfter = probes.filter(
      (p) =>
        p.path === '/readyz' &&
        outages.some((o, i) => {
          const next = outages[i + 1];
          return (
            o.readyMs !== null && p.start >= o.up + o.readyMs + 500 && (!next || p.end < next.down - 500)
          );
        }),
    );
    inv.check(
      SCENARIO,
      '/readyz is 503 while the database is down and 200 after',
      readyDown.length > 0 &&
        readyDown.every((p) => p.status === 503) &&
        outages.every((o) => o.readyMs !== null) &&
        readyAfter.every((p) => p.status === 200),
      `down: ${readyDown.filter((p) => p.status === 503).length}/${readyDown.length} probes 503 (others: ${summarize(readyDown.filter((p) => p.status !== 503).map((p) => p.status))}); ` +
        `ready again ${outages.map((o) => (o.readyMs === null ? 'never' : `${o.readyMs} ms`)).join(' / ')} after start; ` +
        `after: ${readyAfter.filter((p) => p.status === 200).length}/${readyAfter.length} probes 200`,
    );
    const refused = reports.filter((r) => inOutage(r.start, r.end));
    const clear = refused.filter((r) => r.a.status >= 500 && r.a.status <= 599 && hasErrorBody(r.a));
    inv.check(
      SCENARIO,
      'reports during the outage are refused with a 5xx error body, never hang',
      refused.length > 0 && clear.length === refused.length,
      `${clear.length}/${refused.length} reports sent while the database was down answered 5xx with an error body ` +
        `(statuses: ${summarize(refused.map((r) => (r.a.status === 0 ? `no answer (${r.a.error})` : `${r.a.status} ${r.a.body?.error?.code ?? ''}`)))}); ` +
        `slowest ${Math.max(0, ...refused.map((r) => r.a.ms)).toFixed(0)} ms (deadline ${s.requestTimeoutMs} ms)`,
    );
    const lost = await missingReports(pool, load);
    inv.check(
      SCENARIO,
      'every report answered 202 is present',
      lost.length === 0,
      `${load.accepted.size - lost.length}/${load.accepted.size} refs present (${load.sent} reports sent, ${load.ok} answered 202; not 202: ${load.describeRefused()})` +
        (lost.length ? `; missing e.g. ${lost.slice(0, 3).join(' | ')}` : ''),
    );
    inv.check(
      SCENARIO,
      'refreshing resumes: every ref fresh and right again',
      resumed,
      `${refs.length - last.length}/${refs.length} refs match the emulator; ${notRefreshed} refs with a PR not refreshed since the last restart` +
        (last.length ? `; e.g. ${last.slice(0, 3).join(' | ')}` : ''),
    );
    inv.check(
      SCENARIO,
      `RSS stays under ${s.rssBoundMb} MB`,
      rss.overall < s.rssBoundMb,
      `max ${rss.overall.toFixed(0)} MB`,
    );
    await scanForSecrets(SCENARIO, inv, secrets, replicas, pool, api);
  } finally {
    probing = false;
    await prober;
    await load?.stop();
    rss.stop();
    if (!cluster.running) await cluster.start().catch(() => {});
    await Promise.all(replicas.map((r) => r.stop('SIGTERM')));
    await gh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "3× 503, 1× 0" */
export function summarize(values: readonly (number | string)[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  return [...counts].map(([v, n]) => `${n}× ${v}`).join(', ') || 'none';
}
