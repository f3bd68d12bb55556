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
/**
 * The reviewer policies, Azure DevOps' own verdict on the votes: "Minimum number of reviewers"
 * (settings `minimumApproverCount`, `creatorVoteCounts`, `allowDownvotes`, `resetOnSourcePush`)
 * and "Required reviewers" (`requiredReviewerIds`, `minimumApproverCount`, `creatorVoteCounts`) —
 * ids and settings as in vsts-rest-api-specs `specification/policy/7.1/httpExamples/
 * configurations/GET__policy_configurations.json` and Azure Repos docs, "Branch policies".
 */
export const MIN_REVIEWERS_POLICY = 'fa4e907d-c16b-4a4c-9dfa-4906e5d171dd';
export const REQUIRED_REVIEWERS_POLICY = 'fd2167ab-b0be-447a-8ec8-39368250530e';

/** Evaluations read at most (one page of "Evaluations - List", `$top`). */
export const EVALUATIONS_PAGE = 100;
/**
 * Whether a thread's author or a reviewer belongs to the repository is not read on Azure DevOps
 * (feedback's `trusted` is null): a comment carries only an identity (IdentityRef), and which
 * group grants that identity what on the repository — Readers, Contributors, Project
 * Administrators — is told by the Graph and Security Namespaces APIs: another scope (`vso.graph`,
 * `vso.security_manage`) and a request per person and group. docs/azure-devops.md, "Feedback".
 */
export const AZURE_TRUST_UNKNOWN = null;

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
 * A status a service posted on the PR ("Pull Request Statuses - List", `GitPullRequestStatus`):
 * its context (genre and name), state, description and link, and the iteration it was posted
 * on, if any.
 */
export const pullStatusSchema = z.object({
  id: z.number().int().nullish(),
  state: z.string().nullish(),
  description: z.string().nullish(),
  targetUrl: z.string().nullish(),
  iterationId: z.number().int().nullish(),
  context: z.object({ genre: z.string().nullish(), name: z.string().nullish() }).nullish(),
});
export type PullStatus = z.infer<typeof pullStatusSchema>;
export const pullStatusList = z.object({ value: z.array(pullStatusSchema) });

/**
 * One policy evaluation's outcome ("Evaluations - List", `PolicyEvaluationStatus`): `approved`
 * "the policy has been fulfilled" → passed; `rejected`, and `broken` "the policy has encountered
 * an unexpected error" → failed; `queued` "queued to run, or waiting for some event" and
 * `running` → pending; `notApplicable` → skipped. A word the docs do not list is pending, never a
 * pass. A build's result counts only for the PR's head: one the evaluation says ran on another
 * source commit (`context.lastMergeSourceCommitId`, a push since) is pending until the new build
 * reports. A build that has expired (`context.isExpired`, branch policy "Build expiration": the
 * target branch moved) is failed whatever the status says: nothing runs until someone queues it
 * again (`isExpiredBuild`).
 */
export function evaluationOutcome(e: Evaluation, head: string | null): CheckOutcome {
  if (isExpiredBuild(e)) return 'failed';
  if (e.configuration.type.id.toLowerCase() === BUILD_POLICY) {
    const ranOn = e.context?.lastMergeSourceCommitId;
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

/**
 * A build validation whose result expired (Azure Repos docs, "Branch policies", build
 * expiration: "Immediately when {branch} is updated … sets PR build policy status to failed";
 * "After {n} hours if {branch} has been updated … expires the current policy status").
 */
function isExpiredBuild(e: Evaluation): boolean {
  return e.configuration.type.id.toLowerCase() === BUILD_POLICY && e.context?.isExpired === true;
}

/** What an expired build's check says to do. */
export const EXPIRED_BUILD_SUMMARY =
  'The build expired: queue it again to run it on the current target branch.';

/** Evaluations of policies in force: enabled and not deleted. */
const inForce = (e: Evaluation) => e.configuration.isEnabled !== false && e.configuration.isDeleted !== true;

/** Whether any evaluation is of a policy in force. */
export const anyInForce = (evaluations: readonly Evaluation[]) => evaluations.some(inForce);

/**
 * Azure DevOps' verdict on the votes, where it gives one: null when no blocking reviewer policy
 * in force (minimum number of reviewers, required reviewers) is evaluated on the PR; else
 * whether each such evaluation is `approved` ("the policy has been fulfilled"). One that does
 * not apply (`notApplicable`, e.g. required reviewers of paths the PR does not touch) is left
 * out. An optional (non-blocking) policy does not hold a PR back ("If the policy is optional, it
 * is informational only", Azure Repos docs, "Pull request status"), so it is no verdict.
 */
export function reviewerVerdict(evaluations: readonly Evaluation[] | null): boolean | null {
  const reviewers = (evaluations ?? []).filter((e) => {
    const type = e.configuration.type.id.toLowerCase();
    return (
      (type === MIN_REVIEWERS_POLICY || type === REQUIRED_REVIEWERS_POLICY) &&
      inForce(e) &&
      e.configuration.isBlocking !== false &&
      e.status.toLowerCase() !== 'notapplicable'
    );
  });
  if (reviewers.length === 0) return null;
  return reviewers.every((e) => e.status.toLowerCase() === 'approved');
}

/**
 * Whether Azure DevOps says the merge waits for approvals (`awaiting_approval`, SPEC §6.2
 * `needs_approval`), from an open PR's policy evaluations (`reviewers`: `reviewerVerdict`):
 * a blocking reviewer policy not fulfilled → true; fulfilled, or none in force on the PR → false
 * (without a reviewer policy Azure DevOps completes a PR with no approval); evaluations not read
 * (`policies` null: a merged or abandoned PR) → null.
 */
export function awaitingApproval(policies: { reviewers: boolean | null } | null): boolean | null {
  if (policies === null) return null;
  return policies.reviewers === false;
}

/** The evaluations that are the PR's CI: build validations and required statuses. */
const isCheck = (e: Evaluation) => {
  const type = e.configuration.type.id.toLowerCase();
  return inForce(e) && (type === BUILD_POLICY || type === STATUS_POLICY);
};

/** `genre/name` of a status context (the form status policies and the PR page show), or the name alone. */
const contextName = (genre: string | null | undefined, name: string | null | undefined) =>
  genre ? `${genre}/${name ?? ''}` : (name ?? '');

/**
 * The statuses that stand on the PR: the latest of each context (genre and name, compared
 * without case) — "only the latest of which is shown for each unique context" (Azure Repos docs,
 * "Pull request status", "Updating status"); the latest is the highest id, ids being given in
 * the order statuses are posted ("unique within the pull request across all iterations").
 * Those a status policy in force requires are left out: that policy's evaluation is their check
 * (it knows the policy's applicability and reset rules), so none counts twice.
 */
export function standingStatuses(
  statuses: readonly PullStatus[],
  evaluations: readonly Evaluation[] | null,
): PullStatus[] {
  const key = (genre: string | null | undefined, name: string | null | undefined) =>
    `${(genre ?? '').toLowerCase()}\n${(name ?? '').toLowerCase()}`;
  const required = new Set(
    (evaluations ?? [])
      .filter((e) => inForce(e) && e.configuration.type.id.toLowerCase() === STATUS_POLICY)
      .map((e) => key(e.configuration.settings?.statusGenre, e.configuration.settings?.statusName)),
  );
  const latest = new Map<string, PullStatus>();
  for (const s of statuses) {
    if (!s.context?.name) continue;
    const k = key(s.context.genre, s.context.name);
    const kept = latest.get(k);
    if (!kept || (s.id ?? 0) >= (kept.id ?? 0)) latest.set(k, s);
  }
  return [...latest.entries()].filter(([k]) => !required.has(k)).map(([, s]) => s);
}

/**
 * One posted status's outcome (`GitStatusState`): `succeeded` → passed; `failed`, `error` →
 * failed; `notApplicable` ("not applicable to the target object") → skipped; `pending`, `notSet`
 * ("Status state not set. Default state.") and any word the docs do not list → pending. A status
 * posted on an iteration older than the PR's last (`iterationId`) is not the head's: "Posting
 * status to a specific iteration of a PR guarantees that status applies only to the code that
 * was evaluated and none of the future updates" (Azure Repos docs, "Pull request status",
 * "Iteration status") — pending until the service posts on the new iteration. A status posted
 * on the PR itself (no `iterationId`) applies to the PR whatever its code.
 */
export function statusOutcome(s: PullStatus, lastIteration: number | null): CheckOutcome {
  if (s.iterationId != null && lastIteration !== null && s.iterationId < lastIteration) return 'pending';
  switch ((s.state ?? '').toLowerCase()) {
    case 'succeeded':
      return 'passed';
    case 'failed':
    case 'error':
      return 'failed';
    case 'notapplicable':
      return 'skipped';
    default:
      return 'pending';
  }
}

/** The standing statuses as checks, named `genre/name`, linked to their `targetUrl`. */
export function statusResults(standing: readonly PullStatus[], lastIteration: number | null): CheckResult[] {
  return standing.map((s) => ({
    name: contextName(s.context?.genre, s.context?.name),
    url: s.targetUrl ?? null,
    outcome: statusOutcome(s, lastIteration),
  }));
}

/** A check's name: the policy's own display name, else the pipeline's, else the required status. */
function checkName(e: Evaluation): string {
  const s = e.configuration.settings;
  const status = s?.statusName ? contextName(s.statusGenre, s.statusName) : null;
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

/**
 * Failing checks with the text Azure DevOps gives: a build's first error lines
 * (`buildOutputPreview`), what to do about an expired build, a posted status's `description`.
 */
export function failingChecks(
  evaluations: readonly Evaluation[],
  head: string | null,
  projectWebUrl: string,
  standing: readonly PullStatus[] = [],
  lastIteration: number | null = null,
): PullFeedback['failing_checks'] {
  const builds = evaluations
    .filter((e) => isCheck(e) && evaluationOutcome(e, head) === 'failed')
    .map((e) => {
      const errors = (e.context?.buildOutputPreview?.errors ?? [])
        .map((x) => x.message?.trim())
        .filter((m): m is string => !!m);
      return {
        name: checkName(e),
        url: buildUrl(projectWebUrl, e),
        summary: isExpiredBuild(e) ? EXPIRED_BUILD_SUMMARY : errors.length > 0 ? errors.join('\n') : null,
      };
    });
  const statuses = standing
    .filter((s) => statusOutcome(s, lastIteration) === 'failed')
    .map((s) => ({
      name: contextName(s.context?.genre, s.context?.name),
      url: s.targetUrl ?? null,
      summary: s.description?.trim() || null,
    }));
  return [...builds, ...statuses].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
      // Not read: see AZURE_TRUST_UNKNOWN.
      author_association: null,
      trusted: null,
      body: first.content ?? '',
      url: `${pullUrl}?discussionId=${t.id}`,
    };
  });
}
