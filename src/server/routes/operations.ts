import { createHash, timingSafeEqual } from 'node:crypto';
import type { Hono } from 'hono';
import { DASHBOARD_ASSETS } from '../dashboard.ts';
import { HttpError } from '../http-error.ts';
import type { Env } from '../request.ts';
import type { RouteDeps } from './deps.ts';

/** Health, readiness, metrics and the dashboard's files: no API key (metrics: optionally their own). */
export function operationRoutes(app: Hono<Env>, deps: RouteDeps, metricsToken: string | undefined): void {
  const { store, metrics, streams } = deps;
  const metricsHash = metricsToken ? createHash('sha256').update(metricsToken).digest() : null;

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
    metrics.sseClients.set(streams.count);
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
}
