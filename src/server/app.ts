import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import { BadInputError, errorMessage, NotFoundError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { UUID_PATTERN } from '../core/types.ts';
import type { Engine } from '../engine/engine.ts';
import type { EventHub, StoredEvent } from '../events/event-hub.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Store } from '../store/store.ts';
import { DASHBOARD_ASSETS } from './dashboard.ts';
import { HttpError, toErrorResponse } from './http-error.ts';
import type { KeyAuthority, Principal } from './keys.ts';
import type { Metrics } from './metrics.ts';
import { handleWebhook, MAX_WEBHOOK_BYTES } from './webhooks.ts';

export interface AppDeps {
  store: Store;
  engine: Engine;
  hub: EventHub;
  providers: ProviderRegistry;
  keys: KeyAuthority;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  /** Comment heartbeats on event streams keep proxies from closing them. */
  heartbeatMs?: number;
}

const UUID = UUID_PATTERN;
// UUIDs compare as the database prints them: lower-case.
const uuid = z
  .string()
  .regex(UUID, 'must be a UUID')
  .transform((s) => s.toLowerCase());
/** Text the database can store: PostgreSQL text cannot hold NUL characters. */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
const MAX_BODY_BYTES = 1024 * 1024;
/** Events queued for one slow event-stream client before it is disconnected. */
const MAX_STREAM_BACKLOG = 10_000;

const chatBody = z.object({
  owner_id: uuid,
  workspace_id: uuid.nullable().optional(),
  parent_chat_id: uuid.nullable().optional(),
  title: text(1000).optional(),
});
const refBody = z.object({
  workspace_id: uuid.optional(),
  chat_id: uuid.optional(),
  branch: text(1000),
  origin: text(2000),
});
const refreshBody = z.object({
  origin: z.string().max(2000).optional(),
  branch: z.string().max(1000).optional(),
});
const tokenBody = z.object({ token: z.string().min(1).max(4096) });
const keyBody = z.object({ owner_id: uuid, name: z.string().min(1).max(200) });
const listQuery = z.object({
  owner_id: uuid.optional(),
  archived: z.enum(['true', 'false']).default('false'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
});

type Env = { Variables: { principal: Principal } };

/** 413 with the error shape of every other failure. */
const limitBody = (maxSize: number, what: string) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new HttpError(413, 'payload_too_large', `${what} are limited to ${maxSize} bytes`);
    },
  });

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new BadInputError(describe(r.error));
  return r.data;
}

async function jsonBody(c: Context, optional = false): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (optional) return {};
    throw new BadInputError('request body must be a JSON object');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new BadInputError('request body is not valid JSON');
  }
}

/** The HTTP API of SPEC §6 as a fetch-style app; `shutdown()` ends open event streams. */
export function createApp(deps: AppDeps) {
  const { store, engine, hub, providers, keys, metrics, clock, logger } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const app = new Hono<Env>();
  const streams = new Set<() => void>();

  app.onError((error, c) => {
    const r = toErrorResponse(error, clock.now());
    if (r.status >= 500) logger.error({ err: errorMessage(error), path: c.req.path }, 'request failed');
    return c.json(r.body, r.status as 500, r.headers);
  });
  app.notFound((c) =>
    c.json({ error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } }, 404),
  );
  app.use('*', async (c, next) => {
    await next();
    metrics.httpRequests.inc({ status: `${Math.floor(c.res.status / 100)}xx` });
  });

  // ---- operations (no key) ----------------------------------------------------------------
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const ready = await store.ready().catch(() => false);
    return ready
      ? c.json({ status: 'ready' })
      : c.json({ error: { code: 'not_ready', message: 'database unreachable or not migrated' } }, 503);
  });
  app.get('/metrics', async (c) => {
    metrics.sseClients.set(streams.size);
    return c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });
  // The dashboard: static files from the package. The key never appears in these requests.
  const noStore = { 'cache-control': 'no-cache' };
  app.get('/', (c) => c.html(DASHBOARD_ASSETS.html, 200, noStore));
  app.get('/assets/dashboard.js', (c) =>
    c.body(DASHBOARD_ASSETS.js, 200, { 'content-type': 'text/javascript; charset=utf-8', ...noStore }),
  );
  app.get('/assets/dashboard.css', (c) =>
    c.body(DASHBOARD_ASSETS.css, 200, { 'content-type': 'text/css; charset=utf-8', ...noStore }),
  );

  // ---- webhooks (signature, not bearer) ---------------------------------------------------
  app.post('/api/v1/webhooks/:provider', limitBody(MAX_WEBHOOK_BYTES, 'webhook deliveries'), async (c) => {
    const provider = providers.get(c.req.param('provider'));
    if (!provider) throw new HttpError(404, 'not_found', 'unknown provider');
    try {
      const result = await handleWebhook(
        { store, clock },
        provider,
        {
          signature: c.req.header('x-hub-signature-256'),
          event: c.req.header('x-github-event'),
          delivery: c.req.header('x-github-delivery'),
        },
        new Uint8Array(await c.req.arrayBuffer()),
      );
      metrics.webhookDeliveries.inc({ provider: provider.config.id, result: result.body.status });
      if ((result.body.marked ?? 0) > 0) {
        engine.wake();
        void hub.wakeAll();
      }
      return c.json(result.body, result.status);
    } catch (error) {
      if (error instanceof HttpError)
        metrics.webhookDeliveries.inc({ provider: provider.config.id, result: error.code });
      throw error;
    }
  });

  // ---- everything else needs a key ----------------------------------------------------------
  app.use('/api/v1/*', async (c, next) => {
    const header = c.req.header('authorization');
    let presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    // EventSource cannot send headers, so browsers may pass the key in the query for the stream.
    if (!presented && c.req.method === 'GET' && c.req.path === '/api/v1/events')
      presented = c.req.query('access_token');
    const principal = await keys.authenticate(presented);
    if (!principal)
      throw new HttpError(401, 'unauthorized', 'a valid API key is required (Authorization: Bearer <key>)');
    c.set('principal', principal);
    await next();
  });
  app.use('/api/v1/*', limitBody(MAX_BODY_BYTES, 'request bodies'));

  /** undefined for admins (every owner), else the key's owner. */
  const scope = (c: Context<Env>) => {
    const p = c.get('principal');
    return p.admin ? undefined : (p.owner_id ?? undefined);
  };
  /** An owner key may only name its own owner. */
  const checkOwner = (c: Context<Env>, owner: string) => {
    const own = scope(c);
    if (own !== undefined && own !== owner)
      throw new HttpError(403, 'forbidden', 'this key may only act for its own owner');
  };
  const chatId = (c: Context<Env>) => {
    const id = c.req.param('id') ?? '';
    if (!UUID.test(id)) throw new BadInputError('chat id must be a UUID');
    return id.toLowerCase();
  };
  const requireAdmin = (c: Context<Env>) => {
    if (!c.get('principal').admin)
      throw new HttpError(403, 'forbidden', 'only the admin key may manage keys');
  };

  app.put('/api/v1/chats/:id', async (c) => {
    const id = chatId(c);
    const body = parse(chatBody, await jsonBody(c));
    checkOwner(c, body.owner_id);
    const own = scope(c);
    if (own !== undefined) {
      // Another owner's chat is "not found" to this key, not a conflict that reveals it exists.
      const existing = await store.getChat(id);
      if (existing && existing.owner_id !== own) throw new NotFoundError(`chat ${id} not found`);
    }
    const { chat, created, changed } = await store.putChat({ id, ...body }, clock.now());
    if (created) hub.publish({ kind: 'chat_created', chat });
    else if (changed) hub.publish({ kind: 'chat_updated', chat });
    return c.json(chat, created ? 201 : 200);
  });

  app.post('/api/v1/chats/:id/archive', async (c) => {
    const chat = await store.archiveChat(chatId(c), clock.now(), scope(c));
    hub.publish({ kind: 'chat_archived', chat });
    return c.json(chat);
  });

  app.post('/api/v1/chats/:id/unarchive', async (c) => {
    const chat = await store.unarchiveChat(chatId(c), clock.now(), scope(c));
    hub.publish({ kind: 'chat_unarchived', chat });
    engine.wake();
    return c.json(chat);
  });

  app.delete('/api/v1/chats/:id', async (c) => {
    const deleted = await store.deleteChat(chatId(c), scope(c));
    hub.publish({ kind: 'chat_deleted', chat: deleted });
    return c.body(null, 204);
  });

  app.get('/api/v1/chats', async (c) => {
    const q = parse(listQuery, c.req.query());
    if (q.owner_id) checkOwner(c, q.owner_id);
    const result = await store.listChats({
      owner_id: q.owner_id ?? scope(c),
      archived: q.archived === 'true',
      limit: q.limit,
      cursor: q.cursor,
    });
    return c.json(result);
  });

  app.get('/api/v1/chats/:id', async (c) => {
    const id = chatId(c);
    const chat = await store.getChat(id, scope(c));
    if (!chat) throw new NotFoundError(`chat ${id} not found`);
    return c.json(chat);
  });

  app.post('/api/v1/git-refs', async (c) => {
    const body = parse(refBody, await jsonBody(c));
    const result = await engine.reportRef(
      {
        chat_id: body.chat_id?.toLowerCase(),
        workspace_id: body.workspace_id?.toLowerCase(),
        origin: body.origin,
        branch: body.branch,
      },
      scope(c),
    );
    if (result.chat_ids.length > 0) void hub.wakeAll();
    return c.json(result, 202);
  });

  app.post('/api/v1/chats/:id/diff-status/refresh', async (c) => {
    const id = chatId(c);
    const body = parse(refreshBody, await jsonBody(c, true));
    return c.json(await engine.refreshNow(id, body, scope(c)));
  });

  const tokenTarget = (c: Context<Env>) => {
    const owner = c.req.param('owner') ?? '';
    if (!UUID.test(owner)) throw new BadInputError('owner id must be a UUID');
    checkOwner(c, owner.toLowerCase());
    const providerId = c.req.param('provider') ?? '';
    if (!providers.get(providerId)) throw new NotFoundError(`unknown provider ${providerId}`);
    return { owner: owner.toLowerCase(), providerId };
  };
  app.put('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    const { token } = parse(tokenBody, await jsonBody(c));
    await store.putToken(owner, providerId, token, clock.now());
    engine.wake();
    return c.body(null, 204);
  });
  app.delete('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    await store.deleteToken(owner, providerId);
    return c.body(null, 204);
  });

  app.post('/api/v1/keys', async (c) => {
    requireAdmin(c);
    const body = parse(keyBody, await jsonBody(c));
    return c.json(await keys.createOwnerKey(body.owner_id, body.name), 201);
  });
  app.get('/api/v1/keys', async (c) => {
    requireAdmin(c);
    return c.json({ keys: await store.listApiKeys() });
  });
  app.delete('/api/v1/keys/:id', async (c) => {
    requireAdmin(c);
    const id = c.req.param('id');
    if (!UUID.test(id)) throw new BadInputError('key id must be a UUID');
    if (!(await store.deleteApiKey(id))) throw new NotFoundError(`key ${id} not found`);
    return c.body(null, 204);
  });

  app.get('/api/v1/events', async (c) => {
    const ownerParam = c.req.query('owner_id');
    if (ownerParam !== undefined && !UUID.test(ownerParam))
      throw new BadInputError('owner_id must be a UUID');
    if (ownerParam) checkOwner(c, ownerParam.toLowerCase());
    const owner = ownerParam?.toLowerCase() ?? scope(c);
    const lastId = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    return streamSSE(c, async (stream) => {
      const queue: StoredEvent[] = [];
      let signal: (() => void) | null = null;
      let open = true;
      const close = () => {
        open = false;
        signal?.();
      };
      streams.add(close);
      const unsubscribe = hub.subscribe((event) => {
        if (owner !== undefined && event.owner_id !== owner) return;
        // A client this far behind is dropped; it reconnects and replays from its last id.
        if (queue.length >= MAX_STREAM_BACKLOG) return close();
        queue.push(event);
        signal?.();
      });
      stream.onAbort(close);
      // Events from several replicas may arrive slightly out of id order: de-duplicate by id
      // (replay and live overlap) rather than dropping anything below the highest id sent.
      const sent = new Set<string>();
      const send = async (event: StoredEvent) => {
        if (sent.has(event.id)) return;
        sent.add(event.id);
        if (sent.size > MAX_STREAM_BACKLOG) sent.delete(sent.values().next().value!);
        await stream.writeSSE({ id: event.id, event: event.kind, data: event.data });
      };
      try {
        // A comment opens the stream at once (no event); `retry` sets the client's reconnect delay.
        await stream.write('retry: 2000\n: connected\n\n');
        if (lastId !== undefined) {
          const missed = await hub.replay(lastId, owner);
          if (missed === 'reset') await stream.writeSSE({ event: 'reset', data: '{}' });
          else for (const event of missed) await send(event);
        }
        while (open) {
          if (queue.length === 0) {
            let timer: NodeJS.Timeout | undefined;
            await new Promise<void>((resolve) => {
              signal = resolve;
              timer = setTimeout(resolve, heartbeatMs);
            });
            clearTimeout(timer);
            signal = null;
            if (!open) break;
            if (queue.length === 0) {
              await stream.write(': heartbeat\n\n');
              continue;
            }
          }
          for (const event of queue.splice(0)) await send(event);
        }
      } finally {
        unsubscribe();
        streams.delete(close);
      }
    });
  });

  return {
    app,
    fetch: app.fetch,
    /** Ends every open event stream (graceful shutdown). */
    closeStreams() {
      for (const close of [...streams]) close();
    },
    get streamCount() {
      return streams.size;
    },
  };
}

export type GitsyncApp = ReturnType<typeof createApp>;
