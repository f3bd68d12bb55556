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

/**
 * The most tracked-ref matches one delivery marks due. A push can name thousands of branches
 * (Bitbucket's `push.changes`, Azure DevOps' `refUpdates`); those past the cap are left to
 * polling, so one delivery cannot hold the database for seconds.
 */
export const MAX_WEBHOOK_MATCHES = 1_000;

/**
 * The answer says only whether the delivery was new: no counts of matched refs, which would tell
 * anyone holding one provider's secret which branches other owners track.
 */
export interface WebhookResult {
  status: 200 | 202;
  body: { status: 'accepted' | 'duplicate' };
  /** How many refs it marked due (for the worker's wake-up, never sent back). */
  marked: number;
}

export interface WebhookLimits {
  maxBytes: number;
  timeoutMs: number;
  /** After its first second, an upload slower than this on average is cut (408). */
  minBytesPerSecond: number;
}

/** One upload being received, as `UploadSlots` sees it. */
interface Upload {
  readonly provider: string;
  readonly client: string;
  /** Its credentials were proven by the headers (a shared secret): never cut for another. */
  readonly proven: boolean;
  cut(error: HttpError): void;
}

/**
 * Which uploads may be received at once. Each provider has `perProvider` slots of its own, so
 * uploads to one provider never take another's; one client address holds at most `perClient` of
 * a provider's slots with uploads not proven yet. A new upload is never kept waiting: when its
 * provider's slots (or its address's share) are full, the oldest upload that has not proven its
 * credentials is cut to make room. Code hosts send a delivery in one go, in milliseconds, so
 * the oldest unproven upload is, under attack, one that trickles; uploads that never prove their
 * signature cannot make a genuine one wait or get 503. Only when every slot holds a proven upload
 * is a new one refused (503).
 */
export class UploadSlots {
  /** In arrival order: the first unproven one found is the oldest. */
  readonly #uploads = new Set<Upload>();

  constructor(
    private readonly perProvider: number,
    private readonly perClient: number,
  ) {}

  /** Admits `upload` at once, cutting another if needed; returns its release, or null (503). */
  admit(upload: Upload): (() => void) | null {
    let held = 0;
    let fromClient = 0;
    let oldest: Upload | undefined;
    let oldestOfClient: Upload | undefined;
    for (const u of this.#uploads) {
      if (u.provider !== upload.provider) continue;
      held++;
      if (u.proven) continue;
      oldest ??= u;
      if (u.client === upload.client) {
        fromClient++;
        oldestOfClient ??= u;
      }
    }
    let victim: Upload | undefined;
    if (!upload.proven && fromClient >= this.perClient) victim = oldestOfClient;
    else if (held >= this.perProvider) {
      victim = oldest;
      if (!victim) return null;
    }
    if (victim) {
      this.#uploads.delete(victim);
      victim.cut(new HttpError(503, 'busy', 'cut short for a newer delivery; retry', { 'retry-after': '5' }));
    }
    this.#uploads.add(upload);
    return () => void this.#uploads.delete(upload);
  }

  get size(): number {
    return this.#uploads.size;
  }
}

/**
 * The address a client's slots are counted by: IPv4 as it is, IPv6 by its /64 (one host usually
 * holds a whole /64, RFC 4291 §2.5.1), an IPv4-mapped IPv6 address as its IPv4 address.
 */
export function clientOf(address: string | undefined): string {
  if (!address) return 'local';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * One delivery to any provider, checked the provider's way. Nothing of the body is read before
 * the provider, its secret and the delivery's credentials are known (a shared secret — GitLab's
 * token, Azure DevOps' password — is checked then and there); the body is then read in a slot of
 * `slots` under a size limit, a deadline and a minimum rate while the provider checks it, and only
 * a genuine one is parsed. Then, in one transaction, the delivery id and the body's digest are
 * recorded (either seen before: "duplicate", so a captured body does not replay under a new id)
 * and the matching tracked refs of this provider are marked due now.
 */
export async function handleWebhook(
  deps: { store: Store; clock: Clock },
  provider: Provider,
  header: HeaderReader,
  body: ReadableStream<Uint8Array> | null,
  limits: WebhookLimits,
  intake: { slots: UploadSlots; client: string },
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
  const raw = await readLimited(
    body,
    limits,
    (cut) => {
      const release = intake.slots.admit({
        provider: provider.config.id,
        client: intake.client,
        proven: check.proven === true,
        cut,
      });
      if (!release)
        throw new HttpError(503, 'busy', 'too many webhook deliveries at once; retry shortly', {
          'retry-after': '5',
        });
      return release;
    },
    (chunk) => {
      check.update(chunk);
      digest.update(chunk);
    },
  );
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
  // id is known by its bytes alone.
  const named = delivery ?? boundedId(webhooks.deliveryId(header, payload));
  const bodyDigest = `sha256:${digest.digest('hex')}`;
  const { duplicate, marked } = await deps.store.recordWebhookDelivery(
    {
      provider_id: provider.config.id,
      delivery_id: named || bodyDigest,
      body_digest: bodyDigest,
      matches: matches.slice(0, MAX_WEBHOOK_MATCHES),
    },
    deps.clock.now(),
  );
  if (duplicate) return { status: 200, body: { status: 'duplicate' }, marked: 0 };
  // What the delivery tells the provider itself (a GitHub App's installation suspended…): once, so
  // that a captured delivery sent again cannot replay it.
  webhooks.received?.(header, payload);
  return { status: 202, body: { status: 'accepted' }, marked: marked.length };
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

/** How often an upload's rate is checked, and the start it is given before the first check counts. */
const RATE_CHECK_MS = 250;
const RATE_GRACE_MS = 1_000;

/**
 * Reads a body up to `maxBytes` within `timeoutMs`, at `minBytesPerSecond` at least after its first
 * second, handing each chunk to `onChunk` as it comes. `admit` is asked for a slot before the first
 * byte is read: it gets the function that cuts this upload short (when another needs the slot) and
 * returns the slot's release.
 */
async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limits: WebhookLimits,
  admit: (cut: (error: HttpError) => void) => () => void,
  onChunk: (chunk: Uint8Array) => void,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  let cut: (error: HttpError) => void = () => {};
  const cutShort = new Promise<never>((_, reject) => {
    cut = reject;
  });
  cutShort.catch(() => {});
  const release = admit(cut);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const started = performance.now();
  const timer = setTimeout(
    () =>
      cut(new HttpError(408, 'request_timeout', `the delivery did not arrive within ${limits.timeoutMs} ms`)),
    limits.timeoutMs,
  );
  const rate = setInterval(() => {
    const owed = (limits.minBytesPerSecond * (performance.now() - started - RATE_GRACE_MS)) / 1000;
    if (size < owed)
      cut(
        new HttpError(
          408,
          'request_timeout',
          `the delivery arrived slower than ${limits.minBytesPerSecond} bytes per second`,
        ),
      );
  }, RATE_CHECK_MS);
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), cutShort]);
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
    clearInterval(rate);
    release();
  }
  return Buffer.concat(chunks);
}
