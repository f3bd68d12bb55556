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
  sha: z.string().optional(),
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
  /**
   * null while GitHub computes mergeability: "If the value is null, then GitHub has started a
   * background job to compute the mergeability" (REST docs, "Get a pull request").
   */
  mergeable: z.boolean().nullish(),
  /** Not in the OpenAPI enum; the values of GraphQL's `MergeStateStatus` in lower case. */
  mergeable_state: z.string().nullish(),
  /** Conversation comments, and review comments (those of review threads). */
  comments: z.number().int().nonnegative().nullish(),
  review_comments: z.number().int().nonnegative().nullish(),
  updated_at: z.string().nullish(),
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

/** `GET /repos/{o}/{r}/commits/{ref}/check-runs` (the latest run of each name by default). */
export const checkRunListSchema = z.object({
  total_count: z.number().int().nonnegative(),
  check_runs: z.array(
    z.object({
      name: text,
      status: z.string(),
      conclusion: z.string().nullish(),
      details_url: z.string().nullish(),
      html_url: z.string().nullish(),
    }),
  ),
});

/** `GET /repos/{o}/{r}/commits/{ref}/status`: the latest status of each context. */
export const combinedStatusSchema = z.object({
  state: z.string(),
  total_count: z.number().int().nonnegative(),
  statuses: z.array(z.object({ context: text, state: z.string(), target_url: z.string().nullish() })),
});
