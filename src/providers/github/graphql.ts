import { z } from 'zod';
import type { PullRef } from '../types.ts';

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

/** One aliased `repository { pullRequest }` per PR, with typed variables (never string-pasted values). */
export function buildPullsQuery(pulls: readonly PullRef[]): {
  query: string;
  variables: Record<string, string | number>;
} {
  const variables: Record<string, string | number> = {};
  const params: string[] = [];
  const fields: string[] = [];
  pulls.forEach((pull, i) => {
    variables[`o${i}`] = pull.repo.owner;
    variables[`r${i}`] = pull.repo.name;
    variables[`n${i}`] = pull.number;
    params.push(`$o${i}: String!, $r${i}: String!, $n${i}: Int!`);
    fields.push(
      `  p${i}: repository(owner: $o${i}, name: $r${i}) { pullRequest(number: $n${i}) { ${PULL_FIELDS} } }`,
    );
  });
  return { query: `query GitsyncPulls(${params.join(', ')}) {\n${fields.join('\n')}\n}`, variables };
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
  const variables: Record<string, string> = {};
  const params: string[] = [];
  const fields: string[] = [];
  items.forEach((item, i) => {
    variables[`o${i}`] = item.repo.owner;
    variables[`r${i}`] = item.repo.name;
    variables[`h${i}`] = item.branch;
    params.push(`$o${i}: String!, $r${i}: String!, $h${i}: String!`);
    fields.push(
      `  b${i}: repository(owner: $o${i}, name: $r${i}) { ${CANDIDATES(`$h${i}`)} parent { ${CANDIDATES(`$h${i}`)} } }`,
    );
  });
  return { query: `query GitsyncBranches(${params.join(', ')}) {\n${fields.join('\n')}\n}`, variables };
}

/** Text as the store can hold it (no NUL). */
const text = z.string().transform((s) => s.replaceAll('\u0000', ''));

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
