import type { ChecksState, ChecksSummary, MergeState } from '../../core/types.ts';
import { type CheckResult, summarizeChecks } from '../checks.ts';

/**
 * A check run in gitsync's words (GitHub GraphQL reference, enums `CheckStatusState` and
 * `CheckConclusionState`; REST uses the same words in lower case). Anything not completed is
 * pending. SUCCESS passes; NEUTRAL and SKIPPED neither pass nor fail (branch protection counts
 * them as successful, so they do not block: "skipped"); every other conclusion — FAILURE,
 * TIMED_OUT, CANCELLED, ACTION_REQUIRED, STARTUP_FAILURE, STALE (marked stale by GitHub after
 * two weeks without an answer) — failed.
 */
export function checkRunOutcome(
  status: string,
  conclusion: string | null | undefined,
): CheckResult['outcome'] {
  if (status.toUpperCase() !== 'COMPLETED' || !conclusion) return 'pending';
  switch (conclusion.toUpperCase()) {
    case 'SUCCESS':
      return 'passed';
    case 'NEUTRAL':
    case 'SKIPPED':
      return 'skipped';
    default:
      return 'failed';
  }
}

/**
 * A commit status in gitsync's words (GraphQL enum `StatusState`; REST lower case): SUCCESS
 * passes, PENDING and EXPECTED (required by branch protection, not reported yet) are pending,
 * FAILURE and ERROR failed.
 */
export function commitStatusOutcome(state: string): CheckResult['outcome'] {
  switch (state.toUpperCase()) {
    case 'SUCCESS':
      return 'passed';
    case 'FAILURE':
    case 'ERROR':
      return 'failed';
    default:
      return 'pending';
  }
}

/**
 * GraphQL `StatusCheckRollup.state` of the head commit in gitsync's words: the state GitHub shows
 * for the whole list, used where the list itself was cut off.
 */
export function rollupChecksState(state: string | null | undefined): ChecksState {
  if (!state) return 'none';
  switch (state.toUpperCase()) {
    case 'SUCCESS':
      return 'passing';
    case 'FAILURE':
    case 'ERROR':
      return 'failing';
    default:
      return 'pending';
  }
}

/**
 * The checks of a head commit from its check runs and commit statuses. When GitHub had more than
 * were read (`complete` false), the counts are of those read and `checks_state` is GitHub's own
 * rollup state, so a failure beyond the page still shows.
 */
export function checksOf(
  results: readonly CheckResult[],
  complete: boolean,
  rollupState: string | null | undefined,
): { checks_state: ChecksState; checks: ChecksSummary } {
  const summary = summarizeChecks(results);
  return complete ? summary : { ...summary, checks_state: rollupChecksState(rollupState) };
}

/**
 * GitHub's merge state in gitsync's words (GraphQL `mergeStateStatus`, REST `mergeable_state` in
 * lower case; GraphQL reference, enum `MergeStateStatus`): CLEAN, HAS_HOOKS ("mergeable with
 * passing commit status and pre-receive hooks") and UNSTABLE ("mergeable with non-passing commit
 * status": the checks say the rest) can merge; DIRTY ("the merge commit cannot be cleanly
 * created") conflicts; BEHIND ("the head ref is out of date"); BLOCKED; DRAFT; UNKNOWN ("the state
 * cannot currently be determined": GitHub is still computing it after a push). A draft is a draft
 * whatever the status says (DRAFT is deprecated in favour of `isDraft`). Only open PRs have one.
 * Where a server lacks `mergeStateStatus` (an Enterprise Server without the merge-info preview),
 * GraphQL `mergeable` (enum `MergeableState`) is all it tells: MERGEABLE ("The pull request can be
 * merged", as far as conflicts go: blocked or behind cannot be told) and CONFLICTING.
 */
export function mergeStateOf(
  status: string | null | undefined,
  draft: boolean,
  open: boolean,
): { merge_state: MergeState | null; merge_state_reason: string | null } {
  if (!open) return { merge_state: null, merge_state_reason: null };
  const reason = status ? status.toUpperCase() : null;
  if (draft) return { merge_state: 'draft', merge_state_reason: reason };
  switch (reason) {
    case 'CLEAN':
    case 'HAS_HOOKS':
    case 'UNSTABLE':
    case 'MERGEABLE':
      return { merge_state: 'clean', merge_state_reason: reason };
    case 'DIRTY':
    case 'CONFLICTING':
      return { merge_state: 'conflicting', merge_state_reason: reason };
    case 'BEHIND':
      return { merge_state: 'behind', merge_state_reason: reason };
    case 'BLOCKED':
      return { merge_state: 'blocked', merge_state_reason: reason };
    case 'DRAFT':
      return { merge_state: 'draft', merge_state_reason: reason };
    default:
      return { merge_state: 'unknown', merge_state_reason: reason };
  }
}
