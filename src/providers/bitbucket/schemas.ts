import { z } from 'zod';

/**
 * The parts of Bitbucket Cloud REST API 2.0 answers gitsync reads (Atlassian, "Bitbucket Cloud
 * REST API": schemas `pullrequest`, `participant`, `account`, `repository`, `diffstat`,
 * `commitstatus`, `file_conflict`, `pullrequest_comment`, and the paginated wrappers `{size?, page?,
 * pagelen, next?, previous?, values}`). Only the fields used; nulls tolerated.
 */

const link = z.object({ href: z.string() }).nullish();

export const accountSchema = z.object({
  uuid: z.string().nullish(),
  account_id: z.string().nullish(),
  nickname: z.string().nullish(),
  display_name: z.string().nullish(),
  links: z.object({ avatar: link }).nullish(),
});
export type BbAccount = z.infer<typeof accountSchema>;

const endpoint = z.object({
  branch: z.object({ name: z.string() }),
  /** Abbreviated: Bitbucket gives the first 12 hex digits ("Pull Request Commit": `[0-9a-f]{7,}`). */
  commit: z.object({ hash: z.string() }).nullish(),
  /** Null when the fork the PR came from was deleted. */
  repository: z.object({ full_name: z.string() }).nullish(),
});

export const participantSchema = z.object({
  user: accountSchema.nullish(),
  /** `PARTICIPANT` or `REVIEWER`. */
  role: z.string().nullish(),
  approved: z.boolean().nullish(),
  /** `approved`, `changes_requested`, or null (no verdict). */
  state: z.string().nullish(),
});

export const pullSchema = z.object({
  id: z.number().int(),
  title: z.string(),
  /** `OPEN`, `MERGED`, `DECLINED`, `SUPERSEDED`. */
  state: z.string(),
  draft: z.boolean().nullish(),
  author: accountSchema.nullish(),
  source: endpoint,
  destination: endpoint,
  participants: z.array(participantSchema).nullish(),
  reviewers: z.array(accountSchema).nullish(),
  links: z.object({ html: link }).nullish(),
  updated_on: z.string().nullish(),
  /** "The number of comments for a specific pull request." */
  comment_count: z.number().int().nullish(),
  /** "The number of open tasks for a specific pull request." */
  task_count: z.number().int().nullish(),
  /** "Whether the pull request passes all merge checks"; absent from some answers. */
  mergeable: z.boolean().nullish(),
});
export type BbPull = z.infer<typeof pullSchema>;

const page = <T extends z.ZodTypeAny>(item: T) =>
  z.object({ values: z.array(item), next: z.string().nullish(), size: z.number().int().nullish() });

/** List items carry no participants: a candidate is read again in full once chosen. */
export const pullListSchema = page(
  z.object({
    id: z.number().int(),
    state: z.string(),
    updated_on: z.string().nullish(),
    source: z.object({
      branch: z.object({ name: z.string() }),
      repository: z.object({ full_name: z.string() }).nullish(),
    }),
  }),
);

/**
 * A page of the PRs that moved (`fetchPulls`): only what tells whether a PR moved since it was read
 * in full is asked for (`fields`), so everything but `id` is optional.
 */
export const pullMovesSchema = page(
  z.object({
    id: z.number().int(),
    state: z.string().nullish(),
    updated_on: z.string().nullish(),
    comment_count: z.number().int().nullish(),
    /** Asked for on a user's list, which spans the repositories of a workspace. */
    destination: z.object({ repository: z.object({ full_name: z.string() }).nullish() }).nullish(),
  }),
);
export type BbPullMove = z.infer<typeof pullMovesSchema>['values'][number];

export const repositorySchema = z.object({
  full_name: z.string(),
  is_private: z.boolean().nullish(),
  parent: z.object({ full_name: z.string() }).nullish(),
});
export type BbRepository = z.infer<typeof repositorySchema>;

export const diffstatPageSchema = page(
  z.object({ lines_added: z.number().int().nullish(), lines_removed: z.number().int().nullish() }),
);

/** Newest first, each with its full hash. */
export const commitsPageSchema = page(z.object({ hash: z.string().nullish() }));

/** A build status: one per (commit, `key`) — posting the same key again overwrites it. */
export const statusesPageSchema = page(
  z.object({
    key: z.string(),
    /** `SUCCESSFUL`, `FAILED`, `INPROGRESS`, `STOPPED`. */
    state: z.string(),
    name: z.string().nullish(),
    url: z.string().nullish(),
    description: z.string().nullish(),
    /** `links.commit.href` ends in the full hash of the commit the status is on. */
    links: z.object({ commit: link }).nullish(),
  }),
);
export type BbStatus = z.infer<typeof statusesPageSchema>['values'][number];

export const conflictsPageSchema = page(
  z.object({ path: z.string().nullish(), scenario: z.string().nullish() }),
);

/**
 * A page of PR comments; on a refresh only `id`, `deleted`, `pending`, `parent.id`, `inline.path`
 * and `resolution` are asked for (`fields`), so everything else is optional.
 */
export const commentsPageSchema = page(
  z.object({
    id: z.number().int(),
    deleted: z.boolean().nullish(),
    /** An unpublished draft comment of the token's own user. */
    pending: z.boolean().nullish(),
    /** Set on replies: a thread is its top-level comment. */
    parent: z.object({ id: z.number().int() }).nullish(),
    /** Set on comments on the diff, the only ones that can be resolved. */
    inline: z
      .object({ path: z.string(), from: z.number().int().nullish(), to: z.number().int().nullish() })
      .nullish(),
    /** Set while the thread is resolved ("Comment Resolution"). */
    resolution: z.object({ type: z.string().nullish() }).nullish(),
    user: accountSchema.nullish(),
    content: z.object({ raw: z.string().nullish() }).nullish(),
    links: z.object({ html: link }).nullish(),
  }),
);
export type BbComment = z.infer<typeof commentsPageSchema>['values'][number];
