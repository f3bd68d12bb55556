import { Hono } from 'hono';
import { errorMessage } from '../core/errors.ts';
import { DEFAULT_LIMITS, type Limits } from '../core/limits.ts';
import { TokenBuckets } from '../core/token-buckets.ts';
import { Chats } from '../engine/chats.ts';
import { avatarOrigins } from './dashboard-avatars.ts';
import { EventStreams } from './event-streams.ts';
import { HttpError, toErrorResponse } from './http-error.ts';
import type { Principal } from './keys.ts';
import { mcpRoutes } from './mcp/http.ts';
import { type Env, limitBody } from './request.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { chatRoutes } from './routes/chats.ts';
import type { RouteDeps, ServiceParts } from './routes/deps.ts';
import { eventRoutes } from './routes/events.ts';
import { operationRoutes } from './routes/operations.ts';
import { ownerRoutes } from './routes/owners.ts';
import { waitRoutes } from './routes/wait.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export interface AppDeps extends ServiceParts {
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

/**
 * The HTTP API as a fetch-style app: the middleware every request passes (host names, security
 * headers, then for `/api/v1` the key, its rate and its scope), and the route groups in
 * `routes/`. `closeStreams()` ends open event streams (graceful shutdown).
 */
export function createApp(deps: AppDeps) {
  const { keys, metrics, clock, logger } = deps;
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const allowedHosts = deps.allowedHosts ? new Set(deps.allowedHosts.map((h) => h.toLowerCase())) : null;
  const streams = new EventStreams({
    hub: deps.hub,
    keys,
    heartbeatMs: deps.heartbeatMs ?? 15_000,
    streamsPerKey: limits.streams_per_key,
    replayMaxBytes: limits.replay_max_bytes,
    logger,
  });
  const chats = new Chats({ ...deps, limits });
  const routeDeps: RouteDeps = { ...deps, limits, streams, chats };
  const requestBuckets = new TokenBuckets(limits.requests_per_second, limits.request_burst);
  const app = new Hono<Env>();
  // Avatars only from the configured providers' own hosts (see dashboard-avatars.ts).
  const securityHeaders = {
    ...SECURITY_HEADERS,
    'content-security-policy': SECURITY_HEADERS['content-security-policy'].replace(
      "img-src 'self' https: data:",
      `img-src 'self' data: ${avatarOrigins(deps.providers.providers).join(' ')}`.trimEnd(),
    ),
  };

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
          `this service does not answer to the host name ${JSON.stringify(hostName(host))}; behind a proxy that keeps the Host header, list it in GITSYNC_ALLOWED_HOSTS`,
        );
      }
    }
    await next();
    for (const [name, value] of Object.entries(securityHeaders)) c.res.headers.set(name, value);
  });

  operationRoutes(app, routeDeps, deps.metricsToken);
  // Before the key check: deliveries are authenticated by the host's signature.
  webhookRoutes(app, routeDeps);

  app.use('/api/v1/*', async (c, next) => {
    const header = c.req.header('authorization');
    let presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    // EventSource cannot send headers, so browsers may pass the key in the query for the stream.
    if (!presented && c.req.method === 'GET' && c.req.path === '/api/v1/events')
      presented = c.req.query('access_token');
    let principal = await keys.authenticate(presented);
    // Or a single-use stream ticket (POST /api/v1/events/tickets), what the dashboard sends.
    const ticket =
      c.req.method === 'GET' && c.req.path === '/api/v1/events' ? c.req.query('ticket') : undefined;
    if (!principal && !presented && ticket) {
      const held = await deps.hub.takeStreamTicket(ticket);
      principal = held && { ...held, scope: held.scope as Principal['scope'] };
    }
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

  chatRoutes(app, routeDeps);
  ownerRoutes(app, routeDeps);
  apiKeyRoutes(app, routeDeps);
  eventRoutes(app, routeDeps);
  waitRoutes(app, routeDeps);
  // The MCP server: its tools call the routes above in-process, with the caller's key.
  mcpRoutes(app, { keys, allowedHosts, logger, apiFetch: (request) => app.fetch(request) });

  return {
    app,
    fetch: app.fetch,
    /** Ends every open event stream (graceful shutdown). */
    closeStreams: () => streams.closeAll(),
    /** This replica's event streams (what they hold, by key). */
    streams,
  };
}

export type GitsyncApp = ReturnType<typeof createApp>;
