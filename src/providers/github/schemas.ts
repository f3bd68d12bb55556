import { z } from 'zod';

/**
 * The parts of GitHub's REST responses gitsync reads (GitHub's OpenAPI description, schemas
 * `pull-request`, `pull-request-simple`, `pull-request-review`, `full-repository`). Only used
 * fields are declared; unknown ones are dropped, so cached bodies stay small.
 */

/** Text as the store can hold it: PostgreSQL text cannot contain NUL, so a stray one is dropped. */
export const text = z.string().transform((s) => s.replaceAll('\u0000', ''));

const user = z.object({ login: text, avatar_url: text.nullish() }).nullish();

const branchRef = z.object({
  ref: text,
  // null when the fork was deleted.
  repo: z.object({ full_name: z.string() }).nullish(),
});

export const pullListItemSchema = z.object({
  number: z.number().int().positive(),
  html_url: z.string(),
  state: z.string(),
  updated_at: z.string(),
  merged_at: z.string().nullish(),
  head: branchRef,
  base: branchRef,
});
export const pullListSchema = z.array(pullListItemSchema);
export type PullListItem = z.infer<typeof pullListItemSchema>;

export const pullSchema = z.object({
  number: z.number().int().positive(),
  html_url: text,
  state: z.string(),
  title: text,
  draft: z.boolean().nullish(),
  merged: z.boolean().nullish(),
  merged_at: z.string().nullish(),
  user,
  head: branchRef,
  base: branchRef,
  additions: z.number().int().nonnegative(),
  deletions: z.number().int().nonnegative(),
  changed_files: z.number().int().nonnegative(),
  commits: z.number().int().nonnegative(),
  /**
   * Review requests not yet answered: people (`simple-user`) and teams (`team-simple`). GitHub
   * drops a person from the list once they submit a review ("Get all requested reviewers for a
   * pull request": "Once a requested reviewer submits a review, they are no longer considered a
   * requested reviewer"). Optional in the OpenAPI description; absent reads as none.
   */
  requested_reviewers: z.array(z.object({ login: text })).nullish(),
  requested_teams: z.array(z.object({ slug: text })).nullish(),
});
export type Pull = z.infer<typeof pullSchema>;

export const reviewListSchema = z.array(
  z.object({
    id: z.number().int(),
    state: z.string(),
    user,
  }),
);

export const repositorySchema = z.object({
  full_name: z.string(),
  fork: z.boolean(),
  parent: z.object({ full_name: z.string() }).nullish(),
  private: z.boolean(),
  /** `public`, `private` or (GitHub Enterprise) `internal`; absent on some older servers. */
  visibility: z.string().nullish(),
});
