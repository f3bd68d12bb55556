import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { EventHub, type StoredEvent } from '../src/events/event-hub.ts';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from './helpers/databases.ts';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';
import { SseClient } from './helpers/sse.ts';
import { waitFor } from './helpers/wait.ts';

describe('events over a real socket (SSE)', () => {
  let s: ServiceHarness;
  let server: ReturnType<typeof serve>;
  let base: string;
  const clients: SseClient[] = [];

  beforeEach(async () => {
    s = await createServiceHarness();
    server = serve({ fetch: s.http.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await s.close();
    await new Promise((r) => server.close(r));
  });

  const open = async (query = '', headers: Record<string, string> = {}, key = s.ownerKey) => {
    const client = await SseClient.open(`${base}/api/v1/events${query}`, {
      authorization: `Bearer ${key}`,
      ...headers,
    });
    clients.push(client);
    return client;
  };
  const api = (method: string, path: string, body?: unknown, key = s.ownerKey) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('a ref report produces diff_status_change with the chat and the changed ref', async () => {
    const stream = await open();
    expect(stream.status).toBe(200);
    const chat = randomUUID();
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: s.owner, title: 'Agent chat' });
    await api('POST', '/api/v1/git-refs', {
      chat_id: chat,
      origin: 'https://fake.test/acme/app',
      branch: 'feature',
    });
    const created = await stream.waitFor((e) => e.event === 'chat_created');
    expect(JSON.parse(created.data)).toMatchObject({
      kind: 'chat_created',
      chat: { id: chat, title: 'Agent chat' },
    });
    const change = await stream.waitFor((e) => e.event === 'diff_status_change');
    expect(change.id).toMatch(/^\d+$/);
    const data = JSON.parse(change.data);
    expect(data).toMatchObject({
      kind: 'diff_status_change',
      chat: { id: chat, owner_id: s.owner, diff_status: { git_branch: 'feature' } },
      changed_diff_status: {
        chat_id: chat,
        git_remote_origin: 'https://fake.test/acme/app',
        git_branch: 'feature',
        url: null,
      },
    });
    expect(Number(change.id)).toBeGreaterThan(Number(created.id));
  });

  it('chat events: updated, archived, unarchived, deleted', async () => {
    const stream = await open();
    const chat = randomUUID();
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: s.owner });
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: s.owner, title: 'renamed' });
    await api('POST', `/api/v1/chats/${chat}/archive`);
    await api('POST', `/api/v1/chats/${chat}/unarchive`);
    await api('DELETE', `/api/v1/chats/${chat}`);
    const deleted = await stream.waitFor((e) => e.event === 'chat_deleted');
    expect(JSON.parse(deleted.data)).toEqual({ kind: 'chat_deleted', chat: { id: chat, owner_id: s.owner } });
    expect(stream.events.map((e) => e.event)).toEqual([
      'chat_created',
      'chat_updated',
      'chat_archived',
      'chat_unarchived',
      'chat_deleted',
    ]);
  });

  it('reconnecting with Last-Event-ID receives what was missed, exactly once', async () => {
    const first = await open();
    const a = randomUUID();
    await api('PUT', `/api/v1/chats/${a}`, { owner_id: s.owner });
    const seen = await first.waitFor((e) => e.event === 'chat_created');
    await first.close();
    const b = randomUUID();
    await api('PUT', `/api/v1/chats/${b}`, { owner_id: s.owner });
    await api('POST', '/api/v1/git-refs', { chat_id: b, origin: 'https://fake.test/acme/app', branch: 'x' });
    await s.hub.flush();
    const again = await open('', { 'last-event-id': seen.id! });
    await again.waitFor((e) => e.event === 'diff_status_change');
    expect(again.events.map((e) => e.event)).toEqual(['chat_created', 'diff_status_change']);
    expect(JSON.parse(again.events[0]!.data).chat.id).toBe(b);
  });

  it('an id older than the retained window, or garbage, gets event: reset', async () => {
    await api('PUT', `/api/v1/chats/${randomUUID()}`, { owner_id: s.owner });
    await s.hub.flush();
    s.clock.advance(60 * 60_000);
    expect(await s.hub.prune()).toBeGreaterThan(0);
    await api('PUT', `/api/v1/chats/${randomUUID()}`, { owner_id: s.owner });
    await s.hub.flush();
    const stale = await open('', { 'last-event-id': '0' });
    await stale.waitFor((e) => e.event === 'reset');
    const garbage = await open('?last_event_id=abc');
    await garbage.waitFor((e) => e.event === 'reset');
  });

  it('owner keys only see their own owner’s events; the admin sees all; heartbeats keep the stream open', async () => {
    const mine = await open();
    const all = await open('', {}, 'test-admin-key-0123456789');
    const viaQuery = await SseClient.open(`${base}/api/v1/events?access_token=${s.ownerKey}`);
    clients.push(viaQuery);
    const stranger = randomUUID();
    await api('PUT', `/api/v1/chats/${randomUUID()}`, { owner_id: stranger }, 'test-admin-key-0123456789');
    const own = randomUUID();
    await api('PUT', `/api/v1/chats/${own}`, { owner_id: s.owner });
    await mine.waitFor((e) => e.event === 'chat_created');
    await viaQuery.waitFor((e) => e.event === 'chat_created');
    await waitFor(() => all.events.length === 2);
    expect(mine.events.map((e) => JSON.parse(e.data).chat.id)).toEqual([own]);
    await waitFor(() => mine.comments >= 2, 3000, 'heartbeats');
  });

  it('events arriving out of id order (replicas commit concurrently) are all delivered, once', async () => {
    const stream = await open();
    const channel = (await s.db.query<{ c: string }>("SELECT 'gitsync_' || current_schema() AS c")).rows[0]!
      .c;
    // Announced as a replica announces its own events: NOTIFY with the ids.
    const announce = (id: number) => s.db.query('SELECT pg_notify($1, $2)', [channel, `e:${id}`]);
    const insert = async (id: number) => {
      const payload = JSON.stringify({ kind: 'chat_deleted', chat: { id: randomUUID(), owner_id: s.owner } });
      await s.db.query(
        `INSERT INTO events (id, owner_id, kind, payload, created_at) OVERRIDING SYSTEM VALUE
         VALUES ($1, $2, 'chat_deleted', $3, now())`,
        [id, s.owner, payload],
      );
      await announce(id);
    };
    await insert(900_001);
    await insert(900_000);
    await announce(900_001); // a repeated announcement changes nothing
    await waitFor(
      () => stream.events.filter((e) => e.event === 'chat_deleted').length >= 2,
      5000,
      'both events',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(stream.events.map((e) => e.id)).toEqual(['900001', '900000']);
  });

  it('whatever makes rows due tells every replica once: a report, an unarchive, a new token', async () => {
    // With PostgreSQL a wake-up is a NOTIFY that every replica receives, this one included.
    let wakes = 0;
    s.hub.onWake(() => wakes++);
    const chat = randomUUID();
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: s.owner });
    const expectWakes = async (n: number) => {
      await waitFor(() => wakes >= n);
      // A second announcement would have arrived by the time a fresh NOTIFY round-trip does.
      await s.hub.wakeAll();
      await waitFor(() => wakes >= n + 1);
      expect(wakes).toBe(n + 1);
      wakes = 0;
    };
    await api('POST', '/api/v1/git-refs', {
      chat_id: chat,
      origin: 'https://fake.test/acme/app',
      branch: 'b',
    });
    await expectWakes(1);
    await api('POST', `/api/v1/chats/${chat}/archive`);
    await api('POST', `/api/v1/chats/${chat}/unarchive`);
    await expectWakes(1);
    await api('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { token: 'tok' });
    await expectWakes(1);
  });

  it('an event is stored in the same transaction as its change: both or neither', async () => {
    const chat = randomUUID();
    const put = await api('PUT', `/api/v1/chats/${chat}`, { owner_id: s.owner, title: 'durable' });
    expect(put.status).toBe(201);
    // No flush, no wait: once the change is answered, its event is already committed with it.
    const stored = await s.db.query<{ kind: string; payload: string }>('SELECT kind, payload FROM events');
    expect(stored.rows.map((r) => r.kind)).toEqual(['chat_created']);
    expect(JSON.parse(stored.rows[0]!.payload).chat.id).toBe(chat);
    // An event that cannot be stored undoes its change.
    await s.db.exec(`
      CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'events table unavailable'; END $$;
      CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_events();`);
    const other = randomUUID();
    expect((await api('PUT', `/api/v1/chats/${other}`, { owner_id: s.owner })).status).toBe(500);
    expect((await api('POST', `/api/v1/chats/${chat}/archive`)).status).toBe(500);
    await s.db.exec('DROP TRIGGER refuse_events ON events');
    expect((await api('GET', `/api/v1/chats/${other}`)).status).toBe(404);
    const view = (await (await api('GET', `/api/v1/chats/${chat}`)).json()) as { archived: boolean };
    expect(view.archived).toBe(false);
  });

  it('an event carries the changed chat without its subtree, however many children it has', async () => {
    // The shape of the finding: a root with 200 sub-agent chats of 3 refs each. Each event used to
    // carry the whole subtree (805 KB here, hundreds of MB within the default limits).
    await s.close();
    s = await createServiceHarness({ limits: { request_burst: 1_000_000 } });
    const root = randomUUID();
    await s.call('PUT', `/api/v1/chats/${root}`, { body: { owner_id: s.owner, title: 'root' } });
    const children: string[] = [];
    for (let i = 0; i < 200; i++) {
      const id = randomUUID();
      children.push(id);
      const put = await s.call('PUT', `/api/v1/chats/${id}`, {
        body: { owner_id: s.owner, parent_chat_id: root },
      });
      expect(put.status).toBe(201);
      for (const branch of ['a', 'b', 'c']) {
        const report = await s.call('POST', '/api/v1/git-refs', {
          body: { chat_id: id, origin: 'https://fake.test/acme/app', branch: `${branch}-${i}` },
        });
        expect(report.status).toBe(202);
      }
    }
    const sizes = async () =>
      (
        await s.db.query<{ kind: string; bytes: number }>(
          'SELECT kind, octet_length(payload) AS bytes FROM events ORDER BY id DESC LIMIT 1',
        )
      ).rows[0]!;
    for (let i = 0; i < 5; i++)
      await s.call('POST', '/api/v1/git-refs', {
        body: { chat_id: root, origin: 'https://fake.test/acme/app', branch: `root-${i}` },
      });
    const report = await sizes();
    if (process.env.GITSYNC_PRINT_FIGURES) console.log('event bytes', report.bytes);
    expect(report.kind).toBe('diff_status_change');
    // One chat and its own refs (here at most 5): a few KB, not the subtree.
    expect(report.bytes).toBeLessThan(16_000);
    await s.call('PUT', `/api/v1/chats/${root}`, { body: { owner_id: s.owner, title: 'renamed' } });
    expect((await sizes()).bytes).toBeLessThan(16_000);
    await s.call('POST', `/api/v1/chats/${root}/archive`);
    expect((await sizes()).bytes).toBeLessThan(16_000);
    const stored = await s.db.query<{ payload: string }>(
      'SELECT payload FROM events ORDER BY id DESC LIMIT 1',
    );
    const event = JSON.parse(stored.rows[0]!.payload);
    expect(event.chat).not.toHaveProperty('children');
    expect(event.chat).toMatchObject({ id: root, parent_chat_id: null, root_chat_id: root, archived: true });
    // A child's event places it by its parent and root.
    await s.call('PUT', `/api/v1/chats/${children[7]}`, {
      body: { owner_id: s.owner, title: 'child renamed' },
    });
    const child = JSON.parse(
      (await s.db.query<{ payload: string }>('SELECT payload FROM events ORDER BY id DESC LIMIT 1')).rows[0]!
        .payload,
    );
    expect(child.chat).toMatchObject({ id: children[7], parent_chat_id: root, root_chat_id: root });
    expect(child.chat).not.toHaveProperty('children');
    expect(child.chat.diff_statuses).toHaveLength(3);
    // The API still answers with the whole tree.
    const tree = await s.call('GET', `/api/v1/chats/${root}`);
    expect(tree.json.children).toHaveLength(200);
  });

  it('a stream ticket opens one stream, once, within 30 s; the key never goes in a URL', async () => {
    const issue = async () => {
      const res = await api('POST', '/api/v1/events/tickets');
      expect(res.status).toBe(201);
      return (await res.json()) as { ticket: string; expires_at: string };
    };
    const { ticket, expires_at } = await issue();
    expect(Date.parse(expires_at) - s.clock.now().getTime()).toBeLessThanOrEqual(60_000);
    // Stored hashed: the ticket itself is nowhere in the database.
    const stored = await s.db.query<{ ticket_hash: string }>('SELECT ticket_hash FROM stream_tickets');
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0]!.ticket_hash).not.toContain(ticket);
    const stream = await SseClient.open(`${base}/api/v1/events?ticket=${ticket}`);
    clients.push(stream);
    expect(stream.status).toBe(200);
    const chat = randomUUID();
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: s.owner });
    await stream.waitFor((e) => e.event === 'chat_created');
    // The ticket's stream is the owner key's: only that owner's events.
    await api(
      'PUT',
      `/api/v1/chats/${randomUUID()}`,
      { owner_id: randomUUID() },
      'test-admin-key-0123456789',
    );
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: s.owner, title: 'again' });
    await stream.waitFor((e) => e.event === 'chat_updated');
    expect(stream.events.map((e) => JSON.parse(e.data).chat.id)).toEqual([chat, chat]);
    // Used once.
    expect((await SseClient.open(`${base}/api/v1/events?ticket=${ticket}`)).status).toBe(401);
    // Expired.
    const late = await issue();
    s.clock.advance(61_000);
    expect((await SseClient.open(`${base}/api/v1/events?ticket=${late.ticket}`)).status).toBe(401);
    // Only for the stream; a report key gets none.
    const fresh = await issue();
    expect((await fetch(`${base}/api/v1/chats?ticket=${fresh.ticket}`)).status).toBe(401);
    const reportKey = (await s.keys.createOwnerKey(s.owner, 'reporter', 'report')).key;
    expect((await api('POST', '/api/v1/events/tickets', undefined, reportKey)).status).toBe(403);
  });

  it('refuses a stream without a key, and another owner’s stream for an owner key', async () => {
    expect((await SseClient.open(`${base}/api/v1/events`)).status).toBe(401);
    expect((await open(`?owner_id=${randomUUID()}`)).status).toBe(403);
  });
});

describe('event fan-out across replicas (PostgreSQL LISTEN/NOTIFY)', () => {
  let test: TestDatabase;
  const hubs: EventHub[] = [];
  beforeEach(async () => {
    test = await createTestDatabase('postgres');
  });
  afterEach(async () => {
    await Promise.all(hubs.splice(0).map((h) => h.stop()));
    await test.drop();
  });

  const replica = async () => {
    const db = await test.openAnother(2);
    const hub = new EventHub({
      db,
      clock: new FakeClock(new Date()),
      logger: silentLogger,
      channel: test.schema,
      connectListener: async () => {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        return client;
      },
    });
    await hub.start();
    const received: StoredEvent[] = [];
    hub.subscribe((e) => received.push(e));
    const stop = hub.stop.bind(hub);
    hub.stop = async () => {
      await stop();
      await db.close();
    };
    hubs.push(hub);
    return { hub, received };
  };
  const event = (owner: string) => ({
    kind: 'chat_deleted' as const,
    chat: { id: randomUUID(), owner_id: owner },
  });

  it('an event published on one replica reaches every replica, once', async () => {
    const a = await replica();
    const b = await replica();
    const owner = randomUUID();
    for (let i = 0; i < 50; i++) a.hub.publish(event(owner));
    await waitFor(() => a.received.length === 50 && b.received.length === 50);
    expect(b.received.map((e) => e.id)).toEqual(a.received.map((e) => e.id));
    expect(new Set(b.received.map((e) => e.id)).size).toBe(50);
  });

  it('an event that cannot be serialised is dropped alone, not with the others of its turn', async () => {
    const a = await replica();
    const owner = randomUUID();
    const cyclic = event(randomUUID());
    (cyclic.chat as Record<string, unknown>).self = cyclic;
    a.hub.publish(event(owner));
    a.hub.publish(cyclic);
    a.hub.publish(event(owner));
    await a.hub.flush();
    await waitFor(() => a.received.length === 2);
    expect(a.received.every((e) => e.owner_id === owner)).toBe(true);
  });

  it('a lost listener connection reconnects and catches up on what it missed', async () => {
    const a = await replica();
    const b = await replica();
    b.hub.simulateListenerLoss();
    const owner = randomUUID();
    a.hub.publish(event(owner));
    await a.hub.flush();
    await waitFor(() => b.received.length === 1, 10_000, 'catch-up after reconnect');
    a.hub.publish(event(owner));
    await waitFor(() => b.received.length === 2, 5000, 'live delivery after reconnect');
  });

  it('wake-ups reach the other replicas', async () => {
    const a = await replica();
    const b = await replica();
    let woken = 0;
    b.hub.onWake(() => woken++);
    await a.hub.wakeAll();
    await waitFor(() => woken === 1);
  });
});
