import type { IncomingMessage } from 'node:http';
import type { Hono } from 'hono';
import { HttpError } from '../http-error.ts';
import type { Env } from '../request.ts';
import { clientOf, handleWebhook, MAX_WEBHOOK_BYTES, UploadSlots } from '../webhooks.ts';
import type { RouteDeps } from './deps.ts';

/** Code-host deliveries: authenticated by the host's signature, not by an API key. */
export function webhookRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { store, engine, providers, metrics, clock, limits } = deps;
  // Bodies are read only for a known provider with a secret, in slots each provider has for itself,
  // each upload on a deadline and at a minimum rate (../webhooks.ts, UploadSlots).
  const slots = new UploadSlots(limits.concurrent_webhook_uploads, limits.webhook_uploads_per_client);
  app.post('/api/v1/webhooks/:provider_id', async (c) => {
    const provider = providers.get(c.req.param('provider_id'));
    if (!provider) throw new HttpError(404, 'not_found', 'unknown provider');
    // The peer's address as the socket has it (Node's server; in-process requests have none).
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    try {
      const result = await handleWebhook(
        { store, clock },
        provider,
        (name) => c.req.header(name),
        c.req.raw.body,
        {
          maxBytes: MAX_WEBHOOK_BYTES,
          timeoutMs: limits.webhook_upload_timeout_ms,
          minBytesPerSecond: limits.webhook_min_bytes_per_second,
        },
        { slots, client: clientOf(incoming?.socket?.remoteAddress) },
      );
      metrics.webhookDeliveries.inc({ provider: provider.config.id, result: result.body.status });
      if (result.marked > 0) engine.rowsDue();
      return c.json(result.body, result.status);
    } catch (error) {
      if (error instanceof HttpError)
        metrics.webhookDeliveries.inc({ provider: provider.config.id, result: error.code });
      throw error;
    }
  });
}
