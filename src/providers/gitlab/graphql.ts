import { z } from 'zod';

/**
 * GitLab GraphQL (GitLab docs, "GraphQL API resources": `Project.mergeRequest(iid:)`,
 * `Project.mergeRequests(sourceBranches:, state:, sort:)`, type `MergeRequest`). One query reads
 * many MRs, or answers many branches, across projects, each under an alias.
 */

/** GitLab's largest page (GitLab docs, "GraphQL API": `first` is capped at 100). */
export const MAX_PAGE = 100;
/**
 * Page sizes cost little on GitLab: its complexity counts a connection's selections once, not once
 * per node of the page (`Types::BaseField#complexity_for` replaces graphql-ruby's page-size rule,
 * `app/graphql/types/base_field.rb`), and a resolver's connection grows by 1% per node of its
 * page (`Resolvers::BaseResolver.complexity_multiplier`; none with `iids:`). Reviewers and
 * approvers read per MR (more than MRs have)…
 */
const PEOPLE_PER_PULL = 20;
/**
 * …and jobs read per head pipeline: GitLab's page. A pipeline with more is judged by its own
 * status where the jobs read do not show it (`pipelineChecks`).
 */
const JOBS_PER_PIPELINE = MAX_PAGE;
/** GitLab's largest query, in characters (`GraphqlController::MAX_QUERY_SIZE`). */
export const MAX_QUERY_SIZE = 10_000;

/**
 * The MR's head pipeline (GraphQL `MergeRequest.headPipeline` is GitLab's `diff_head_pipeline`:
 * null unless the pipeline ran on the MR's current head, or is a merged-results pipeline of it),
 * and its jobs' latest attempts (`retried: false`; GitLab's JobsResolver).
 */
const HEAD_PIPELINE = `headPipeline { status path jobs(retried: false, first: ${JOBS_PER_PIPELINE}) { pageInfo { hasNextPage } nodes { name status allowFailure webPath } } }`;

// One line: GitLab counts a query's characters too (at most 10,000).
const PULL_FIELDS = [
  'iid title state draft webUrl sourceBranch targetBranch updatedAt preparedAt commitCount approved',
  'diffHeadSha detailedMergeStatus mergeStatusEnum userNotesCount resolvableDiscussionsCount resolvedDiscussionsCount',
  'author { username avatarUrl } sourceProject { fullPath }',
  'diffStatsSummary { additions deletions fileCount }',
  `approvedBy(first: ${PEOPLE_PER_PULL}) { nodes { username } }`,
  `reviewers(first: ${PEOPLE_PER_PULL}) { nodes { username mergeRequestInteraction { reviewState } } }`,
  HEAD_PIPELINE,
].join(' ');

const literal = (s: string) => JSON.stringify(s);

/**
 * MRs of several projects by iid: one list per project (`p{i}`), `mergeRequests(iids:)` in any
 * state, so the query costs the same for one MR of a project as for many.
 */
export function pullsQuery(projects: readonly { path: string; iids: readonly number[] }[]): string {
  const parts = projects.map(
    (p, i) =>
      `p${i}: project(fullPath: ${literal(p.path)}) { mergeRequests(iids: [${p.iids
        .map((iid) => literal(String(iid)))
        .join(', ')}], first: ${Math.min(MAX_PAGE, p.iids.length)}) { nodes { ${PULL_FIELDS} } } }`,
  );
  return `query { ${parts.join(' ')} }`;
}

/**
 * Candidate MRs per query alias: one list of the MRs of many branches of a project
 * (`sourceBranches: [...]`), any state, newest first — one connection, so it costs the same for
 * one branch as for fifty (about 22 points). A full page (`hasNextPage`) may have cut some
 * branch's MRs: those branches are asked again one to a list.
 */
export const CANDIDATES_PAGE = MAX_PAGE;
/** Branches per candidates list: half a page, so a branch or two with several MRs still fit. */
export const BRANCHES_PER_LIST = 50;
/** Characters of branch names per candidates list, so that a list alone stays far below MAX_QUERY_SIZE. */
export const BRANCH_CHARS_PER_LIST = 4_000;

/** Candidate MRs of lists of branches (`p{i}`: one project's list each; a project may have several). */
export function candidatesQuery(lists: readonly { path: string; branches: readonly string[] }[]): string {
  const parts = lists.map(
    (p, i) =>
      `p${i}: project(fullPath: ${literal(p.path)}) { mergeRequests(sourceBranches: [${p.branches
        .map(literal)
        .join(
          ', ',
        )}], state: all, sort: UPDATED_DESC, first: ${CANDIDATES_PAGE}) { pageInfo { hasNextPage } nodes { iid state updatedAt sourceBranch sourceProject { fullPath } } } }`,
  );
  return `query { ${parts.join(' ')} }`;
}

/** Failed jobs and reviewers read for feedback: GitLab's page (the query costs about 40 points). */
const FEEDBACK_PAGE = MAX_PAGE;

/**
 * What an agent needs of one MR (`fetchFeedback`): the head pipeline's failed and canceled jobs
 * with GitLab's message for each, and every reviewer's state. Aliased `p0`/`m0` like the batch
 * queries, so errors are read the same way.
 */
export function feedbackQuery(path: string, iid: number): string {
  return `query { p0: project(fullPath: ${literal(path)}) { m0: mergeRequest(iid: ${literal(String(iid))}) { webUrl headPipeline { status path jobs(retried: false, statuses: [FAILED, CANCELED], first: ${FEEDBACK_PAGE}) { pageInfo { hasNextPage } nodes { name status allowFailure webPath failureMessage stage { name } } } } reviewers(first: ${FEEDBACK_PAGE}) { pageInfo { hasNextPage } nodes { id username mergeRequestInteraction { reviewState } } } } } }`;
}

const username = z.object({ username: z.string() });

const reviewerNode = z.object({
  /** `gid://gitlab/User/<id>`: the id `members/all` knows them by (feedback). */
  id: z.string().nullish(),
  username: z.string(),
  mergeRequestInteraction: z.object({ reviewState: z.string().nullish() }).nullish(),
});

const pageInfo = z.object({ hasNextPage: z.boolean().nullish() }).nullish();

/** A job as GitLab reports it (`CiJob`); every field may be null for a job the token may not read. */
const jobNode = z.object({
  name: z.string().nullish(),
  /** `CiJobStatus`: CREATED, PENDING, RUNNING, SUCCESS, FAILED, CANCELED, SKIPPED, MANUAL, … */
  status: z.string().nullish(),
  allowFailure: z.boolean().nullish(),
  /** A path on the instance (`/group/repo/-/jobs/1`), under its relative URL root if any. */
  webPath: z.string().nullish(),
  failureMessage: z.string().nullish(),
  stage: z.object({ name: z.string().nullish() }).nullish(),
});
export type JobNode = z.infer<typeof jobNode>;

export const headPipeline = z.object({
  /** `PipelineStatusEnum`, the same words as job statuses. */
  status: z.string(),
  path: z.string().nullish(),
  jobs: z.object({ pageInfo, nodes: z.array(jobNode.nullable()) }).nullish(),
});
export type HeadPipeline = z.infer<typeof headPipeline>;

export const pullNode = z.object({
  iid: z.coerce.number().int().positive(),
  title: z.string(),
  /** `opened`, `closed`, `locked` (a merge in progress), `merged` (MergeRequestState). */
  state: z.string(),
  draft: z.boolean(),
  webUrl: z.string(),
  sourceBranch: z.string(),
  targetBranch: z.string(),
  updatedAt: z.string(),
  commitCount: z.number().int().nullish(),
  approved: z.boolean().nullish(),
  author: z.object({ username: z.string(), avatarUrl: z.string().nullish() }).nullish(),
  sourceProject: z.object({ fullPath: z.string() }).nullish(),
  /** When GitLab finished preparing the MR (its diff); null before, and on MRs older than the field. */
  preparedAt: z.string().nullish(),
  /**
   * All zeros while GitLab is still preparing the diff (it fills in statistics it has not computed
   * yet with zeros), or null.
   */
  diffStatsSummary: z
    .object({ additions: z.number().int(), deletions: z.number().int(), fileCount: z.number().int() })
    .nullish(),
  approvedBy: z.object({ nodes: z.array(username.nullable()) }).nullish(),
  reviewers: z.object({ nodes: z.array(reviewerNode.nullable()) }).nullish(),
  /** The commit the MR's diff ends at (`diff_head_sha`). */
  diffHeadSha: z.string().nullish(),
  /** `DetailedMergeStatus`, upper-cased words of REST's `detailed_merge_status`. */
  detailedMergeStatus: z.string().nullish(),
  /**
   * `MergeStatusEnum`, REST's (deprecated) `merge_status` upper-cased (`public_merge_status`):
   * `CANNOT_BE_MERGED_RECHECK` after a push to an MR that could not be merged, while
   * `detailedMergeStatus` still says `CONFLICT`.
   */
  mergeStatusEnum: z.string().nullish(),
  userNotesCount: z.number().int().nullish(),
  resolvableDiscussionsCount: z.number().int().nullish(),
  resolvedDiscussionsCount: z.number().int().nullish(),
  headPipeline: headPipeline.nullish(),
});
export type PullNode = z.infer<typeof pullNode>;

export const feedbackNode = z.object({
  webUrl: z.string().nullish(),
  headPipeline: headPipeline.nullish(),
  reviewers: z.object({ pageInfo, nodes: z.array(reviewerNode.nullable()) }).nullish(),
});
export type FeedbackNode = z.infer<typeof feedbackNode>;

/** `{ p0: { m0: … } }`: a project or MR GitLab does not show is null. */
export const aliasedFeedback = z.record(z.string(), z.object({ m0: feedbackNode.nullable() }).nullable());

export const candidateNode = z.object({
  iid: z.coerce.number().int().positive(),
  state: z.string(),
  updatedAt: z.string(),
  sourceBranch: z.string(),
  sourceProject: z.object({ fullPath: z.string() }).nullish(),
});
export type CandidateNode = z.infer<typeof candidateNode>;

/** `{ p0: { mergeRequests: { nodes } } | null, … }`: a project GitLab does not show is null. */
export const aliasedPulls = z.record(
  z.string(),
  z.object({ mergeRequests: z.object({ nodes: z.array(pullNode.nullable()) }).nullable() }).nullable(),
);
export const aliasedCandidates = z.record(
  z.string(),
  z
    .object({
      mergeRequests: z.object({ pageInfo, nodes: z.array(candidateNode.nullable()) }).nullable(),
    })
    .nullable(),
);
