/**
 * Shared pieces of the fault suite (`npm run chaos`, test/chaos.test.ts): real `gitsync serve`
 * processes, API calls with bounded time, RSS sampling, invariant lines and the secret scan.
 *
 * Nothing here imports vitest, so the same code runs under the chaos program and under tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { GitHubEmulator } from '../../emulator/github/server.ts';

export const GITSYNC_BIN = fileURLToPath(new URL('../../bin/gitsync.js', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it holds or `timeoutMs` passes; resolves with whether it held (never throws). */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return true;
    } catch {
      // A probe failing (database down, process restarting) is "not yet".
    }
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

// ---- invariants ------------------------------------------------------------------------------

export interface InvariantResult {
  scenario: string;
  name: string;
  status: 'PASS' | 'FAIL' | 'SKIP';
  detail: string;
}

/** Collects invariant results and prints one line for each as it is decided. */
export class Invariants {
  readonly results: InvariantResult[] = [];
  constructor(private readonly print: (line: string) => void = (l) => console.log(l)) {}

  check(scenario: string, name: string, ok: boolean, detail: string): boolean {
    this.#add({ scenario, name, status: ok ? 'PASS' : 'FAIL', detail });
    return ok;
  }

  skip(scenario: string, name: string, reason: string): void {
    this.#add({ scenario, name, status: 'SKIP', detail: reason });
  }

  info(line: string): void {
    this.print(`  ${line}`);
  }

  get failures(): InvariantResult[] {
    return this.results.filter((r) => r.status === 'FAIL');
  }

  #add(r: InvariantResult): void {
    this.results.push(r);
    this.print(`${r.status} ${r.scenario}: ${r.name} — ${r.detail}`);
  }
}

// ---- secrets ---------------------------------------------------------------------------------

/**
 * Every token and key value the run hands out, and every place it must not appear. API answers
 * are scanned as they arrive (keeping them all would cost memory), the rest at the end.
 */
export class SecretWatch {
  readonly #secrets = new Map<string, string>();
  /** Where a secret was seen: "<label> in <place>". */
  readonly leaks: string[] = [];
  scannedResponses = 0;
  scannedBytes = 0;

  add(label: string, value: string): void {
    this.#secrets.set(label, value);
  }

  get labels(): string[] {
    return [...this.#secrets.keys()];
  }

  scan(place: string, text: string): void {
    this.scannedBytes += text.length;
    for (const [label, value] of this.#secrets) {
      if (value && text.includes(value)) this.leaks.push(`${label} in ${place}`);
    }
  }
}

// ---- the HTTP API ----------------------------------------------------------------------------

export interface ApiAnswer {
  /** 0 when no answer came (refused connection, reset, or our timeout). */
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are inspected loosely
  body: any;
  text: string;
  ms: number;
  error?: string;
}

/** API calls that never hang: every call has a deadline, and every answer is scanned for secrets. */
export class Api {
  constructor(
    private readonly secrets: SecretWatch,
    private readonly defaultKey: string,
  ) {}

  async call(
    base: string,
    method: string,
    path: string,
    options: { body?: unknown; key?: string | null; timeoutMs?: number; scan?: boolean } = {},
  ): Promise<ApiAnswer> {
    const started = performance.now();
    const key = options.key === undefined ? this.defaultKey : options.key;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    try {
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      });
      const text = await res.text();
      const ms = performance.now() - started;
      if (options.scan !== false) {
        this.secrets.scannedResponses++;
        this.secrets.scan(`API answer to ${method} ${path.split('?')[0]}`, text);
      }
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = null;
      }
      return { status: res.status, body, text, ms };
    } catch (error) {
      const ms = performance.now() - started;
      const name = (error as Error).name;
      return {
        status: 0,
        body: null,
        text: '',
        ms,
        error:
          name === 'TimeoutError' ? 'timeout' : (((error as Error).cause as Error)?.message ?? String(error)),
      };
    }
  }
}

/** Whether an answer carries the documented error shape `{"error": {"code", "message"}}`. */
export const hasErrorBody = (a: ApiAnswer) =>
  typeof a.body?.error?.code === 'string' && typeof a.body?.error?.message === 'string';

// ---- processes -------------------------------------------------------------------------------

/** One `gitsync serve` process; `expectedExit` tells a kill we made from a crash. */
export class Replica {
  url = '';
  expectedExit = false;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** Where the output of a process that exited on its own was saved. */
  crashLog: string | null = null;
  #out = '';
  #err = '';
  readonly #exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.stdout!.on('data', (d) => {
      this.#out += d;
    });
    proc.stderr!.on('data', (d) => {
      this.#err += d;
    });
    this.#exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        if (!this.expectedExit) {
          // A crash: keep its whole output for whoever reads the report.
          this.crashLog = join(tmpdir(), `gitsync-chaos-crash-${name}-${proc.pid}.log`);
          writeFileSync(this.crashLog, `exit ${JSON.stringify(this.exit)}\n${this.#out}\n${this.#err}`);
        }
        resolve();
      }),
    );
  }

  /** Starts `gitsync serve` and resolves once it prints its address. */
  static async start(name: string, env: Record<string, string>, timeoutMs = 30_000): Promise<Replica> {
    // Only what we pass: a GITSYNC_* variable of the caller's shell must not change the scenario.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('GITSYNC_')),
    ) as Record<string, string>;
    const proc = spawn(process.execPath, [GITSYNC_BIN, 'serve'], {
      env: { ...inherited, GITSYNC_LOG_LEVEL: 'info', GITSYNC_HOST: '127.0.0.1', GITSYNC_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const replica = new Replica(name, proc);
    const ok = await waitUntil(
      () => /listening on (http:\/\/\S+) /.test(replica.#out) || !replica.alive,
      timeoutMs,
      20,
    );
    const m = /listening on (http:\/\/\S+) /.exec(replica.#out);
    if (!ok || !m) {
      await replica.stop('SIGKILL');
      throw new Error(
        `gitsync serve (${name}) did not start:\n${replica.#out}\n${replica.#err.slice(-4000)}`,
      );
    }
    replica.url = m[1]!;
    return replica;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  get logs(): string {
    return this.#out + this.#err;
  }

  get stderr(): string {
    return this.#err;
  }

  /** Signals the process (expected) and resolves when it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
    this.expectedExit = true;
    if (!this.alive) return;
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** Resident set size of a process in MB (from /proc/<pid>/status VmRSS), or null when gone. */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples the RSS of the given processes periodically; keeps each one's maximum. */
export class RssSampler {
  readonly max = new Map<string, number>();
  readonly #procs = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;

  watch(label: string, pid: number): void {
    this.#procs.set(label, pid);
  }

  start(everyMs = 500): this {
    this.#timer = setInterval(() => this.sample(), everyMs);
    return this;
  }

  sample(): void {
    for (const [label, pid] of this.#procs) {
      const mb = rssMb(pid);
      if (mb !== null) this.max.set(label, Math.max(this.max.get(label) ?? 0, mb));
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.sample();
  }

  get overall(): number {
    return Math.max(0, ...this.max.values());
  }

  describe(): string {
    return [...this.max].map(([l, mb]) => `${l} ${mb.toFixed(0)} MB`).join(', ');
  }
}

// ---- configuration ---------------------------------------------------------------------------

export const ADMIN_KEY = 'chaos-admin-key-0123456789abcdef';
export const SERVICE_TOKEN = 'ghp_chaosServiceToken0123456789abcdefXYZ';
export const OWNER_TOKEN = 'ghp_chaosOwnerToken0123456789abcdefOWN';
/** 32 bytes as 64 hex digits: owners' tokens are sealed with it. */
export const ENCRYPTION_KEY = 'c4a05f1e9b2d7c3a8e6f0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4';
export const SERVICE_TOKEN_ENV = 'GH_CHAOS_SERVICE_TOKEN';

/** Writes the configuration file: the emulator as the only provider, and the worker timing given. */
export function writeConfig(
  dir: string,
  gh: Pick<GitHubEmulator, 'webUrl' | 'apiUrl'>,
  worker: Record<string, number>,
): string {
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      providers: [
        {
          id: 'github',
          type: 'github',
          web_url: gh.webUrl,
          api_url: gh.apiUrl,
          token_env: SERVICE_TOKEN_ENV,
          // Every owner without a token of its own is served with the service token.
          service_token_for: 'all',
        },
      ],
      worker,
      // The load generator sends far more than an ordinary client; keep the per-key rate out of the way.
      limits: { requests_per_second: 10_000, request_burst: 10_000 },
    }),
  );
  return file;
}

/** A PostgreSQL URL with extra query parameters (search_path, application_name). */
export function withParams(url: string, params: Record<string, string>): string {
  const query = Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');
  return `${url}${url.includes('?') ? '&' : '?'}${query}`;
}

/** The environment of a replica on PostgreSQL; `name` becomes its connections' application_name. */
export function replicaEnv(databaseUrl: string, configFile: string, name: string): Record<string, string> {
  return {
    GITSYNC_DATABASE_URL: withParams(databaseUrl, { application_name: name }),
    GITSYNC_ADMIN_TOKEN: ADMIN_KEY,
    GITSYNC_ENCRYPTION_KEY: ENCRYPTION_KEY,
    GITSYNC_CONFIG: configFile,
    [SERVICE_TOKEN_ENV]: SERVICE_TOKEN,
  };
}

/** A small pool for the suite's own queries; errors of idle clients (database restarts) are ignored. */
export function adminPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 3_000 });
  pool.on('error', () => {});
  return pool;
}

// ---- owners, keys and tokens -----------------------------------------------------------------

export interface Owner {
  id: string;
  /** The owner-scoped API key, once created. */
  key: string;
}

/**
 * Creates an owner key and, when `token` is given, links the owner's own GitHub token through the
 * API (the emulator accepts it too). Both values join the secrets the scan looks for.
 */
export async function setUpOwner(
  api: Api,
  base: string,
  secrets: SecretWatch,
  gh: GitHubEmulator,
  ownerId: string,
  token?: string,
): Promise<Owner> {
  // The answer carries the new key by design (shown once): not scanned.
  const created = await api.call(base, 'POST', '/api/v1/keys', {
    body: { owner_id: ownerId, name: 'chaos owner key' },
    scan: false,
  });
  if (created.status !== 201) throw new Error(`creating an owner key: ${created.status} ${created.text}`);
  const key = created.body.key as string;
  secrets.add(`owner key of ${ownerId.slice(0, 8)}`, key);
  if (token) {
    gh.addToken(token, 'chaos-owner');
    secrets.add(`owner token of ${ownerId.slice(0, 8)}`, token);
    const put = await api.call(base, 'PUT', `/api/v1/owners/${ownerId}/tokens/github`, {
      body: { token },
      key,
    });
    if (put.status !== 204) throw new Error(`linking an owner token: ${put.status} ${put.text}`);
  }
  return { id: ownerId, key };
}

/** What the scan needs of a database: a pg pool, or the embedded database opened in-process. */
export interface Sql {
  // biome-ignore lint/suspicious/noExplicitAny: rows are read loosely
  query(text: string): Promise<{ rows: any[] }>;
}

// ---- the secret scan -------------------------------------------------------------------------

/**
 * Looks for every secret in the processes' logs, the events' payloads, `/metrics` of the live
 * replicas and every table dumped as text; API answers were scanned as they came.
 */
export async function scanForSecrets(
  scenario: string,
  inv: Invariants,
  secrets: SecretWatch,
  replicas: readonly Replica[],
  pool: Sql,
  api: Api,
): Promise<void> {
  let logBytes = 0;
  for (const r of replicas) {
    logBytes += r.logs.length;
    secrets.scan(`logs of ${r.name} (pid ${r.pid})`, r.logs);
  }
  let metrics = 0;
  for (const r of replicas.filter((x) => x.alive)) {
    const m = await api.call(r.url, 'GET', '/metrics', { key: null });
    if (m.status === 200) metrics++;
  }
  const events = (await pool.query('SELECT payload FROM events')) as { rows: { payload: string }[] };
  for (const e of events.rows) secrets.scan('events.payload', e.payload);
  const tables = (await pool.query(
    `SELECT table_name FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  )) as { rows: { table_name: string }[] };
  let rows = 0;
  for (const { table_name } of tables.rows) {
    const dump = (await pool.query(`SELECT t::text AS t FROM "${table_name}" t`)) as {
      rows: { t: string }[];
    };
    rows += dump.rows.length;
    secrets.scan(`table ${table_name}`, dump.rows.map((x) => x.t).join('\n'));
  }
  inv.check(
    scenario,
    'no token or key value in logs, events, /metrics, API answers or any table',
    secrets.leaks.length === 0,
    `${secrets.labels.length} secrets looked for in ${replicas.length} processes' logs (${(logBytes / 1024).toFixed(0)} KB), ` +
      `${events.rows.length} event payloads, /metrics of ${metrics} replicas, ${secrets.scannedResponses} API answers, ` +
      `${rows} rows of ${tables.rows.length} tables` +
      (secrets.leaks.length ? `; FOUND: ${[...new Set(secrets.leaks)].slice(0, 10).join('; ')}` : ''),
  );
}

// ---- claims log ------------------------------------------------------------------------------

/**
 * Installs a trigger on `diff_statuses` that logs every change of `stale_at` or `updated_at`,
 * classified by what it looks like: a report (updated_at moves), a claim (stale_at moves from
 * due to about now + lease), a release (due again at once), or an outcome (any other reschedule).
 * The connection's application_name says which replica did it.
 */
export async function installStaleLog(pool: pg.Pool, leaseMs: number, toleranceMs: number): Promise<void> {
  await pool.query(`
    CREATE TABLE IF NOT EXISTS chaos_stale_log (
      seq bigserial PRIMARY KEY, row_id bigint NOT NULL, kind text NOT NULL, app text NOT NULL,
      at timestamptz NOT NULL, old_stale timestamptz, new_stale timestamptz);
    CREATE OR REPLACE FUNCTION chaos_log_stale() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      t timestamptz := clock_timestamp();
      k text;
    BEGIN
      IF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        k := 'report';
      ELSIF NEW.stale_at IS NOT DISTINCT FROM OLD.stale_at THEN
        RETURN NEW;
      ELSIF OLD.stale_at <= t + interval '100 milliseconds'
            AND abs(extract(epoch FROM (NEW.stale_at - t)) * 1000 - ${Number(leaseMs)}) < ${Number(toleranceMs)} THEN
        k := 'claim';
      ELSIF NEW.stale_at <= t + interval '100 milliseconds' THEN
        k := 'release';
      ELSE
        k := 'outcome';
      END IF;
      INSERT INTO chaos_stale_log (row_id, kind, app, at, old_stale, new_stale)
        VALUES (NEW.id, k, current_setting('application_name'), t, OLD.stale_at, NEW.stale_at);
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS chaos_log_stale ON diff_statuses;
    CREATE TRIGGER chaos_log_stale AFTER UPDATE ON diff_statuses
      FOR EACH ROW EXECUTE FUNCTION chaos_log_stale();
  `);
}

export interface ClaimAnalysis {
  claims: number;
  byApp: Record<string, number>;
  /** A claim while the previous claim of the row was unfinished and its lease still ran. */
  doubleClaims: { row_id: string; first: string; second: string; gap_ms: number }[];
  /** Claims of rows whose previous claim was never finished, taken once the lease ran out. */
  takeovers: number;
}

/**
 * Reads the log: per row, a claim opens, and any report, release or outcome closes it. A second
 * claim while one is open and less than (lease − tolerance) after it is a double claim.
 */
export async function analyseClaims(
  pool: pg.Pool,
  leaseMs: number,
  toleranceMs: number,
): Promise<ClaimAnalysis> {
  const r = await pool.query<{ row_id: string; kind: string; app: string; at: Date }>(
    'SELECT row_id, kind, app, at FROM chaos_stale_log ORDER BY row_id, seq',
  );
  const out: ClaimAnalysis = { claims: 0, byApp: {}, doubleClaims: [], takeovers: 0 };
  let row = '';
  let open: { app: string; at: Date } | null = null;
  for (const e of r.rows) {
    if (e.row_id !== row) {
      row = e.row_id;
      open = null;
    }
    if (e.kind !== 'claim') {
      open = null;
      continue;
    }
    out.claims++;
    out.byApp[e.app] = (out.byApp[e.app] ?? 0) + 1;
    if (open) {
      const gap = e.at.getTime() - open.at.getTime();
      if (gap < leaseMs - toleranceMs)
        out.doubleClaims.push({ row_id: e.row_id, first: open.app, second: e.app, gap_ms: gap });
      else out.takeovers++;
    }
    open = { app: e.app, at: e.at };
  }
  return out;
}

/** Rows whose latest logged change is a claim by `app` (in its hands, unfinished). */
export async function rowsHeldBy(pool: pg.Pool, app: string): Promise<{ row_id: string; at: Date }[]> {
  const r = await pool.query<{ row_id: string; at: Date }>(
    `SELECT row_id, at FROM (
       SELECT DISTINCT ON (row_id) row_id, kind, app, at FROM chaos_stale_log ORDER BY row_id, seq DESC
     ) latest WHERE kind = 'claim' AND app = $1`,
    [app],
  );
  return r.rows;
}

// ---- the code host's truth -------------------------------------------------------------------

export interface Expected {
  state: 'open' | 'closed' | 'merged' | null;
  number: number | null;
  title: string | null;
  draft: boolean | null;
}

/** What a ref should show, from the emulator's model: its open PR, else the most recently updated. */
export function expectedFor(gh: GitHubEmulator, origin: string, branch: string): Expected {
  const path = new URL(origin).pathname.split('/').filter(Boolean);
  const full = `${path[0]}/${path[1]}`;
  const list = gh.model.listPulls(full, {
    state: 'all',
    head: `${path[0]}:${branch}`,
    sort: 'updated',
    direction: 'desc',
  });
  const pull = list.find((p) => p.state === 'open') ?? list[0];
  if (!pull) return { state: null, number: null, title: null, draft: null };
  return {
    state: pull.merged ? 'merged' : pull.state,
    number: pull.number,
    title: pull.title,
    draft: pull.draft,
  };
}

export interface RefRow {
  id: string;
  chat_id: string;
  git_remote_origin: string;
  git_branch: string;
  pull_request_state: string | null;
  pr_number: number | null;
  pull_request_title: string | null;
  pull_request_draft: boolean | null;
  last_error: string | null;
  last_error_at: Date | null;
  paused_until: Date | null;
  refreshed_at: Date | null;
  stale_at: Date;
}

export async function allRefs(pool: pg.Pool): Promise<RefRow[]> {
  const r = await pool.query<RefRow>(
    `SELECT id, chat_id, git_remote_origin, git_branch, pull_request_state, pr_number, pull_request_title,
            pull_request_draft, last_error, last_error_at, paused_until, refreshed_at, stale_at FROM diff_statuses`,
  );
  return r.rows;
}

/** Rows that do not (yet) show what the code host says, with a short reason each. */
export function mismatches(gh: GitHubEmulator, rows: readonly RefRow[]): string[] {
  const out: string[] = [];
  for (const row of rows) {
    const want = expectedFor(gh, row.git_remote_origin, row.git_branch);
    const got: Expected = {
      state: row.pull_request_state as Expected['state'],
      number: row.pr_number,
      title: row.pull_request_title,
      draft: row.pull_request_draft,
    };
    if (
      want.state !== got.state ||
      want.number !== got.number ||
      want.title !== got.title ||
      want.draft !== got.draft
    )
      out.push(
        `${row.git_branch}: want ${JSON.stringify(want)} got ${JSON.stringify(got)} (error ${row.last_error})`,
      );
  }
  return out;
}

// ---- report load -----------------------------------------------------------------------------

export interface ReportTarget {
  chat_id: string;
  origin: string;
  branch: string;
  /** What the stored origin must be (canonical form). */
  stored_origin: string;
  key?: string;
}

/**
 * Sends ref reports continuously (at most `concurrency` in flight, `ratePerSecond` overall) to
 * the replicas alive at each moment, and remembers every one answered 202.
 */
export class ReportLoad {
  readonly accepted = new Map<string, { at: number }>();
  readonly refused = new Map<string, number>();
  sent = 0;
  /** Reports answered 202 (several may name one ref). */
  ok = 0;
  maxMs = 0;
  #running = false;
  #loops: Promise<void>[] = [];
  #n = 0;

  constructor(
    private readonly api: Api,
    private readonly targets: () => string[],
    private readonly next: () => ReportTarget | Promise<ReportTarget>,
    private readonly options: {
      ratePerSecond: number;
      concurrency: number;
      timeoutMs: number;
      /** Sees every answer with when its request started and ended (ms since the epoch). */
      onAnswer?: (answer: ApiAnswer, startedAt: number, endedAt: number) => void;
    },
  ) {}

  start(): this {
    this.#running = true;
    const interval = (1000 * this.options.concurrency) / this.options.ratePerSecond;
    for (let i = 0; i < this.options.concurrency; i++) {
      this.#loops.push(
        (async () => {
          await sleep((interval * i) / this.options.concurrency);
          while (this.#running) {
            const t0 = Date.now();
            await this.sendOne();
            await sleep(Math.max(0, interval - (Date.now() - t0)));
          }
        })(),
      );
    }
    return this;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  async sendOne(): Promise<number> {
    const bases = this.targets();
    if (bases.length === 0) {
      this.#count('no replica alive');
      return 0;
    }
    const base = bases[this.#n++ % bases.length]!;
    const t = await this.next();
    this.sent++;
    const startedAt = Date.now();
    const a = await this.api.call(base, 'POST', '/api/v1/git-refs', {
      body: { chat_id: t.chat_id, origin: t.origin, branch: t.branch },
      key: t.key,
      timeoutMs: this.options.timeoutMs,
    });
    this.options.onAnswer?.(a, startedAt, Date.now());
    this.maxMs = Math.max(this.maxMs, a.ms);
    if (a.status === 202) this.ok++;
    if (a.status === 202) this.accepted.set(refKey(t.chat_id, t.stored_origin, t.branch), { at: Date.now() });
    else
      this.#count(
        a.status === 0 ? `no answer (${a.error})` : `${a.status} ${a.body?.error?.code ?? '(no error body)'}`,
      );
    return a.status;
  }

  #count(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  describeRefused(): string {
    return [...this.refused].map(([k, n]) => `${n}× ${k}`).join(', ') || 'none';
  }
}

export const refKey = (chat: string, origin: string, branch: string) => `${chat} ${origin} ${branch}`;

/** Accepted reports whose ref is not in the table. */
export async function missingReports(pool: pg.Pool, load: ReportLoad): Promise<string[]> {
  const r = await pool.query<{ chat_id: string; git_remote_origin: string; git_branch: string }>(
    'SELECT chat_id, git_remote_origin, git_branch FROM diff_statuses',
  );
  const present = new Set(r.rows.map((x) => refKey(x.chat_id, x.git_remote_origin, x.git_branch)));
  return [...load.accepted.keys()].filter((k) => !present.has(k));
}

/** Percentile of a list of numbers (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
