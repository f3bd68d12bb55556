import { addMs } from './clock.ts';

/**
 * The share of a token's budget gitsync may spend (`max_budget_share`, per provider): an owner's
 * own token is shared with their `gh`, IDE and CI, so half is left to them by default; a service
 * token exists for gitsync. The service token serves many owners, so each owner's refs may spend
 * at most `service_per_owner` of its budget per window: one owner cannot spend it for the others.
 */
export const DEFAULT_BUDGET_SHARES = { owner: 0.5, service: 0.9, service_per_owner: 0.1 } as const;
export type BudgetShares = { owner: number; service: number; service_per_owner?: number | undefined };

/** Next checks are stretched at most this much (beyond, the budget's reset comes first anyway). */
export const MAX_STRETCH = 64;

/** Where the host does not say when a budget is whole again, it is taken to be within this. */
const UNKNOWN_RESET_MS = 3_600_000;

/** How fast gitsync spends: its units over this window before now (`used_recent`). */
export const PACE_WINDOW_MS = 300_000;

/** What is known of one budget scope of a token. */
export interface BudgetView {
  limit: number | null;
  remaining: number | null;
  reset_at: Date | null;
  /** A host's rate limit, seen by any replica. */
  paused_until: Date | null;
  /** gitsync's units in the last PACE_WINDOW_MS. */
  used_recent: number;
}

export interface BudgetVerdict {
  /** Nothing may be sent before then: the host refuses the token, or gitsync's share is spent. */
  paused_until: Date | null;
  /** gitsync's share is spent (rather than the host refusing the token). */
  share_spent: boolean;
  /** How much longer than usual the next checks wait (1: not stretched). */
  stretch: number;
  /**
   * When stretching ends: the budget's reset (an hour ahead where the host does not say), when the
   * window is whole again — a stretched check is never put later than this. null: not stretched.
   */
  stretch_until: Date | null;
}

/**
 * gitsync keeps `(1 − share) × limit` of a token's budget for its owner: it spends only while
 * more than that remains, and stops until the budget's reset once it does not — instead of
 * running into the host's limit. Before that, when its current pace (the last five minutes)
 * would spend what is left of its share before the reset, next checks are stretched by the ratio,
 * so the share lasts until the reset. Without numbers from the host nothing is held back.
 */
export function budgetVerdict(b: BudgetView, share: number, now: Date): BudgetVerdict {
  const open = { paused_until: null, share_spent: false, stretch: 1, stretch_until: null };
  if (b.paused_until && b.paused_until > now) return { ...open, paused_until: b.paused_until };
  if (b.limit === null || b.remaining === null || b.limit <= 0) return open;
  // The window has been renewed since the host said this.
  if (b.reset_at && b.reset_at <= now) return open;
  // Nothing left: the host itself refuses the token until the reset (whoever spent it).
  const until = b.reset_at ?? addMs(now, 60_000);
  if (b.remaining <= 0)
    return { paused_until: until, share_spent: false, stretch: MAX_STRETCH, stretch_until: until };
  const headroom = b.remaining - (1 - share) * b.limit;
  if (headroom <= 0)
    return { paused_until: until, share_spent: true, stretch: MAX_STRETCH, stretch_until: until };
  const secondsLeft = b.reset_at ? (b.reset_at.getTime() - now.getTime()) / 1000 : UNKNOWN_RESET_MS / 1000;
  const planned = (b.used_recent / (PACE_WINDOW_MS / 1000)) * secondsLeft;
  if (planned <= headroom) return open;
  return {
    ...open,
    stretch: Math.min(MAX_STRETCH, planned / headroom),
    stretch_until: b.reset_at ?? addMs(now, UNKNOWN_RESET_MS),
  };
}

/** What one owner spent of the service token's budget (all replicas, with this one's unwritten). */
export interface OwnerSpend {
  /** Since the budget's current window began (`BudgetState.window_start`; unknown: the last hour). */
  in_window: number;
  /** In the last PACE_WINDOW_MS: the owner's pace. */
  recent: number;
}

/**
 * One owner's allowance on the service token: `share × limit` per window. Past it, that owner's
 * calls wait until the reset (`share_spent`) while other owners' go on; before it, next checks
 * are stretched when the owner's pace would spend the allowance before the reset — as
 * `budgetVerdict` does for the whole token. Without a limit from the host nothing is held back.
 */
export function ownerShareVerdict(
  token: Pick<BudgetView, 'limit' | 'reset_at'>,
  share: number,
  spent: OwnerSpend,
  now: Date,
): BudgetVerdict {
  const open = { paused_until: null, share_spent: false, stretch: 1, stretch_until: null };
  if (token.limit === null || token.limit <= 0) return open;
  // A new window: its spend starts from nothing.
  if (token.reset_at && token.reset_at <= now) return open;
  const allowance = share * token.limit;
  const v = budgetVerdict(
    {
      limit: allowance,
      remaining: allowance - spent.in_window,
      reset_at: token.reset_at,
      paused_until: null,
      used_recent: spent.recent,
    },
    1,
    now,
  );
  return { ...v, share_spent: v.paused_until !== null };
}
