import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ConfigError } from '../core/errors.ts';
import { trimTrailingSlash } from '../core/origin.ts';

/**
 * Whether an error says the database cannot be reached (connection refused or lost, server
 * shutting down or starting): worth retrying shortly, unlike a failed statement. PostgreSQL's
 * SQLSTATE classes 08 (connection exception) and 57P (operator intervention), and Node's socket errors.
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (/^08/.test(code) || /^57P0[1-3]$/.test(code))) return true;
  if (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code)
  )
    return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message);
}

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** What the store needs from a connection: one statement with parameters, or a script. */
export interface Tx {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** Runs several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/**
 * The database under the store: PostgreSQL through `pg`, or embedded PGlite through its own
 * API. Both return the same JS types (timestamptz → Date, bigint/numeric → string), so the one
 * SQL store runs unchanged on either. Counts statements so benchmarks can report round trips.
 */
export interface Database extends Tx {
  readonly kind: 'postgres' | 'pglite';
  readonly statements: number;
  /** Runs `fn` in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

class PostgresDatabase implements Database {
  readonly kind = 'postgres';
  statements = 0;
  constructor(readonly pool: pg.Pool) {}

  async query<R>(text: string, params: unknown[] = []): Promise<QueryResult<R>> {
    this.statements++;
    const r = await this.pool.query(text, params);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  async exec(script: string): Promise<void> {
    this.statements++;
    await this.pool.query(script);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A checked-out client is the caller's to watch: a connection lost between two statements
    // (the server restarting) is emitted on it, and unheard it would crash the process. Such a
    // client is destroyed on release instead of going back to the pool.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    const tx: Tx = {
      query: async <R>(text: string, params: unknown[] = []) => {
        this.statements++;
        const r = await client.query(text, params);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
      },
      exec: async (script) => {
        this.statements++;
        await client.query(script);
      },
    };
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollback: Error) => {
        broken ??= rollback;
      });
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * PGlite is one backend in this process: statements and transactions queue on its own lock.
 * (Its node-postgres adapter is not used: after any SQL error it loses protocol sync.)
 */
class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  statements = 0;
  constructor(
    readonly pglite: PGlite,
    private readonly owned: boolean,
    /** Releases the folder's lock once the database is closed. */
    private readonly unlock: () => void = () => {},
  ) {}

  async query<R>(text: string, params: unknown[] = []): Promise<QueryResult<R>> {
    this.statements++;
    const r = await this.pglite.query<R>(text, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }

  async exec(script: string): Promise<void> {
    this.statements++;
    await this.pglite.exec(script);
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.pglite.transaction((t) =>
      fn({
        query: async <R>(text: string, params: unknown[] = []) => {
          this.statements++;
          const r = await t.query<R>(text, params);
          return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
        },
        exec: async (script) => {
          this.statements++;
          await t.exec(script);
        },
      }),
    );
  }

  async close(): Promise<void> {
    if (!this.owned) return;
    try {
      await this.pglite.close();
    } finally {
      this.unlock();
    }
  }
}

/**
 * PostgreSQL settings of the embedded database, on top of PGlite's own start parameters (one
 * backend, no background workers, fsync off: a commit is written to the OS before it returns, so
 * it survives the process being killed, as PGlite has always run here).
 *
 * shared_buffers: initdb sets 128MB, and PGlite's WebAssembly heap holds all of it from the first
 * second: with 16MB a PGlite that wrote and scanned a 73 MB table held 117 MB less
 * (docs/benchmarks.md, "Footprint and start time"). Pages beyond it are read back from the OS's
 * file cache.
 */
const PGLITE_SETTINGS = ['shared_buffers=16MB'];

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; without it an embedded PGlite database is used. */
  url?: string | undefined;
  /** Where PGlite keeps its files (`memory://` for none). */
  dataDir?: string;
  /** Schema to work in (created if missing); tests use one per test. */
  schema?: string;
  maxConnections?: number;
  /** An already running PGlite to use instead of starting one; the caller keeps ownership. */
  pglite?: PGlite;
  /**
   * A new embedded folder's initial cluster: a file written by `writeEmbeddedTemplate`, or `false`
   * for PGlite's own initdb. Default: the build's, if it was made for the installed PGlite.
   */
  template?: string | false;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new Error(`invalid schema name ${JSON.stringify(options.schema)}`);
  }
  if (options.url) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      // No JIT compilation: gitsync's statements are short, and a claim whose plan estimate
      // crossed `jit_above_cost` spent 0.98 s compiling for 0.05 s of work (bench/claim-cost.ts).
      options: ['-c jit=off', ...(options.schema ? [`-c search_path=${options.schema}`] : [])].join(' '),
    });
    // An idle client losing its connection (database restart) must not crash the process.
    pool.on('error', () => {});
    const db = new PostgresDatabase(pool);
    if (options.schema) await db.exec(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    return db;
  }
  const { PGlite, types } = await import('@electric-sql/pglite');
  const dataDir = options.dataDir ?? 'memory://';
  let pglite = options.pglite;
  let unlock = () => {};
  if (!pglite) {
    const onDisk = !dataDir.startsWith('memory://');
    if (onDisk) unlock = claimDataDir(dataDir);
    try {
      // A new folder starts as a copy of the build's initial cluster, when there is one for this PGlite.
      const template =
        onDisk && !existsSync(join(dataDir, 'PG_VERSION'))
          ? findEmbeddedTemplate(options.template)
          : undefined;
      let loadDataDir: File | undefined;
      if (template) {
        const tarball = readFileSync(template);
        try {
          unpackIntoFreshFolder(tarball, dataDir);
        } catch {
          // Not a tarball this reader knows: PGlite unpacks it itself (slower, same cluster), into
          // an emptied folder for the same reason as above.
          replaceFolder(dataDir, null);
          loadDataDir = new File([tarball], 'cluster.tar.gz');
        }
      }
      const create = () =>
        PGlite.create(dataDir, {
          // Same JS types as `pg`: 64-bit integers as strings, so ids and counts never lose precision.
          parsers: { [types.INT8]: (v: string) => v },
          startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((s) => ['-c', s])],
          ...(loadDataDir ? { loadDataDir } : {}),
        });
      pglite = onDisk ? await withPrivateUmask(create) : await create();
      // A first start unpacks the initial cluster and chmods each file to the archive's mode
      // (0666), which no umask narrows: tighten again once it is there.
      if (onDisk) makePrivate(dataDir);
    } catch (error) {
      unlock();
      throw error;
    }
  }
  if (options.schema) {
    // A single backend: the session's search_path holds for every later statement.
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${options.schema}; SET search_path TO ${options.schema}`);
  }
  return new PgliteDatabase(pglite, options.pglite === undefined, unlock);
}

// ---- the embedded database's initial cluster ---------------------------------------------------
//
// PGlite creates a new database by running initdb in WebAssembly: about 2.5 s and 700-900 MB of
// resident memory on the 2-core machine of docs/benchmarks.md, most of which the process keeps
// until a garbage collection it has no reason to run soon. The build (`npm run build`) runs that
// initdb once and saves the cluster as a tarball beside the compiled store; a first start then
// writes that copy's files into the new folder instead (under a second, no PostgreSQL instance
// of its own). The copy is the
// cluster initdb makes, so nothing about the database differs; a tarball made for another build
// of PGlite is never used, and without one PGlite runs initdb as before.

/** Where the build writes the template: beside the compiled store, dist/src/store/. */
const TEMPLATE_DIR = fileURLToPath(new URL('.', import.meta.url));
/** Where the sources (run through tsx in a checkout) find the build's template. */
const BUILT_TEMPLATE_DIR = fileURLToPath(new URL('../../dist/src/store/', import.meta.url));
const TEMPLATE_PREFIX = 'embedded-cluster-';

/** Names the installed PGlite build: a hash of its PostgreSQL binary and its file-system bundle. */
function pgliteBuild(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const hash = createHash('sha256');
  for (const file of ['pglite.wasm', 'pglite.data']) hash.update(readFileSync(join(dirname(entry), file)));
  return hash.digest('hex').slice(0, 16);
}

const templateName = () => `${TEMPLATE_PREFIX}${pgliteBuild()}.tar.gz`;

function findEmbeddedTemplate(setting: string | false | undefined): string | undefined {
  if (setting === false) return undefined;
  if (setting !== undefined) return existsSync(setting) ? setting : undefined;
  // The name hashes PGlite's files (about 15 MB): once for both places.
  const name = templateName();
  return [join(TEMPLATE_DIR, name), join(BUILT_TEMPLATE_DIR, name)].find((file) => existsSync(file));
}

/**
 * Writes the template's files into `dataDir`: a gzipped ustar archive of directories and regular
 * files, as `dumpDataDir` makes it. About ten times quicker than PGlite's own unpacking (which
 * writes through its WebAssembly file system). PG_VERSION is written last: a folder without it is
 * not a cluster yet, so an unpacking cut short starts again. Throws on anything else in the archive.
 */
function unpackCluster(tarball: Buffer, dataDir: string): void {
  const tar = gunzipSync(tarball);
  const root = resolve(dataDir);
  let version: { path: string; data: Buffer } | null = null;
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    if (header.every((byte) => byte === 0)) break;
    const text = (offset: number, length: number) =>
      header
        .subarray(offset, offset + length)
        .toString('latin1')
        .split('\0')[0]!;
    const prefix = text(345, 155);
    const name = `${prefix ? `${prefix}/` : ''}${text(0, 100)}`.replace(/^\/+/, '');
    const size = Number.parseInt(text(124, 12).trim() || '0', 8);
    const type = text(156, 1) || '0';
    const path = resolve(root, name);
    if (!Number.isSafeInteger(size) || (path !== root && !path.startsWith(`${root}${sep}`)))
      throw new Error(`bad archive entry ${JSON.stringify(name)}`);
    if (type === '5') mkdirSync(path, { recursive: true, mode: 0o700 });
    else if (type === '0') {
      const data = tar.subarray(at + 512, at + 512 + size);
      if (data.length !== size) throw new Error(`archive cut short at ${JSON.stringify(name)}`);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      if (path === join(root, 'PG_VERSION')) version = { path, data };
      else writeFileSync(path, data, { mode: 0o600 });
    } else throw new Error(`archive entry of type ${JSON.stringify(type)}`);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  if (!version) throw new Error('archive without PG_VERSION');
  writeFileSync(version.path, version.data, { mode: 0o600 });
}

/**
 * Unpacks the initial cluster into a new private folder beside `dataDir` and renames it into
 * place. `dataDir` holds no cluster yet (no PG_VERSION), but it may hold what someone else left
 * there — a symbolic link named `base` or `postgresql.conf` would have the unpacking write
 * through it, outside the folder — so nothing found in it is written into or kept.
 */
function unpackIntoFreshFolder(tarball: Buffer, dataDir: string): void {
  const prefix = `${trimTrailingSlash(dataDir)}.new-`;
  // Left by an unpacking cut short (this process holds the folder's lock, so none is running).
  const parent = dirname(prefix);
  for (const entry of readdirSync(parent))
    if (entry.startsWith(basename(prefix))) rmSync(join(parent, entry), { recursive: true, force: true });
  const fresh = mkdtempSync(prefix);
  try {
    unpackCluster(tarball, fresh);
  } catch (error) {
    rmSync(fresh, { recursive: true, force: true });
    throw error;
  }
  replaceFolder(dataDir, fresh);
}

/** Removes `dataDir` (links inside are removed, never followed) and puts `fresh` — or a new empty private folder — in its place. */
function replaceFolder(dataDir: string, fresh: string | null): void {
  rmSync(dataDir, { recursive: true, force: true });
  if (fresh) renameSync(fresh, dataDir);
  else mkdirSync(dataDir, { mode: 0o700 });
}

/**
 * Runs PGlite's initdb (in memory) and writes the cluster to `dir` as the template new embedded
 * folders start from, named for the installed PGlite build; older templates there are removed.
 * `npm run build` calls it. Returns the file written.
 */
export async function writeEmbeddedTemplate(dir: string = TEMPLATE_DIR): Promise<string> {
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = await PGlite.create('memory://');
  let tarball: Blob;
  try {
    // Everything initdb wrote goes to the data files first, so a copy starts with nothing to replay.
    await pglite.exec('CHECKPOINT');
    tarball = await pglite.dumpDataDir('gzip');
  } finally {
    await pglite.close();
  }
  mkdirSync(dir, { recursive: true });
  const file = join(dir, templateName());
  const draft = `${file}.${process.pid}.tmp`;
  writeFileSync(draft, Buffer.from(await tarball.arrayBuffer()));
  renameSync(draft, file);
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith(TEMPLATE_PREFIX) && join(dir, entry) !== file) unlinkSync(join(dir, entry));
  }
  return file;
}

// ---- the embedded database's folder ----------------------------------------------------------
//
// Its files hold owners' tokens (in the WAL too) and postgresql.conf, so no other local user may
// read or write them. PGlite's node filesystem creates a file with mode 0666 (less the umask) and
// then chmods it to the mode PostgreSQL asked for, 0600 for data and WAL; folders get what
// PostgreSQL asks for (0700) less the umask; the initial cluster is unpacked at the archive's
// 0666. So: the folder is made 0700 first (which alone keeps others out of everything below it,
// whatever the modes inside), what is in it is tightened to 0600/0700 before and after opening,
// and the umask is 0077 while PGlite opens (narrowing folders and files until their chmod).

/**
 * Creates `dataDir` (0700), locks it against other processes and tightens what is in it; returns
 * the unlock.
 */
function claimDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(dataDir);
  try {
    makePrivate(dataDir);
  } catch (error) {
    unlock();
    throw error;
  }
  return unlock;
}

/** Creates `dir` (0700), or takes away what others may do in it (chmod go-rwx) where it exists. */
export function makeFolderPrivate(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode;
  if ((mode & 0o077) !== 0) chmodSync(dir, mode & 0o700);
}

/** chmod go-rwx, recursively; symbolic links are not followed (PGlite makes none). */
function makePrivate(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  if ((stat.mode & 0o077) !== 0) chmodSync(path, stat.mode & 0o700);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) makePrivate(join(path, entry));
}

/** Opens in progress: the umask is set by the first and restored by the last, so overlapping opens never leave it narrowed. */
let opening = 0;
let umaskBefore = 0;

async function withPrivateUmask<T>(fn: () => Promise<T>): Promise<T> {
  try {
    if (opening === 0) umaskBefore = process.umask(0o077);
  } catch {
    // Worker threads cannot change the umask: the private folder alone still keeps others out.
    return fn();
  }
  opening++;
  try {
    return await fn();
  } finally {
    opening--;
    if (opening === 0) process.umask(umaskBefore);
  }
}

/** Lock files this process holds: a lock file naming our own pid is stale unless listed here. */
const heldLocks = new Set<string>();

/**
 * Takes `<dataDir>.lock`, a file holding this process's pid, or fails naming the folder and the
 * holder. A lock whose pid is gone (a crash) is stale and taken over. The file is written complete
 * under another name and then hard-linked into place, so nobody ever reads a half-written lock.
 */
function lockDataDir(dataDir: string): () => void {
  const lockPath = `${trimTrailingSlash(dataDir)}.lock`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const draft = `${lockPath}.${process.pid}.${attempt}`;
    writeFileSync(draft, `${process.pid}\n`, { mode: 0o600 });
    try {
      linkSync(draft, lockPath);
      heldLocks.add(lockPath);
      return () => {
        if (!heldLocks.delete(lockPath)) return;
        try {
          if (readHolder(lockPath) === process.pid) unlinkSync(lockPath);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
    let holder: number | null;
    try {
      holder = readHolder(lockPath);
    } catch {
      continue; // released meanwhile: try again
    }
    if (holder !== null && isRunning(holder, lockPath)) {
      throw new ConfigError(
        `the embedded database in ${dataDir} is in use by another gitsync process (pid ${holder}): stop it, or give this one another GITSYNC_DATA_DIR (if no such process runs, delete ${lockPath})`,
      );
    }
    // Stale: its holder is gone. (Two processes taking over the same stale lock at the same moment
    // could both succeed; a crash followed by two simultaneous starts on one folder is not guarded.)
    try {
      unlinkSync(lockPath);
    } catch {
      // Another process took it over first; the next attempt sees its lock.
    }
  }
  throw new ConfigError(`cannot lock the embedded database in ${dataDir} (${lockPath} keeps changing)`);
}

function readHolder(lockPath: string): number | null {
  const pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function isRunning(pid: number, lockPath: string): boolean {
  // Our own pid in a lock we do not hold is a leftover of an earlier run (containers reuse pid 1).
  if (pid === process.pid) return heldLocks.has(lockPath);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
