import { z } from 'zod';

/**
 * GitLab GraphQL (GitLab docs, "GraphQL API resources": `Project.mergeRequest(iid:)`,
 * `Project.mergeRequests(sourceBranches:, state:, sort:)`, type `MergeRequest`). One query reads
 * many MRs, or answers many branches, across projects, each under an alias.
 */

/** GitLab's largest page (GitLab docs, "GraphQL API": `first` is capped at 100). */
export const MAX_PAGE = 100;
/** Reviewers and approvers read per MR: far more than MRs have. */
const PEOPLE_PER_PULL = 20;
/** Candidates per branch: the newest first; a branch with more MRs keeps its newest ones. */
export const CANDIDATES_PER_BRANCH = 20;

// One line: GitLab counts a query's characters too (at most 10,000).
const PULL_FIELDS = [
  'iid title state draft webUrl sourceBranch targetBranch updatedAt preparedAt commitCount approved',
  'author { username avatarUrl } sourceProject { fullPath }',
  'diffStatsSummary { additions deletions fileCount }',
  `approvedBy(first: ${PEOPLE_PER_PULL}) { nodes { username } }`,
  `reviewers(first: ${PEOPLE_PER_PULL}) { nodes { username mergeRequestInteraction { reviewState } } }`,
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
        .join(', ')}], first: ${MAX_PAGE}) { nodes { ${PULL_FIELDS} } } }`,
  );
  return `query { ${parts.join(' ')} }`;
}

/** Candidate MRs of branches of several projects, any state, newest first: `p{i}`, `b{j}`. */
export function candidatesQuery(projects: readonly { path: string; branches: readonly string[] }[]): string {
  const parts = projects.map(
    (p, i) =>
      `p${i}: project(fullPath: ${literal(p.path)}) { ${p.branches
        .map(
          (branch, j) =>
            `b${j}: mergeRequests(sourceBranches: [${literal(branch)}], state: all, sort: UPDATED_DESC, first: ${CANDIDATES_PER_BRANCH}) { nodes { iid state updatedAt sourceProject { fullPath } } }`,
        )
        .join(' ')} }`,
  );
  return `query { ${parts.join(' ')} }`;
}

const username = z.object({ username: z.string() });

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
  reviewers: z
    .object({
      nodes: z.array(
        z
          .object({
            username: z.string(),
            mergeRequestInteraction: z.object({ reviewState: z.string().nullish() }).nullish(),
          })
          .nullable(),
      ),
    })
    .nullish(),
});
export type PullNode = z.infer<typeof pullNode>;

export const candidateNode = z.object({
  iid: z.coerce.number().int().positive(),
  state: z.string(),
  updatedAt: z.string(),
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
  z.record(z.string(), z.object({ nodes: z.array(candidateNode.nullable()) }).nullable()).nullable(),
);
