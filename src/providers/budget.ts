import type { BudgetObservation } from './types.ts';

/** Header names of one host's rate-limit answer; `reset` holds Unix seconds. */
export interface RateLimitHeaderNames {
  limit: string;
  remaining: string;
  reset: string;
  /** The budget's name where the host says it (GitHub `x-ratelimit-resource`). */
  resource?: string | undefined;
}

/**
 * The `X-RateLimit-*` headers Azure DevOps and Bitbucket Cloud send (each only some of them).
 * Their `X-RateLimit-Resource` is not read: each keeps one budget per token, so observations
 * stay in the one scope ('') the engine pauses and stretches.
 */
export const X_RATELIMIT_HEADERS: RateLimitHeaderNames = {
  limit: 'x-ratelimit-limit',
  remaining: 'x-ratelimit-remaining',
  reset: 'x-ratelimit-reset',
};

const count = (raw: string | null): number | null => {
  const n = raw === null ? Number.NaN : Number(raw.trim());
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : null;
};

/**
 * A budget observation from an answer's rate-limit headers: numbers that are missing or not
 * numbers are null (a host sends them only on some answers), a reset in Unix seconds becomes a
 * time. `scope`: the budget when the headers do not name it.
 */
export function budgetFromHeaders(
  headers: Headers,
  names: RateLimitHeaderNames,
  scope: string,
  charged: number,
): BudgetObservation {
  const reset = count(headers.get(names.reset));
  const resource = names.resource ? headers.get(names.resource)?.trim() : undefined;
  return {
    scope: resource || scope,
    limit: count(headers.get(names.limit)),
    remaining: count(headers.get(names.remaining)),
    reset_at: reset === null ? null : new Date(reset * 1000),
    charged,
  };
}
