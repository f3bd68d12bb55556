import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { FakeClock } from '../../src/core/clock.ts';
import type { Limits } from '../../src/core/limits.ts';
import { FakeCodeHost, FakeProvider } from '../../src/providers/fake/fake-provider.ts';
import { GitHubProvider } from '../../src/providers/github/github-provider.ts';
import type { ProviderConfig } from '../../src/providers/types.ts';
import { openRuntime } from '../../src/runtime.ts';
import { createTestDatabase } from './databases.ts';
import { schemaUrl } from './processes.ts';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const WEBHOOK_SECRET = 'It’s a Secret to Everybody';

/**
 * The service as `gitsync serve` wires it (openRuntime), on a PostgreSQL schema of its own,
 * with a fake clock, the worker loop off (tests drive it), the fake code host at
 * https://fake.test, and GitHub providers for webhooks only (nothing is ever sent to them here:
 * their refs have no token).
 */
export async function createServiceHarness(
  options: {
    limits?: Partial<Limits>;
    env?: NodeJS.ProcessEnv;
    /** The fake provider's configuration (a service token, its policy, budget shares). */
    fake?: Partial<ProviderConfig>;
  } = {},
) {
  const test = await createTestDatabase('postgres', { migrate: false });
  const clock = new FakeClock(new Date());
  const host = new FakeCodeHost('https://fake.test');
  const config = loadConfig(options.env ?? {});
  const runtime = await openRuntime(
    {
      ...config,
      database_url: schemaUrl(test.schema),
      admin_token: ADMIN_KEY,
      // PostgreSQL without a key refuses to store owners' tokens.
      encryption_key: 'ab'.repeat(32),
      providers: [],
      worker: { ...config.worker, enabled: false },
      limits: { ...config.limits, ...options.limits },
    },
    {
      clock,
      heartbeatMs: 200,
      logger: pino({ level: 'silent' }),
      providers: [
        new FakeProvider(host, options.fake),
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
      ],
    },
  );
  await runtime.start();

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
    const res = await runtime.http.app.request(path, { method, headers, body });
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
  const ownerKey = (await runtime.keys.createOwnerKey(owner, 'test owner')).key;

  return {
    ...runtime,
    clock,
    host,
    call,
    owner,
    ownerKey,
    async close() {
      await runtime.close();
      await test.drop();
    },
  };
}

export type ServiceHarness = Awaited<ReturnType<typeof createServiceHarness>>;
