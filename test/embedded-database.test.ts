import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.ts';
import { openRuntime } from '../src/runtime.ts';
import { type Database, openDatabase, writeEmbeddedTemplate } from '../src/store/database.ts';
import { migrate } from '../src/store/migrate.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'gitsync-embedded-'));
  dirs.push(d);
  return d;
};

const systemId = async (db: Database) =>
  (await db.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0]!
    .id;

/** The embedded database as `gitsync serve` opens it: on disk, in a folder of its own. */
describe('the embedded database', () => {
  it('runs with small shared buffers (PGlite holds all of them in memory from the start)', async () => {
    const db = await openDatabase({ dataDir: join(tmp(), 'pglite'), template: false });
    try {
      const r = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      expect(r.rows[0]!.shared_buffers).toBe('16MB');
    } finally {
      await db.close();
    }
  });

  it("starts a new folder as a copy of the build's initial cluster, and an existing one as it is", async () => {
    const dir = tmp();
    const template = await writeEmbeddedTemplate(join(dir, 'template'));
    expect(template).toMatch(/embedded-cluster-[0-9a-f]{16}\.tar\.gz$/);
    // Writing again replaces the file rather than adding one.
    await writeEmbeddedTemplate(join(dir, 'template'));
    expect(readdirSync(join(dir, 'template'))).toHaveLength(1);

    const ids: string[] = [];
    for (const name of ['a', 'b']) {
      const db = await openDatabase({ dataDir: join(dir, name), template });
      try {
        expect(existsSync(join(dir, name, 'PG_VERSION'))).toBe(true);
        await migrate(db);
        await db.exec('CREATE TABLE kept (v text)');
        await db.query('INSERT INTO kept VALUES ($1)', [name]);
        ids.push(await systemId(db));
      } finally {
        await db.close();
      }
    }
    // Both are copies of one cluster (initdb gives each cluster an identifier of its own).
    expect(ids[0]).toBe(ids[1]);

    // Reopened, a folder keeps its data: the template is only for a folder without a database.
    const again = await openDatabase({ dataDir: join(dir, 'a'), template });
    try {
      expect((await again.query<{ v: string }>('SELECT v FROM kept')).rows).toEqual([{ v: 'a' }]);
    } finally {
      await again.close();
    }

    // Without a template PGlite runs initdb itself: a cluster of its own.
    const own = await openDatabase({ dataDir: join(dir, 'c'), template: false });
    try {
      expect(await systemId(own)).not.toBe(ids[0]);
    } finally {
      await own.close();
    }
  }, 120_000);

  it('unpacks the initial cluster into a fresh folder: links planted in the new folder are never written through', async () => {
    const dir = tmp();
    const template = await writeEmbeddedTemplate(join(dir, 'template'));
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'postgresql.conf'), 'kept\n');
    const data = join(dir, 'data');
    mkdirSync(data);
    // What another local user (or an agent in the workspace) could leave where a new database will be.
    symlinkSync(outside, join(data, 'base'));
    symlinkSync(join(outside, 'postgresql.conf'), join(data, 'postgresql.conf'));
    const db = await openDatabase({ dataDir: data, template });
    try {
      await db.query('SELECT 1');
      expect(lstatSync(join(data, 'base')).isSymbolicLink()).toBe(false);
      expect(lstatSync(join(data, 'postgresql.conf')).isSymbolicLink()).toBe(false);
      expect(statSync(data).mode & 0o777).toBe(0o700);
    } finally {
      await db.close();
    }
    expect(readdirSync(outside)).toEqual(['postgresql.conf']);
    expect(readFileSync(join(outside, 'postgresql.conf'), 'utf8')).toBe('kept\n');
    // Nothing of the unpacking is left beside the folder.
    expect(readdirSync(dir).sort()).toEqual(['data', 'outside', 'template']);
  }, 120_000);

  it("makes the service's data folder private (0700), whatever mode it was found with", async () => {
    const dataDir = join(tmp(), 'gitsync');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const config = loadConfig({});
    const runtime = await openRuntime(
      { ...config, data_dir: dataDir, providers: [], worker: { ...config.worker, enabled: false } },
      { logger: pino({ level: 'silent' }) },
    );
    try {
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dataDir, 'encryption-key')).mode & 0o777).toBe(0o600);
    } finally {
      await runtime.close();
    }
  }, 120_000);

  it('keeps a committed row when the process is killed right after the commit', async () => {
    const dataDir = join(tmp(), 'pglite');
    const database = fileURLToPath(new URL('../src/store/database.ts', import.meta.url));
    // A separate process commits, says so, and waits to be killed (SIGKILL: nothing is flushed on the way out).
    const script = `
      const { openDatabase } = await import(${JSON.stringify(database)});
      const db = await openDatabase({ dataDir: ${JSON.stringify(dataDir)}, template: false });
      await db.exec('CREATE TABLE kept (v text)');
      await db.transaction((tx) => tx.query("INSERT INTO kept VALUES ('committed')"));
      process.stdout.write('committed\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        if (String(d).includes('committed')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited (${code}) before committing:\n${stderr}`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    // Its lock names a process that is gone, so it is taken over.
    const db = await openDatabase({ dataDir, template: false });
    try {
      expect((await db.query<{ v: string }>('SELECT v FROM kept')).rows).toEqual([{ v: 'committed' }]);
    } finally {
      await db.close();
    }
  }, 60_000);
});
