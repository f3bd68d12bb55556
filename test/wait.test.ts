import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.ts';
import { openRuntime } from '../src/runtime.ts';
import { schemaUrl } from './helpers/processes.ts';
import { ADMIN_KEY, createServiceHarness, type ServiceHarness } from './helpers/service.ts';
import { waitFor } from './helpers/wait.ts';

const REPO = 'https://fake.test/acme/app';

/** `GET /api/v1/chats/{id}/wait` (SPEC §6.2 "Waiting for a change"). */
describe('waiting for a change', () => {
  let s: ServiceHarness;
  afterEach(async () => {
    await s?.close();
  });

  const newChat = async (owner = s.owner) => {
    const id = randomUUID();
    expect((await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: owner } })).status).toBe(201);
    return id;
  };
  /** Starts a wait and resolves once it is open (it holds one of the key's stream slots). */
  const openWait = async (chat: string, query: string, key?: string) => {
    const before = s.http.streams.count;
    const answer = s.call('GET', `/api/v1/chats/${chat}/wait${query}`, { key });
    await waitFor(() => s.http.streams.count > before, 10_000, 'the wait to open');
    // Wrapped: an async function's promise result would be awaited along with it.
    return { answer };
  };

  it('answers with the chat as soon as it changes, and not for another chat’s change', async () => {
    s = await createServiceHarness();
    const seen: string[] = [];
    s.hub.subscribe((e) => seen.push(e.id));
    const [chat, other] = [await newChat(), await newChat()];
    const created = (await s.hub.idRange()).newest!;
    await waitFor(() => seen.includes(created), 10_000, 'the chats’ events to be delivered');
    const { answer: pending } = await openWait(chat, '?timeout_s=30', s.ownerKey);
    // Another chat of the same owner changing does not answer it.
    await s.call('PUT', `/api/v1/chats/${other}`, { body: { owner_id: s.owner, title: 'elsewhere' } });
    const elsewhere = (await s.hub.idRange()).newest!;
    await waitFor(() => seen.includes(elsewhere), 10_000, 'the other chat’s event to be delivered');
    expect(s.http.streams.count).toBe(1);
    await s.call('PUT', `/api/v1/chats/${chat}`, { body: { owner_id: s.owner, title: 'renamed' } });
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.json.changed).toBe(true);
    expect(r.json.event_id).toMatch(/^\d+$/);
    expect(r.json.chat).toMatchObject({ id: chat, title: 'renamed' });
    expect(s.http.streams.count).toBe(0);
  });

  it('a ref’s change answers too; `after` answers at once with what followed it', async () => {
    s = await createServiceHarness();
    const seen: string[] = [];
    s.hub.subscribe((e) => seen.push(e.id));
    const chat = await newChat();
    const created = (await s.hub.idRange()).newest!;
    await waitFor(() => seen.includes(created), 10_000, 'the chat’s event to be delivered');
    // Answered at its timeout (not through openWait: a one-second wait may be over before a busy
    // machine's next look at the open streams).
    const quiet = await s.call('GET', `/api/v1/chats/${chat}/wait?timeout_s=1`);
    expect(quiet.json).toEqual({ changed: false, event_id: expect.stringMatching(/^\d+$/) });
    // A ref report after the id it gave: the next wait with `after` answers without waiting.
    expect(
      (await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'feature' } }))
        .status,
    ).toBe(202);
    await s.hub.flush();
    const r = await s.call('GET', `/api/v1/chats/${chat}/wait?after=${quiet.json.event_id}&timeout_s=30`);
    expect(r.json.changed).toBe(true);
    expect(r.json.chat.diff_statuses).toHaveLength(1);
    expect(r.json.chat.diff_statuses[0]).toMatchObject({ git_branch: 'feature' });
    // Its event_id covers that change (and what came with it): the next wait does not wake for it.
    const again = await s.call('GET', `/api/v1/chats/${chat}/wait?after=${r.json.event_id}&timeout_s=1`);
    expect(again.json).toEqual({ changed: false, event_id: r.json.event_id });
  });

  it('an id the log does not hold (pruned, or from another database) answers at once, with one it does', async () => {
    s = await createServiceHarness();
    const chat = await newChat();
    const r = await s.call('GET', `/api/v1/chats/${chat}/wait?after=999999999999&timeout_s=30`);
    expect(r.json.changed).toBe(true);
    expect(BigInt(r.json.event_id)).toBeLessThan(999999999999n);
  });

  it('is 404 for an unknown chat and another owner’s chat, 403 for a report key', async () => {
    s = await createServiceHarness();
    const theirs = await newChat(randomUUID());
    expect((await s.call('GET', `/api/v1/chats/${randomUUID()}/wait?timeout_s=1`)).status).toBe(404);
    const r = await s.call('GET', `/api/v1/chats/${theirs}/wait?timeout_s=1`, { key: s.ownerKey });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('not_found');
    const report = (await s.keys.createOwnerKey(s.owner, 'hook', 'report')).key;
    const mine = await newChat();
    expect((await s.call('GET', `/api/v1/chats/${mine}/wait?timeout_s=1`, { key: report })).status).toBe(403);
    expect((await s.call('GET', `/api/v1/chats/${mine}/wait?timeout_s=1`, { key: null })).status).toBe(401);
  });

  it.each([
    ['timeout_s=0'],
    ['timeout_s=61'],
    ['timeout_s=1.5'],
    ['timeout_s=1e1'],
    ['timeout_s=%201'],
    ['timeout_s='],
    ['timeout_s=ten'],
    ['after=abc'],
    ['after=-1'],
    ['after='],
    ['after=1234567890123456789'],
    ['timeout_s=1&timeout_s=2'],
    ['after=1&after=2'],
    ['since=1'],
  ])('refuses ?%s with 400', async (query) => {
    s = await createServiceHarness();
    const chat = await newChat();
    const r = await s.call('GET', `/api/v1/chats/${chat}/wait?${query}`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('bad_request');
    expect(s.http.streams.count).toBe(0);
  });

  it('open waits count against the key’s stream limit, with its event streams', async () => {
    s = await createServiceHarness({ limits: { streams_per_key: 2 } });
    const chat = await newChat();
    const stream = await s.http.app.request('/api/v1/events', {
      headers: { authorization: `Bearer ${s.ownerKey}` },
    });
    expect(stream.status).toBe(200);
    await waitFor(() => s.http.streams.count === 1);
    const { answer: held } = await openWait(chat, '?timeout_s=30', s.ownerKey);
    const refused = await s.call('GET', `/api/v1/chats/${chat}/wait?timeout_s=1`, { key: s.ownerKey });
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('too_many_streams');
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    // Another key has its own slots.
    expect((await s.call('GET', `/api/v1/chats/${chat}/wait?timeout_s=1`)).status).toBe(200);
    // Deleting the key ends its waits (and streams) at once.
    const keyId = (await s.call('GET', '/api/v1/keys')).json.keys.find(
      (k: { owner_id: string }) => k.owner_id === s.owner,
    ).id;
    expect((await s.call('DELETE', `/api/v1/keys/${keyId}`)).status).toBe(204);
    expect((await held).json.changed).toBe(false);
    await stream.body?.cancel();
    await waitFor(() => s.http.streams.count === 0);
  });

  it('a caller that goes away gives its slot back', async () => {
    s = await createServiceHarness({ limits: { streams_per_key: 1 } });
    const chat = await newChat();
    // Over real HTTP: the caller closes its connection. (An in-process request's signal follows the
    // caller's only while the garbage collector keeps the follower: not what a real caller does.)
    const server = serve({ fetch: s.http.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      const gone = new AbortController();
      const pending = fetch(`http://127.0.0.1:${port}/api/v1/chats/${chat}/wait?timeout_s=60`, {
        headers: { authorization: `Bearer ${s.ownerKey}` },
        signal: gone.signal,
      }).catch(() => null);
      await waitFor(() => s.http.streams.count === 1);
      gone.abort();
      await pending;
      await waitFor(() => s.http.streams.count === 0, 10_000, 'the slot to be given back');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('an event written by another replica answers a wait held on this one', async () => {
    s = await createServiceHarness();
    const chat = await newChat();
    const schema = (await s.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
    const config = loadConfig({});
    const other = await openRuntime(
      {
        ...config,
        database_url: schemaUrl(schema),
        admin_token: ADMIN_KEY,
        encryption_key: 'ab'.repeat(32),
        providers: [],
        worker: { ...config.worker, enabled: false },
      },
      { clock: s.clock, logger: pino({ level: 'silent' }) },
    );
    await other.start();
    try {
      const { answer: pending } = await openWait(chat, '?timeout_s=30', s.ownerKey);
      const put = await other.http.app.request(`/api/v1/chats/${chat}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${s.ownerKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ owner_id: s.owner, title: 'from the other replica' }),
      });
      expect(put.status).toBe(200);
      const r = await pending;
      expect(r.json.changed).toBe(true);
      expect(r.json.chat.title).toBe('from the other replica');
    } finally {
      await other.close();
    }
  });
});
