import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';
import { SseClient } from './helpers/sse.ts';
import { waitFor } from './helpers/wait.ts';

/**
 * Replays are budgeted per key (SPEC §6.2: `replay_max_bytes` bounds the replays of one key's
 * streams together) and read page by page as each client drains. Measured in bytes: what the
 * process read from the event log for replays, less what it handed to the sockets' kernel buffers.
 */
describe('event stream replays and backlogs hold bounded memory per key', () => {
  let s: ServiceHarness;
  let server: ReturnType<typeof serve>;
  let port: number;
  const serverSockets: Socket[] = [];
  const clients: Socket[] = [];
  /** Payload bytes the event log returned to replay reads. */
  let replayRead = 0;
  let peakHeld = 0;

  const handedToKernel = () =>
    serverSockets.reduce((n, sock) => n + sock.bytesWritten - sock.writableLength, 0);

  const instrument = () => {
    replayRead = 0;
    peakHeld = 0;
    const query = s.db.query.bind(s.db);
    // Counts every replay read (the old whole-backlog read and the new page read alike), and the
    // bytes held right after it: read from the log and not yet in a socket's kernel buffer.
    s.db.query = (async (sql: string, params?: unknown[]) => {
      const r = await query(sql, params as never);
      if (/FROM events/.test(sql) && /id > \$1/.test(sql) && /payload/.test(sql) && !/count\(/.test(sql)) {
        for (const row of r.rows as { payload: string }[]) replayRead += Buffer.byteLength(row.payload);
        peakHeld = Math.max(peakHeld, replayRead - handedToKernel());
      }
      return r;
    }) as typeof s.db.query;
  };

  beforeEach(async () => {
    s = await createServiceHarness();
    instrument();
    server = serve({ fetch: (req) => s.http.fetch(req), hostname: '127.0.0.1', port: 0 });
    server.on('connection', (sock: Socket) => serverSockets.push(sock));
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    serverSockets.length = 0;
    await s.close();
    await new Promise((r) => server.close(r));
  });

  /** A client that asks for the stream and never reads it (its kernel buffers fill, then the server's writes wait). */
  const stalled = (lastId?: string) => {
    const sock = connect(port, '127.0.0.1');
    sock.pause();
    sock.write(
      `GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${s.ownerKey}\r\nAccept: text/event-stream\r\n${lastId ? `Last-Event-ID: ${lastId}\r\n` : ''}\r\n`,
    );
    clients.push(sock);
    return sock;
  };
  const publish = async (n: number, bytes: number) => {
    for (let i = 0; i < n; i++)
      s.hub.publish({
        kind: 'chat_deleted',
        chat: { id: randomUUID(), owner_id: s.owner, pad: 'x'.repeat(bytes) } as never,
      });
    await s.hub.flush();
  };
  const keyId = async () =>
    (await s.db.query<{ id: string }>('SELECT id FROM api_keys WHERE owner_id = $1', [s.owner])).rows[0]!.id;

  it('ten streams of one key that do not read, replaying 12 MB each, hold at most replay_max_bytes together', async () => {
    // The old default budget (16 MiB), and replays larger than a loopback socket's kernel buffers
    // take here (about 3 MB), so a stream that does not read leaves the rest in the process.
    const budget = 16 * 1024 * 1024;
    await s.close();
    s = await createServiceHarness({ limits: { replay_max_bytes: budget } });
    instrument();
    await publish(1, 10);
    const first = (await s.db.query<{ id: string }>('SELECT min(id) AS id FROM events')).rows[0]!.id;
    await publish(3000, 4000); // ~12 MB after `first`: within the budget, so each replay is served
    for (let i = 0; i < 10; i++) stalled(first);
    const id = await keyId();
    // Until the replays stop moving — every stream's socket buffers full, as much read as the
    // kernel takes (how much that is varies with the machine's TCP buffer tuning) — or, as
    // before, more than the budget is held (each stream read its whole backlog). The deadline is
    // for a busy machine, not a measure of speed.
    let last = -1;
    let stillSince = Date.now();
    await waitFor(
      () => {
        if (peakHeld > budget + 64 * 1024) return true;
        if (replayRead !== last) {
          last = replayRead;
          stillSince = Date.now();
          return false;
        }
        return replayRead >= 10 * 64 * 1024 && Date.now() - stillSince >= 2_000;
      },
      90_000,
      'replays under way',
    );
    if (process.env.GITSYNC_PRINT_FIGURES)
      console.log({ replayRead, peakHeld, handed: handedToKernel(), rss: process.memoryUsage().rss });
    // One page per stream may pass the budget by at most a page (64 KB) while it is counted.
    expect(peakHeld).toBeLessThanOrEqual(budget + 64 * 1024);
    // Each stream holds one page at most.
    expect(s.http.streams.bytes(id).replay).toBeLessThanOrEqual(10 * 64 * 1024);
    // Their clients gone, the budget is given back, and a client that reads gets the whole replay.
    for (const c of clients.splice(0)) c.destroy();
    await waitFor(() => s.http.streams.bytes(id).replay === 0, 10_000, 'budget given back');
    const reader = await SseClient.open(`http://127.0.0.1:${port}/api/v1/events`, {
      authorization: `Bearer ${s.ownerKey}`,
      'last-event-id': first,
    });
    await waitFor(() => reader.events.length === 3000, 60_000, 'the whole replay');
    expect(reader.events.every((e) => e.event === 'chat_deleted')).toBe(true);
    await reader.close();
  }, 240_000);

  it('a replay larger than the key’s whole budget is answered with reset', async () => {
    await publish(1, 10);
    const first = (await s.db.query<{ id: string }>('SELECT min(id) AS id FROM events')).rows[0]!.id;
    await publish(1200, 4000); // ~4.8 MB after `first`: more than the 4 MiB budget
    const reader = await SseClient.open(`http://127.0.0.1:${port}/api/v1/events`, {
      authorization: `Bearer ${s.ownerKey}`,
      'last-event-id': first,
    });
    await reader.waitFor((e) => e.event === 'reset');
    expect(replayRead).toBe(0);
    await reader.close();
  });

  it('a stream whose client does not read is dropped once its live backlog passes 1 MiB', async () => {
    stalled();
    const id = await keyId();
    await waitFor(() => s.http.streams.count === 1);
    let peakLive = 0;
    const unsubscribe = s.hub.subscribe(() => {
      peakLive = Math.max(peakLive, s.http.streams.bytes(id).live);
    });
    await publish(1000, 4000); // 4 MB of live events
    await waitFor(() => s.http.streams.count === 0, 20_000, 'the slow stream dropped');
    unsubscribe();
    expect(peakLive).toBeLessThanOrEqual(1024 * 1024);
    expect(s.http.streams.bytes(id).live).toBe(0);
  });
});
