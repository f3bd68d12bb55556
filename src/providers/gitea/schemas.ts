import { z } from 'zod';

/**
 * Gitea/Forgejo API shapes (Gitea API swagger, `templates/swagger/v1_json.tmpl`: definitions
 * `PullRequest`, `PRBranchInfo`, `PullReview`, `PullReviewComment`, `CombinedStatus`,
 * `CommitStatus`, `Repository`, `User`, `Team`). Only the fields read are declared; every one a
 * version may lack is nullish.
 */
export const userSchema = z.object({ login: z.string(), avatar_url: z.string().nullish() });

const repoRefSchema = z.object({ id: z.number().nullish(), full_name: z.string() });

export const repoSchema = z.object({
  id: z.number(),
  full_name: z.string(),
  private: z.boolean().nullish(),
  /** Visible to every signed-in user of the instance, not anonymously (Gitea 1.13+). */
  internal: z.boolean().nullish(),
  /** The owner's `visibility`: `public`, `limited` (signed-in users only) or `private`. */
  owner: z.object({ visibility: z.string().nullish() }).nullish(),
  fork: z.boolean().nullish(),
  parent: repoRefSchema.nullish(),
});
export type RepoInfo = z.infer<typeof repoSchema>;

const branchSchema = z.object({
  /**
   * The bare branch name (`PRBranchInfo.Name`, JSON `label`; no `owner:` prefix, forks
   * included), kept after the branch is deleted; empty for AGit-flow PRs (services/convert/pull.go).
   */
  label: z.string().nullish(),
  /** The branch while it exists; `refs/pull/{n}/head` once the head branch is deleted. */
  ref: z.string(),
  sha: z.string().nullish(),
  repo_id: z.number().nullish(),
  /** Null when the head's fork was deleted. */
  repo: repoRefSchema.nullish(),
});

const teamSchema = z.object({
  name: z.string(),
  organization: z.object({ username: z.string().nullish() }).nullish(),
});

export const pullSchema = z.object({
  number: z.number().int(),
  title: z.string(),
  state: z.string(),
  merged: z.boolean().nullish(),
  merged_at: z.string().nullish(),
  /** Gitea 1.22+ and Forgejo 8+; older versions mark drafts by a title prefix only. */
  draft: z.boolean().nullish(),
  /** Gitea 1.20+; absent before. */
  additions: z.number().int().nullish(),
  deletions: z.number().int().nullish(),
  changed_files: z.number().int().nullish(),
  user: userSchema.nullish(),
  base: branchSchema,
  head: branchSchema,
  merge_base: z.string().nullish(),
  /**
   * False while Gitea checks for conflicts (after a push to the head or the base), on a conflict,
   * after a failed check, and for a work-in-progress PR (`PullRequest.Mergeable`).
   */
  mergeable: z.boolean().nullish(),
  /** Comments on the conversation (`Issue.NumComments`); code comments are not among them. */
  comments: z.number().int().nullish(),
  /** Code comments (Gitea 1.22+, with `draft`); `omitempty`: absent when there are none. */
  review_comments: z.number().int().nullish(),
  updated_at: z.string().nullish(),
  requested_reviewers: z.array(userSchema.nullable()).nullish(),
  /** Gitea 1.22+. */
  requested_reviewers_teams: z.array(teamSchema.nullable()).nullish(),
});
export type GiteaPull = z.infer<typeof pullSchema>;

export const reviewSchema = z.object({
  id: z.number(),
  user: userSchema.nullish(),
  /** `APPROVED`, `PENDING`, `COMMENT`, `REQUEST_CHANGES`, `REQUEST_REVIEW` (swagger: `ReviewStateType`). */
  state: z.string(),
  dismissed: z.boolean().nullish(),
  stale: z.boolean().nullish(),
  /** Its code comments, replies filed under it included (`CodeCommentsCount`). */
  comments_count: z.number().int().nullish(),
});
export type GiteaReview = z.infer<typeof reviewSchema>;

/**
 * A code comment (`PullReviewComment`): `position` is its line on the new side, `original_position`
 * on the old side (the other is 0); `resolver` is who resolved the conversation it opens.
 */
export const reviewCommentSchema = z.object({
  id: z.number(),
  body: z.string().nullish(),
  user: userSchema.nullish(),
  resolver: z.object({ login: z.string().nullish() }).nullish(),
  path: z.string().nullish(),
  position: z.number().int().nullish(),
  original_position: z.number().int().nullish(),
  html_url: z.string().nullish(),
});
export type GiteaReviewComment = z.infer<typeof reviewCommentSchema>;

/** One status of a commit (`CommitStatus`): its state is under `status`, not `state`. */
const commitStatusSchema = z.object({
  context: z.string().nullish(),
  status: z.string().nullish(),
  target_url: z.string().nullish(),
  description: z.string().nullish(),
});
export type GiteaCommitStatus = z.infer<typeof commitStatusSchema>;

/**
 * `GET /repos/{o}/{r}/commits/{ref}/status`: the latest status per context. Without statuses
 * Gitea answers an empty `CombinedStatus` (`statuses` null).
 */
export const combinedStatusSchema = z.object({ statuses: z.array(commitStatusSchema).nullish() });

export const pullListSchema = z.array(pullSchema);
export const reviewListSchema = z.array(reviewSchema);
export const reviewCommentListSchema = z.array(reviewCommentSchema);
export const anyListSchema = z.array(z.unknown());

/**
 * One answer item of `GET /repos/issues/search?type=pulls` (`Issue`, modules/structs/issue.go):
 * an issue whose `pull_request` (`PullRequestMeta`: `merged`, `merged_at`, `draft`, `html_url`)
 * marks it a PR, in `repository` (`RepositoryMeta`: `id`, `name`, `owner`, `full_name`). Its
 * `number` and `updated_at` are the PR's (both from the issue row).
 */
export const searchedPullSchema = z.object({
  number: z.number().int(),
  state: z.string(),
  updated_at: z.string().nullish(),
  pull_request: z.object({ merged: z.boolean().nullish(), merged_at: z.string().nullish() }).nullish(),
  repository: z.object({ id: z.number().int().nullish(), full_name: z.string() }).nullish(),
});
export type GiteaSearchedPull = z.infer<typeof searchedPullSchema>;
export const searchedPullListSchema = z.array(searchedPullSchema);
