import type { Hono } from 'hono';
import { HttpError } from '../http-error.ts';
import type { Env } from '../request.ts';
import { handleWebhook, MAX_WEBHOOK_BYTES } from '../webhooks.ts';
import type { RouteDeps } from './deps.ts';

/** Code-host deliveries: authenticated by the host's signature, not by an API key. */
export function webhookRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { store, engine, providers, metrics, clock, limits } = deps;
  let uploads = 0;
  app.post('/api/v1/webhooks/:provider', async (c) => {
    const provider = providers.get(c.req.param('provider'));
    if (!provider) throw new HttpError(404, 'not_found', 'unknown provider');
    // Bodies are read only for a known provider with a secret, a few at a time, each on a deadline.
    if (uploads >= limits.concurrent_webhook_uploads) {
      throw new HttpError(503, 'busy', 'too many webhook deliveries at once; retry shortly', {
        'retry-after': '5',
      });
    }
    uploads++;
    try {
      const result = await handleWebhook(
        { store, clock },
        provider,
        (name) => c.req.header(name),
        c.req.raw.body,
        { maxBytes: MAX_WEBHOOK_BYTES, timeoutMs: limits.webhook_upload_timeout_ms },
      );
      metrics.webhookDeliveries.inc({ provider: provider.config.id, result: result.body.status });
      if ((result.body.marked ?? 0) > 0) engine.rowsDue();
      return c.json(result.body, result.status);
    } catch (error) {
      if (error instanceof HttpError)
        metrics.webhookDeliveries.inc({ provider: provider.config.id, result: error.code });
      throw error;
    } finally {
      uploads--;
    }
  });
}
