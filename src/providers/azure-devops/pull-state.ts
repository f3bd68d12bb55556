import { z } from 'zod';
import type { MergeState } from '../../core/types.ts';
import type { CheckOutcome, CheckResult } from '../checks.ts';
import type { PullFeedback } from '../types.ts';

/**
 * What Azure DevOps says of an open PR beyond the PR itself: its branch policy evaluations (the
 * build validations and status checks that are its CI, and what blocks completing it) and its
 * comment threads. Shapes: "Evaluations - List" (Policy, REST 7.1-preview.1) and "Pull Request
 * Threads - List" (Git, REST 7.1); Azure DevOps words stop here.
 */

/**
 * Branch policy types, by the ids every organization shares (Microsoft's Azure DevOps CLI
 * extension, `azext_devops/dev/common/const.py`: `BUILD_POLICY_ID`, `STATUS_POLICY_ID`).
 * Build validation is how Azure Pipelines checks a PR of an Azure Repos Git repository ("pr
 * definition": "YAML PR triggers are supported only in GitHub and Bitbucket Cloud. If you use
 * Azure Repos Git, you can configure a branch policy for build validation"); a status policy
 * requires a status that another service (Jenkins, GitHub Actions, a bot) posts on the PR.
 */
export const BUILD_POLICY = '0609b952-1397-4640-95ec-e00a01b2c241';
export const STATUS_POLICY = 'cbdc66da-9728-4af8-aada-9a5a32e4a226';

/** Evaluations read at most (one page of "Evaluations - List", `$top`). */
export const EVALUATIONS_PAGE = 100;
/** Unresolved threads a feedback answer lists at most (the threads list itself is not paged). */
export const FEEDBACK_THREADS = 100;

/**
 * The evaluation's `context` is "internal context data" of each policy type; for a build it
 * names the build and the commits it ran on (`buildId`, `lastMergeSourceCommitId`, `isExpired`,
 * `buildOutputPreview.errors[].message`). Anything else there is ignored, never fatal.
 */
const buildContext = z
  .object({
    buildId: z.number().nullish(),
    buildDefinitionName: z.string().nullish(),
    lastMergeSourceCommitId: z.string().nullish(),
    isExpired: z.boolean().nullish(),
    buildOutputPreview: z
      .object({ errors: z.array(z.object({ message: z.string().nullish() })).nullish() })
      .nullish(),
  })
  .nullish()
  .catch(null);

export const evaluationSchema = z.object({
  status: z.string(),
  configuration: z.object({
    isEnabled: z.boolean().nullish(),
    isBlocking: z.boolean().nullish(),
    isDeleted: z.boolean().nullish(),
    type: z.object({ id: z.string(), displayName: z.string().nullish() }),
    settings: z
      .object({
        /** Build validation: the name given to the policy, else the pipeline's. */
        displayName: z.string().nullish(),
        buildDefinitionId: z.number().nullish(),
        /** Status policy: the status it requires, and the name shown for it. */
        statusGenre: z.string().nullish(),
        statusName: z.string().nullish(),
        defaultDisplayName: z.string().nullish(),
      })
      .nullish()
      .catch(null),
  }),
  context: buildContext,
});
export type Evaluation = z.infer<typeof evaluationSchema>;
export const evaluationList = z.object({ value: z.array(evaluationSchema) });

const position = z.object({ line: z.number().nullish() }).nullish();
const commentSchema = z.object({
  author: z.object({ uniqueName: z.string().nullish(), displayName: z.string().nullish() }).nullish(),
  content: z.string().nullish(),
  commentType: z.string().nullish(),
  isDeleted: z.boolean().nullish(),
});
export const threadSchema = z.object({
  id: z.number().int(),
  /** Absent on system threads (votes, pushes, merge attempts): they cannot be resolved. */
  status: z.string().nullish(),
  isDeleted: z.boolean().nullish(),
  threadContext: z
    .object({ filePath: z.string().nullish(), rightFileStart: position, leftFileStart: position })
    .nullish(),
  comments: z.array(commentSchema).nullish(),
});
export type Thread = z.infer<typeof threadSchema>;
export const threadList = z.object({ value: z.array(threadSchema) });

/**
 * One policy evaluation's outcome ("Evaluations - List", `PolicyEvaluationStatus`): `approved`
 * "the policy has been fulfilled" → passed; `rejected`, and `broken` "the policy has encountered
 * an unexpected error" → failed; `queued` "queued to run, or waiting for some event" and
 * `running` → pending; `notApplicable` → skipped. A word the docs do not list is pending, never a
 * pass. A build's result counts only for the PR's head: one the evaluation says ran on another
 * source commit (`context.lastMergeSourceCommitId`, a push since) or has expired
 * (`context.isExpired`, branch policy "Build expiration") is pending until the new build reports.
 */
export function evaluationOutcome(e: Evaluation, head: string | null): CheckOutcome {
  if (e.configuration.type.id.toLowerCase() === BUILD_POLICY) {
    const ranOn = e.context?.lastMergeSourceCommitId;
    if (e.context?.isExpired === true) return 'pending';
    if (ranOn && head && ranOn.toLowerCase() !== head.toLowerCase()) return 'pending';
  }
  switch (e.status.toLowerCase()) {
    case 'approved':
      return 'passed';
    case 'rejected':
    case 'broken':
      return 'failed';
    case 'notapplicable':
      return 'skipped';
    default:
      return 'pending';
  }
}

/** Evaluations of policies in force: enabled and not deleted. */
const inForce = (e: Evaluation) => e.configuration.isEnabled !== false && e.configuration.isDeleted !== true;

/** The evaluations that are the PR's CI: build validations and required statuses. */
const isCheck = (e: Evaluation) => {
  const type = e.configuration.type.id.toLowerCase();
  return inForce(e) && (type === BUILD_POLICY || type === STATUS_POLICY);
};

/** A check's name: the policy's own display name, else the pipeline's, else the required status. */
function checkName(e: Evaluation): string {
  const s = e.configuration.settings;
  const status = s?.statusName ? `${s.statusGenre ? `${s.statusGenre}/` : ''}${s.statusName}` : null;
  return (
    s?.displayName ||
    s?.defaultDisplayName ||
    e.context?.buildDefinitionName ||
    status ||
    (s?.buildDefinitionId != null ? `Build ${s.buildDefinitionId}` : null) ||
    e.configuration.type.displayName ||
    'Policy'
  );
}

/** The web page of a build ("View build results": `{web}/{org}/{project}/_build/results?buildId=`). */
const buildUrl = (projectWebUrl: string, e: Evaluation) =>
  e.context?.buildId != null ? `${projectWebUrl}/_build/results?buildId=${e.context.buildId}` : null;

/**
 * The PR's checks, each build validation and status policy evaluation mapped by
 * `evaluationOutcome`. A status policy's evaluation carries no link: its url is null.
 */
export function checkResults(
  evaluations: readonly Evaluation[],
  head: string | null,
  projectWebUrl: string,
): CheckResult[] {
  return evaluations.filter(isCheck).map((e) => ({
    name: checkName(e),
    url: buildUrl(projectWebUrl, e),
    outcome: evaluationOutcome(e, head),
  }));
}

/**
 * The blocking branch policies in force that are not fulfilled on `head` ("Evaluations - List":
 * `configuration.isBlocking`, an outcome other than passed or skipped), by their policy type's
 * name (e.g. "Minimum number of reviewers"), sorted, each once.
 */
export function blockingPolicies(evaluations: readonly Evaluation[] | null, head: string | null): string[] {
  const blocking = (evaluations ?? [])
    .filter((e) => inForce(e) && e.configuration.isBlocking !== false)
    .filter((e) => {
      const outcome = evaluationOutcome(e, head);
      return outcome !== 'passed' && outcome !== 'skipped';
    })
    .map((e) => e.configuration.type.displayName || 'Policy');
  return [...new Set(blocking)].sort();
}

/**
 * Azure DevOps' merge status → ours ("Pull Requests - Get Pull Request", `mergeStatus`, a
 * `PullRequestAsyncStatus`): the test merge is computed asynchronously after each push, so
 * `notSet` ("default state") and `queued` ("merge is queued") → unknown, which the engine asks
 * again soon; `conflicts` → conflicting; `rejectedByPolicy` and `failure` → blocked; `succeeded` →
 * clean, unless a blocking branch policy in force is not fulfilled yet (`blocking`, from
 * `blockingPolicies`) — then blocked, its policy types named in the reason. A draft (`isDraft`)
 * → draft. The reason is otherwise the raw `mergeStatus`. Azure DevOps has no notion of a branch
 * behind its target that must be updated first: never behind.
 */
export function mergeStateOf(
  pull: { isDraft?: boolean | null | undefined; mergeStatus?: string | null | undefined },
  blocking: readonly string[],
): { merge_state: MergeState; merge_state_reason: string | null } {
  const raw = pull.mergeStatus ?? null;
  if (pull.isDraft) return { merge_state: 'draft', merge_state_reason: raw };
  switch (raw?.toLowerCase()) {
    case 'conflicts':
      return { merge_state: 'conflicting', merge_state_reason: raw };
    case 'rejectedbypolicy':
    case 'failure':
      return { merge_state: 'blocked', merge_state_reason: raw };
    case 'succeeded':
      if (blocking.length === 0) return { merge_state: 'clean', merge_state_reason: raw };
      return { merge_state: 'blocked', merge_state_reason: blocking.join(', ') };
    default:
      return { merge_state: 'unknown', merge_state_reason: raw };
  }
}

/** What people wrote in a thread: comments neither deleted nor system messages (`commentType` "system"). */
const humanComments = (t: Thread) =>
  t.isDeleted === true
    ? []
    : (t.comments ?? []).filter((c) => c.isDeleted !== true && c.commentType?.toLowerCase() !== 'system');

/**
 * Whether a thread is open ("Pull Request Threads", `CommentThreadStatus`): `active` and
 * `pending` are; `fixed`, `wontFix`, `closed` and `byDesign` are resolved. System threads (votes,
 * pushes, merge attempts) have no status and only system comments; a thread whose comments were
 * all deleted is `isDeleted`: neither counts.
 */
export function isOpenThread(t: Thread): boolean {
  const status = t.status?.toLowerCase();
  return (status === 'active' || status === 'pending') && humanComments(t).length > 0;
}

/** `unresolved_threads` (open threads) and `comments` (every comment people wrote, replies included). */
export function countThreads(threads: readonly Thread[]): { unresolved_threads: number; comments: number } {
  let unresolved_threads = 0;
  let comments = 0;
  for (const t of threads) {
    comments += humanComments(t).length;
    if (isOpenThread(t)) unresolved_threads++;
  }
  return { unresolved_threads, comments };
}

/** Failing checks with the text Azure DevOps gives: a build's first error lines (`buildOutputPreview`). */
export function failingChecks(
  evaluations: readonly Evaluation[],
  head: string | null,
  projectWebUrl: string,
): PullFeedback['failing_checks'] {
  return evaluations
    .filter((e) => isCheck(e) && evaluationOutcome(e, head) === 'failed')
    .map((e) => {
      const errors = (e.context?.buildOutputPreview?.errors ?? [])
        .map((x) => x.message?.trim())
        .filter((m): m is string => !!m);
      return {
        name: checkName(e),
        url: buildUrl(projectWebUrl, e),
        summary: errors.length > 0 ? errors.join('\n') : null,
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Open threads by their first comment: the file and line it is on (`threadContext.filePath`, the
 * right side's line, else the left's for a comment on a deleted line), who wrote it, and a link
 * that opens it on the PR's page (`?discussionId={thread id}`).
 */
export function openThreads(threads: readonly Thread[], pullUrl: string): PullFeedback['unresolved_threads'] {
  return threads.filter(isOpenThread).map((t) => {
    const first = humanComments(t)[0]!;
    const ctx = t.threadContext;
    return {
      path: ctx?.filePath ?? null,
      line: ctx?.rightFileStart?.line ?? ctx?.leftFileStart?.line ?? null,
      author: first.author?.uniqueName ?? first.author?.displayName ?? null,
      body: first.content ?? '',
      url: `${pullUrl}?discussionId=${t.id}`,
    };
  });
}
