import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import type { Provider } from '../providers/types.ts';
import type { StaleMatch, Store } from '../store/store.ts';
import { HttpError } from './http-error.ts';

/**
 * GitHub caps payloads at 25 MB (GitHub docs, "Webhook events and payloads"), but the events
 * read here (pull_request*, push) are far smaller; 5 MB keeps unauthenticated uploads cheap. A
 * larger delivery is refused with 413 and the ref is still found by polling.
 */
export const MAX_WEBHOOK_BYTES = 5 * 1024 * 1024;

const repoSchema = z.object({ html_url: z.string() }).nullish();
const pullPayload = z.object({
  pull_request: z.object({
    html_url: z.string(),
    head: z.object({ ref: z.string(), repo: repoSchema }),
    base: z.object({ repo: repoSchema }),
  }),
  repository: repoSchema,
});
const pushPayload = z.object({ ref: z.string(), repository: repoSchema });

/** The tracked refs a GitHub delivery concerns; empty for events that say nothing about PRs or branches. */
export function githubDeliveryMatches(provider: Provider, event: string, payload: unknown): StaleMatch[] {
  const canonical = (htmlUrl: string | undefined) => {
    const repo = htmlUrl ? provider.parseOrigin(htmlUrl) : null;
    return repo ? provider.repoUrl(repo) : null;
  };
  if (
    event === 'pull_request' ||
    event === 'pull_request_review' ||
    event === 'pull_request_review_comment'
  ) {
    const parsed = pullPayload.safeParse(payload);
    if (!parsed.success)
      throw new HttpError(400, 'bad_request', `${event} delivery lacks pull_request fields`);
    const pr = parsed.data.pull_request;
    const matches: StaleMatch[] = [];
    // The agent's origin may be the head repository (a fork) or the base repository.
    for (const origin of new Set([
      canonical(pr.head.repo?.html_url),
      canonical(pr.base.repo?.html_url ?? parsed.data.repository?.html_url),
    ])) {
      if (origin) matches.push({ origin, branch: pr.head.ref, url: pr.html_url });
    }
    if (matches.length === 0) matches.push({ origin: '', url: pr.html_url });
    return matches;
  }
  if (event === 'push') {
    const parsed = pushPayload.safeParse(payload);
    if (!parsed.success) throw new HttpError(400, 'bad_request', 'push delivery lacks ref or repository');
    const origin = canonical(parsed.data.repository?.html_url);
    const branch = parsed.data.ref.startsWith('refs/heads/') ? parsed.data.ref.slice(11) : null;
    return origin && branch ? [{ origin, branch }] : [];
  }
  return [];
}

export interface WebhookResult {
  status: 200 | 202;
  body: { status: 'accepted' | 'duplicate' | 'ignored'; marked?: number };
}

export interface WebhookRequest {
  signature?: string | undefined;
  event?: string | undefined;
  delivery?: string | undefined;
  /** The declared size, when the sender gave one (checked before anything is read). */
  contentLength?: string | undefined;
  body: ReadableStream<Uint8Array> | null;
}

export interface WebhookLimits {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * One delivery. The provider and its secret are checked before any of the body is read, the
 * body is read under a size limit and a deadline while its HMAC is computed, and only a
 * verified body is parsed. Then, in one transaction, the delivery id is recorded (a
 * redelivery answers "duplicate") and every matching tracked ref is marked due now.
 */
export async function handleWebhook(
  deps: { store: Store; clock: Clock },
  provider: Provider,
  request: WebhookRequest,
  limits: WebhookLimits,
): Promise<WebhookResult> {
  const secret = provider.config.webhook_secret;
  if (!secret || provider.config.type !== 'github') {
    throw new HttpError(404, 'not_found', `provider ${provider.config.id} has no webhook secret configured`);
  }
  const given = /^sha256=([0-9a-f]{64})$/i.exec(request.signature ?? '')?.[1];
  if (!given) throw new HttpError(401, 'bad_signature', 'missing or invalid X-Hub-Signature-256');
  if (request.delivery !== undefined && request.delivery.length > 200)
    throw new HttpError(400, 'bad_request', 'X-GitHub-Delivery is too long');
  const declared = Number(request.contentLength ?? 0);
  if (declared > limits.maxBytes) throw tooLarge(limits.maxBytes);

  const hmac = createHmac('sha256', secret);
  const digest = createHash('sha256');
  const body = await readLimited(request.body, limits, (chunk) => {
    hmac.update(chunk);
    digest.update(chunk);
  });
  const expected = hmac.digest();
  if (!timingSafeEqual(Buffer.from(given, 'hex'), expected)) {
    throw new HttpError(401, 'bad_signature', 'missing or invalid X-Hub-Signature-256');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new HttpError(400, 'bad_request', 'delivery body is not JSON');
  }
  const matches = githubDeliveryMatches(provider, request.event ?? '', payload)
    // Names the database cannot store (NUL) cannot match any tracked ref.
    .filter((m) => !`${m.origin}${m.branch ?? ''}${m.url ?? ''}`.includes('\u0000'));
  // A delivery without an id is known by its body: the same bytes again are a redelivery.
  const deliveryId = request.delivery || `sha256:${digest.digest('hex')}`;
  const { duplicate, marked } = await deps.store.recordWebhookDelivery(
    { provider_id: provider.config.id, delivery_id: deliveryId, matches },
    deps.clock.now(),
  );
  if (duplicate) return { status: 200, body: { status: 'duplicate' } };
  if (matches.length === 0) return { status: 202, body: { status: 'ignored' } };
  return { status: 202, body: { status: 'accepted', marked: marked.length } };
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
