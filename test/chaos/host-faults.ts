/**
 * host-faults: one replica while the code host answers, phase after phase, with 5xx storms,
 * timeouts, garbage bodies, 401s and rate-limit storms. The process must stay up and serving,
 * show the trouble on the rows (error or paused, not a crash), keep memory bounded, and once the
 * faults are cleared bring every ref back to fresh and right.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { type Fault, startGitHubEmulator } from '../../emulator/github/server.ts';
import {
  ADMIN_KEY,
  Api,
  allRefs,
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
import { summarize } from './restart-postgres.ts';
import { World } from './world.ts';

export interface HostFaultsSizes {
  chats: number;
  /** How long each fault phase lasts. */
  phaseMs: number;
  reportsPerSecond: number;
  latencyMs: number;
  rssBoundMb: number;
  /** Deadline for every ref to be fresh and right again once the faults are cleared. */
  recoveryMs: number;
}

export const HOST_FAULTS_FULL: HostFaultsSizes = {
  chats: 150,
  phaseMs: 5_000,
  reportsPerSecond: 10,
  latencyMs: 50,
  rssBoundMb: 300,
  recoveryMs: 60_000,
};
export const HOST_FAULTS_QUICK: HostFaultsSizes = {
  chats: 30,
  phaseMs: 2_500,
  reportsPerSecond: 10,
  latencyMs: 20,
  rssBoundMb: 300,
  recoveryMs: 30_000,
};

/** For the test run: every phase, shorter. */
export const HOST_FAULTS_TEST: HostFaultsSizes = { ...HOST_FAULTS_QUICK, chats: 20, phaseMs: 1_500 };

const SCENARIO = 'host-faults';

/** The phases, in turn; the rate limits reset within seconds so recovery fits in a run. */
const PHASES: { name: string; faults: Fault[]; expect: 'error' | 'paused' }[] = [
  {
    name: '5xx storm (502/500/503)',
    faults: [
      { kind: 'status', status: 502, times: 40 },
      { kind: 'status', status: 500, times: 40 },
      { kind: 'status', status: 503 },
    ],
    expect: 'error',
  },
  { name: 'timeouts (no answer)', faults: [{ kind: 'timeout' }], expect: 'error' },
  { name: 'garbage bodies', faults: [{ kind: 'garbage' }], expect: 'error' },
  { name: '401 bad credentials', faults: [{ kind: 'unauthorized' }], expect: 'error' },
  {
    name: 'primary rate limit (403, remaining 0)',
    faults: [{ kind: 'rate_limit', reset_in_s: 3 }],
    expect: 'paused',
  },
  {
    name: 'secondary rate limit (403, retry-after)',
    faults: [{ kind: 'secondary_rate_limit', reset_in_s: 3 }],
    expect: 'paused',
  },
  { name: '429 too many requests', faults: [{ kind: 'too_many_requests', reset_in_s: 3 }], expect: 'paused' },
];

export async function hostFaults(
  inv: Invariants,
  databaseUrl: string,
  pool: pg.Pool,
  s: HostFaultsSizes,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-chaos-host-'));
  const gh = await startGitHubEmulator();
  const secrets = new SecretWatch();
  secrets.add('admin key', ADMIN_KEY);
  secrets.add('service token', SERVICE_TOKEN);
  const api = new Api(secrets, ADMIN_KEY);
  const replicas: Replica[] = [];
  const rss = new RssSampler();
  const serving: { ok: boolean; ms: number; what: string }[] = [];
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
      // A hung code host must not hold a tick for long: the deadline ends its calls.
      tick_timeout_ms: 2_000,
      lease_ms: 10_000,
      fresh_ttl_ms: 1_500,
      settled_ttl_ms: 3_000,
      error_backoff_ms: 1_000,
      no_token_backoff_ms: 1_500,
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
    const world = new World(gh, ['acme/host0', 'acme/host1', 'acme/host2'], 23);
    await world.createChats(api, replica.url, owners, s.chats);
    load = new ReportLoad(
      api,
      () => (replica.alive ? [replica.url] : []),
      () => world.nextReport(),
      {
        ratePerSecond: s.reportsPerSecond,
        concurrency: 2,
        timeoutMs: 10_000,
      },
    ).start();
    // Fresh before any fault: the baseline the recovery is measured against.
    const baseline = await waitUntil(
      async () => mismatches(gh, await allRefs(pool)).length === 0,
      30_000,
      250,
    );
    inv.info(
      `baseline: every ref fresh and right ${baseline ? 'before the first fault' : 'NOT reached in 30 s'}`,
    );

    // Serving: /healthz and a chat list every 200 ms, each with a deadline.
    probing = true;
    prober = (async () => {
      while (probing) {
        const h = await api.call(replica.url, 'GET', '/healthz', { key: null, timeoutMs: 3_000 });
        serving.push({ ok: h.status === 200, ms: h.ms, what: `healthz ${h.status}` });
        const l = await api.call(replica.url, 'GET', '/api/v1/chats?limit=20', { timeoutMs: 3_000 });
        serving.push({ ok: l.status === 200, ms: l.ms, what: `list ${l.status}` });
        await sleep(200);
      }
    })();

    const phases: {
      name: string;
      expect: string;
      errors: number;
      paused: number;
      sample: string | null;
      requests: number;
    }[] = [];
    for (const phase of PHASES) {
      const before = gh.counters.total;
      gh.addFaults(...phase.faults.map((f) => ({ ...f })));
      const started = Date.now();
      let errors = 0;
      let paused = 0;
      let sample: string | null = null;
      // At least phaseMs; longer (up to 5 s more) until the fault shows on a row — a hung
      // request, for one, only turns into an error when the tick deadline ends it.
      const shown = () => (phase.expect === 'paused' ? paused : errors) > 0;
      while (Date.now() - started < s.phaseMs || (!shown() && Date.now() - started < s.phaseMs + 5_000)) {
        const refs = await allRefs(pool);
        const now = Date.now();
        // Only what this phase caused: errors recorded since it began.
        const e = refs.filter(
          (r) => r.last_error !== null && r.last_error_at !== null && r.last_error_at.getTime() >= started,
        );
        const p = e.filter((r) => r.paused_until !== null && r.paused_until.getTime() > now);
        errors = Math.max(errors, e.length);
        paused = Math.max(paused, p.length);
        sample ??= (phase.expect === 'paused' ? p[0] : e[0])?.last_error ?? null;
        await sleep(200);
      }
      gh.faults.length = 0;
      phases.push({
        name: phase.name,
        expect: phase.expect,
        errors,
        paused,
        sample,
        requests: gh.counters.total - before,
      });
      inv.info(
        `${phase.name}: ${gh.counters.total - before} host requests; up to ${errors} rows with an error recorded in the phase, ${paused} of them paused; e.g. "${(sample ?? '').slice(0, 140)}"`,
      );
    }
    const cleared = Date.now();
    await load.stop();
    world.settle();
    let last: string[] = [];
    let unhealthy = 0;
    const recovered = await waitUntil(
      async () => {
        const refs = await allRefs(pool);
        last = mismatches(gh, refs);
        const now = Date.now();
        unhealthy = refs.filter(
          (r) =>
            r.last_error !== null ||
            (r.paused_until !== null && r.paused_until.getTime() > now) ||
            (r.pr_number !== null && !(r.refreshed_at && r.refreshed_at.getTime() > cleared)),
        ).length;
        return last.length === 0 && unhealthy === 0;
      },
      s.recoveryMs,
      250,
    );
    const recoveryMs = Date.now() - cleared;
    probing = false;
    await prober;
    rss.stop();
    const refs = await allRefs(pool);

    const bad = serving.filter((x) => !x.ok);
    inv.check(
      SCENARIO,
      'the process stays alive and serving',
      replica.alive && bad.length === 0,
      `${replica.alive ? `pid ${replica.pid} alive` : `EXITED ${JSON.stringify(replica.exit)}: ${replica.stderr.slice(-800)}`}; ` +
        `${serving.length - bad.length}/${serving.length} probes (/healthz, chat list) answered 200, slowest ${Math.max(0, ...serving.map((x) => x.ms)).toFixed(0)} ms` +
        (bad.length ? ` (failures: ${summarize(bad.map((x) => x.what))})` : ''),
    );
    const unshown = phases.filter((p) => (p.expect === 'paused' ? p.paused : p.errors) === 0);
    inv.check(
      SCENARIO,
      'each fault shows on the rows as an error or a pause',
      unshown.length === 0,
      phases
        .map((p) => `${p.name}: ${p.expect === 'paused' ? `${p.paused} paused` : `${p.errors} errors`}`)
        .join('; '),
    );
    inv.check(
      SCENARIO,
      `RSS stays under ${s.rssBoundMb} MB`,
      rss.overall < s.rssBoundMb,
      `max ${rss.overall.toFixed(0)} MB`,
    );
    const lost = await missingReports(pool, load);
    inv.check(
      SCENARIO,
      'every report answered 202 is present',
      lost.length === 0,
      `${load.accepted.size - lost.length}/${load.accepted.size} refs present (${load.sent} reports sent, ${load.ok} answered 202; not 202: ${load.describeRefused()})`,
    );
    inv.check(
      SCENARIO,
      'once the faults are cleared every ref is fresh and right again',
      recovered,
      `${recovered ? `${recoveryMs} ms after clearing` : `not within ${s.recoveryMs} ms`}: ${refs.length - last.length}/${refs.length} refs match the emulator, ${unhealthy} with an error, a pause or no refresh since` +
        (last.length ? `; e.g. ${last.slice(0, 3).join(' | ')}` : ''),
    );
    await scanForSecrets(SCENARIO, inv, secrets, replicas, pool, api);
  } finally {
    probing = false;
    await prober;
    await load?.stop();
    rss.stop();
    await Promise.all(replicas.map((r) => r.stop('SIGTERM')));
    await gh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
