import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import { BadInputError, errorMessage, NotFoundError } from '../core/errors.ts';
import { DEFAULT_LIMITS, type Limits } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { TokenBuckets } from '../core/token-buckets.ts';
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
  /** Comment heartbeats on event streams keep proxies from closing them (and re-check the key). */
  heartbeatMs?: number;
  /** Per-key and per-owner limits; defaults when omitted. */
  limits?: Limits;
  /**
   * Host names (without port) the service answers to; others get 421, so a web page on another
   * name cannot reach a service on localhost through DNS rebinding. null: any.
   */
  allowedHosts?: readonly string[] | null;
  /** When set, `/metrics` requires `Authorization: Bearer <this>`. */
  metricsToken?: string | undefined;
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

/**
 * On every response. The dashboard loads only its own script and style (no inline code), may be
 * framed by no one, and sends no Referer that could carry a key; avatars come from code hosts.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The name in a Host header, without port or IPv6 brackets, lower-cased. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  return h.replace(/:\d*$/, '');
}
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
  owner_id: uuid.optional(),
  branch: text(1000),
  origin: text(2000),
});
const refreshBody = z.object({
  origin: text(2000).optional(),
  branch: text(1000).optional(),
});
const tokenBody = z.object({ token: text(4096).min(1) });
const keyBody = z.object({
  owner_id: uuid,
  name: text(200).min(1),
  scope: z.enum(['owner', 'report']).default('owner'),
});
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
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const allowedHosts = deps.allowedHosts ? new Set(deps.allowedHosts.map((h) => h.toLowerCase())) : null;
  const metricsHash = deps.metricsToken ? createHash('sha256').update(deps.metricsToken).digest() : null;
  const app = new Hono<Env>();
  /** Open event streams by key (`admin` for the key from the environment), each with its closer. */
  const streams = new Map<string, Set<() => void>>();
  const streamCount = () => [...streams.values()].reduce((n, set) => n + set.size, 0);
  const closeStreamsOf = (keyId: string) => {
    for (const close of [...(streams.get(keyId) ?? [])]) close();
  };
  const requestBuckets = new TokenBuckets(limits.requests_per_second, limits.request_burst);
  let webhookUploads = 0;

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
  app.use('*', async (c, next) => {
    if (allowedHosts) {
      const host = c.req.header('host');
      // In-process calls (tests, embedding) carry no Host header; every HTTP/1.1 client sends one.
      if (host !== undefined && !allowedHosts.has(hostName(host))) {
        throw new HttpError(
          421,
          'misdirected_request',
          `this service does not answer to the host name ${JSON.stringify(hostName(host))}`,
        );
      }
    }
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
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
    if (metricsHash) {
      const presented = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
      const digest = createHash('sha256').update(presented).digest();
      if (!timingSafeEqual(digest, metricsHash))
        throw new HttpError(
          401,
          'unauthorized',
          'metrics need the metrics key (Authorization: Bearer <key>)',
        );
    }
    metrics.sseClients.set(streamCount());
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
  app.post('/api/v1/webhooks/:provider', async (c) => {
    const provider = providers.get(c.req.param('provider'));
    if (!provider) throw new HttpError(404, 'not_found', 'unknown provider');
    // Bodies are read only for a known provider with a secret, a few at a time, each on a deadline.
    if (webhookUploads >= limits.concurrent_webhook_uploads) {
      throw new HttpError(503, 'busy', 'too many webhook deliveries at once; retry shortly', {
        'retry-after': '5',
      });
    }
    webhookUploads++;
    try {
      const result = await handleWebhook(
        { store, clock },
        provider,
        {
          signature: c.req.header('x-hub-signature-256'),
          event: c.req.header('x-github-event'),
          delivery: c.req.header('x-github-delivery'),
          contentLength: c.req.header('content-length'),
          body: c.req.raw.body,
        },
        { maxBytes: MAX_WEBHOOK_BYTES, timeoutMs: limits.webhook_upload_timeout_ms },
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
    } finally {
      webhookUploads--;
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
    const waitMs = requestBuckets.take(principal.key_id ?? 'admin', clock.now().getTime());
    if (waitMs > 0) {
      throw new HttpError(429, 'rate_limited', 'too many requests with this key; slow down', {
        'retry-after': String(Math.ceil(waitMs / 1000)),
      });
    }
    // A report key (the one an agent's checkout holds) may post ref reports and nothing else.
    if (principal.scope === 'report' && !(c.req.method === 'POST' && c.req.path === '/api/v1/git-refs')) {
      throw new HttpError(403, 'forbidden', 'a report key may only post ref reports (POST /api/v1/git-refs)');
    }
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
    // The store publishes chat_created / chat_updated with the change (as it does below).
    const { chat, created } = await store.putChat({ id, ...body }, clock.now(), limits);
    return c.json(chat, created ? 201 : 200);
  });

  app.post('/api/v1/chats/:id/archive', async (c) => {
    return c.json(await store.archiveChat(chatId(c), clock.now(), scope(c)));
  });

  app.post('/api/v1/chats/:id/unarchive', async (c) => {
    const chat = await store.unarchiveChat(chatId(c), clock.now(), scope(c));
    engine.wake();
    return c.json(chat);
  });

  app.delete('/api/v1/chats/:id', async (c) => {
    await store.deleteChat(chatId(c), scope(c));
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
    if (body.owner_id) checkOwner(c, body.owner_id);
    // A workspace is not an owner's: a report reaches only the reporting owner's chats in it, so
    // the admin key must say whose.
    const owner = scope(c) ?? body.owner_id;
    if (!body.chat_id && body.workspace_id && owner === undefined) {
      throw new BadInputError('owner_id is required with workspace_id when reporting with the admin key');
    }
    const result = await engine.reportRef(
      { chat_id: body.chat_id, workspace_id: body.workspace_id, origin: body.origin, branch: body.branch },
      owner,
      limits,
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
    return c.json(await keys.createOwnerKey(body.owner_id, body.name, body.scope), 201);
  });
  app.get('/api/v1/keys', async (c) => {
    requireAdmin(c);
    return c.json({ keys: await store.listApiKeys() });
  });
  app.delete('/api/v1/keys/:id', async (c) => {
    requireAdmin(c);
    const id = c.req.param('id');
    if (!UUID.test(id)) throw new BadInputError('key id must be a UUID');
    if (!(await store.deleteApiKey(id.toLowerCase()))) throw new NotFoundError(`key ${id} not found`);
    // Its open streams end now on this replica, and at their next heartbeat on the others.
    closeStreamsOf(id.toLowerCase());
    return c.body(null, 204);
  });

  app.get('/api/v1/events', async (c) => {
    const ownerParam = c.req.query('owner_id');
    if (ownerParam !== undefined && !UUID.test(ownerParam))
      throw new BadInputError('owner_id must be a UUID');
    if (ownerParam) checkOwner(c, ownerParam.toLowerCase());
    const owner = ownerParam?.toLowerCase() ?? scope(c);
    const lastId = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    const principal = c.get('principal');
    const streamKey = principal.key_id ?? 'admin';
    const mine = streams.get(streamKey) ?? new Set<() => void>();
    if (mine.size >= limits.streams_per_key) {
      throw new HttpError(
        429,
        'too_many_streams',
        `a key may hold ${limits.streams_per_key} open event streams`,
        {
          'retry-after': String(Math.ceil(heartbeatMs / 1000)),
        },
      );
    }
    streams.set(streamKey, mine);
    return streamSSE(c, async (stream) => {
      const queue: StoredEvent[] = [];
      let signal: (() => void) | null = null;
      let open = true;
      const close = () => {
        open = false;
        signal?.();
      };
      mine.add(close);
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
          const missed = await hub.replay(lastId, owner, limits.replay_max_bytes);
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
              // A key deleted on another replica ends its streams here too, at the next heartbeat.
              if (!(await keys.stillValid(principal).catch(() => true))) break;
              await stream.write(': heartbeat\n\n');
              continue;
            }
          }
          for (const event of queue.splice(0)) await send(event);
        }
      } finally {
        unsubscribe();
        mine.delete(close);
        if (mine.size === 0 && streams.get(streamKey) === mine) streams.delete(streamKey);
      }
    });
  });

  return {
    app,
    fetch: app.fetch,
    /** Ends every open event stream (graceful shutdown). */
    closeStreams() {
      for (const set of [...streams.values()]) for (const close of [...set]) close();
    },
  };
}

export type GitsyncApp = ReturnType<typeof createApp>;
