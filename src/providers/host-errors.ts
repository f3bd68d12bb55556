import type { z } from 'zod';
import { AuthError, GitsyncError, NotFoundError, UnavailableError } from '../core/errors.ts';

/**
 * What every provider needs when a host fails in the same way: a body that is not JSON or not of
 * the expected shape, a host's "not found", and waiting out a rate limit that came without a
 * reset time.
 */

/**
 * One request to a host, on a deadline of `timeoutMs` and the caller's signal: a caller's abort
 * comes back as its reason; anything else that stops the request (timeout, refused connection,
 * a redirect `init` forbids) is the host unreachable.
 */
export async function fetchFromHost(
  fetchFn: typeof fetch,
  url: string,
  init: RequestInit,
  options: { timeoutMs: number; signal?: AbortSignal | undefined; host: string; what: string },
): Promise<Response> {
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  try {
    return await fetchFn(url, { ...init, signal: AbortSignal.any(signals) });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw new UnavailableError(`${options.host} unreachable (${options.what}): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A host's answer body as JSON; anything else is the host failing (`host` names it in the error). */
export async function readHostJson(response: Response, host: string, what: string): Promise<unknown> {
  try {
    return await response.json();
  } catch (error) {
    if (error instanceof GitsyncError) throw error;
    throw new UnavailableError(`${host} answered a body that is not JSON (${what})`, { cause: error });
  }
}

/** A host's answer body, checked against `schema` at the boundary. */
export async function parseHostJson<T>(
  response: Response,
  schema: z.ZodType<T>,
  host: string,
  what: string,
): Promise<T> {
  const parsed = schema.safeParse(await readHostJson(response, host, what));
  if (!parsed.success) throw new UnavailableError(`${host} answered an unexpected shape (${what})`);
  return parsed.data;
}

/**
 * The host says the repository or PR does not exist, or that this token may not see it (hosts
 * answer 404 for both). To the caller of "refresh now" that is the host's answer, not a mistake
 * in the request: a provider error.
 */
export const hostNotFound = (message: string) => new NotFoundError(message, { code: 'provider_error' });

/**
 * The failed answers every host gives alike: 401 and 403 reject the token (403: it lacks a scope,
 * or its user the permission), 404 is the host's "not found", anything else is the host failing.
 * `host` names it in the message, followed by the first 300 characters of its own `message`.
 */
export function commonHostError(host: string, status: number, what: string, message?: string): GitsyncError {
  const said = message ? `: ${message.slice(0, 300)}` : '';
  if (status === 401) return new AuthError(`${host} rejected the token (${what}: 401)${said}`);
  if (status === 403) return new AuthError(`${host} rejected the token: access denied (${what}: 403)${said}`);
  if (status === 404) return hostNotFound(`${host}: not found (${what}: 404)${said}`);
  return new UnavailableError(`${host} answered ${status} (${what})${said}`);
}

/** The shortest and the longest wait for a rate limit without a reset time. */
const MIN_PAUSE_S = 60;
const MAX_PAUSE_S = 3600;

/**
 * Consecutive rate limits without a reset time, per token fingerprint: the first waits a minute,
 * each repeat twice as long, up to an hour; a success starts over (SPEC: "where a host sends no
 * reset time, pause at least 60 s, longer on repeats").
 */
export class LimitStreaks {
  readonly #streaks = new Map<string, number>();

  /** The seconds to wait for one more limit of this token. */
  next(fingerprint: string): number {
    const n = (this.#streaks.get(fingerprint) ?? 0) + 1;
    this.#streaks.set(fingerprint, n);
    if (this.#streaks.size > 10_000) this.#streaks.clear();
    return Math.min(MAX_PAUSE_S, MIN_PAUSE_S * 2 ** (n - 1));
  }

  reset(fingerprint: string): void {
    this.#streaks.delete(fingerprint);
  }
}
