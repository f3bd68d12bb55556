import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import type { Clock } from '../../src/core/clock.ts';
import type { WorkerSettings } from '../../src/core/schedule.ts';
import type { Provider } from '../../src/providers/types.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { createTestDatabase } from './databases.ts';
import { schemaUrl } from './processes.ts';

/**
 * The service as `gitsync serve` wires it, listening on 127.0.0.1, on a PostgreSQL schema of its
 * own, with one code-host provider (pointed at that host's emulator) and the worker loop off: the
 * end-to-end suites of each host drive ticks themselves and talk to it over real HTTP.
 */
export async function startHostService(options: {
  adminKey: string;
  clock: Clock;
  provider: Provider;
  /** Worker settings over serve's defaults (the loop stays off unless `enabled`). */
  worker?: Partial<WorkerSettings> & { enabled?: boolean };
  /** Another replica: this one serves on its database (and leaves dropping it to that one). */
  replicaOf?: { schema: string };
}) {
  const own = options.replicaOf ? null : await createTestDatabase('postgres');
  const db = own ?? { schema: options.replicaOf!.schema, drop: async () => {} };
  const config = loadConfig({});
  let runtime: Runtime | undefined;
  let server: ReturnType<typeof serve> | undefined;
  try {
    runtime = await openRuntime(
      {
        ...config,
        database_url: schemaUrl(db.schema),
        admin_token: options.adminKey,
        encryption_key: 'ab'.repeat(32),
        log_level: 'silent',
        providers: [],
        worker: { ...config.worker, enabled: false, ...options.worker },
      },
      { clock: options.clock, logger: pino({ level: 'silent' }), providers: [options.provider] },
    );
    await runtime.start();
    server = serve({ fetch: runtime.http.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => server!.once('listening', r));
  } catch (error) {
    await runtime?.close();
    await db.drop();
    throw error;
  }
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const live = { runtime, server };

  /** One admin-keyed API call; the answer's status and parsed JSON (null when empty). */
  async function api(method: string, path: string, body?: unknown) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.adminKey}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON
    return { status: res.status, json: (text ? JSON.parse(text) : null) as any };
  }

  return {
    runtime: live.runtime,
    base,
    schema: db.schema,
    api,
    /** A new chat of `owner` that reports pushing `branch` of `origin`. */
    async chatReporting(owner: string, origin: string, branch: string): Promise<string> {
      const chat = randomUUID();
      await api('PUT', `/api/v1/chats/${chat}`, { owner_id: owner, title: `chat on ${branch}` });
      expect((await api('POST', '/api/v1/git-refs', { chat_id: chat, origin, branch })).status).toBe(202);
      return chat;
    },
    /** The chat's `diff_status` as the API shows it. */
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON
    async diffStatus(chat: string): Promise<any> {
      return (await api('GET', `/api/v1/chats/${chat}`)).json.diff_status;
    },
    async close(): Promise<void> {
      await new Promise((r) => live.server.close(r));
      await live.runtime.close();
      await db.drop();
    },
  };
}

export type HostService = Awaited<ReturnType<typeof startHostService>>;
