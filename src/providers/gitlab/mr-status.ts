import type { MergeState, PrState } from '../../core/types.ts';
import type { CheckOutcome, CheckResult } from '../checks.ts';
import type { HeadPipeline, JobNode } from './graphql.ts';

/**
 * GitLab's words for an MR's CI and mergeability → gitsync's. Each function maps one vocabulary
 * and cites where GitLab defines it.
 */

/**
 * A job's status → its outcome. Statuses: GitLab docs, GraphQL reference, enum `CiJobStatus`
 * (REST `status`, lower-case, in "Jobs API"). Whether a job counts: CI/CD YAML reference,
 * `allow_failure` — a job allowed to fail that fails leaves the pipeline "passed with warnings"
 * and does not stop a merge, so it is `skipped` here (it neither passed nor counts against the
 * MR); `when: manual` with "Types of manual jobs" (job control docs) — an optional manual job
 * (`allow_failure: true`, the default outside `rules`) is never run unless someone plays it, so
 * `skipped`; a blocking one (`allow_failure: false`) holds the pipeline in `manual` until played,
 * so `pending`. Canceled counts as failed: the pipeline did not succeed ("Pipelines must
 * succeed" refuses the merge). Every state on its way — created, waiting_for_resource,
 * preparing, waiting_for_callback, pending, running, canceling, scheduled (a delayed job) — and
 * any word GitLab adds later is `pending`, never a pass.
 */
export function jobOutcome(status: string | null | undefined, allowFailure: boolean): CheckOutcome {
  switch ((status ?? '').toLowerCase()) {
    case 'success':
      return 'passed';
    case 'failed':
    case 'canceled':
      return allowFailure ? 'skipped' : 'failed';
    case 'skipped':
      return 'skipped';
    case 'manual':
      return allowFailure ? 'skipped' : 'pending';
    default:
      return 'pending';
  }
}

/**
 * A pipeline's own status (GraphQL enum `PipelineStatusEnum`, the same words as jobs): `success`
 * (with warnings too) passed, `failed` and `canceled` failed, `skipped` skipped; `manual` (held by
 * a blocking manual job) and every running state pending.
 */
export function pipelineOutcome(status: string | null | undefined): CheckOutcome {
  switch ((status ?? '').toLowerCase()) {
    case 'success':
      return 'passed';
    case 'failed':
    case 'canceled':
      return 'failed';
    case 'skipped':
      return 'skipped';
    default:
      return 'pending';
  }
}

/** The pseudo-check standing for a whole pipeline where its jobs cannot show its verdict. */
export const PIPELINE_CHECK = 'pipeline';

/**
 * The MR head pipeline's checks: one per job read (latest attempts only). GitLab's verdict on the
 * pipeline itself is added as one more check, `pipeline`, where the jobs read cannot show it: a
 * pipeline without jobs (one that failed on a YAML error has none), or one with more jobs than a
 * page, when no job read has the pipeline's outcome. No head pipeline (none ran on the current
 * head yet, or CI is off): no checks.
 */
export function pipelineChecks(
  pipeline: HeadPipeline | null | undefined,
  absolute: (path: string | null) => string | null,
): CheckResult[] {
  if (!pipeline) return [];
  const jobs = (pipeline.jobs?.nodes ?? [])
    .filter((j): j is JobNode => j !== null)
    .map((j) => ({
      name: j.name ?? 'job',
      url: absolute(j.webPath ?? null),
      outcome: jobOutcome(j.status, j.allowFailure ?? false),
    }));
  const partial = jobs.length === 0 || !pipeline.jobs || pipeline.jobs.pageInfo?.hasNextPage === true;
  const overall = pipelineOutcome(pipeline.status);
  if (partial && !jobs.some((j) => j.outcome === overall))
    jobs.push({ name: PIPELINE_CHECK, url: absolute(pipeline.path ?? null), outcome: overall });
  return jobs;
}

/**
 * GitLab's `detailedMergeStatus` → `merge_state` (GitLab docs, "Merge requests API", "Merge
 * status"; GraphQL enum `DetailedMergeStatus`, the same words upper-cased):
 * - a draft MR is `draft` whatever check GitLab reports first (`draft_status` or another);
 * - not computed yet → `unknown`: `unchecked` (a push marked it; GitLab computes it only when
 *   asked), `checking`, `preparing` (the diff is being created), `approvals_syncing`;
 * - `mergeable` → `clean`; `conflict` → `conflicting`; `need_rebase` → `behind`;
 * - everything else stops the merge → `blocked`: `not_approved`, `discussions_not_resolved`,
 *   `ci_must_pass`, `ci_still_running`, `requested_changes`, `blocked_status` /
 *   `merge_request_blocked`, `external_status_checks` / `status_checks_must_pass`,
 *   `jira_association_missing`, `security_policy_violations`, `merge_time`, `locked_paths`,
 *   `locked_lfs_files`, `commits_status`, `title_regex`, and any word a newer GitLab adds.
 * A merged or closed MR (`not_open`) and no status at all (GitLab answered null) → null.
 * `mergeStatus` (GraphQL `mergeStatusEnum`, REST `merge_status`) `cannot_be_merged_recheck` is
 * `unknown` too: after a push to an MR that could not be merged GitLab keeps answering `CONFLICT`
 * (its conflict check reads the stale status) until a recheck runs (`app/models/merge_request.rb`,
 * `mark_as_unchecked`; `check_conflict_status_service.rb`).
 */
export function mergeState(
  raw: string | null | undefined,
  draft: boolean,
  state: PrState,
  mergeStatus?: string | null,
): MergeState | null {
  // Only an open MR can be merged: a merged or closed one has no merge state (GitLab: `not_open`).
  if (!raw || state !== 'open') return null;
  if (draft) return 'draft';
  if (mergeStatus?.toLowerCase() === 'cannot_be_merged_recheck') return 'unknown';
  switch (raw.toLowerCase()) {
    case 'unchecked':
    case 'checking':
    case 'preparing':
    case 'approvals_syncing':
      return 'unknown';
    case 'mergeable':
      return 'clean';
    case 'conflict':
      return 'conflicting';
    case 'need_rebase':
      return 'behind';
    case 'draft_status':
      return 'draft';
    default:
      return 'blocked';
  }
}

/**
 * Threads still open: GitLab counts discussions with a resolvable note and those resolved
 * (GraphQL `resolvableDiscussionsCount`, `resolvedDiscussionsCount`); null unless it gives both.
 */
export function unresolvedThreads(
  resolvable: number | null | undefined,
  resolved: number | null | undefined,
): number | null {
  if (resolvable === null || resolvable === undefined || resolved === null || resolved === undefined)
    return null;
  return Math.max(0, resolvable - resolved);
}

/**
 * Whether GitLab says the merge waits for approvals (`awaiting_approval`, SPEC §6.2
 * `needs_approval`). `detailedMergeStatus` names only the first mergeability check that fails
 * (`MergeRequests::Mergeability::DetailedMergeStatusService`): `not_approved` → true; `mergeable`
 * → false (every check passed, the approval rules' too); `approvals_syncing` → null (the rules are
 * being recomputed). Where another check fails first, GitLab's approval verdict answers for the
 * rules alone: `approved` ("Indicates if the merge request has all the required approvals.
 * Returns true if no required approvals are configured", GraphQL `MergeRequestType.approved`)
 * false → true, true → false; not told → null.
 */
export function awaitingApproval(
  detailed: string | null | undefined,
  approved: boolean | null | undefined,
): boolean | null {
  switch ((detailed ?? '').toLowerCase()) {
    case 'not_approved':
      return true;
    case 'mergeable':
      return false;
    case 'approvals_syncing':
      return null;
    default:
      return approved === undefined || approved === null ? null : !approved;
  }
}
