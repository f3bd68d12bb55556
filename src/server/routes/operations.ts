import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context, Hono } from 'hono';
import { openApiDocument } from '../../api/openapi.ts';
import { DASHBOARD_ASSETS } from '../dashboard.ts';
import { avatarOrigins, dashboardHtml } from '../dashboard-avatars.ts';
import { HttpError } from '../http-error.ts';
import type { Env } from '../request.ts';
import type { RouteDeps } from './deps.ts';

/**
 * Whether a request comes from this machine itself: its socket's peer is a loopback address and
 * no proxy says it forwards someone else's request. In-process requests (no socket) do too.
 */
function fromLoopback(c: Context<Env>): boolean {
  if (c.req.header('forwarded') ?? c.req.header('x-forwarded-for') ?? c.req.header('x-real-ip')) return false;
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming) return true;
  const peer = incoming.socket?.remoteAddress ?? '';
  return /^(127\.|::1$|::ffff:127\.)/.test(peer);
}

/**
 * Health, readiness, metrics, the OpenAPI document and the dashboard's files: no API key
 * (metrics: optionally their own). Token fingerprints label the budget gauge only for a scrape
 * with GITSYNC_METRICS_TOKEN or from loopback; other scrapes get one series per provider and scope.
 */
export function operationRoutes(app: Hono<Env>, deps: RouteDeps, metricsToken: string | undefined): void {
  const { store, metrics, streams } = deps;
  const metricsHash = metricsToken ? createHash('sha256').update(metricsToken).digest() : null;

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // The public contract: served without a key, like the documentation it is.
  app.get('/api/v1/openapi.json', (c) => c.json(openApiDocument()));
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
    metrics.sseClients.set(streams.count);
    return c.text(await metrics.render(metricsHash !== null || fromLoopback(c)), 200, {
      'content-type': metrics.registry.contentType,
    });
  });
  // The dashboard: static files from the package. The key never appears in these requests.
  const noStore = { 'cache-control': 'no-cache' };
  const html = dashboardHtml(DASHBOARD_ASSETS.html, avatarOrigins(deps.providers.providers));
  app.get('/', (c) => c.html(html, 200, noStore));
  app.get('/assets/dashboard.js', (c) =>
    c.body(DASHBOARD_ASSETS.js, 200, { 'content-type': 'text/javascript; charset=utf-8', ...noStore }),
  );
  app.get('/assets/dashboard.css', (c) =>
    c.body(DASHBOARD_ASSETS.css, 200, { 'content-type': 'text/css; charset=utf-8', ...noStore }),
  );
}
