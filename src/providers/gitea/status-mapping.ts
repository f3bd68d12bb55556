import type { MergeState } from '../../core/types.ts';
import type { CheckResult } from '../checks.ts';
import type { GiteaCommitStatus, GiteaPull, GiteaReview, GiteaReviewComment } from './schemas.ts';

/**
 * Gitea/Forgejo vocabulary → gitsync's, for what a PR's head commit, mergeability and review
 * conversations say. Pure functions: the provider reads, these map.
 */

/**
 * One commit status as a check. States are Gitea's `CommitStatusState` (`modules/commitstatus`:
 * pending, success, error, failure, warning, skipped); Gitea Actions report each job this way
 * (`services/actions/commit_status.go`: a cancelled job is `failure`, a job skipped by `if:` or a
 * path filter `skipped`).
 * - `success` → passed.
 * - `warning` → passed: Gitea combines it as a success (`CommitStatusStates.Combine`, Gitea 1.25,
 *   go-gitea/gitea#34562: "failure if any of the contexts report as error or failure … success if
 *   the latest status for all contexts is success", warning and skipped counting as success).
 * - `skipped` → skipped.
 * - `error`, `failure` → failed (both make Gitea's combined state `failure`).
 * - `pending`, and a state this code does not know, → pending: not a verdict.
 * Its name is the status's `context` (`default` when it was posted without one); its link the
 * `target_url`, which Gitea Actions write as a path on the instance (`/owner/repo/actions/runs/…`,
 * the sub-path included), so a relative one is resolved against `web_url`; anything but http(s)
 * is dropped.
 */
export function checkResult(status: GiteaCommitStatus, webUrl: string): CheckResult {
  const state = (status.status ?? '').toLowerCase();
  const outcome: CheckResult['outcome'] =
    state === 'success' || state === 'warning'
      ? 'passed'
      : state === 'skipped'
        ? 'skipped'
        : state === 'error' || state === 'failure'
          ? 'failed'
          : 'pending';
  return { name: status.context || 'default', url: statusLink(status.target_url, webUrl), outcome };
}

function statusLink(target: string | null | undefined, webUrl: string): string | null {
  if (!target) return null;
  try {
    const url = new URL(target, webUrl);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : null;
  } catch {
    return null;
  }
}

/**
 * An open PR's mergeability from Gitea's one boolean, `mergeable` (`PullRequest.Mergeable`: false
 * while the conflict check runs, on a conflict, when the check failed, and for a work-in-progress
 * PR). The check runs in a queue after each push to the head or the base and after the PR is
 * opened, so right after one `mergeable` is stale or "checking" (go-gitea/gitea#19755: "Web hook
 * does not wait for completion of 'mergeable' check"); the API gives no word to tell "checking"
 * from "conflict". `settled` says whether the PR's (head, base) commits have stood long enough
 * for the answer to be about them; until then the state is `unknown` (gitsync asks again soon).
 * - draft (`draft`, or a `WIP:`/`[WIP]` title where the field is missing) → `draft`;
 * - no `mergeable` at all → `unknown`;
 * - not settled → `unknown`;
 * - `true` → `clean`; `false` → `conflicting`.
 * Gitea shows nothing of "behind" or "blocked" (branch protection) in the PR, so neither is used.
 * The reason is the raw value read — `draft`, `mergeable=true` or `mergeable=false` — once it is
 * believed, and `checking` before: Gitea's own word for a check still running
 * (`PullRequestStatusChecking`), which is what an answer not yet believed is taken for, whichever
 * way it reads (it may flip between two reads a moment apart while the check runs).
 */
export function mergeState(
  pull: Pick<GiteaPull, 'mergeable'>,
  draft: boolean,
  settled: boolean,
): { merge_state: MergeState; merge_state_reason: string | null } {
  if (draft) return { merge_state: 'draft', merge_state_reason: 'draft' };
  if (pull.mergeable == null) return { merge_state: 'unknown', merge_state_reason: null };
  if (!settled) return { merge_state: 'unknown', merge_state_reason: 'checking' };
  const reason = `mergeable=${pull.mergeable}`;
  return { merge_state: pull.mergeable ? 'clean' : 'conflicting', merge_state_reason: reason };
}

/** One review conversation: its code comments, oldest first. */
export interface Conversation {
  first: GiteaReviewComment;
  resolved: boolean;
}

/**
 * Code comments grouped into conversations as Gitea's diff view groups them: by file, side and
 * line (`CodeComments`, a map of tree path → signed line → comments; a reply is filed under the
 * review of the comment it answers). A conversation is resolved when its first comment has a
 * `resolver`: Gitea marks that one (`templates/repo/diff/conversation.tmpl` resolves and shows
 * `index .comments 0`). Ordered by their first comment.
 */
export function conversations(comments: readonly GiteaReviewComment[]): Conversation[] {
  const byPlace = new Map<string, GiteaReviewComment[]>();
  for (const c of [...comments].sort((a, b) => a.id - b.id)) {
    const side = c.position ? `+${c.position}` : c.original_position ? `-${c.original_position}` : '0';
    const key = `${c.path ?? ''}\u0000${side}`;
    byPlace.set(key, [...(byPlace.get(key) ?? []), c]);
  }
  return [...byPlace.values()]
    .map((list) => ({ first: list[0]!, resolved: list[0]!.resolver != null }))
    .sort((a, b) => a.first.id - b.first.id);
}

/** The line a conversation is on, on whichever side of the diff it is. */
export const conversationLine = (c: GiteaReviewComment): number | null =>
  c.position || c.original_position || null;

/**
 * Per person (login without case), the latest review (highest id) that is not dismissed and gives
 * a verdict: APPROVED or REQUEST_CHANGES. COMMENT and PENDING give none; a stale review (new
 * commits since) still stands, as in Gitea's own view and its "block on rejected reviews", unless
 * the branch protection's "dismiss stale approvals" dismissed it (Gitea docs, "Protected
 * branches"). Also the latest entry of any kind per person: a request (REQUEST_REVIEW) after their
 * last review means they are asked again.
 */
export function reviewVerdicts(reviews: readonly GiteaReview[]): {
  standing: Map<string, { login: string; state: 'APPROVED' | 'REQUEST_CHANGES' }>;
  latest: Map<string, string>;
} {
  const standing = new Map<string, { login: string; state: 'APPROVED' | 'REQUEST_CHANGES' }>();
  const latest = new Map<string, string>();
  for (const review of [...reviews].sort((a, b) => a.id - b.id)) {
    const login = review.user?.login;
    if (!login) continue; // a team's review request names no person
    const state = review.state.toUpperCase();
    if (state !== 'PENDING') latest.set(login.toLowerCase(), state);
    if (review.dismissed || (state !== 'APPROVED' && state !== 'REQUEST_CHANGES')) continue;
    standing.set(login.toLowerCase(), { login, state });
  }
  return { standing, latest };
}
