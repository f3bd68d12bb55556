import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFingerprint } from '../src/core/fingerprint.ts';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';

/**
 * Who may call what, for every route of the app: the table below is checked against the app's own
 * route list, so a new route without a row here fails this test.
 */
type Who = 'admin' | 'owner' | 'other' | 'report' | 'revoked' | 'none';
const EVERYONE: Who[] = ['admin', 'owner', 'other', 'report', 'revoked', 'none'];

interface Fixture {
  chat: string;
  owner: string;
  keyId: string;
}

interface Rule {
  /** Builds the request for a fresh fixture (every call gets its own chat, so writes do not interfere). */
  request: (f: Fixture) => { path: string; body?: unknown };
  /** Who is served; everyone else is refused with the status `refused` gives. */
  allowed: Who[];
  /** The refusal an owner key for another owner gets (404 where a chat id is named, else 403). */
  otherStatus?: number;
}

const REPO = 'https://fake.test/acme/app';

const RULES: Record<string, Rule | 'public' | 'webhook'> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /api/v1/openapi.json': 'public',
  'GET /metrics': 'public',
  'GET /': 'public',
  'GET /assets/dashboard.js': 'public',
  'GET /assets/dashboard.css': 'public',
  'POST /api/v1/webhooks/:provider_id': 'webhook',
  'PUT /api/v1/chats/:id': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}`, body: { owner_id: f.owner, title: 'renamed' } }),
    allowed: ['admin', 'owner'],
    otherStatus: 403,
  },
  'POST /api/v1/chats/:id/archive': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}/archive` }),
    allowed: ['admin', 'owner'],
    otherStatus: 404,
  },
  'POST /api/v1/chats/:id/unarchive': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}/unarchive` }),
    allowed: ['admin', 'owner'],
    otherStatus: 404,
  },
  'DELETE /api/v1/chats/:id': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}` }),
    allowed: ['admin', 'owner'],
    otherStatus: 404,
  },
  'GET /api/v1/chats': {
    request: (f) => ({ path: `/api/v1/chats?owner_id=${f.owner}` }),
    allowed: ['admin', 'owner'],
    otherStatus: 403,
  },
  'GET /api/v1/chats/:id': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}` }),
    allowed: ['admin', 'owner'],
    otherStatus: 404,
  },
  'POST /api/v1/git-refs': {
    request: (f) => ({ path: '/api/v1/git-refs', body: { chat_id: f.chat, origin: REPO, branch: 'b' } }),
    allowed: ['admin', 'owner', 'report'],
    otherStatus: 404,
  },
  'POST /api/v1/chats/:id/diff-status/refresh': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}/diff-status/refresh`, body: {} }),
    allowed: ['admin', 'owner'],
    otherStatus: 404,
  },
  'GET /api/v1/chats/:id/feedback': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}/feedback` }),
    allowed: ['admin', 'owner'],
    otherStatus: 404,
  },
  'GET /api/v1/chats/:id/wait': {
    request: (f) => ({ path: `/api/v1/chats/${f.chat}/wait?timeout_s=1` }),
    allowed: ['admin', 'owner'],
    otherStatus: 404,
  },
  'PUT /api/v1/owners/:owner_id/tokens/:provider_id': {
    request: (f) => ({ path: `/api/v1/owners/${f.owner}/tokens/fake`, body: { token: 'tok' } }),
    allowed: ['admin', 'owner'],
    otherStatus: 403,
  },
  'GET /api/v1/owners/:owner_id/budget': {
    request: (f) => ({ path: `/api/v1/owners/${f.owner}/budget` }),
    allowed: ['admin', 'owner'],
    otherStatus: 403,
  },
  'DELETE /api/v1/owners/:owner_id/tokens/:provider_id': {
    request: (f) => ({ path: `/api/v1/owners/${f.owner}/tokens/fake` }),
    allowed: ['admin', 'owner'],
    otherStatus: 403,
  },
  'POST /api/v1/keys': {
    request: (f) => ({ path: '/api/v1/keys', body: { owner_id: f.owner, name: 'k' } }),
    allowed: ['admin'],
    otherStatus: 403,
  },
  'GET /api/v1/keys': { request: () => ({ path: '/api/v1/keys' }), allowed: ['admin'], otherStatus: 403 },
  'DELETE /api/v1/keys/:id': {
    request: (f) => ({ path: `/api/v1/keys/${f.keyId}` }),
    allowed: ['admin'],
    otherStatus: 403,
  },
  // A ticket opens one stream of the caller's own events: every owner may have one for itself.
  'POST /api/v1/events/tickets': {
    request: () => ({ path: '/api/v1/events/tickets' }),
    allowed: ['admin', 'owner', 'other'],
  },
  'GET /api/v1/events': {
    request: (f) => ({ path: `/api/v1/events?owner_id=${f.owner}` }),
    allowed: ['admin', 'owner'],
    otherStatus: 403,
  },
};

describe('authorization matrix over every route', () => {
  let s: ServiceHarness;
  const keys = {} as Record<Exclude<Who, 'admin' | 'none'>, string>;
  beforeAll(async () => {
    s = await createServiceHarness();
    keys.owner = s.ownerKey;
    keys.other = (await s.keys.createOwnerKey(randomUUID(), 'another owner')).key;
    keys.report = (await s.keys.createOwnerKey(s.owner, 'checkout', 'report')).key;
    const revoked = await s.keys.createOwnerKey(s.owner, 'revoked');
    await s.store.deleteApiKey(revoked.id);
    keys.revoked = revoked.key;
  });
  afterAll(() => s.close());

  const fixture = async (): Promise<Fixture> => {
    const chat = randomUUID();
    await s.call('PUT', `/api/v1/chats/${chat}`, { body: { owner_id: s.owner } });
    await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'main' } });
    const key = await s.keys.createOwnerKey(s.owner, 'to delete');
    return { chat, owner: s.owner, keyId: key.id };
  };

  it('has a rule for every route the app serves', () => {
    const served = new Set(
      s.http.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`),
    );
    expect([...served].sort()).toEqual(Object.keys(RULES).sort());
  });

  const cases = Object.entries(RULES).flatMap(([route, rule]) =>
    typeof rule === 'string' ? [] : EVERYONE.map((who) => [route, who] as const),
  );

  it.each(cases)('%s as %s', async (route, who) => {
    const rule = RULES[route] as Rule;
    const method = route.split(' ')[0]!;
    const { path, body } = rule.request(await fixture());
    const key = who === 'admin' ? undefined : who === 'none' ? null : keys[who];
    if (method === 'GET' && path.startsWith('/api/v1/events')) {
      const headers: Record<string, string> =
        key === null ? {} : { authorization: `Bearer ${key ?? 'test-admin-key-0123456789'}` };
      const res = await s.http.app.request(path, { headers });
      await res.body?.cancel();
      expect(res.status).toBe(expected(rule, who) ?? 200);
      return;
    }
    const r = await s.call(method, path, { key, body });
    const refusal = expected(rule, who);
    if (refusal === null) {
      // Served: whatever the outcome, it is not a refusal of the caller.
      expect([401, 403], JSON.stringify(r.json)).not.toContain(r.status);
      expect(r.status === 404 && r.json?.error?.code === 'not_found').toBe(false);
    } else {
      expect(r.status, JSON.stringify(r.json)).toBe(refusal);
    }
  });

  it('public routes need no key; webhooks are authenticated by signature, not by key', async () => {
    for (const [route, rule] of Object.entries(RULES)) {
      if (rule !== 'public') continue;
      const r = await s.http.app.request(route.split(' ')[1]!);
      expect(r.status, route).toBe(200);
    }
    const r = await s.call('POST', '/api/v1/webhooks/github', { key: s.ownerKey, raw: '{}' });
    expect(r.status).toBe(401);
  });
});

describe('the budget view of the service token', () => {
  it('an owner’s key sees only that owner’s own use and allowance; the admin key sees the token’s totals', async () => {
    const service = 'fake-service-token';
    const s = await createServiceHarness({ fake: { service_token: service, service_token_for: 'all' } });
    try {
      const fp = tokenFingerprint(service);
      const now = s.clock.now();
      const minute = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
      const reset = new Date(now.getTime() + 1_800_000);
      const other = randomUUID();
      // The service token: 1,000 units an hour, 700 spent — 30 on this owner's behalf, 400 on another's.
      await s.store.recordBudgets(
        [
          {
            provider_id: 'fake',
            token_fp: fp,
            scope: '',
            limit: 1000,
            remaining: 300,
            reset_at: reset,
            observed_at: now,
            paused_until: null,
          },
        ],
        [{ provider_id: 'fake', token_fp: fp, scope: '', minute, units: 700 }],
        undefined,
        [
          { provider_id: 'fake', token_fp: fp, scope: '', owner_id: s.owner, minute, units: 30 },
          { provider_id: 'fake', token_fp: fp, scope: '', owner_id: other, minute, units: 400 },
        ],
      );
      const view = async (key?: string, owner = s.owner) => {
        const r = await s.call('GET', `/api/v1/owners/${owner}/budget`, { key });
        expect(r.status).toBe(200);
        return r.json.providers.find((p: { provider_id: string }) => p.provider_id === 'fake');
      };
      // 10 % of the budget per window is this owner's (service_per_owner), 30 of it used.
      const own = await view(s.ownerKey);
      expect(own).toMatchObject({
        token: 'service',
        limit: 100,
        remaining: 70,
        used_last_hour: 30,
        max_share: 0.1,
        paused: false,
        reset_at: reset.toISOString(),
      });
      expect(JSON.stringify(own)).not.toMatch(/\b(300|700|1000)\b/);
      expect(await view()).toMatchObject({
        token: 'service',
        limit: 1000,
        remaining: 300,
        used_last_hour: 700,
        max_share: 0.9,
      });
      // The owner who spent past their allowance is paused on it; the others are not.
      const theirs = await view(undefined, other);
      expect(theirs).toMatchObject({ paused: true, paused_until: reset.toISOString() });
    } finally {
      await s.close();
    }
  });
});

/** The status a refused caller gets, or null when the caller is served. */
function expected(rule: Rule, who: Who): number | null {
  if (rule.allowed.includes(who)) return null;
  if (who === 'none' || who === 'revoked') return 401;
  if (who === 'report') return 403;
  if (who === 'other') return rule.otherStatus ?? 403;
  return 403;
}
