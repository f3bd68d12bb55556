import type { Clock } from '../../core/clock.ts';
import {
  AuthError,
  type GitsyncError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
} from '../../core/errors.ts';

/**
 * Gitea and Forgejo have no API rate limit of their own and send no rate-limit headers; a 429 (or a
 * 503 with `Retry-After`) comes from a proxy in front of them.
 * Without a reset time, wait at least a minute, doubling on repeats up to an hour (SPEC §5, "Where
 * a host sends no reset time …").
 */
const MIN_PAUSE_S = 60;
const MAX_PAUSE_S = 3600;

/** Consecutive reset-less rate limits per token fingerprint, to back off longer on repeats. */
export class HeaderlessLimitStreaks {
  readonly #streaks = new Map<string, number>();
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

/**
 * The host says the repository or PR does not exist, or this token may not see it: Gitea answers
 * 404 for both (a private repository is hidden from those who cannot read it).
 */
export const hostNotFound = (message: string) => new NotFoundError(message, { code: 'provider_error' });

/** `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unreadable. */
export function retryAfterAt(value: string | null, now: number): Date | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return new Date(now + Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isFinite(at) && at > now ? new Date(at) : null;
}

/**
 * Translates one Gitea/Forgejo error answer into gitsync's typed errors (Gitea API swagger,
 * responses `unauthorized` 401, `forbidden` 403 — also a token lacking a scope — and `notFound`
 * 404). `host` names the product in messages.
 */
export function translateGiteaError(
  host: string,
  status: number,
  headers: Headers,
  what: string,
  message: string | undefined,
  clock: Clock,
  headerlessPauseS: () => number,
): GitsyncError {
  const said = message ? `: ${message.slice(0, 300)}` : '';
  const now = clock.now().getTime();
  const retryAt = retryAfterAt(headers.get('retry-after'), now);
  if (status === 429 || (status === 503 && retryAt)) {
    const resetAt = retryAt ?? new Date(now + headerlessPauseS() * 1000);
    return new RateLimitedError(
      resetAt,
      `${host} rate limited until ${resetAt.toISOString()} (${what}: ${status})`,
    );
  }
  if (status === 401) return new AuthError(`${host} rejected the token (${what}: 401)${said}`);
  // 403: the token lacks a scope ("token does not have at least one of required scope(s)") or the
  // user may not do this.
  if (status === 403) return new AuthError(`${host} rejected the token: access denied (${what}: 403)${said}`);
  if (status === 404) return hostNotFound(`${host}: not found (${what}: 404)${said}`);
  return new UnavailableError(`${host} answered ${status} (${what})${said}`);
}
