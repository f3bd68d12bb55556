import type { Blocker, DiffStatus } from './types.ts';

/**
 * Merge readiness (SPEC §6.2): one rule for every host, over the fields gitsync already keeps. A
 * pure switch, computed whenever a diff status leaves the store (API, events, SSE), so a list of
 * many refs costs a few comparisons per ref and a change of the rule needs no data migration.
 */

/** What the rule reads of a ref. */
export type ReadinessInput = Pick<
  DiffStatus,
  | 'url'
  | 'pull_request_state'
  | 'pull_request_draft'
  | 'merge_state'
  | 'merge_state_reason'
  | 'checks_state'
  | 'checks'
  | 'changes_requested'
  | 'approved'
  | 'awaiting_approval'
  | 'unresolved_threads'
  | 'refreshed_at'
>;

export interface Readiness {
  ready: boolean | null;
  blockers: Blocker[];
}

/** Failing checks a `checks_failing` detail names; the rest are counted. */
const NAMED_CHECKS = 3;
/** A detail is a short text: host words (check names, reasons) are cut to this many characters. */
const MAX_DETAIL = 200;

const short = (text: string | null | undefined): string | null =>
  text ? (text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text) : null;

/**
 * The blockers of a ref, in the order SPEC §6.2 lists them (the order an agent should fix them):
 * - no PR: before the ref's first read (`refreshed_at` null) nothing is known — `ready` null, one
 *   `unknown`; once read, `no_pr` alone;
 * - a merged or closed PR: `not_open` alone (detail: its state) — there is nothing left to fix;
 * - an open PR: `draft`; `conflicts`, `behind` (the host's word as detail); `checks_failing`
 *   (the failing checks' names), `checks_pending`; `changes_requested`; `unresolved_threads`;
 *   `needs_approval` when the host says the merge waits for approvals (`awaiting_approval`), or,
 *   where it cannot say (null), when no approval stands (`approved` not true); `blocked` (the
 *   host's word) when the host blocks and no blocker before it explains why; `unknown` for
 *   whatever is not known — a merge state unknown or not told (detail: the host's word for it,
 *   else `merge_state`), checks not told (`checks_state`), threads not counted
 *   (`unresolved_threads`): never read as passing.
 * `ready` is true exactly when the PR is open and nothing blocks it.
 */
export function readinessOf(s: ReadinessInput): Readiness {
  if (s.url === null || s.pull_request_state === null) {
    if (s.refreshed_at === null) return { ready: null, blockers: [{ kind: 'unknown', detail: null }] };
    return { ready: false, blockers: [{ kind: 'no_pr', detail: null }] };
  }
  if (s.pull_request_state !== 'open')
    return { ready: false, blockers: [{ kind: 'not_open', detail: s.pull_request_state }] };

  const blockers: Blocker[] = [];
  const add = (kind: Blocker['kind'], detail: string | null = null) =>
    blockers.push({ kind, detail: short(detail) });

  if (s.pull_request_draft === true || s.merge_state === 'draft') add('draft');
  if (s.merge_state === 'conflicting') add('conflicts', s.merge_state_reason);
  if (s.merge_state === 'behind') add('behind', s.merge_state_reason);
  if (s.checks_state === 'failing') add('checks_failing', failingDetail(s.checks));
  if (s.checks_state === 'pending') add('checks_pending', s.checks ? `${s.checks.pending} pending` : null);
  if (s.changes_requested === true) add('changes_requested');
  if (s.unresolved_threads !== null && s.unresolved_threads > 0)
    add('unresolved_threads', `${s.unresolved_threads} unresolved`);
  if (s.awaiting_approval === true) add('needs_approval', 'the host requires approval');
  else if (s.awaiting_approval === null && s.approved !== true) add('needs_approval', 'no standing approval');
  if (s.merge_state === 'blocked' && blockers.length === 0) add('blocked', s.merge_state_reason);

  const unknown = [
    s.merge_state === 'unknown' || s.merge_state === null ? (s.merge_state_reason ?? 'merge_state') : null,
    s.checks_state === null ? 'checks_state' : null,
    s.unresolved_threads === null ? 'unresolved_threads' : null,
  ].filter((part): part is string => part !== null);
  if (unknown.length > 0) add('unknown', unknown.join(', '));

  return { ready: blockers.length === 0, blockers };
}

/** The failing checks by name (the first few; the rest counted), or null when none is named. */
function failingDetail(checks: ReadinessInput['checks']): string | null {
  if (!checks || checks.failing.length === 0) return null;
  const names = checks.failing.slice(0, NAMED_CHECKS).map((c) => c.name);
  const more = Math.max(checks.failed, checks.failing.length) - names.length;
  return more > 0 ? `${names.join(', ')} and ${more} more` : names.join(', ');
}
