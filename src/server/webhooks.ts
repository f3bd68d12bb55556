import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import type { Provider } from '../providers/types.ts';
import type { Store } from '../store/store.ts';
import { HttpError } from './http-error.ts';

/** GitHub delivers at most 25 MB (GitHub docs, "Webhook events and payloads"); we accept up to that. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

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

/** What a delivery says changed: refs to mark due now. */
export interface StaleMatch {
  origin: string;
  branch?: string;
  url?: string;
}

/** Verifies `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the webhook secret) in constant time. */
export function verifyGitHubSignature(secret: string, body: Uint8Array, header: string | undefined): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice(7), 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

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

/**
 * One delivery: signature, de-duplication by delivery id, then every matching tracked ref is
 * marked due now. Returns how many refs were marked (the caller wakes the workers).
 */
export async function handleWebhook(
  deps: { store: Store; clock: Clock },
  provider: Provider,
  headers: { signature?: string | undefined; event?: string | undefined; delivery?: string | undefined },
  body: Uint8Array,
): Promise<WebhookResult> {
  const secret = provider.config.webhook_secret;
  if (!secret || provider.config.type !== 'github') {
    throw new HttpError(404, 'not_found', `provider ${provider.config.id} has no webhook secret configured`);
  }
  if (!verifyGitHubSignature(secret, body, headers.signature)) {
    throw new HttpError(401, 'bad_signature', 'missing or invalid X-Hub-Signature-256');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new HttpError(400, 'bad_request', 'delivery body is not JSON');
  }
  const event = headers.event ?? '';
  const matches = githubDeliveryMatches(provider, event, payload);
  const now = deps.clock.now();
  if (headers.delivery) {
    if (headers.delivery.length > 200)
      throw new HttpError(400, 'bad_request', 'X-GitHub-Delivery is too long');
    const first = await deps.store.recordWebhookDelivery(provider.config.id, headers.delivery, now);
    if (!first) return { status: 200, body: { status: 'duplicate' } };
  }
  // Names the database cannot store (NUL) cannot match any tracked ref.
  const storable = matches.filter((m) => !`${m.origin}${m.branch ?? ''}${m.url ?? ''}`.includes('\u0000'));
  if (storable.length === 0) return { status: 202, body: { status: 'ignored' } };
  let marked = 0;
  for (const match of storable) marked += (await deps.store.markRefsStale(match, now)).length;
  return { status: 202, body: { status: 'accepted', marked } };
}
