import { z } from 'zod';

/**
 * Gitea/Forgejo API shapes (Gitea API swagger, `templates/swagger/v1_json.tmpl`: definitions
 * `PullRequest`, `PRBranchInfo`, `PullReview`, `Repository`, `User`, `Team`). Only the fields read
 * are declared; every one a version may lack is nullish.
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
});
export type GiteaReview = z.infer<typeof reviewSchema>;

export const pullListSchema = z.array(pullSchema);
export const reviewListSchema = z.array(reviewSchema);
export const anyListSchema = z.array(z.unknown());
