import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { UnavailableError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { trimTrailingSlash } from '../../core/origin.ts';
import { fetchFromHost, LimitStreaks, parseHostJson } from '../host-errors.ts';
import type { CallOptions } from '../types.ts';
import { translateGiteaError } from './errors.ts';

export interface GiteaClientOptions {
  clock: Clock;
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
}

export interface GiteaAnswer<T> {
  data: T;
  headers: Headers;
}

/**
 * A small client for one Gitea or Forgejo instance's REST API (`api_url`, `…/api/v1`). The token
 * goes as `Authorization: token …` (Gitea docs, "API Usage": "Authorization: token 65eaa9c8…"),
 * and only ever to this instance's API: a URL outside it is refused, redirects are not followed.
 */
export class GiteaClient {
  readonly #apiUrl: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #streaks = new LimitStreaks();
  /** Requests sent, for tests and cost figures. */
  requests = 0;

  constructor(
    apiUrl: string,
    readonly host: string,
    options: GiteaClientOptions,
  ) {
    this.#apiUrl = trimTrailingSlash(apiUrl);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.#clock = options.clock;
  }

  /** GETs a path under the API base; the answer parsed with `schema`, and its headers. */
  async get<T>(path: string, schema: z.ZodType<T>, call: CallOptions): Promise<GiteaAnswer<T>> {
    const what = `GET ${path.split('?')[0]}`;
    const url = `${this.#apiUrl}${path}`;
    if (!url.startsWith(`${this.#apiUrl}/`)) {
      throw new UnavailableError(`refusing to send a token outside ${this.#apiUrl}`);
    }
    this.requests++;
    const response = await fetchFromHost(
      this.#fetch,
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json', authorization: `token ${call.token}` },
        redirect: 'error',
      },
      { timeoutMs: this.#timeoutMs, signal: call.signal, host: this.host, what },
    );
    // Gitea and Forgejo keep no per-token API budget: only the request is counted.
    call.onBudget?.({ scope: '', limit: null, remaining: null, reset_at: null, charged: 1 });
    const fingerprint = tokenFingerprint(call.token);
    if (!response.ok) {
      // Gitea's error bodies: `{"message": …, "url": …}` (swagger, response `APIError`).
      const message = await response
        .json()
        .then((b: unknown) => {
          const said = (b as { message?: unknown } | null)?.message ?? '';
          return typeof said === 'string' ? said : JSON.stringify(said);
        })
        .catch(() => '');
      throw translateGiteaError(
        this.host,
        response.status,
        response.headers,
        what,
        message || undefined,
        this.#clock,
        () => this.#streaks.next(fingerprint),
      );
    }
    this.#streaks.reset(fingerprint);
    return { data: await parseHostJson(response, schema, this.host, what), headers: response.headers };
  }
}

/** `X-Total-Count` (Gitea docs, "API Usage", "Pagination"), or null when absent or unreadable. */
export function totalCount(headers: Headers): number | null {
  const raw = headers.get('x-total-count');
  if (raw === null || !/^\d+$/.test(raw.trim())) return null;
  return Number(raw.trim());
}
