/**
 * Footprint and start time of real `gitsync serve` processes, as a user runs them: time from
 * spawning the process to the first healthy `GET /healthz`, and the serve process's resident memory
 * (VmRSS and its peak VmHWM from /proc/<pid>/status), on the embedded database and on PostgreSQL,
 * idle and with 2,000 / 10,000 / 100,000 tracked refs after the worker's pass over them.
 *
 * The refs are seeded in bulk before `serve` starts (for the embedded database by opening the same
 * data folder from this process, which then closes it, so the serving process loads it as a user's
 * would). Each ref has an open PR in the GitHub emulator (run in this process, so its memory is not
 * counted), which the serve process's worker reads with a service token. Not a test: nothing
 * passes or fails.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startGitHubEmulator } from '../emulator/github/server.ts';
import { type Database, openDatabase } from '../src/store/database.ts';
import { migrate } from '../src/store/migrate.ts';
import { SERVICE_TOKEN, SERVICE_TOKEN_ENV, writeConfig } from '../test/chaos/harness.ts';
import { freePort } from '../test/helpers/embedded-postgres.ts';
import { memoryOf } from './proc.ts';
import { seedRefs } from './seed.ts';
import { round } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADMIN = 'bench-footprint-admin-key';
/** Repositories the refs are spread over (the emulator scans a repository's PRs per lookup). */
const REPOS = 100;

/** How a `gitsync serve` is started. */
export interface Launcher {
  name: string;
  args: string[];
}

/** `npm start` in a checkout as it was: the TypeScript sources through tsx. */
export const SOURCE: Launcher = {
  name: 'source (tsx)',
  args: ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve'],
};
/** The compiled package (`npm run build`): what an installed gitsync runs. */
export const COMPILED: Launcher = {
  name: 'compiled (dist)',
  args: [join(ROOT, 'dist/src/cli/main.js'), 'serve'],
};
/** What `bin/gitsync.js` (so `npm start` and `npx gitsync`) chooses. */
export const BIN: Launcher = { name: 'bin/gitsync.js', args: [join(ROOT, 'bin/gitsync.js'), 'serve'] };

export interface StartFigures {
  mode: 'embedded' | 'postgresql';
  launcher: string;
  start: string;
  /** Spawn → first 200 from /healthz. */
  healthy_ms: number;
  /** What the process logged about its start (ms since its own start), when it did. */
  breakdown: Record<string, number> | null;
  rss_mb: number;
  peak_mb: number;
}

export interface RefFigures {
  mode: 'embedded' | 'postgresql';
  refs: number;
  healthy_ms: number;
  rss_started_mb: number;
  pass_s: number | null;
  peak_pass_mb: number;
  rss_after_pass_mb: number;
  rss_after_list_mb: number;
  peak_mb: number;
}

interface Served {
  proc: ChildProcess;
  url: string;
  healthyMs: number;
  stderr: () => string;
  stop(): Promise<number | null>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `gitsync serve` and resolves once `/healthz` answers 200. */
async function startServe(
  launcher: Launcher,
  env: Record<string, string>,
  nodeFlags: string[],
): Promise<Served> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...nodeFlags, ...launcher.args], {
    cwd: ROOT,
    env: {
      ...process.env,
      GITSYNC_HOST: '127.0.0.1',
      GITSYNC_PORT: String(port),
      GITSYNC_ADMIN_TOKEN: ADMIN,
      GITSYNC_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  for (;;) {
    if (gone) throw new Error(`gitsync serve exited before it was healthy:\n${err}`);
    if (performance.now() - t0 > 120_000) {
      proc.kill('SIGKILL');
      throw new Error(`gitsync serve not healthy in 120 s:\n${err}`);
    }
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(10);
  }
  const healthyMs = performance.now() - t0;
  return {
    proc,
    url,
    healthyMs,
    stderr: () => err,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** The `startup` timings of the "gitsync is running" log line, if the process wrote one. */
function breakdownOf(stderr: string): Record<string, number> | null {
  for (const line of stderr.split('\n')) {
    if (!line.includes('gitsync is running')) continue;
    try {
      const startup = JSON.parse(line).startup;
      if (startup && typeof startup === 'object') return startup as Record<string, number>;
    } catch {
      // not JSON: ignore
    }
  }
  return null;
}

async function stopped(served: Served): Promise<void> {
  const code = await served.stop();
  if (code !== 0) throw new Error(`gitsync serve exited with ${code}:\n${served.stderr()}`);
}

/** Sum of a Prometheus metric's samples (all label sets). */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

/**
 * Waits until the worker has refreshed `refs` rows (those due when it started) and none is due;
 * returns the seconds it took (null: not within the deadline).
 */
async function workerPass(url: string, refs: number, deadlineMs: number): Promise<number | null> {
  const t0 = performance.now();
  while (performance.now() - t0 < deadlineMs) {
    const text = await fetch(`${url}/metrics`).then((r) => r.text());
    if (metricSum(text, 'gitsync_refreshes_total') >= refs && metricSum(text, 'gitsync_rows_due') === 0)
      return round((performance.now() - t0) / 1000, 1);
    await sleep(1000);
  }
  return null;
}

/** Reads every chat through the API, 500 a page (the admin key sees all owners). */
async function listAll(url: string): Promise<number> {
  let cursor: string | null = null;
  let chats = 0;
  do {
    const page: Response = await fetch(
      `${url}/api/v1/chats?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      { headers: { authorization: `Bearer ${ADMIN}` } },
    );
    if (!page.ok) throw new Error(`GET /api/v1/chats: ${page.status} ${await page.text()}`);
    const body = (await page.json()) as { chats: unknown[]; next_cursor: string | null };
    chats += body.chats.length;
    cursor = body.next_cursor;
  } while (cursor);
  return chats;
}

/** Adds refs (one chat each, 100 owners, spread over the emulator's repositories) until there are `total`. */
async function seedTo(
  db: Database,
  from: number,
  total: number,
  webUrl: string,
  owners: readonly string[],
): Promise<void> {
  const now = new Date();
  const perRepo = Math.ceil((total - from) / REPOS);
  for (let r = 0, done = from; r < REPOS && done < total; r++) {
    const count = Math.min(perRepo, total - done);
    const first = done;
    await seedRefs(db, {
      refs: count,
      owners,
      origin: `${webUrl}/acme/app-${r}`,
      provider_id: 'github',
      branch: (n) => `b-${first + n}`,
      chats_created_at: now,
      reported_at: now,
      stale_at: () => new Date(now.getTime() - 1000),
    });
    done += count;
  }
}

export interface FootprintOptions {
  pgUrl: string;
  refs: readonly number[];
  /** Launchers whose first and later embedded starts are timed. */
  launchers: readonly Launcher[];
  /** The launcher of the runs with refs. */
  refsLauncher: Launcher;
  /** Node flags put before the launcher's arguments. */
  nodeFlags?: string[];
  /** How long a worker pass may take before it is reported as unfinished. */
  passDeadlineMs?: number;
  /** Called with the serve process's pid after each worker pass (e.g. to take a heap snapshot). */
  afterPass?: (pid: number, mode: 'embedded' | 'postgresql', refs: number) => Promise<void>;
  /** Which databases the runs with refs use (default both). */
  modes?: readonly ('embedded' | 'postgresql')[];
}

export async function measureFootprint(options: FootprintOptions): Promise<{
  starts: StartFigures[];
  refs: RefFigures[];
}> {
  const nodeFlags = options.nodeFlags ?? [];
  const passDeadlineMs = options.passDeadlineMs ?? 600_000;
  const starts: StartFigures[] = [];
  const refRows: RefFigures[] = [];
  const temp = mkdtempSync(join(tmpdir(), 'gitsync-footprint-'));
  const gh = await startGitHubEmulator({ rateLimit: 100_000_000, graphqlRateLimit: 100_000_000 });
  try {
    gh.addToken(SERVICE_TOKEN, 'bench', 100_000_000);
    const repos = Array.from({ length: REPOS }, (_, r) =>
      gh.model.createRepo({ owner: 'acme', name: `app-${r}` }),
    );
    // PRs for every branch any run may seed: each batch of refs is spread over the repositories
    // anew, so branch `b-k` may sit in any of them.
    const opened = new Set<string>();
    const openFor = (from: number, total: number) => {
      const per = Math.ceil((total - from) / REPOS);
      for (let r = 0, done = from; r < REPOS && done < total; r++) {
        const count = Math.min(per, total - done);
        for (let n = 1; n <= count; n++) {
          const key = `${r}:${done + n}`;
          if (opened.has(key)) continue;
          opened.add(key);
          // The branch first: opening a PR on a new branch pushes it, and a push looks at every PR
          // of the model (quadratic at 100,000 PRs).
          repos[r]!.branches.set(`b-${done + n}`, randomBytes(20).toString('hex'));
          gh.model.openPull(`acme/app-${r}`, { head: `b-${done + n}` });
        }
        done += count;
      }
    };
    // One pass over the refs, then nothing due for an hour: what follows the pass is idle.
    const config = writeConfig(temp, gh, { fresh_ttl_ms: 3_600_000, merge_unknown_ttl_ms: 3_600_000 });
    const owners = Array.from({ length: 100 }, () => randomUUID());
    const env = { GITSYNC_CONFIG: config, [SERVICE_TOKEN_ENV]: SERVICE_TOKEN };

    // 1. Start times on the embedded database: a fresh folder, then the same folder again.
    for (const launcher of options.launchers) {
      const dataDir = join(temp, `start-${randomBytes(4).toString('hex')}`);
      for (const start of ['first (new data folder)', 'later (same folder)'] as const) {
        const served = await startServe(launcher, { ...env, GITSYNC_DATA_DIR: dataDir }, nodeFlags);
        const m = memoryOf(served.proc.pid!);
        await sleep(200);
        starts.push({
          mode: 'embedded',
          launcher: launcher.name,
          start,
          healthy_ms: Math.round(served.healthyMs),
          breakdown: breakdownOf(served.stderr()),
          rss_mb: m.rss,
          peak_mb: m.peak,
        });
        await stopped(served);
      }
    }

    // 2. With refs: embedded (one folder, refs added between runs) and PostgreSQL (a schema per run).
    // `due`: the refs not refreshed yet (the embedded folder keeps the earlier runs' refs, fresh for an hour).
    const runWithRefs = async (
      mode: 'embedded' | 'postgresql',
      refs: number,
      due: number,
      serveEnv: Record<string, string>,
    ) => {
      const served = await startServe(options.refsLauncher, { ...env, ...serveEnv }, nodeFlags);
      const pid = served.proc.pid!;
      try {
        const started = memoryOf(pid);
        if (mode === 'postgresql')
          starts.push({
            mode,
            launcher: options.refsLauncher.name,
            start: `with ${refs} refs`,
            healthy_ms: Math.round(served.healthyMs),
            breakdown: breakdownOf(served.stderr()),
            rss_mb: started.rss,
            peak_mb: started.peak,
          });
        const passS = await workerPass(served.url, due, passDeadlineMs);
        const peakPass = memoryOf(pid).peak;
        await sleep(5000);
        await options.afterPass?.(pid, mode, refs);
        const afterPass = memoryOf(pid).rss;
        const listed = await listAll(served.url);
        if (listed !== refs) throw new Error(`listed ${listed} chats, seeded ${refs}`);
        const afterList = memoryOf(pid);
        refRows.push({
          mode,
          refs,
          healthy_ms: Math.round(served.healthyMs),
          rss_started_mb: started.rss,
          pass_s: passS,
          peak_pass_mb: peakPass,
          rss_after_pass_mb: afterPass,
          rss_after_list_mb: afterList.rss,
          peak_mb: afterList.peak,
        });
      } finally {
        await stopped(served);
      }
    };

    const sorted = [...options.refs].sort((a, b) => a - b);
    const dataDir = join(temp, 'refs');
    let seeded = 0;
    const modes = options.modes ?? ['embedded', 'postgresql'];
    for (const refs of modes.includes('embedded') ? sorted : []) {
      openFor(seeded, refs);
      const db = await openDatabase({ dataDir: join(dataDir, 'pglite') });
      try {
        await migrate(db);
        await seedTo(db, seeded, refs, gh.webUrl, owners);
      } finally {
        await db.close();
      }
      await runWithRefs('embedded', refs, refs - seeded, { GITSYNC_DATA_DIR: dataDir });
      seeded = refs;
    }

    for (const refs of modes.includes('postgresql') ? sorted : []) {
      const schema = `bench_fp_${randomBytes(4).toString('hex')}`;
      const db = await openDatabase({ url: options.pgUrl, schema, maxConnections: 2 });
      try {
        await migrate(db);
        openFor(0, refs);
        await seedTo(db, 0, refs, gh.webUrl, owners);
        const url = `${options.pgUrl}${options.pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
        await runWithRefs('postgresql', refs, refs, {
          GITSYNC_DATABASE_URL: url,
          GITSYNC_DATA_DIR: join(temp, 'pg'),
        });
      } finally {
        await db.exec(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
        await db.close();
      }
    }
  } finally {
    await gh.close();
    rmSync(temp, { recursive: true, force: true });
  }
  return { starts, refs: refRows };
}

/** Compiles dist/ (`npm run build`), so the compiled launchers run what src/ holds. */
export function buildDist(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) throw new Error('npm run build wrote no dist/');
}
