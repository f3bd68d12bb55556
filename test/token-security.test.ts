import { spawn } from 'node:child_process';
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PGlite, types } from '@electric-sql/pglite';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { type AppConfig, loadConfig } from '../src/config/config.ts';
import { systemClock } from '../src/core/clock.ts';
import { FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { KeyAuthority } from '../src/server/keys.ts';
import { openDatabase } from '../src/store/database.ts';
import { migrate } from '../src/store/migrate.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import type { Store } from '../src/store/store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { createTestDatabase } from './helpers/databases.ts';
import { runGitsync, schemaUrl, startGitsync } from './helpers/processes.ts';
import { readToken } from './helpers/tokens.ts';
import { waitFor } from './helpers/wait.ts';

const ADMIN = 'token-security-admin-key-0';
const KEY_HEX = 'ab'.repeat(32);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'gitsync-security-'));
  dirs.push(d);
  return d;
};

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), text: () => lines.join('') };
}

function configFor(overrides: Partial<AppConfig>): AppConfig {
  const base = loadConfig({});
  return {
    ...base,
    database_url: undefined,
    admin_token: ADMIN,
    providers: [],
    worker: { ...base.worker, enabled: false },
    ...overrides,
  };
}

const fakeProvider = () => new FakeProvider(new FakeCodeHost('https://fake.test'));

/** Every file and folder under `root` (root included) with its permission bits. */
function modes(root: string): { path: string; mode: number; dir: boolean }[] {
  const out = [{ path: root, mode: statSync(root).mode & 0o777, dir: true }];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) out.push(...modes(path));
    else out.push({ path, mode: statSync(path).mode & 0o777, dir: false });
  }
  return out;
}

/** Paths under `root` whose mode lets group or others in. */
const openToOthers = (root: string) =>
  modes(root)
    .filter((m) => (m.mode & 0o077) !== 0)
    .map((m) => `${m.path} ${m.mode.toString(8)}`);

/** Runs `fn` under umask 0, the worst case (what the review saw), whatever the runner's umask is. */
async function underUmaskZero<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.umask(0);
  try {
    return await fn();
  } finally {
    process.umask(before);
  }
}

/** A pid that certainly belongs to no running process: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid ?? 0;
  await new Promise((resolve) => child.once('exit', resolve));
  return pid;
}

/** A token sealed the way earlier versions did: AES-256-GCM without associated data. */
function legacySeal(token: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(KEY_HEX, 'hex'), iv);
  const body = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return `aes256gcm:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

describe('the embedded database folder', () => {
  it('is private (folder 0700, files 0600, WAL written later too), holds no token in clear, is locked, and is vacuumed', async () => {
    const dataDir = join(tmp(), 'data');
    const owner = randomUUID();
    await underUmaskZero(async () => {
      const runtime = await openRuntime(configFor({ data_dir: dataDir }), {
        logger: pino({ level: 'silent' }),
        vacuumIntervalMs: 50,
      });
      try {
        await runtime.start();
        const wal = join(dataDir, 'pglite', 'pg_wal');
        const walBefore = new Set(readdirSync(wal));
        await runtime.store.putToken(owner, 'github', 'ghp_must_not_be_in_clear_42', new Date());
        // About 20 MB of WAL: PGlite has to create new segments now, long after it opened.
        await runtime.db.exec(
          'CREATE TABLE filler AS SELECT repeat(md5(g::text), 30) AS x FROM generate_series(1, 20000) g; CHECKPOINT',
        );
        expect(readdirSync(wal).filter((f) => !walBefore.has(f)).length).toBeGreaterThan(0);

        expect(openToOthers(dataDir)).toEqual([]);
        expect(statSync(join(dataDir, 'encryption-key')).mode & 0o777).toBe(0o600);
        for (const m of modes(dataDir).filter((m) => !m.dir)) {
          expect(readFileSync(m.path).includes('ghp_must_not_be_in_clear_42'), m.path).toBe(false);
        }
        expect(await readToken(runtime.store, owner, 'github')).toBe('ghp_must_not_be_in_clear_42');

        // A second opener of the same folder is refused, naming it, and the first goes on.
        await expect(openDatabase({ dataDir: join(dataDir, 'pglite') })).rejects.toThrow(
          new RegExp(
            `${join(dataDir, 'pglite')} is in use by another gitsync process \\(pid ${process.pid}\\)`,
          ),
        );
        expect(await runtime.store.ready()).toBe(true);

        // PGlite has no autovacuum: the runtime vacuums and analyzes it itself.
        await waitFor(
          async () => {
            const row = (
              await runtime.db.query<{ v: string; a: string }>(
                "SELECT vacuum_count::text AS v, analyze_count::text AS a FROM pg_stat_user_tables WHERE relname = 'chats'",
              )
            ).rows[0];
            return row !== undefined && row.v !== '0' && row.a !== '0';
          },
          20_000,
          'a VACUUM of the embedded database',
        );
      } finally {
        await runtime.close();
      }
      expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(false);
    });
  });

  it('a folder from an earlier version is made private, and its plain tokens sealed with a key generated once', async () => {
    const dataDir = join(tmp(), 'data');
    const owner = randomUUID();
    await underUmaskZero(async () => {
      // What an earlier version left: world-readable files and a token stored `plain:`.
      mkdirSync(join(dataDir, 'pglite'), { recursive: true });
      const old = await PGlite.create(join(dataDir, 'pglite'), {
        parsers: { [types.INT8]: (v: string) => v },
      });
      const oldDb = await openDatabase({ pglite: old });
      await migrate(oldDb);
      await new SqlStore(oldDb, new TokenCipher(null)).putToken(
        owner,
        'github',
        'ghp_from_before',
        new Date(),
      );
      await old.close();
      expect(openToOthers(dataDir).length).toBeGreaterThan(0);
      // A lock left by a crashed process (and one naming our own pid, as pid 1 in containers) is stale.
      writeFileSync(join(dataDir, 'pglite.lock'), `${process.pid}\n`);

      const first = await openRuntime(configFor({ data_dir: dataDir }), {
        logger: pino({ level: 'silent' }),
      });
      let key: string;
      try {
        expect(openToOthers(join(dataDir, 'pglite'))).toEqual([]);
        key = readFileSync(join(dataDir, 'encryption-key'), 'utf8');
        expect(statSync(join(dataDir, 'encryption-key')).mode & 0o777).toBe(0o600);
        const row = await first.db.query<{ secret: string }>('SELECT secret FROM owner_tokens');
        expect(row.rows[0]?.secret).toMatch(/^aes256gcm:v2:/);
        expect(await readToken(first.store, owner, 'github')).toBe('ghp_from_before');
      } finally {
        await first.close();
      }

      writeFileSync(join(dataDir, 'pglite.lock'), `${await deadPid()}\n`);
      const second = await openRuntime(configFor({ data_dir: dataDir }), {
        logger: pino({ level: 'silent' }),
      });
      try {
        expect(readFileSync(join(dataDir, 'encryption-key'), 'utf8')).toBe(key);
        expect(await readToken(second.store, owner, 'github')).toBe('ghp_from_before');
      } finally {
        await second.close();
      }
    });
  });
});

describe('owners’ tokens on PostgreSQL', () => {
  const put = (runtime: Runtime, owner: string, token: string) =>
    runtime.http.app.request(`/api/v1/owners/${owner}/tokens/fake`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });

  it('without a key are refused with a clear error, and the start says so naming GITSYNC_ALLOW_PLAINTEXT_TOKENS', async () => {
    const db = await createTestDatabase('postgres', { migrate: false });
    const log = capturingLogger();
    const runtime = await openRuntime(configFor({ database_url: schemaUrl(db.schema) }), {
      logger: log.logger,
      providers: [fakeProvider()],
    });
    try {
      expect(log.text()).toMatch(/"level":40.*GITSYNC_ENCRYPTION_KEY.*GITSYNC_ALLOW_PLAINTEXT_TOKENS=1/);
      const res = await put(runtime, randomUUID(), 'ghp_refused');
      expect(res.status).toBe(422);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('encryption_key_required');
      expect(body.error.message).toMatch(/GITSYNC_ENCRYPTION_KEY/);
      expect((await db.db.query('SELECT 1 FROM owner_tokens')).rows).toEqual([]);
    } finally {
      await runtime.close();
      await db.drop();
    }
  });

  it('without a key but with GITSYNC_ALLOW_PLAINTEXT_TOKENS=1 are stored in clear, with a warning', async () => {
    expect(loadConfig({ GITSYNC_ALLOW_PLAINTEXT_TOKENS: '1' }).allow_plaintext_tokens).toBe(true);
    expect(loadConfig({}).allow_plaintext_tokens).toBe(false);
    expect(() => loadConfig({ GITSYNC_ALLOW_PLAINTEXT_TOKENS: 'yes please' })).toThrow(
      /GITSYNC_ALLOW_PLAINTEXT_TOKENS/,
    );
    const db = await createTestDatabase('postgres', { migrate: false });
    const log = capturingLogger();
    const runtime = await openRuntime(
      configFor({ database_url: schemaUrl(db.schema), allow_plaintext_tokens: true }),
      { logger: log.logger, providers: [fakeProvider()] },
    );
    try {
      expect(log.text()).toMatch(/"level":40.*GITSYNC_ALLOW_PLAINTEXT_TOKENS=1.*unencrypted/);
      const owner = randomUUID();
      expect((await put(runtime, owner, 'ghp_allowed')).status).toBe(204);
      const row = await db.db.query<{ secret: string }>('SELECT secret FROM owner_tokens');
      expect(row.rows[0]?.secret).toBe('plain:ghp_allowed');
    } finally {
      await runtime.close();
      await db.drop();
    }
  });

  it('with a key: plain and old-format rows are sealed again at start, bound to their owner and provider', async () => {
    const db = await createTestDatabase('postgres');
    const [plainOwner, legacyOwner, thief] = [randomUUID(), randomUUID(), randomUUID()];
    const insert = (owner: string, secret: string) =>
      db.db.query(
        `INSERT INTO owner_tokens (owner_id, provider_id, secret, created_at, updated_at)
         VALUES ($1, 'fake', $2, now(), now())`,
        [owner, secret],
      );
    await insert(plainOwner, 'plain:ghp_plain');
    await insert(legacyOwner, legacySeal('ghp_legacy'));
    // Sealed under another key: cannot be opened, must be left alone and must not stop the start.
    await insert(thief, `aes256gcm:${randomBytes(40).toString('base64')}`);
    const log = capturingLogger();
    const runtime = await openRuntime(
      configFor({ database_url: schemaUrl(db.schema), encryption_key: KEY_HEX }),
      { logger: log.logger, providers: [fakeProvider()] },
    );
    try {
      expect(log.text()).toMatch(/"resealed":2/);
      expect(log.text()).toMatch(/"unreadable":1/);
      const rows = await db.db.query<{ owner_id: string; secret: string }>(
        'SELECT owner_id, secret FROM owner_tokens',
      );
      const secret = (owner: string) => rows.rows.find((r) => r.owner_id === owner)?.secret ?? '';
      expect(secret(plainOwner)).toMatch(/^aes256gcm:v2:/);
      expect(secret(legacyOwner)).toMatch(/^aes256gcm:v2:/);
      expect(secret(plainOwner)).not.toContain('ghp_plain');
      expect(await readToken(runtime.store, plainOwner, 'fake')).toBe('ghp_plain');
      expect(await readToken(runtime.store, legacyOwner, 'fake')).toBe('ghp_legacy');

      // A sealed value copied into another owner's row (or another provider's) does not open there.
      await db.db.query("UPDATE owner_tokens SET secret = $1 WHERE owner_id = $2 AND provider_id = 'fake'", [
        secret(legacyOwner),
        thief,
      ]);
      await expect(readToken(runtime.store, thief, 'fake')).rejects.toThrow(/cannot be decrypted/);
      await db.db.query(
        `INSERT INTO owner_tokens (owner_id, provider_id, secret, created_at, updated_at)
         VALUES ($1, 'other', $2, now(), now())`,
        [legacyOwner, secret(legacyOwner)],
      );
      await expect(readToken(runtime.store, legacyOwner, 'other')).rejects.toThrow(/cannot be decrypted/);
      // Through the API a new token is stored in the bound format.
      expect((await put(runtime, thief, 'ghp_new')).status).toBe(204);
      expect(await readToken(runtime.store, thief, 'fake')).toBe('ghp_new');
    } finally {
      await runtime.close();
      await db.drop();
    }
  });
});

describe('the generated admin key', () => {
  it('is generated by one replica only, even when all of them found none stored', async () => {
    const db = await createTestDatabase('postgres');
    const pools = [db.db, ...(await Promise.all([1, 2, 3].map(() => db.openAnother(2))))];
    try {
      // Replicas starting together.
      const results = await Promise.all(
        pools.map((p) =>
          new KeyAuthority(new SqlStore(p, new TokenCipher(null)), systemClock).ensureAdminKey(),
        ),
      );
      expect(results.filter((r) => r.generated !== null)).toHaveLength(1);

      // The interleaving that loses the race, made certain: a replica that read "no admin key"
      // just before another stored one.
      const store = new SqlStore(db.db, new TokenCipher(null));
      const late = new Proxy(store, {
        get: (target, name, receiver) =>
          name === 'hasAdminKey' ? async () => false : Reflect.get(target, name, receiver),
      }) as Store;
      expect(await new KeyAuthority(late, systemClock).ensureAdminKey()).toEqual({
        generated: null,
        revoked: 0,
      });
      const admins = await db.db.query('SELECT 1 FROM api_keys WHERE admin');
      expect(admins.rows).toHaveLength(1);
    } finally {
      for (const p of pools.slice(1)) await p.close();
      await db.drop();
    }
  });

  it('stops working once GITSYNC_ADMIN_TOKEN is set: stored admin keys are deleted at start, and that is logged', async () => {
    const db = await createTestDatabase('postgres', { migrate: false });
    const before = await openRuntime(
      configFor({ database_url: schemaUrl(db.schema), admin_token: undefined }),
      {
        logger: pino({ level: 'silent' }),
      },
    );
    let generated: string | null;
    try {
      await before.start();
      generated = before.generatedAdminKey;
      expect(generated).toMatch(/^gsk_/);
      expect(await before.keys.authenticate(generated)).toMatchObject({ admin: true });
    } finally {
      await before.close();
    }
    const log = capturingLogger();
    const after = await openRuntime(configFor({ database_url: schemaUrl(db.schema) }), {
      logger: log.logger,
    });
    try {
      await after.start();
      expect(after.generatedAdminKey).toBeNull();
      expect(await after.keys.authenticate(generated)).toBeNull();
      expect(await after.keys.authenticate(ADMIN)).toMatchObject({ admin: true });
      expect(log.text()).toMatch(/"revoked":1.*GITSYNC_ADMIN_TOKEN is set: deleted the stored admin keys/);
    } finally {
      await after.close();
      await db.drop();
    }
  });
});

describe('gitsync serve and token as processes', () => {
  /** The variables this suite sets must not come from the environment the tests run in. */
  const clean = {
    GITSYNC_CONFIG: '',
    GITSYNC_ENCRYPTION_KEY: '',
    GITSYNC_ALLOW_PLAINTEXT_TOKENS: '',
    GITSYNC_PORT: '0',
  };

  it('without a terminal, writes the generated admin key to a private file, never to stdout; a second serve on the folder fails naming it', async () => {
    const dataDir = join(tmp(), 'data');
    const env = { ...clean, GITSYNC_DATA_DIR: dataDir, GITSYNC_DATABASE_URL: '', GITSYNC_ADMIN_TOKEN: '' };
    const service = await startGitsync(['serve'], env);
    try {
      const file = join(dataDir, 'admin-key');
      expect(service.stdout()).toContain(`generated the admin API key into ${file}`);
      expect(service.stdout() + service.stderr()).not.toMatch(/gsk_/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const key = readFileSync(file, 'utf8').trim();
      expect(key).toMatch(/^gsk_/);
      const res = await fetch(`${service.url}/api/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);

      const second = await runGitsync(['serve'], env);
      expect(second.code).toBe(78);
      expect(second.stderr).toContain(`${join(dataDir, 'pglite')} is in use by another gitsync process`);
      expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    } finally {
      expect(await service.stop('SIGTERM')).toBe(0);
    }
  });

  it('`token set` against PostgreSQL without a key gets a clear error, and serve warns at start', async () => {
    const db = await createTestDatabase('postgres', { migrate: false });
    const service = await startGitsync(['serve'], {
      ...clean,
      GITSYNC_DATABASE_URL: schemaUrl(db.schema),
      GITSYNC_ADMIN_TOKEN: ADMIN,
    });
    try {
      expect(service.stderr()).toMatch(/GITSYNC_ALLOW_PLAINTEXT_TOKENS=1/);
      const set = await runGitsync(
        ['token', 'set', '--owner', randomUUID(), '--provider', 'github'],
        { GITSYNC_URL: service.url, GITSYNC_API_KEY: ADMIN },
        'ghp_refused\n',
      );
      expect(set.code).toBe(4);
      expect(set.stderr).toMatch(/encryption_key_required: .*GITSYNC_ENCRYPTION_KEY/);
      expect((await db.db.query('SELECT 1 FROM owner_tokens')).rows).toEqual([]);
    } finally {
      expect(await service.stop('SIGTERM')).toBe(0);
      await db.drop();
    }
  });
});
