import { z } from 'zod';
import type { PullRef } from '../types.ts';
import { text } from './schemas.ts';

/**
 * Several PRs in one GraphQL request. GitHub charges a query like this one point of its GraphQL
 * budget whatever the number of PRs (fewer than 100 connection nodes requested per PR keeps it
 * at the minimum; GitHub docs, "Rate limits and node limits for the GraphQL API").
 */
export const MAX_PULLS_PER_QUERY = 50;

/** Reviews read per PR; a PR with more falls back to REST, which pages through all of them. */
export const REVIEWS_PER_PULL = 100;

const PULL_FIELDS = `url number title state isDraft merged additions deletions changedFiles updatedAt
      commits { totalCount }
      author { login avatarUrl }
      baseRefName headRefName
      reviews(last: ${REVIEWS_PER_PULL}) { totalCount nodes { databaseId state author { login } } }`;

/**
 * A query with one aliased field per item and typed variables (values are never pasted into the
 * query text): `vars(i)` names and types item i's variables, `field(i)` is its aliased field.
 */
function aliasedQuery<T>(
  name: string,
  items: readonly T[],
  vars: (item: T, i: number) => Record<string, [string | number, string]>,
  field: (i: number) => string,
): { query: string; variables: Record<string, string | number> } {
  const variables: Record<string, string | number> = {};
  const params: string[] = [];
  const fields: string[] = [];
  items.forEach((item, i) => {
    for (const [key, [value, type]] of Object.entries(vars(item, i))) {
      variables[key] = value;
      params.push(`$${key}: ${type}`);
    }
    fields.push(`  ${field(i)}`);
  });
  return { query: `query ${name}(${params.join(', ')}) {\n${fields.join('\n')}\n}`, variables };
}

/** One aliased `repository { pullRequest }` per PR. */
export function buildPullsQuery(pulls: readonly PullRef[]) {
  return aliasedQuery(
    'GitsyncPulls',
    pulls,
    (pull, i) => ({
      [`o${i}`]: [pull.repo.owner, 'String!'],
      [`r${i}`]: [pull.repo.name, 'String!'],
      [`n${i}`]: [pull.number, 'Int!'],
    }),
    (i) =>
      `p${i}: repository(owner: $o${i}, name: $r${i}) { pullRequest(number: $n${i}) { ${PULL_FIELDS} } }`,
  );
}

/** Candidate PRs per branch: a branch rarely has more than a few, a reused name a few more. */
export const PULLS_PER_BRANCH = 20;

const CANDIDATES = (h: string) =>
  `pullRequests(headRefName: ${h}, first: ${PULLS_PER_BRANCH}, orderBy: { field: UPDATED_AT, direction: DESC }) { nodes { ${PULL_FIELDS} headRepositoryOwner { login } } }`;

/**
 * One aliased lookup per (repository, branch): the PRs whose head branch has that name, in the
 * repository and — when it is a fork — in its parent, where PRs from forks live.
 */
export function buildBranchesQuery(
  items: readonly { repo: { owner: string; name: string }; branch: string }[],
) {
  return aliasedQuery(
    'GitsyncBranches',
    items,
    (item, i) => ({
      [`o${i}`]: [item.repo.owner, 'String!'],
      [`r${i}`]: [item.repo.name, 'String!'],
      [`h${i}`]: [item.branch, 'String!'],
    }),
    (i) =>
      `b${i}: repository(owner: $o${i}, name: $r${i}) { ${CANDIDATES(`$h${i}`)} parent { ${CANDIDATES(`$h${i}`)} } }`,
  );
}

export const graphqlPullSchema = z.object({
  url: text,
  number: z.number().int().positive(),
  title: text,
  state: z.string(),
  isDraft: z.boolean().nullish(),
  merged: z.boolean().nullish(),
  additions: z.number().int().nonnegative(),
  deletions: z.number().int().nonnegative(),
  changedFiles: z.number().int().nonnegative(),
  commits: z.object({ totalCount: z.number().int().nonnegative() }),
  author: z.object({ login: text, avatarUrl: text.nullish() }).nullish(),
  baseRefName: text,
  headRefName: text,
  updatedAt: z.string().optional(),
  headRepositoryOwner: z.object({ login: z.string() }).nullish(),
  reviews: z
    .object({
      totalCount: z.number().int().nonnegative(),
      nodes: z.array(
        z
          .object({
            databaseId: z.number().int().nullish(),
            state: z.string(),
            author: z.object({ login: text }).nullish(),
          })
          .nullable(),
      ),
    })
    .nullish(),
});
export type GraphqlPull = z.infer<typeof graphqlPullSchema>;

const candidates = z.object({ nodes: z.array(graphqlPullSchema.nullable()) });
export const graphqlBranchesResponseSchema = z.object({
  data: z
    .record(
      z.string(),
      z
        .object({ pullRequests: candidates, parent: z.object({ pullRequests: candidates }).nullish() })
        .nullable(),
    )
    .nullish(),
  errors: z.array(z.object({ type: z.string().optional(), message: z.string() })).optional(),
});

export const graphqlPullsResponseSchema = z.object({
  data: z.record(z.string(), z.object({ pullRequest: graphqlPullSchema.nullable() }).nullable()).nullish(),
  errors: z
    .array(
      z.object({
        type: z.string().optional(),
        message: z.string(),
        path: z.array(z.union([z.string(), z.number()])).optional(),
      }),
    )
    .optional(),
});
