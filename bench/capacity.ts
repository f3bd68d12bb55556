import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { GitHubEmulator } from '../emulator/github/server.ts';
import { systemClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { Provider } from '../src/providers/types.ts';
import type { Database } from '../src/store/database.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { cpuSecondsOf } from './proc.ts';
import { seedRefs, spreadLastRefreshes } from './seed.ts';
import { percentile } from './stats.ts';

export interface CapacityScenario {
  /**
   * `fake`: the in-memory fake host (single reads only, refs over 100 owners); `github`: the GitHub
   * provider against the GitHub emulator over HTTP (batched GraphQL reads), every ref of one owner.
   */
  host: 'fake' | 'github';
  refs: number;
  ttlMs: number;
  latencyMs: number;
  runMs: number;
  /** Over the shipped defaults; nothing else is changed (the tick interval included). */
  settings: Partial<WorkerSettings>;
  /** `github`: open PRs per repository. */
  prsPerRepo?: number;
  /**
   * `github`: how many owners the refs are spread over (in turn), each with a token of its own
   * (default: one owner, served by the service token), and where their PRs live: `own`, each
   * owner's in repositories of its own; `shared`, every repository holding PRs of `prsPerRepo`
   * owners (one each, with at least that many owners).
   */
  owners?: number;
  shape?: RepoShape;
}

/** Where the PRs of many owners live (CapacityScenario.shape). */
export type RepoShape = 'own' | 'shared';

/** How far past the TTL a ref may be when refreshed and still count as kept fresh (SPEC §7). */
const SLACK_MS = 10_000;

/**
 * Keeps `refs` open PRs fresh in real time with the worker loop, against a code host answering
 * in `latencyMs`, and reports how stale rows were when they were refreshed (time since their
 * previous refresh): the goal is p99 ≤ TTL + 10 s at ≥ refs/TTL refreshes per second. Also the
 * share of refs that stayed within TTL + 10 s over the whole window (never found older when claimed,
 * nor left older at its end).
 *
 * With the GitHub emulator the refs are first found through the loop itself (every ref reported,
 * no PR known yet: branch lookups), timed as "discovery"; then their last refreshes are spread over
 * one TTL, as in a steady state, and the window starts with a fresh engine.
 */
export async function measureCapacity(db: Database, s: CapacityScenario) {
  const store = new SqlStore(db, new TokenCipher(null));
  const settings: WorkerSettings = { ...DEFAULT_WORKER_SETTINGS, ...s.settings, fresh_ttl_ms: s.ttlMs };
  const setup = s.host === 'github' ? await githubWorld(db, s) : await fakeWorld(db, s);
  const providers = new ProviderRegistry([setup.provider]);
  try {
    let discoveryS: number | null = null;
    if (setup.discover) {
      const started = performance.now();
      const engine = new Engine({ store, providers, clock: systemClock, settings, logger: silentLogger });
      engine.start();
      const deadline = Date.now() + 3_600_000;
      let polls = 0;
      for (;;) {
        await sleep(1000);
        const r = await db.query<{ n: string }>('SELECT count(*) AS n FROM diff_statuses WHERE url IS NULL');
        const left = Number(r.rows[0]!.n);
        if (left === 0) break;
        // Progress on stderr: a full-size discovery takes minutes.
        if (++polls % 30 === 0)
          process.stderr.write(`capacity: ${s.refs - left} of ${s.refs} refs found after ${polls} s\n`);
        if (Date.now() > deadline) throw new Error('capacity: discovery did not finish within an hour');
      }
      await engine.stop();
      discoveryS = Math.round((performance.now() - started) / 100) / 10;
      // Steady state: last refreshed at times spread over the last TTL, each due one TTL after.
      await spreadLastRefreshes(db, new Date(), s.ttlMs, s.ttlMs);
    }

    const staleness: number[] = [];
    const late = new Set<string>();
    // Record, for every claimed row already refreshed once, how long since its last refresh. (A
    // subclass, not a Proxy: the store's private members need the store itself as `this`.)
    const measured = new (class extends SqlStore {
      override async claimStaleRefs(now: Date, limit: number, lease: Date, fillUntil?: Date) {
        const rows = await super.claimStaleRefs(now, limit, lease, fillUntil);
        for (const r of rows) {
          if (!r.refreshed_at) continue;
          const ms = now.getTime() - r.refreshed_at.getTime();
          staleness.push(ms);
          if (ms > s.ttlMs + SLACK_MS) late.add(r.id);
        }
        return rows;
      }
    })(db, new TokenCipher(null));
    let refreshes = 0;
    let writeFailures = 0;
    const ticks = { count: 0, claimed: 0, claim_ms: 0, total_ms: 0, outcomes: {} as Record<string, number> };
    const engine = new Engine({
      store: measured,
      providers,
      clock: systemClock,
      settings,
      logger: silentLogger,
      observer: {
        tick: (r, t) => {
          refreshes += r.outcomes.updated;
          writeFailures += r.write_failures;
          for (const [k, v] of Object.entries(r.outcomes)) ticks.outcomes[k] = (ticks.outcomes[k] ?? 0) + v;
          ticks.count++;
          ticks.claimed += r.claimed;
          ticks.claim_ms += t.claim_ms;
          ticks.total_ms += t.total_ms;
        },
      },
    });

    const hostBefore = await setup.counters?.();
    const started = performance.now();
    const cpu = process.cpuUsage();
    const hostCpu = setup.pid ? cpuSecondsOf(setup.pid) : null;
    const elu = performance.eventLoopUtilization();
    engine.start();
    const rssSamples: number[] = [];
    while (performance.now() - started < s.runMs) {
      await sleep(1000);
      rssSamples.push(process.memoryUsage().rss);
    }
    await engine.stop();
    const seconds = (performance.now() - started) / 1000;
    const hostAfter = await setup.counters?.();
    const used = process.cpuUsage(cpu);
    const hostCpuEnd = setup.pid ? cpuSecondsOf(setup.pid) : null;
    const loop = performance.eventLoopUtilization(elu);
    // Rows left older than TTL + 10 s at the end were not kept fresh either.
    const left = await db.query<{ id: string }>(
      'SELECT id::text AS id FROM diff_statuses WHERE refreshed_at IS NULL OR refreshed_at < $1',
      [new Date(Date.now() - s.ttlMs - SLACK_MS)],
    );
    for (const r of left.rows) late.add(r.id);
    // Refreshes whose outcome was not written would count without keeping anything fresh.
    if (writeFailures > 0) process.stderr.write(`capacity: ${writeFailures} outcome writes failed\n`);
    const perThousand = (n: number) => (refreshes > 0 ? Math.round((n / refreshes) * 10_000) / 10 : null);
    const host =
      hostBefore && hostAfter
        ? {
            requests: hostAfter.requests - hostBefore.requests,
            graphql: hostAfter.graphql - hostBefore.graphql,
            lists: hostAfter.lists - hostBefore.lists,
            points: hostAfter.points - hostBefore.points,
          }
        : null;
    return {
      /** The worker loop's ticks in the window: how many, rows claimed and ms (claim, whole tick) each. */
      ticks: ticks.count,
      outcomes: ticks.outcomes,
      claimed_per_tick: ticks.count > 0 ? Math.round(ticks.claimed / ticks.count) : 0,
      claim_ms_per_tick: ticks.count > 0 ? Math.round(ticks.claim_ms / ticks.count) : 0,
      tick_ms: ticks.count > 0 ? Math.round(ticks.total_ms / ticks.count) : 0,
      /** What the code host received in the window, per 1,000 refreshes (the emulator's own counts). */
      requests_per_1000: host ? perThousand(host.requests) : null,
      graphql_per_1000: host ? perThousand(host.graphql) : null,
      list_reads_per_1000: host ? perThousand(host.lists) : null,
      points_per_1000: host ? perThousand(host.points) : null,
      refreshes,
      write_failures: writeFailures,
      per_second: Math.round(refreshes / seconds),
      needed_per_second: Math.round(s.refs / (s.ttlMs / 1000)),
      staleness_p50_s: Math.round(percentile(staleness, 50) / 100) / 10,
      staleness_p99_s: Math.round(percentile(staleness, 99) / 100) / 10,
      within_pct: Math.round((1 - late.size / s.refs) * 1000) / 10,
      discovery_s: discoveryS,
      max_rss_mb: Math.round(Math.max(...rssSamples) / 1024 / 1024),
      /** CPU of the benchmark process (the engine, and the fake host when it is the host), in cores. */
      cpu_cores: Math.round(((used.user + used.system) / 1e6 / seconds) * 100) / 100,
      event_loop_pct: Math.round(loop.utilization * 1000) / 10,
      /** CPU of the code host's own process (the emulator), in cores; null when in-process. */
      host_cpu_cores:
        hostCpu !== null && hostCpuEnd !== null
          ? Math.round(((hostCpuEnd - hostCpu) / seconds) * 100) / 100
          : null,
    };
  } finally {
    await setup.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface World {
  provider: Provider;
  /** Whether the refs still have to be found (no PR known yet). */
  discover: boolean;
  /** The code host's own process, if it has one. */
  pid?: number;
  /** What the code host received so far, if it counts. */
  counters?: () => Promise<HostCounters>;
  close(): Promise<void>;
}

/** Requests the GitHub emulator received so far: all, GraphQL queries, PR list reads; GraphQL points charged. */
export interface HostCounters {
  requests: number;
  graphql: number;
  lists: number;
  points: number;
}

/** The fake host, refs over 100 owners, every ref already refreshed once (spread over one TTL). */
async function fakeWorld(db: Database, s: CapacityScenario): Promise<World> {
  const host = new FakeCodeHost('https://fake.test');
  host.latencyMs = s.latencyMs;
  const now = Date.now();
  const pulls = Array.from({ length: s.refs }, (_, i) =>
    host.openPull('bench/repo', { head_branch: `b${i + 1}`, pr_number: i + 1 }),
  );
  // Refreshed at times spread over the last TTL (due one TTL after), reported an hour ago.
  const refreshedAt = (n: number) => new Date(now - Math.floor((s.ttlMs * (n % 1000)) / 1000));
  await seedRefs(db, {
    refs: s.refs,
    owners: Array.from({ length: 100 }, () => randomUUID()),
    origin: 'https://fake.test/bench/repo',
    provider_id: 'fake',
    branch: (n) => `b${n}`,
    chats_created_at: new Date(now),
    reported_at: new Date(now - 3_600_000),
    stale_at: (n) => new Date(refreshedAt(n).getTime() + s.ttlMs),
    shows: (n) => ({ pr: pulls[n - 1]!, refreshed_at: refreshedAt(n) }),
  });
  return {
    provider: new FakeProvider(host, { service_token: 'bench' }),
    discover: false,
    close: async () => {},
  };
}

/**
 * The GitHub emulator in a process of its own (its GraphQL parsing and validation cost about as
 * much CPU as a real GitHub's answer costs us nothing, and must not take the engine's event loop),
 * with the refs' PRs; the refs: every one due, no PR known yet.
 */
async function githubWorld(db: Database, s: CapacityScenario): Promise<World> {
  const token = 'ghp_bench_capacity';
  const perRepo = s.prsPerRepo ?? 20;
  const owners = s.owners ?? 1;
  const shape = s.shape ?? 'shared';
  const emulator = await startEmulatorProcess({
    refs: s.refs,
    perRepo,
    token,
    latencyMs: s.latencyMs,
    owners,
    shape,
  });
  try {
    const ownerIds = await seedGitHubRows(db, {
      refs: s.refs,
      perRepo,
      webUrl: emulator.webUrl,
      owners,
      shape,
    });
    if (owners > 1) {
      // Each owner's own token: the service token serves none of them (service_token_for "none").
      const store = new SqlStore(db, new TokenCipher(null));
      for (const [i, owner] of ownerIds.entries())
        await store.putToken(owner, 'github', ownerToken(i), new Date());
    }
  } catch (error) {
    await emulator.close();
    throw error;
  }
  return {
    provider: githubProvider(emulator, token, owners > 1 ? 'none' : 'all'),
    discover: true,
    pid: emulator.pid,
    counters: emulator.counters,
    close: () => emulator.close(),
  };
}

/** The i-th owner's own token (from 0), known to the emulator with a budget of its own. */
export const ownerToken = (i: number) => `ghp_bench_owner_${i}`;

/** The GitHub provider for an emulator, serving every owner with `token` as its service token. */
export function githubProvider(
  gh: { webUrl: string; apiUrl: string },
  token: string,
  serves: 'all' | 'none' = 'all',
): GitHubProvider {
  return new GitHubProvider(
    {
      id: 'github',
      type: 'github',
      web_url: gh.webUrl,
      api_url: gh.apiUrl,
      service_token: token,
      service_token_for: serves,
    },
    { clock: systemClock },
  );
}

/** Repository of the n-th ref's PR (its branch is `b<n>`, counting from 1). */
export const benchRepo = (n: number, perRepo: number) => `r${Math.floor((n - 1) / perRepo)}`;

/**
 * The same with refs spread over `owners` (the n-th ref is owner (n - 1) % owners's): `shared`,
 * as benchRepo (consecutive refs, so every repository holds PRs of `perRepo` owners); `own`, the
 * owner's k-th ref in its repository `o<owner>r<k / perRepo>`.
 */
export function benchRepoOf(n: number, o: { perRepo: number; owners?: number; shape?: RepoShape }): string {
  const owners = o.owners ?? 1;
  if (owners === 1 || o.shape !== 'own') return benchRepo(n, o.perRepo);
  return `o${(n - 1) % owners}r${Math.floor(Math.floor((n - 1) / owners) / o.perRepo)}`;
}

/**
 * Fills an emulator with `perRepo` open PRs per repository (branch `b<n>` in repository
 * `bench/<benchRepoOf(n)>`) and a budget that does not run out for `token` and, with many owners,
 * for each owner's own token.
 */
export function fillGitHubModel(
  gh: GitHubEmulator,
  refs: number,
  perRepo: number,
  token: string,
  spread: { owners?: number; shape?: RepoShape } = {},
): void {
  gh.addToken(token, 'bench', 1_000_000_000, 1_000_000_000);
  const owners = spread.owners ?? 1;
  if (owners > 1)
    for (let i = 0; i < owners; i++) gh.addToken(ownerToken(i), `owner${i}`, 1_000_000_000, 1_000_000_000);
  for (let n = 1; n <= refs; n++) {
    const name = benchRepoOf(n, { perRepo, ...spread });
    const repo = gh.model.repos.get(`bench/${name}`) ?? gh.model.createRepo({ owner: 'bench', name });
    // The branch first: opening a PR on a new branch pushes it, and a push looks at every PR of the
    // model (quadratic at 100,000 PRs).
    repo.branches.set(`b${n}`, createHash('sha1').update(`bench/${name}:b${n}`).digest('hex'));
    gh.model.openPull(`bench/${name}`, { head: `b${n}` });
  }
}

/**
 * `refs` refs on the emulator's PRs (see fillGitHubModel), of one owner or spread over `owners` in
 * turn: reported an hour ago, due, no PR known yet. Returns the owners' ids, in order.
 */
export async function seedGitHubRows(
  db: Database,
  o: { refs: number; perRepo: number; webUrl: string; owners?: number; shape?: RepoShape },
): Promise<string[]> {
  const now = Date.now();
  const owners = Array.from({ length: o.owners ?? 1 }, () => randomUUID());
  await seedRefs(db, {
    refs: o.refs,
    owners,
    origin: `${o.webUrl}/bench/r0`,
    provider_id: 'github',
    branch: (n) => `b${n}`,
    chats_created_at: new Date(now - 3_600_000),
    reported_at: new Date(now - 3_600_000),
    stale_at: (n) => new Date(now - 1000 - (n % 1000)),
  });
  // seedRefs gives every ref one origin: each branch's PR lives in its own repository.
  const n = '(substr(git_branch, 2)::int - 1)';
  const own = owners.length > 1 && o.shape === 'own';
  const repo = own
    ? `'o' || (${n} % $3)::text || 'r' || ((${n} / $3) / $2)::text`
    : `'r' || (${n} / $2)::text`;
  await db.query(
    `UPDATE diff_statuses SET git_remote_origin = $1 || ${repo}`,
    own ? [`${o.webUrl}/bench/`, o.perRepo, owners.length] : [`${o.webUrl}/bench/`, o.perRepo],
  );
  return owners;
}

/** The child process: builds the model, listens, prints its addresses as one JSON line. */
const EMULATOR_PROCESS = `
const { startGitHubEmulator } = await import(process.env.BENCH_EMULATOR_MODULE);
const { fillGitHubModel } = await import(process.env.BENCH_CAPACITY_MODULE);
const o = JSON.parse(process.env.BENCH_EMULATOR);
const gh = await startGitHubEmulator({ rateLimit: 1_000_000_000 });
fillGitHubModel(gh, o.refs, o.perRepo, o.token, { owners: o.owners, shape: o.shape });
gh.latencyMs = o.latencyMs;
const stop = () => gh.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
// Gone with the benchmark, however it ends: its end of stdin closes. A line on stdin asks for
// the counters (one JSON line on stdout).
process.stdin.on('end', stop).on('data', () => {
  const routes = gh.counters.routes;
  const count = (route) => Object.values(routes[route] ?? {}).reduce((a, b) => a + b, 0);
  process.stdout.write(JSON.stringify({ requests: gh.counters.total, graphql: count('graphql'),
    lists: count('list_pulls'), points: gh.graphqlPoints }) + '\\n');
});
process.stdout.write(JSON.stringify({ webUrl: gh.webUrl, apiUrl: gh.apiUrl }) + '\\n');
`;

/** Starts the GitHub emulator in a child process; `close` stops it (by its pid). */
export async function startEmulatorProcess(o: {
  refs: number;
  perRepo: number;
  token: string;
  latencyMs: number;
  owners?: number;
  shape?: RepoShape;
}): Promise<{
  webUrl: string;
  apiUrl: string;
  pid: number;
  counters(): Promise<HostCounters>;
  close(): Promise<void>;
}> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', EMULATOR_PROCESS], {
    env: {
      ...process.env,
      BENCH_EMULATOR_MODULE: new URL('../emulator/github/server.ts', import.meta.url).href,
      BENCH_CAPACITY_MODULE: import.meta.url,
      BENCH_EMULATOR: JSON.stringify(o),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  // The child's lines on stdout, each to the first one waiting.
  const waiting: ((line: string) => void)[] = [];
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
    for (let end = out.indexOf('\n'); end >= 0; end = out.indexOf('\n')) {
      const line = out.slice(0, end);
      out = out.slice(end + 1);
      waiting.shift()?.(line);
    }
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      waiting.push(resolve);
      child.once('exit', (code) => reject(new Error(`the emulator process exited (${code})`)));
    });
  const counters = async () => {
    const line = nextLine();
    child.stdin!.write('counters\n');
    return JSON.parse(await line) as HostCounters;
  };
  try {
    const { webUrl, apiUrl } = JSON.parse(await nextLine()) as { webUrl: string; apiUrl: string };
    return { webUrl, apiUrl, pid: child.pid!, counters, close };
  } catch (error) {
    await close();
    throw error;
  }
}
