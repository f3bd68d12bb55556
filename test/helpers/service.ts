import { randomUUID } from 'node:crypto';
import { FakeClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../../src/core/schedule.ts';
import { Engine } from '../../src/engine/engine.ts';
import { EventHub } from '../../src/events/event-hub.ts';
import { FakeCodeHost, FakeProvider } from '../../src/providers/fake/fake-provider.ts';
import { GitHubProvider } from '../../src/providers/github/github-provider.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import { createApp } from '../../src/server/app.ts';
import { KeyAuthority } from '../../src/server/keys.ts';
import { Metrics } from '../../src/server/metrics.ts';
import { createTestStore, type DatabaseKind } from './databases.ts';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const WEBHOOK_SECRET = 'It’s a Secret to Everybody';

/**
 * The HTTP app over a real store, with the fake code host at https://fake.test and a GitHub
 * provider for https://github.com (webhooks only: nothing is ever sent to it in these tests,
 * since its refs are never refreshed without a token).
 */
export async function createServiceHarness(kind: DatabaseKind = 'postgres') {
  const test = await createTestStore(kind);
  const clock = new FakeClock(new Date());
  const host = new FakeCodeHost('https://fake.test');
  const providers = new ProviderRegistry([
    new FakeProvider(host),
    new GitHubProvider(
      {
        id: 'github',
        type: 'github',
        web_url: 'https://github.com',
        api_url: 'https://api.github.com',
        webhook_secret: WEBHOOK_SECRET,
      },
      { clock },
    ),
    new GitHubProvider(
      { id: 'nosecret', type: 'github', web_url: 'https://ghe.test', api_url: 'https://ghe.test/api/v3' },
      { clock },
    ),
  ]);
  const hub = new EventHub({ db: test.db, clock, logger: silentLogger });
  await hub.start();
  const metrics = new Metrics({ store: test.store, providers, clock, overdueAfterMs: 30_000 });
  const engine = new Engine({
    store: test.store,
    providers,
    publisher: hub,
    clock,
    settings: { ...DEFAULT_WORKER_SETTINGS },
    logger: silentLogger,
    observer: metrics.observer,
  });
  const keys = new KeyAuthority(test.store, clock, ADMIN_KEY);
  const http = createApp({
    store: test.store,
    engine,
    hub,
    providers,
    keys,
    metrics,
    clock,
    logger: silentLogger,
    heartbeatMs: 200,
  });

  const call = async (
    method: string,
    path: string,
    options: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? ADMIN_KEY : options.key;
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const res = await http.app.request(path, { method, headers, body });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
    return { status: res.status, headers: res.headers, json: json as any };
  };

  const owner = randomUUID();
  const ownerKey = (await keys.createOwnerKey(owner, 'test owner')).key;

  return {
    ...test,
    clock,
    host,
    providers,
    hub,
    engine,
    keys,
    metrics,
    http,
    call,
    owner,
    ownerKey,
    async close() {
      http.closeStreams();
      await engine.stop();
      await hub.stop();
      await test.drop();
    },
  };
}

export type ServiceHarness = Awaited<ReturnType<typeof createServiceHarness>>;
