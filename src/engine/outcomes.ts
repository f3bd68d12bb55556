import { addMs } from '../core/clock.ts';
import type { ErrorCode } from '../core/errors.ts';
import {
  nextCheckAfterFailure,
  nextCheckAfterSuccess,
  nextCheckWithoutPr,
  type Stretch,
  type WorkerSettings,
} from '../core/schedule.ts';
import {
  type DiffStatus,
  emptyPrFields,
  MAX_PREVIOUS_PRS,
  PR_FIELD_NAMES,
  type PreviousPr,
  type PrFields,
} from '../core/types.ts';
import { withHttpUrls } from '../core/url.ts';
import type { ClaimedRef, RefWrite } from '../store/store.ts';

/** A refresh that failed: the code of the error where it was raised, its message, its reset time. */
export interface RefreshFailure {
  code: ErrorCode;
  message: string;
  /** Set for rate limits: the host's reset time for this (host, token). */
  paused_until?: Date | undefined;
}

/** How one row's refresh ended (docs/architecture.md, "Refresh"). */
export type RefreshOutcome =
  /** `stretch`: next checks wait longer while the owner's budget share is short. */
  | { kind: 'updated'; pr: PrFields; stretch?: Stretch }
  | { kind: 'no_pr'; stretch?: Stretch }
  | { kind: 'stale_pr' }
  | { kind: 'failed'; failure: RefreshFailure }
  /** The tick's deadline passed before the row was started: due again at once. */
  | { kind: 'released' };

/** The PR fields a row shows (what "unchanged" keeps). */
export const prOf = (row: DiffStatus) => {
  const out = emptyPrFields();
  for (const f of PR_FIELD_NAMES) (out as Record<string, unknown>)[f] = row[f];
  return out;
};

/**
 * Whether two values of a PR field are the same. Lists (`requested_reviewers`) come back from the
 * database as new arrays every read, so they compare by value, else every refresh would look like
 * a change and publish an event; plain values compare with `===`.
 */
function samePrValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => samePrValue(x, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && samePrValue(a[k], b[k]));
  }
  return false;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

const prChanged = (row: DiffStatus, pr: RefWrite['pr']) =>
  PR_FIELD_NAMES.some((f) => !samePrValue(row[f], pr[f]));

/**
 * The ref's history once it leaves its current PR for `nextUrl` (another PR, or none): the PR it
 * leaves goes first, once (a PR it comes back to leaves the history).
 */
function historyAfter(row: DiffStatus, nextUrl: string | null): PreviousPr[] {
  const history = (row.previous_prs ?? []).filter((p) => p.url !== nextUrl);
  if (row.url === null || row.url === nextUrl) return history;
  const left: PreviousPr = {
    url: row.url,
    pr_number: row.pr_number,
    pull_request_state: row.pull_request_state,
  };
  return [left, ...history.filter((p) => p.url !== row.url)].slice(0, MAX_PREVIOUS_PRS);
}

const sameTime = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

/** A PR read with its link fields http(s) or null; its own `url` stays (it names the PR to the provider). */
const sanitizedPr = (pr: PrFields): PrFields => ({ ...withHttpUrls(pr), url: pr.url });

/**
 * Turns an outcome into the row's complete new state (docs/architecture.md, "Apply"), with `publish`
 * set when something a UI shows changed. Pure: the store writes it (and publishes with it). A
 * claimed row's write carries its lease, so a report that landed during the refresh keeps its
 * "due now"; a row read without a claim (`lease_until` null) is written unconditionally.
 */
export function planWrite(
  row: ClaimedRef,
  outcome: RefreshOutcome,
  now: Date,
  settings: WorkerSettings,
): RefWrite {
  // Until this write the row is due when its lease ends; a row not claimed keeps its own time.
  const dueAt = row.lease_until ?? row.stale_at;
  const base: RefWrite = {
    id: row.id,
    lease_until: row.lease_until,
    pr: prOf(row),
    provider_id: row.provider_id,
    refreshed_at: row.refreshed_at,
    stale_at: dueAt,
    last_error: null,
    last_error_at: null,
    error_count: 0,
    paused_until: null,
    pr_changed_at: row.pr_changed_at,
    previous_prs: row.previous_prs ?? [],
    publish: false,
  };
  // The host was read (fresh, if a signal asked): that signal is answered. A failure answers none.
  const answered = { signal_at: row.signal_at };
  const errorCleared = row.last_error !== null || row.paused_until !== null;
  switch (outcome.kind) {
    case 'updated': {
      // Stored as served: a host's non-http(s) link is never kept (core/url.ts).
      const pr = sanitizedPr(outcome.pr);
      const changed = prChanged(row, pr);
      const changedAt = changed || row.pr_changed_at === null ? now : row.pr_changed_at;
      return {
        ...base,
        ...answered,
        pr,
        refreshed_at: now,
        stale_at: nextCheckAfterSuccess(pr, now, settings, changedAt, outcome.stretch),
        pr_changed_at: changedAt,
        previous_prs: historyAfter(row, outcome.pr.url),
        publish: errorCleared || changed,
      };
    }
    case 'no_pr':
      return {
        ...base,
        ...answered,
        // The host was read and has no PR for the branch: the ref shows `no_pr` from now on
        // (readiness is null only before a first read), written with the retry time it gets
        // anyway. No event (SPEC §3: "no PR yet → … No event"): a reader sees it on its next read.
        refreshed_at: now,
        // Outside the retry window the claim lease stands as the retry interval.
        stale_at: nextCheckWithoutPr(row.updated_at, now, settings, outcome.stretch) ?? dueAt,
        publish: errorCleared,
      };
    case 'stale_pr':
      return {
        ...base,
        ...answered,
        pr: emptyPrFields(),
        pr_changed_at: null,
        previous_prs: historyAfter(row, null),
        refreshed_at: now,
        stale_at: addMs(now, settings.no_pr_backoff_ms),
        publish: true,
      };
    case 'failed': {
      const { failure } = outcome;
      const paused = failure.code === 'rate_limited' ? (failure.paused_until ?? null) : null;
      return {
        ...base,
        stale_at: nextCheckAfterFailure(failure.code, now, settings, paused, row.error_count + 1),
        last_error: failure.message,
        last_error_at: now,
        error_count: row.error_count + 1,
        paused_until: paused,
        publish: row.last_error !== failure.message || !sameTime(row.paused_until, paused),
      };
    }
    case 'released':
      return {
        ...base,
        stale_at: now,
        last_error: row.last_error,
        last_error_at: row.last_error_at,
        error_count: row.error_count,
        paused_until: row.paused_until,
      };
  }
}
