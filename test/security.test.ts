import { createHash, createHmac, randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.ts';
import { tokenFingerprint } from '../src/core/fingerprint.ts';
import { openRuntime } from '../src/runtime.ts';
import { DASHBOARD_ASSETS } from '../src/server/dashboard.ts';
import type { BudgetState } from '../src/store/store.ts';
import { schemaUrl } from './helpers/processes.ts';
import { ADMIN_KEY, createServiceHarness, type ServiceHarness, WEBHOOK_SECRET } from './helpers/service.ts';
import { waitFor } from './helpers/wait.ts';

const REPO = 'https://fake.test/acme/app';

/** Reads an event stream until it ends; rejects if it is still open after `ms`. */
async function endsWithin(body: ReadableStream<Uint8Array> | null, ms: number): Promise<string> {
  const reader = body!.getReader();
  let text = '';
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`stream still open after ${ms} ms:\n${text}`);
    const next = await Promise.race([
      reader.read(),
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), left)),
    ]);
    if (next === 'timeout') {
      await reader.cancel();
      throw new Error(`stream still open after ${ms} ms:\n${text}`);
    }
    if (next.done) return text;
    text += Buffer.from(next.value).toString('utf8');
  }
}

/** A request body that sends `first` and then nothing more, ever (a slow or stalled upload). */
const stalledBody = (first = '{') =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(first));
    },
  });

describe('security', () => {
  let s: ServiceHarness;
  afterEach(() => s?.close());

  const createChat = async (owner: string, extra: Record<string, unknown> = {}, key?: string) => {
    const id = randomUUID();
    const r = await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: owner, ...extra }, key });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return id;
  };
  const openStream = (key: string) =>
    s.http.app.request('/api/v1/events', { headers: { authorization: `Bearer ${key}` } });

  describe('keys', () => {
    it('deleting a key ends its open event streams at once', async () => {
      s = await createServiceHarness();
      const created = await s.call('POST', '/api/v1/keys', { body: { owner_id: s.owner, name: 'ui' } });
      const res = await openStream(created.json.key);
      expect(res.status).toBe(200);
      expect((await s.call('DELETE', `/api/v1/keys/${created.json.id}`)).status).toBe(204);
      await endsWithin(res.body, 2_000);
      expect((await s.call('GET', '/api/v1/chats', { key: created.json.key })).status).toBe(401);
    });

    it('a key deleted by another replica loses its streams at the next heartbeat', async () => {
      s = await createServiceHarness();
      const created = await s.call('POST', '/api/v1/keys', { body: { owner_id: s.owner, name: 'ui' } });
      const res = await openStream(created.json.key);
      // Straight in the database, as another replica's DELETE would: this replica is not told.
      await s.store.deleteApiKey(created.json.id);
      await endsWithin(res.body, 3_000);
    });

    it('a key deleted by another replica loses its streams even while they are busy', async () => {
      s = await createServiceHarness();
      const created = await s.call('POST', '/api/v1/keys', { body: { owner_id: s.owner, name: 'ui' } });
      const res = await openStream(created.json.key);
      await s.store.deleteApiKey(created.json.id);
      // An event for the key's owner every 50 ms: the stream is never quiet for a heartbeat (200 ms).
      let busy = true;
      const load = (async () => {
        while (busy) {
          await createChat(s.owner);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      try {
        expect(await endsWithin(res.body, 3_000)).toContain('event: chat_created');
      } finally {
        busy = false;
        await load;
      }
    });

    it('a report key may post ref reports for its owner’s chats and nothing else', async () => {
      s = await createServiceHarness();
      const mine = await createChat(s.owner);
      const theirs = await createChat(randomUUID());
      const created = await s.call('POST', '/api/v1/keys', {
        body: { owner_id: s.owner, name: 'checkout', scope: 'report' },
      });
      expect(created.status).toBe(201);
      expect(created.json.scope).toBe('report');
      const key = created.json.key;
      const report = (chat: string) =>
        s.call('POST', '/api/v1/git-refs', { key, body: { chat_id: chat, origin: REPO, branch: 'b' } });
      expect((await report(mine)).status).toBe(202);
      expect((await report(theirs)).status).toBe(404);
      for (const [method, path] of [
        ['GET', '/api/v1/chats'],
        ['GET', `/api/v1/chats/${mine}`],
        ['GET', '/api/v1/events'],
        ['POST', `/api/v1/chats/${mine}/archive`],
        ['POST', `/api/v1/chats/${mine}/diff-status/refresh`],
        ['PUT', `/api/v1/owners/${s.owner}/tokens/fake`],
        ['GET', '/api/v1/keys'],
      ] as const) {
        const r = await s.call(method, path, { key, body: method === 'PUT' ? { token: 't' } : undefined });
        expect(r.status, `${method} ${path}`).toBe(403);
      }
      expect(
        (await s.call('GET', '/api/v1/keys')).json.keys.map((k: { scope: string }) => k.scope),
      ).toContain('report');
      expect(
        (await s.call('POST', '/api/v1/keys', { body: { owner_id: s.owner, name: 'x', scope: 'admin' } }))
          .status,
      ).toBe(400);
    });
  });

  describe('chats', () => {
    it('concurrent creates of one new id: one 201, the others 200, never a 500', async () => {
      s = await createServiceHarness();
      const id = randomUUID();
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: s.owner } }),
        ),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    });

    it("another owner's chat id answers 404 to an owner key, whether or not it exists", async () => {
      s = await createServiceHarness();
      const theirs = await createChat(randomUUID());
      const created = await s.call('POST', '/api/v1/keys', { body: { owner_id: s.owner, name: 'ui' } });
      const put = await s.call('PUT', `/api/v1/chats/${theirs}`, {
        key: created.json.key,
        body: { owner_id: s.owner, title: 'mine now' },
      });
      expect(put.status).toBe(404);
      expect(put.json.error.code).toBe('not_found');
    });
  });

  describe('workspaces', () => {
    it('a workspace report reaches only the reporting owner’s chats; the admin key must name the owner', async () => {
      s = await createServiceHarness();
      const ws = randomUUID();
      const mine = await createChat(s.owner, { workspace_id: ws });
      const other = randomUUID();
      // Another owner puts a chat into the same workspace id.
      const intruder = await createChat(other, { workspace_id: ws });
      const byOwner = await s.call('POST', '/api/v1/git-refs', {
        key: s.ownerKey,
        body: { workspace_id: ws, origin: REPO, branch: 'secret-branch' },
      });
      expect(byOwner.json.chat_ids).toEqual([mine]);
      expect((await s.call('GET', `/api/v1/chats/${intruder}`)).json.diff_status).toBeNull();
      expect(
        (await s.call('POST', '/api/v1/git-refs', { body: { workspace_id: ws, origin: REPO, branch: 'b' } }))
          .status,
      ).toBe(400);
      const byAdmin = await s.call('POST', '/api/v1/git-refs', {
        body: { workspace_id: ws, owner_id: other, origin: REPO, branch: 'b' },
      });
      expect(byAdmin.json.chat_ids).toEqual([intruder]);
      // An owner key cannot speak for another owner.
      expect(
        (
          await s.call('POST', '/api/v1/git-refs', {
            key: s.ownerKey,
            body: { workspace_id: ws, owner_id: other, origin: REPO, branch: 'b' },
          })
        ).status,
      ).toBe(403);
    });
  });

  describe('limits', () => {
    it('a key over its request rate gets 429 with Retry-After', async () => {
      s = await createServiceHarness({ limits: { requests_per_second: 1, request_burst: 5 } });
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 7; i++) {
        const r = await s.call('GET', '/api/v1/chats', { key: s.ownerKey });
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get('retry-after');
      }
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(statuses.at(-1)).toBe(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      // Another key has a budget of its own.
      expect((await s.call('GET', '/api/v1/chats')).status).toBe(200);
    });

    it('a key holds at most streams_per_key event streams', async () => {
      s = await createServiceHarness({ limits: { streams_per_key: 2 } });
      const a = await openStream(s.ownerKey);
      const b = await openStream(s.ownerKey);
      const c = await openStream(s.ownerKey);
      expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
      expect(Number(c.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      await a.body!.cancel();
      await b.body!.cancel();
    });

    it('a replay larger than replay_max_bytes is answered with reset', async () => {
      s = await createServiceHarness({ limits: { replay_max_bytes: 2_000 } });
      for (let i = 0; i < 10; i++) await createChat(s.owner, { title: 'x'.repeat(300) });
      await s.hub.flush();
      const res = await s.http.app.request('/api/v1/events', {
        headers: { authorization: `Bearer ${s.ownerKey}`, 'last-event-id': '0' },
      });
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('event: reset') && !text.includes('event: chat_created')) {
        text += Buffer.from((await reader.read()).value!).toString('utf8');
      }
      await reader.cancel();
      expect(text).toContain('event: reset');
    });

    it('concurrent creates cannot pass the chat quota together', async () => {
      s = await createServiceHarness({ limits: { chats_per_owner: 3 } });
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          s.call('PUT', `/api/v1/chats/${randomUUID()}`, { body: { owner_id: s.owner } }),
        ),
      );
      expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
    });

    it('owners have quotas on chats and on refs per chat; chats nest and branch within limits', async () => {
      s = await createServiceHarness({
        limits: { chats_per_owner: 5, refs_per_chat: 2, chat_depth: 3, children_per_chat: 2 },
      });
      const root = await createChat(s.owner);
      const child = await createChat(s.owner, { parent_chat_id: root });
      const grandchild = await createChat(s.owner, { parent_chat_id: child });
      const tooDeep = await s.call('PUT', `/api/v1/chats/${randomUUID()}`, {
        body: { owner_id: s.owner, parent_chat_id: grandchild },
      });
      expect(tooDeep.status).toBe(400);
      expect(tooDeep.json.error.code).toBe('chat_too_deep');
      await createChat(s.owner, { parent_chat_id: root });
      const crowded = await s.call('PUT', `/api/v1/chats/${randomUUID()}`, {
        body: { owner_id: s.owner, parent_chat_id: root },
      });
      expect(crowded.status).toBe(409);
      expect(crowded.json.error.code).toBe('too_many_children');
      await createChat(s.owner);
      const over = await s.call('PUT', `/api/v1/chats/${randomUUID()}`, { body: { owner_id: s.owner } });
      expect(over.status).toBe(429);
      expect(over.json.error.code).toBe('quota_exceeded');
      expect(over.headers.get('retry-after')).not.toBeNull();
      // Nothing was created by the refused requests.
      expect((await s.call('GET', `/api/v1/chats?owner_id=${s.owner}&limit=500`)).json.chats).toHaveLength(2);

      const report = (branch: string) =>
        s.call('POST', '/api/v1/git-refs', { body: { chat_id: root, origin: REPO, branch } });
      expect((await report('one')).status).toBe(202);
      expect((await report('two')).status).toBe(202);
      const third = await report('three');
      expect(third.status).toBe(429);
      expect(third.json.error.code).toBe('quota_exceeded');
      // A ref already tracked can always be reported again.
      expect((await report('one')).status).toBe(202);
    });

    it('a workspace report reaches at most workspace_report_chats chats', async () => {
      s = await createServiceHarness({ limits: { workspace_report_chats: 2 } });
      const ws = randomUUID();
      for (let i = 0; i < 3; i++) await createChat(s.owner, { workspace_id: ws });
      const r = await s.call('POST', '/api/v1/git-refs', {
        key: s.ownerKey,
        body: { workspace_id: ws, origin: REPO, branch: 'b' },
      });
      expect(r.status).toBe(400);
      expect(r.json.error.message).toMatch(/at most 2/);
    });
  });

  describe('webhooks', () => {
    const post = (
      provider: string,
      body: string | ReadableStream<Uint8Array>,
      headers: Record<string, string> = {},
    ) =>
      s.http.app.request(`/api/v1/webhooks/${provider}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'ping', ...headers },
        body,
        duplex: 'half',
      } as RequestInit);

    it('refuses unknown providers, providers without a secret and unsigned deliveries before reading the body', async () => {
      s = await createServiceHarness();
      // Each body never ends: an answer proves nothing waited for it.
      expect((await post('nope', stalledBody())).status).toBe(404);
      expect((await post('nosecret', stalledBody())).status).toBe(404);
      expect((await post('github', stalledBody())).status).toBe(401);
      const declared = await post('github', stalledBody(), {
        'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
        'content-length': String(50 * 1024 * 1024),
      });
      expect(declared.status).toBe(413);
    });

    it('a stalled upload times out with 408; a newer upload cuts the oldest unproven one instead of waiting', async () => {
      s = await createServiceHarness({
        limits: { webhook_upload_timeout_ms: 300, concurrent_webhook_uploads: 1 },
      });
      const signed = { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` };
      expect((await post('github', stalledBody(), signed)).status).toBe(408);
      // Two at once for one slot: neither waits for the other; one is cut (503), the other reads on.
      const both = await Promise.all([
        post('github', stalledBody(), signed),
        post('github', stalledBody(), signed),
      ]);
      expect(both.map((r) => r.status).sort()).toEqual([408, 503]);
      expect(both.find((r) => r.status === 503)!.headers.get('retry-after')).not.toBeNull();
    });

    it('a body over the limit is refused while it streams in', async () => {
      s = await createServiceHarness();
      const chunk = new Uint8Array(1024 * 1024).fill(32);
      let sent = 0;
      const big = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ >= 8) controller.close();
          else controller.enqueue(chunk);
        },
      });
      const r = await post('github', big, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` });
      expect(r.status).toBe(413);
      expect(sent).toBeLessThan(8);
    });

    it('old delivery ids are pruned when a replica starts, not only after an hour of uptime', async () => {
      s = await createServiceHarness();
      const now = s.clock.now();
      await s.db.query(
        `INSERT INTO webhook_deliveries (provider_id, delivery_id, received_at)
         VALUES ('github', 'old', $1), ('github', 'recent', $2)`,
        [new Date(now.getTime() - 2 * 86_400_000), new Date(now.getTime() - 60_000)],
      );
      const schema = (await s.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
      const config = loadConfig({});
      const restarted = await openRuntime(
        {
          ...config,
          database_url: schemaUrl(schema),
          admin_token: 'another-admin-key-0123',
          providers: [],
          worker: { ...config.worker, enabled: false },
        },
        { clock: s.clock, logger: pino({ level: 'silent' }) },
      );
      await restarted.start();
      try {
        await waitFor(async () => {
          const ids = await s.db.query<{ delivery_id: string }>('SELECT delivery_id FROM webhook_deliveries');
          return ids.rows.map((r) => r.delivery_id).join() === 'recent';
        });
      } finally {
        await restarted.close();
      }
    });

    it('deliveries without an id are de-duplicated by their body', async () => {
      s = await createServiceHarness();
      const raw = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
      const headers = {
        'x-hub-signature-256': `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(raw).digest('hex')}`,
      };
      expect((await post('github', raw, headers)).status).toBe(202);
      const again = await post('github', raw, headers);
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ status: 'duplicate' });
    });
  });

  describe('HTTP', () => {
    it('sends security headers, and the dashboard has no inline code and keeps the key per tab', async () => {
      s = await createServiceHarness();
      for (const path of ['/', '/assets/dashboard.js', '/api/v1/chats', '/healthz']) {
        const res = await s.http.app.request(path);
        expect(res.headers.get('content-security-policy'), path).toMatch(/frame-ancestors 'none'/);
        expect(res.headers.get('content-security-policy'), path).not.toMatch(/unsafe-inline/);
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      }
      const inline = /\son[a-z]+\s*=|<script(?![^>]*\bsrc=)[^>]*>|\sstyle\s*=/i;
      expect(DASHBOARD_ASSETS.html).not.toMatch(inline);
      expect(DASHBOARD_ASSETS.js).not.toMatch(/\son[a-z]+=["'`]/i);
      expect(DASHBOARD_ASSETS.js).not.toMatch(/localStorage/);
      expect(DASHBOARD_ASSETS.js).toMatch(/sessionStorage/);
    });

    it('answers only to its own host names (DNS rebinding) and can require a key for /metrics', async () => {
      s = await createServiceHarness({
        env: { GITSYNC_METRICS_TOKEN: 'metrics-key-0123456789', GITSYNC_ALLOWED_HOSTS: 'gitsync.internal' },
      });
      const at = (host: string) => s.http.app.request('/healthz', { headers: { host } });
      expect((await at('gitsync.internal:7420')).status).toBe(200);
      const rebound = await at('attacker.example:7420');
      expect(rebound.status).toBe(421);
      expect((await s.http.app.request('/metrics')).status).toBe(401);
      const metrics = await s.http.app.request('/metrics', {
        headers: { authorization: 'Bearer metrics-key-0123456789' },
      });
      expect(metrics.status).toBe(200);
    });

    it('/metrics labels budgets with token fingerprints only for loopback scrapes or with the metrics key', async () => {
      const budgets = () =>
        ['ghp_owner_one', 'ghp_owner_two'].map((token, i) => ({
          provider_id: 'github',
          scope: 'core',
          token_fp: tokenFingerprint(token),
          remaining: 10 - 5 * i,
        })) as unknown as BudgetState[];
      const scrape = async (headers: Record<string, string>) => {
        const res = await s.http.app.request('/metrics', { headers });
        expect(res.status).toBe(200);
        return (await res.text()).split('\n').filter((l) => l.startsWith('gitsync_token_budget_remaining'));
      };
      s = await createServiceHarness();
      s.metrics.budgets = budgets;
      expect(await scrape({})).toHaveLength(2);
      expect((await scrape({})).every((l) => /token="[\w-]{12}"/.test(l))).toBe(true);
      // Through a proxy (someone else's request): one series per provider and scope, the lowest.
      expect(await scrape({ 'x-forwarded-for': '203.0.113.9' })).toEqual([
        'gitsync_token_budget_remaining{provider="github",scope="core"} 5',
      ]);
      await s.close();
      s = await createServiceHarness({ env: { GITSYNC_METRICS_TOKEN: 'metrics-key-0123456789' } });
      s.metrics.budgets = budgets;
      const keyed = await scrape({
        authorization: 'Bearer metrics-key-0123456789',
        'x-forwarded-for': '203.0.113.9',
      });
      expect(keyed).toHaveLength(2);
      expect(keyed.every((l) => /token="[\w-]{12}"/.test(l))).toBe(true);
    });

    it("token fingerprints are HMACs under the deployment's key: never a plain hash, the same on every replica", async () => {
      const token = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
      const plain = createHash('sha256').update(token).digest('base64url');
      s = await createServiceHarness();
      const withKey = tokenFingerprint(token);
      expect(withKey).not.toBe(plain);
      // Without an encryption key (PostgreSQL): a secret generated once in the database, which a
      // second replica of the deployment reads.
      const schema = (await s.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
      const config = loadConfig({});
      const replica = () =>
        openRuntime(
          {
            ...config,
            database_url: schemaUrl(schema),
            admin_token: ADMIN_KEY,
            encryption_key: undefined,
            providers: [],
            worker: { ...config.worker, enabled: false },
          },
          { clock: s.clock, logger: pino({ level: 'silent' }) },
        );
      const first = await replica();
      const keyless = tokenFingerprint(token);
      await first.close();
      expect(keyless).not.toBe(plain);
      expect(keyless).not.toBe(withKey);
      const second = await replica();
      try {
        expect(tokenFingerprint(token)).toBe(keyless);
      } finally {
        await second.close();
      }
      // Another deployment with the same encryption key (a replica of the first) agrees again.
      await s.close();
      s = await createServiceHarness();
      expect(tokenFingerprint(token)).toBe(withKey);
    });

    it('inputs that once answered 500 get a clear 400 and change nothing', async () => {
      s = await createServiceHarness();
      const chat = await createChat(s.owner);
      const b64 = (text: string) => Buffer.from(text).toString('base64url');
      const cases: [string, string, unknown][] = [
        ['PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { token: 'ghp_\u0000x' }],
        ['POST', '/api/v1/keys', { owner_id: s.owner, name: 'a\u0000b' }],
        ['POST', `/api/v1/chats/${chat}/diff-status/refresh`, { branch: 'a\u0000b' }],
        ['POST', `/api/v1/chats/${chat}/diff-status/refresh`, { origin: 'https://x/\u0000' }],
        ['GET', `/api/v1/chats?cursor=${b64(`2026-01-01T00:00:00.000Z|${'-'.repeat(36)}`)}`, undefined],
        ['GET', `/api/v1/chats?cursor=${b64(`+275760-09-13T00:00:00.000Z|${randomUUID()}`)}`, undefined],
        [
          'POST',
          '/api/v1/git-refs',
          { chat_id: chat, origin: `${REPO}/${'o'.repeat(1990)}`, branch: 'é'.repeat(500) },
        ],
        ['POST', '/api/v1/git-refs', { chat_id: chat, origin: REPO, branch: '分'.repeat(300) }],
      ];
      for (const [method, path, body] of cases) {
        const r = await s.call(method, path, { body });
        expect(r.status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 60)}`).toBe(400);
        expect(r.json.error.code).toBeTypeOf('string');
      }
      expect((await s.call('GET', `/api/v1/chats/${chat}`)).json.diff_statuses).toEqual([]);
      expect(
        (await s.call('GET', '/api/v1/keys')).json.keys.some((k: { name: string }) => k.name.includes('a')),
      ).toBe(false);
    });
  });
});
