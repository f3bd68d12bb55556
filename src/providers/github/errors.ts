import { AuthError, type GitsyncError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { hostNotFound } from '../host-errors.ts';

/**
 * GitHub's budgets: REST's `core` and GraphQL's are separate ("The GraphQL API has its own rate
 * limit, distinct from the REST API"; GitHub docs, "Rate limits and node limits for the GraphQL
 * API"), so a limit hit in one is carried with its scope and pauses only that one.
 */
export type GitHubScope = 'core' | 'graphql';

/**
 * GitHub's advice when a limit response names no time: "wait for at least one minute before
 * retrying" (GitHub docs, "Rate limits for the REST API", "Exceeding the rate limit").
 */
const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;
/**
 * Repeated secondary limits: "If your request continues to fail due to a secondary rate limit,
 * wait for an exponentially increasing amount of time between retries" (same page). Doubling
 * from one minute, capped at an hour.
 */
const MAX_SECONDARY_WAIT_MS = 3_600_000;

/** The words GitHub uses for a secondary limit (formerly "abuse detection mechanism"). */
const SECONDARY = /secondary rate limit|abuse detection/i;
/** GraphQL's primary-limit error types: RATE_LIMITED, and since 2026 also RATE_LIMIT. */
const GRAPHQL_RATE_LIMIT_TYPES = new Set(['RATE_LIMITED', 'RATE_LIMIT']);

/**
 * Consecutive secondary limits per (token, scope), for the exponential wait; a success of that
 * token and scope ends the streak. Tokens are kept hashed.
 */
export class SecondaryLimitStreaks {
  readonly #count = new Map<string, number>();

  static key(token: string, scope: GitHubScope): string {
    return `${scope} ${tokenFingerprint(token)}`;
  }

  /** The wait for one more secondary limit: 1 min, 2 min, 4 min… up to an hour. */
  next(key: string): number {
    const n = this.#count.get(key) ?? 0;
    this.#count.set(key, n + 1);
    return Math.min(DEFAULT_RATE_LIMIT_WAIT_MS * 2 ** n, MAX_SECONDARY_WAIT_MS);
  }

  reset(key: string): void {
    this.#count.delete(key);
  }
}

/** What else an error answer told: its message(s) and GraphQL error types, where it had a body. */
export interface ErrorBody {
  messages: readonly string[];
  types: readonly string[];
}

export interface TranslateOptions {
  body?: ErrorBody | undefined;
  scope?: GitHubScope | undefined;
  /** Supplies the wait for a secondary limit that names no time (exponential on repeats). */
  secondaryWaitMs?: (() => number) | undefined;
}

/**
 * Reads the error messages out of an error answer: REST's `{message}` or GraphQL's
 * `{errors: [{type, message}]}`. Anything else reads as nothing.
 */
export function readErrorBody(text: string): ErrorBody {
  try {
    const body = JSON.parse(text) as {
      message?: unknown;
      errors?: { message?: unknown; type?: unknown }[];
    };
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    return {
      messages: [body?.message, ...errors.map((e) => e?.message)].filter(
        (m): m is string => typeof m === 'string',
      ),
      types: errors.map((e) => e?.type).filter((t): t is string => typeof t === 'string'),
    };
  } catch {
    return { messages: [], types: [] };
  }
}

/** Whether GraphQL errors (of an HTTP 200 or 403 answer) say a rate limit was hit. */
export function isGraphqlRateLimit(body: ErrorBody): boolean {
  return body.types.some((t) => GRAPHQL_RATE_LIMIT_TYPES.has(t)) || isSecondary(body);
}

const isSecondary = (body: ErrorBody | undefined) => body?.messages.some((m) => SECONDARY.test(m)) ?? false;

/**
 * Translates a GitHub error response into gitsync's typed errors (SPEC §5), following GitHub's
 * "Rate limits for the REST API" ("Exceeding the rate limit") and "Rate limits and node limits
 * for the GraphQL API": a rate limit is a 429; a 403 carrying `retry-after` or
 * `x-ratelimit-remaining: 0`; a 403 or 429 whose message names a secondary rate limit; and a
 * GraphQL answer (200 or 403) whose errors have type RATE_LIMITED / RATE_LIMIT. The wait is
 * `retry-after` seconds if present, else until `x-ratelimit-reset` (UTC epoch seconds) when the
 * remaining budget is 0, else — a secondary limit — at least a minute, doubling on repeats.
 * Any other 403, and a 401, is auth.
 */

export function translateGitHubError(
  status: number,
  headers: Headers,
  what: string,
  now: Date,
  options: TranslateOptions = {},
): GitsyncError {
  const scope = options.scope ?? 'core';
  const retryAfter = Number(headers.get('retry-after'));
  const remaining = headers.get('x-ratelimit-remaining');
  const resetEpoch = Number(headers.get('x-ratelimit-reset'));
  const secondary = isSecondary(options.body);
  const graphqlLimit = scope === 'graphql' && options.body !== undefined && isGraphqlRateLimit(options.body);
  const limited =
    status === 429 ||
    (status === 403 && (headers.has('retry-after') || remaining === '0' || secondary)) ||
    ((status === 200 || status === 403) && graphqlLimit);
  if (limited) {
    let resetAt: Date;
    if (headers.has('retry-after') && Number.isFinite(retryAfter) && retryAfter >= 0) {
      resetAt = new Date(now.getTime() + retryAfter * 1000);
    } else if (remaining === '0' && Number.isFinite(resetEpoch) && resetEpoch > 0) {
      resetAt = new Date(resetEpoch * 1000);
    } else if (secondary) {
      resetAt = new Date(now.getTime() + (options.secondaryWaitMs?.() ?? DEFAULT_RATE_LIMIT_WAIT_MS));
    } else {
      resetAt = new Date(now.getTime() + DEFAULT_RATE_LIMIT_WAIT_MS);
    }
    if (resetAt <= now) resetAt = new Date(now.getTime() + 1000);
    const kind = secondary ? 'secondary rate limit' : 'rate limited';
    return new RateLimitedError(
      resetAt,
      `github ${kind} (${scope}) until ${resetAt.toISOString()} (${what}: ${status})`,
      { scope },
    );
  }
  const said = options.body?.messages[0] ? `: ${options.body.messages[0].slice(0, 300)}` : '';
  if (status === 401) return new AuthError(`github rejected the token (${what}: 401)`);
  if (status === 403) return new AuthError(`github rejected the token: access denied (${what}: 403)${said}`);
  // The host's "not found" is the host's answer, not the caller's mistake: a provider error.
  if (status === 404) return hostNotFound(`github: not found (${what}: 404)`);
  return new UnavailableError(`github answered ${status} (${what})`);
}
