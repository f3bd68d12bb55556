import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { type ServiceProcess, schemaUrl, startGitsync } from './helpers/processes.ts';
import { SseClient } from './helpers/sse.ts';
import { waitFor } from './helpers/wait.ts';

const ADMIN = 'replica-test-admin-key-00';
const TOKEN = 'ghp_replica_service_token';

/** Two `gitsync serve` processes on one PostgreSQL schema, against the GitHub emulator. */
describe('replicas', () => {
  let db: TestDatabase;
  let gh: GitHubEmulator;
  let dir: string;
  let env: Record<string, string>;
  const processes: ServiceProcess[] = [];
  const streams: SseClient[] = [];

  beforeEach(async () => {
    db = await createTestDatabase('postgres');
    gh = await startGitHubEmulator();
    gh.addToken(TOKEN, 'service');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    dir = mkdtempSync(join(tmpdir(), 'gitsync-replicas-'));
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        providers: [
          {
            id: 'github',
            type: 'github',
            web_url: gh.webUrl,
            api_url: gh.apiUrl,
            token_env: 'GH_REPLICA_TOKEN',
          },
        ],
        worker: { tick_interval_ms: 200, lease_ms: 3000, batch_size: 100, concurrency: 50 },
      }),
    );
    env = {
      GITSYNC_DATABASE_URL: schemaUrl(db.schema),
      GITSYNC_PORT: '0',
      GITSYNC_ADMIN_TOKEN: ADMIN,
      GITSYNC_CONFIG: config,
      GH_REPLICA_TOKEN: TOKEN,
    };
  });
  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.close()));
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
    await gh.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    const p = await startGitsync(['serve'], env);
    processes.push(p);
    return p;
  };
  const api = async (base: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON
    return (await res.json().catch(() => null)) as any;
  };

  it('a report sent to one replica produces the event on the other’s stream', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const stream = await SseClient.open(`${b.url}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    streams.push(stream);
    const chat = randomUUID();
    await api(a.url, 'PUT', `/api/v1/chats/${chat}`, { owner_id: randomUUID() });
    await api(a.url, 'POST', '/api/v1/git-refs', {
      chat_id: chat,
      origin: `${gh.webUrl}/acme/app`,
      branch: 'feature',
    });
    const event = await stream.waitFor((e) => e.event === 'diff_status_change', 10_000);
    expect(JSON.parse(event.data)).toMatchObject({
      chat: { id: chat },
      changed_diff_status: { git_branch: 'feature' },
    });
  });

  it('a replica killed mid-work loses nothing: the other finishes every row after the lease', async () => {
    const owner = randomUUID();
    const store = new SqlStore(db.db, new TokenCipher(null));
    // Reported before any replica runs, so the first one claims them all in one tick.
    for (let i = 0; i < 20; i++) {
      gh.model.openPull('acme/app', { head: `b${i}` });
      const chat = randomUUID();
      await store.putChat({ id: chat, owner_id: owner }, new Date());
      await store.recordRefReport(
        { chat_id: chat, origin: `${gh.webUrl}/acme/app`, branch: `b${i}`, provider_id: 'github' },
        new Date(),
      );
    }
    gh.latencyMs = 10_000; // a's calls hang: it is mid-work when killed
    const a = await start();
    // Every row claimed by a (leased), with its calls in flight.
    await waitFor(async () => {
      const r = await db.db.query<{ n: string }>(
        'SELECT count(*) AS n FROM diff_statuses WHERE stale_at > now()',
      );
      // Branch lookups of a group go out batched: at least one request is in flight.
      return Number(r.rows[0]?.n) === 20 && gh.received >= 1;
    });
    expect(await a.stop('SIGKILL')).toBeNull();
    const killedAt = Date.now();
    gh.latencyMs = 0;
    const b = await start();
    await waitFor(
      async () => {
        const list = await api(b.url, 'GET', `/api/v1/chats?owner_id=${owner}&limit=100`);
        return (
          list.chats.filter((c: { diff_status: { pr_number: number | null } }) => c.diff_status?.pr_number)
            .length === 20
        );
      },
      30_000,
      'every row refreshed by the surviving replica',
    );
    expect(Date.now() - killedAt).toBeGreaterThan(1000); // it had to wait out the lease
  });
});
