import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';

/**
 * Generated bad input for every endpoint that takes input: whatever arrives, the answer is a
 * clear 4xx with the error shape, never a 5xx, and a refused request changes nothing.
 */
describe('generated bad input', () => {
  let s: ServiceHarness;
  let chat: string;
  beforeAll(async () => {
    s = await createServiceHarness();
    chat = randomUUID();
    await s.call('PUT', `/api/v1/chats/${chat}`, { body: { owner_id: s.owner, title: 'kept' } });
    await s.call('POST', '/api/v1/git-refs', {
      body: { chat_id: chat, origin: 'https://fake.test/acme/app', branch: 'main' },
    });
  });
  afterAll(() => s.close());

  /** Everything a request could change, as one comparable value. */
  const snapshot = async () => {
    const tables = ['chats', 'diff_statuses', 'api_keys', 'owner_tokens', 'webhook_deliveries'];
    const out: Record<string, unknown> = {};
    for (const t of tables) out[t] = (await s.db.query(`SELECT * FROM ${t} ORDER BY 1, 2`)).rows;
    await s.hub.flush();
    out.events = (await s.db.query('SELECT count(*) AS n FROM events')).rows;
    return JSON.stringify(out);
  };

  // Strings that have broken services before: NUL, lone surrogates, huge, unicode, paths, SQL.
  const nasty = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(
      '\u0000',
      'a\u0000b',
      '\ud800',
      '../../etc/passwd',
      "'; DROP TABLE chats; --",
      '-'.repeat(36),
    ),
    fc.constant('x'.repeat(5000)),
  );
  const value = fc.oneof(
    nasty,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(nasty, { maxLength: 3 }),
  );
  const body = fc.oneof(
    fc.dictionary(
      fc.constantFrom(
        'owner_id',
        'workspace_id',
        'chat_id',
        'parent_chat_id',
        'title',
        'branch',
        'origin',
        'token',
        'name',
        'scope',
      ),
      value,
    ),
    value,
    fc.jsonValue(),
  );

  const endpoints: [string, (id: string) => string][] = [
    ['PUT', (id) => `/api/v1/chats/${id}`],
    ['POST', () => '/api/v1/git-refs'],
    ['POST', (id) => `/api/v1/chats/${id}/diff-status/refresh`],
    ['PUT', (id) => `/api/v1/owners/${id}/tokens/fake`],
    ['POST', () => '/api/v1/keys'],
    ['POST', (id) => `/api/v1/chats/${id}/archive`],
    ['DELETE', (id) => `/api/v1/keys/${id}`],
  ];

  it.each(endpoints)('%s %s', async (method, path) => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          nasty.filter((x) => !x.includes('/') && !x.includes('?') && !x.includes('#')),
          fc.constant(chat),
        ),
        fc.oneof(
          body.map((b) => JSON.stringify(b)),
          nasty,
        ),
        async (id, raw) => {
          const before = await snapshot();
          const r = await s.call(method, path(encodeURIComponent(wellFormed(id))), {
            raw,
            headers: { 'content-type': 'application/json' },
          });
          expect(r.status, `${method} ${path(id)} ${raw.slice(0, 80)}`).toBeLessThan(500);
          if (r.status >= 400) {
            expect(r.json?.error?.code).toBeTypeOf('string');
            expect(await snapshot()).toBe(before);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('queries and cursors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('owner_id', 'archived', 'limit', 'cursor'), nasty),
        async (query) => {
          const r = await s.call('GET', `/api/v1/chats?${new URLSearchParams(query)}`);
          expect(r.status, JSON.stringify(query)).toBeLessThan(500);
        },
      ),
      { numRuns: 80 },
    );
    const cursor = (text: string) => Buffer.from(text).toString('base64url');
    await fc.assert(
      fc.asyncProperty(fc.date({ noInvalidDate: false }), nasty, async (date, id) => {
        const at = Number.isNaN(date.getTime()) ? 'garbage' : date.toISOString();
        const r = await s.call('GET', `/api/v1/chats?cursor=${cursor(`${at}|${id}`)}`);
        expect(r.status).toBeLessThan(500);
      }),
      { numRuns: 80 },
    );
    // Years JavaScript writes but PostgreSQL cannot read back (no year 0; no signed six-digit years).
    const id = '0b1f8f5e-4c1a-4a4e-9a57-6a4d1c2b3e4f';
    for (const at of [
      '0000-01-01T00:00:00.000Z',
      '-000001-01-01T00:00:00.000Z',
      '+010000-01-01T00:00:00.000Z',
    ]) {
      const r = await s.call('GET', `/api/v1/chats?cursor=${cursor(`${at}|${id}`)}`);
      expect(r.status, at).toBe(400);
    }
    const earliest = await s.call('GET', `/api/v1/chats?cursor=${cursor(`0001-01-01T00:00:00.000Z|${id}`)}`);
    expect(earliest.status).toBe(200);
  });
});

/** Lone surrogates cannot be percent-encoded: replace them, as a browser would. */
const wellFormed = (s: string) => s.replace(/[\ud800-\udfff]/gu, '\ufffd');
