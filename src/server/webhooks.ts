import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { BadInputError } from '../core/errors.ts';
import type { HeaderReader, Provider } from '../providers/types.ts';
import type { Store } from '../store/store.ts';
import { HttpError } from './http-error.ts';

/**
 * The events read (PRs, reviews, pushes) are far smaller than the hosts' caps (GitHub: 25 MB,
 * "Webhook events and payloads"); 5 MB keeps unauthenticated uploads cheap. A larger delivery is
 * refused with 413 and the ref is still found by polling.
 */
export const MAX_WEBHOOK_BYTES = 5 * 1024 * 1024;

export interface WebhookResult {
  status: 200 | 202;
  body: { status: 'accepted' | 'duplicate' | 'ignored'; marked?: number };
}

export interface WebhookLimits {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * One delivery to any provider, checked the provider's way. Nothing of the body is read before
 * the provider, its secret and the delivery's credentials are known; the body is then read under
 * a size limit and a deadline while the provider checks it, and only a genuine one is parsed.
 * Then, in one transaction, the delivery id is recorded (a redelivery answers "duplicate") and
 * every matching tracked ref is marked due now.
 */
export async function handleWebhook(
  deps: { store: Store; clock: Clock },
  provider: Provider,
  header: HeaderReader,
  body: ReadableStream<Uint8Array> | null,
  limits: WebhookLimits,
): Promise<WebhookResult> {
  const secret = provider.config.webhook_secret;
  const webhooks = provider.webhooks;
  if (!secret || !webhooks) {
    throw new HttpError(404, 'not_found', `provider ${provider.config.id} has no webhook secret configured`);
  }
  const check = webhooks.start(header, secret);
  if (!check) throw badCredentials(provider);
  const delivery = boundedId(webhooks.deliveryId(header));
  if (Number(header('content-length') ?? 0) > limits.maxBytes) throw tooLarge(limits.maxBytes);

  const digest = createHash('sha256');
  const raw = await readLimited(body, limits, (chunk) => {
    check.update(chunk);
    digest.update(chunk);
  });
  if (!check.valid()) throw badCredentials(provider);
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    throw new BadInputError('delivery body is not JSON');
  }
  const matches = webhooks
    .staleRefs(header, payload)
    // Names the database cannot store (NUL) cannot match any tracked ref.
    .filter((m) => !`${m.origin}${m.branch ?? ''}${m.url ?? ''}${m.head_sha ?? ''}`.includes('\u0000'));
  // Some hosts name the delivery in the body (Azure DevOps: the event `id`); a delivery without any
  // id is known by its bytes: the same body again is a redelivery.
  const named = delivery ?? boundedId(webhooks.deliveryId(header, payload));
  const deliveryId = named || `sha256:${digest.digest('hex')}`;
  const { duplicate, marked } = await deps.store.recordWebhookDelivery(
    { provider_id: provider.config.id, delivery_id: deliveryId, matches },
    deps.clock.now(),
  );
  if (duplicate) return { status: 200, body: { status: 'duplicate' } };
  if (matches.length === 0) return { status: 202, body: { status: 'ignored' } };
  return { status: 202, body: { status: 'accepted', marked: marked.length } };
}

const badCredentials = (provider: Provider) =>
  new HttpError(401, 'bad_signature', `missing or invalid credentials for ${provider.config.id}`);

/** A host's delivery id, refused past 200 characters. */
function boundedId(id: string | undefined): string | undefined {
  if (id !== undefined && id.length > 200)
    throw new HttpError(400, 'bad_request', 'the delivery id is too long');
  return id;
}

const tooLarge = (maxBytes: number) =>
  new HttpError(413, 'payload_too_large', `webhook deliveries are limited to ${maxBytes} bytes`);

/** Reads a body up to `maxBytes` within `timeoutMs`, handing each chunk to `onChunk` as it comes. */
async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limits: WebhookLimits,
  onChunk: (chunk: Uint8Array) => void,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(408, 'request_timeout', `the delivery did not arrive within ${limits.timeoutMs} ms`),
        ),
      limits.timeoutMs,
    );
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timedOut]);
      if (done) break;
      size += value.byteLength;
      if (size > limits.maxBytes) throw tooLarge(limits.maxBytes);
      onChunk(value);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks);
}
