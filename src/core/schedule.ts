import { addMs } from './clock.ts';
import type { ErrorCode } from './errors.ts';
import type { PrFields } from './types.ts';

/** Worker timing. Every value is configurable (`worker` in the configuration file); these are the defaults. */
export interface WorkerSettings {
  enabled: boolean;
  tick_interval_ms: number;
  batch_size: number;
  /**
   * While a backlog is due (claims come back full), each claim may take twice as many rows as the
   * last, up to this many; `batch_size` is where it starts. At most `batch_size`: claims stay fixed.
   */
  max_batch_size: number;
  tick_timeout_ms: number;
  concurrency: number;
  fresh_ttl_ms: number;
  lease_ms: number;
  error_backoff_ms: number;
  no_token_backoff_ms: number;
  no_pr_backoff_ms: number;
  no_pr_window_ms: number;
  /** Merged and closed PRs rarely change: they are checked this often instead of `fresh_ttl_ms`. */
  settled_ttl_ms: number;
  /** An open PR that has not changed for this long counts as quiet… */
  quiet_after_ms: number;
  /** …and is checked this often (webhooks and new reports still bring it forward at once). */
  quiet_ttl_ms: number;
  /**
   * An open PR whose mergeability the host is still computing (`merge_state` "unknown", normal
   * right after a push) is asked again this soon, so "checking" turns into an answer quickly.
   */
  merge_unknown_ttl_ms: number;
  /** A ref no provider can serve (unknown or unsupported host) waits this long, or until it is reported again. */
  misconfigured_backoff_ms: number;
  /**
   * Ordinary errors back off exponentially from `error_backoff_ms` (doubling with each failure in
   * a row) up to this: a PR that keeps failing (a 422, repeated 5xx) is not asked every two minutes
   * forever. A success or a new report ends it.
   */
  max_error_backoff_ms: number;
  /**
   * "Refresh now" calls per chat owner per minute (a burst of as many, refilled evenly), on each
   * replica; beyond it the API answers 429 with Retry-After and the host is not asked. 0: no limit.
   */
  refresh_now_per_minute: number;
}

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = {
  enabled: true,
  tick_interval_ms: 10_000,
  batch_size: 50,
  max_batch_size: 1000,
  tick_timeout_ms: 30_000,
  concurrency: 10,
  fresh_ttl_ms: 120_000,
  lease_ms: 300_000,
  error_backoff_ms: 120_000,
  no_token_backoff_ms: 600_000,
  no_pr_backoff_ms: 15_000,
  no_pr_window_ms: 120_000,
  settled_ttl_ms: 1_800_000,
  quiet_after_ms: 3_600_000,
  quiet_ttl_ms: 600_000,
  merge_unknown_ttl_ms: 15_000,
  misconfigured_backoff_ms: 3_600_000,
  max_error_backoff_ms: 3_600_000,
  refresh_now_per_minute: 30,
};

/** What the worker loop learned from one tick. */
export interface TickReport {
  /** Rows the tick could claim… */
  limit: number;
  /** …and claimed. */
  claimed: number;
  /** Rows it gave back unfinished (its deadline passed, or the worker stopped). */
  released: number;
  /** From the claim until its outcomes were written. */
  duration_ms: number;
  /**
   * Rows per millisecond that came due since the loop last caught up, when this claim caught up
   * again (was not full); null otherwise or when not known yet.
   */
  due_per_ms: number | null;
}

/** Shortest wait that pacing chooses between ticks that caught up: a claim is not free. */
export const MIN_PACED_WAIT_MS = 100;

/**
 * The worker loop's next step after a tick: how many rows the next claim may take, and how long
 * to wait before it (0: at once; a report or a webhook still cuts a wait short). Ticks never
 * overlap; this only sizes and spaces them.
 *
 * - A full claim means more rows are due: the next tick starts at once, with twice the claim
 *   (up to `max_batch_size`) while ticks stay well inside `tick_timeout_ms`.
 * - A tick that ran past half its deadline, or left rows unfinished, halves the claim (not below
 *   `batch_size`): a slow host gets smaller ticks, not rows cut off by the deadline.
 * - A claim that was not full keeps at most twice what it found, so a quiet period shrinks it back.
 * - After a claim that was not full the loop waits `tick_interval_ms`, or less while rows keep
 *   coming due fast: about the time `max_batch_size` rows take to come due (at least
 *   MIN_PACED_WAIT_MS). So a steady stream of due rows is taken in large claims soon after it is
 *   due, not up to a whole interval late; with few refs the interval stands.
 */
export function nextTick(s: WorkerSettings, t: TickReport): { limit: number; wait_ms: number } {
  const cap = Math.max(s.batch_size, s.max_batch_size);
  const full = t.claimed >= t.limit;
  let limit: number;
  if (t.released > 0 || t.duration_ms > s.tick_timeout_ms / 2) limit = Math.floor(t.limit / 2);
  else if (!full) limit = Math.min(t.limit, 2 * t.claimed);
  else if (t.duration_ms <= s.tick_timeout_ms / 4) limit = 2 * t.limit;
  else limit = t.limit;
  limit = Math.min(cap, Math.max(s.batch_size, limit));
  if (full) return { limit, wait_ms: 0 };
  if (t.claimed === 0 || t.due_per_ms === null || t.due_per_ms <= 0)
    return { limit, wait_ms: s.tick_interval_ms };
  const paced = Math.max(MIN_PACED_WAIT_MS, Math.round(cap / t.due_per_ms));
  return { limit, wait_ms: Math.min(s.tick_interval_ms, paced) };
}

/**
 * The worker loop's pacing from tick to tick (`nextTick`): the next claim's size, and the rate at
 * which rows come due, measured from one claim that took every due row to the next. The first
 * catch-up counts from the loop's start: unknown, the rate left a just-started replica waiting
 * `tick_interval_ms` after its first catch-up while a second's worth of rows came due ten times
 * over (with 100,000 refs at a 120 s TTL, 8,000 rows claimed up to 10 s late, past TTL + 10 s).
 * Times are milliseconds on any one clock.
 */
export class TickPacer {
  readonly #settings: WorkerSettings;
  #limit: number;
  #caughtUpAt: number;
  #claimedSince = 0;

  constructor(settings: WorkerSettings, startedAt: number) {
    this.#settings = settings;
    this.#limit = settings.batch_size;
    this.#caughtUpAt = startedAt;
  }

  /** How many rows the next claim may take. */
  get limit(): number {
    return this.#limit;
  }

  /** After a tick claimed at `claimAt` that took `durationMs`: the wait before the next (0: at once). */
  after(tick: { claimed: number; released: number }, claimAt: number, durationMs: number): number {
    this.#claimedSince += tick.claimed;
    let duePerMs: number | null = null;
    if (tick.claimed < this.#limit) {
      duePerMs = this.#claimedSince / Math.max(1, claimAt - this.#caughtUpAt);
      this.#caughtUpAt = claimAt;
      this.#claimedSince = 0;
    }
    const next = nextTick(this.#settings, {
      limit: this.#limit,
      claimed: tick.claimed,
      released: tick.released,
      duration_ms: durationMs,
      due_per_ms: duePerMs,
    });
    this.#limit = next.limit;
    return next.wait_ms;
  }
}

/**
 * When a successfully refreshed PR is next due: merged and closed PRs rarely, open PRs often —
 * unless nothing about them changed for `quiet_after_ms`, then every `quiet_ttl_ms`; an open PR
 * whose mergeability the host has not computed yet soon.
 */
export function nextCheckAfterSuccess(
  pr: Pick<PrFields, 'pull_request_state' | 'merge_state'>,
  now: Date,
  s: WorkerSettings,
  changedAt: Date | null,
  stretch: Stretch = NO_STRETCH,
): Date {
  // While the owner's budget share is short, quiet and settled PRs give way first (stretched
  // twice over), active open PRs last.
  const twice = { ...stretch, factor: stretch.factor ** 2 };
  if (pr.pull_request_state !== 'open') return stretched(now, s.settled_ttl_ms, twice);
  if (pr.merge_state === 'unknown')
    return stretched(now, Math.min(s.fresh_ttl_ms, s.merge_unknown_ttl_ms), stretch);
  const quiet = changedAt !== null && now.getTime() - changedAt.getTime() >= s.quiet_after_ms;
  return quiet
    ? stretched(now, Math.max(s.fresh_ttl_ms, s.quiet_ttl_ms), twice)
    : stretched(now, s.fresh_ttl_ms, stretch);
}

/**
 * How much longer than usual next checks wait while a budget share is short (`BudgetVerdict`):
 * `factor` times, but never past `until`, the budget's reset — the window is whole again then.
 */
export interface Stretch {
  factor: number;
  until: Date | null;
}
export const NO_STRETCH: Stretch = { factor: 1, until: null };

/** A stretched wait without a known end is never longer than a day: a webhook or a report still brings a ref forward. */
const MAX_STRETCHED_MS = 86_400_000;
/** `ms` after `now`, stretched: at most until the stretch ends, never sooner than unstretched. */
const stretched = (now: Date, ms: number, { factor, until }: Stretch): Date => {
  if (factor <= 1) return addMs(now, ms);
  const cap = until ? Math.max(ms, until.getTime() - now.getTime()) : MAX_STRETCHED_MS;
  return addMs(now, Math.min(cap, ms * factor));
};

/**
 * When a ref with no PR yet is next due: soon while the report is recent (the PR is probably
 * being opened), otherwise `null`, meaning the claim lease stands as the retry interval.
 */
export function nextCheckWithoutPr(
  reportedAt: Date,
  now: Date,
  s: WorkerSettings,
  stretch: Stretch = NO_STRETCH,
): Date | null {
  return now.getTime() - reportedAt.getTime() < s.no_pr_window_ms
    ? stretched(now, s.no_pr_backoff_ms, stretch)
    : null;
}

/**
 * When a failed ref is next due. A rate limit waits exactly until the host's reset time; other
 * errors wait `error_backoff_ms`, doubled for each earlier failure in a row (`failures` counts this
 * one), up to `max_error_backoff_ms`.
 */
export function nextCheckAfterFailure(
  code: ErrorCode,
  now: Date,
  s: WorkerSettings,
  pausedUntil: Date | null,
  failures = 1,
): Date {
  switch (code) {
    case 'rate_limited':
      return pausedUntil && pausedUntil > now ? pausedUntil : addMs(now, s.error_backoff_ms);
    case 'no_token':
    case 'token_rejected':
      return addMs(now, s.no_token_backoff_ms);
    // Resuming marks the owner's refs due at once; until then they wait as long as misconfigured ones.
    case 'paused':
    case 'no_provider':
    case 'misconfigured':
    case 'encryption_key_required':
      return addMs(now, s.misconfigured_backoff_ms);
    default: {
      const doubled = s.error_backoff_ms * 2 ** Math.min(Math.max(0, failures - 1), 30);
      return addMs(now, Math.max(s.error_backoff_ms, Math.min(doubled, s.max_error_backoff_ms)));
    }
  }
}
