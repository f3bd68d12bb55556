import { z } from 'zod';
import type { PullRef } from '../types.ts';
import { text } from './schemas.ts';

/**
 * Connections each PR of `buildPullsQuery` asks for: `commits` (its count), `reviews`,
 * `reviewRequests`. GitHub counts one request per connection per PR, whether it asks for nodes or
 * only a count.
 */
export const CONNECTIONS_PER_PULL = 3;
/**
 * A PR read with its details adds two: the head commit's checks (`statusCheckRollup.contexts`)
 * and `reviewThreads`. Details alone (`buildDetailsQuery`) are those two.
 */
export const DETAIL_CONNECTIONS = 2;

/**
 * Connection requests one query may hold and still be charged GitHub's minimum of one point: a
 * query costs its connection requests ÷ 100, rounded, at least 1 (GitHub docs, "Rate limits and
 * node limits for the GraphQL API", "Calculating a rate limit score"). 149 rounds to 1, 150 to 2.
 */
export const REQUESTS_PER_POINT = 149;

/** 49 PRs without details are 147 requests (1 point); 50 would be 150, which rounds to 2. */
export const MAX_PULLS_PER_QUERY = Math.floor(REQUESTS_PER_POINT / CONNECTIONS_PER_PULL);

/** Check runs and statuses read per head commit, and review threads per PR: GitHub's largest page. */
export const CHECKS_PER_PULL = 100;
export const THREADS_PER_PULL = 100;

/** Reviews read per PR; a PR with more falls back to REST, which pages through all of them. */
export const REVIEWS_PER_PULL = 100;

/**
 * Review requests read per PR: more than PRs have in practice; a PR with more is read through
 * REST, whose single-PR read lists them all. 49 × 20 more nodes keep the query far below the
 * 500,000-node limit (49 × (100 + 20) = 5,880).
 */
export const REVIEW_REQUESTS_PER_PULL = 20;

/**
 * An actor's `__typename` tells a GitHub App (`Bot`, whose GraphQL login lacks REST's `[bot]`
 * suffix) from a person; a deleted account is a null actor.
 */
const ACTOR = '__typename login';

/**
 * Whom a review request names: the union `RequestedReviewer` (Bot, Mannequin, Team, User; GraphQL
 * reference, "RequestedReviewer"). A team is named `org/slug` as REST's `requested_teams` and the
 * base repository's owner give it.
 */
const REQUESTED =
  '__typename ... on User { login } ... on Bot { login } ... on Mannequin { login } ... on Team { slug organization { login } }';

/**
 * The media type of the "Merge info preview", which shows `PullRequest.mergeStateStatus` (and
 * `canBeRebased`) where it is still a preview: "To access a schema preview, you'll need to provide
 * a custom media type in the Accept header" (GitHub docs, "Schema previews"; listed for every
 * Enterprise Server release, e.g. github/docs src/graphql/data/ghes-3.11/previews.json, and no
 * longer for github.com, src/graphql/data/fpt/previews.json). github.com serves the field without it
 * (@octokit/graphql-schema downloads the schema without any preview and has it) and accepts it:
 * GitHub's own CLI sends it on every request (cli/go-gh, pkg/api/http_client.go).
 */
export const MERGE_INFO_PREVIEW = 'application/vnd.github.merge-info-preview+json';

/**
 * `reviewDecision` is GitHub's own verdict where the repository requires reviews (null elsewhere):
 * "The current status of this pull request with respect to code review" (GraphQL reference,
 * PullRequest object).
 */
const PULL_FIELDS = `url number title state isDraft merged additions deletions changedFiles updatedAt
      commits { totalCount }
      author { ${ACTOR} avatarUrl }
      baseRefName headRefName reviewDecision
      reviews(last: ${REVIEWS_PER_PULL}) { totalCount nodes { databaseId state author { ${ACTOR} } } }
      reviewRequests(first: ${REVIEW_REQUESTS_PER_PULL}) { totalCount nodes { requestedReviewer { ${REQUESTED} } } }
      headRefOid mergeable totalCommentsCount statusCheckRollup { state }`;

/**
 * What changes slowly and costs connections: every check of the head commit (check runs and
 * commit statuses in one list, GraphQL `StatusCheckRollup`) and whether each review thread is
 * resolved. `statusCheckRollup` is the rollup of the PR's head commit, so a force-push never shows
 * the checks of a replaced commit.
 */
const DETAIL_FIELDS = `headRefOid
      statusCheckRollup { state contexts(first: ${CHECKS_PER_PULL}) { totalCount nodes {
        __typename ... on CheckRun { name status conclusion detailsUrl url } ... on StatusContext { context state targetUrl } } } }
      reviewThreads(first: ${THREADS_PER_PULL}) { totalCount nodes { isResolved } }`;

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

const pullVars = (pull: PullRef, i: number): Record<string, [string | number, string]> => ({
  [`o${i}`]: [pull.repo.owner, 'String!'],
  [`r${i}`]: [pull.repo.name, 'String!'],
  [`n${i}`]: [pull.number, 'Int!'],
});

/**
 * One aliased `repository { pullRequest }` per PR; `withDetails(i)` adds PR i's details (its
 * checks and threads, `DETAIL_CONNECTIONS` more connections). `mergeStateStatus` false leaves that
 * field out, for a server that lacks it (`mergeable` alone then tells the merge state); a query
 * with it should be sent with MERGE_INFO_PREVIEW.
 */
export function buildPullsQuery(
  pulls: readonly PullRef[],
  withDetails: (i: number) => boolean = () => false,
  { mergeStateStatus = true } = {},
) {
  const fields = `${PULL_FIELDS}${mergeStateStatus ? ' mergeStateStatus' : ''}`;
  return aliasedQuery(
    'GitsyncPulls',
    pulls,
    pullVars,
    (i) =>
      `p${i}: repository(owner: $o${i}, name: $r${i}) { pullRequest(number: $n${i}) { ${fields}${withDetails(i) ? ` ${DETAIL_FIELDS}` : ''} } }`,
  );
}

/**
 * Whether a GraphQL answer says the server has no such field as `type.field`: GitHub (graphql-ruby)
 * refuses the whole query, HTTP 200 without `data`, with an error per use whose `extensions` are
 * `{code: "undefinedField", typeName, fieldName}` and whose message reads "Field 'f' doesn't exist
 * on type 'T'" (graphql-ruby, lib/graphql/static_validation/rules/fields_are_defined_on_type.rb and
 * fields_are_defined_on_type_error.rb). The message is looked at too, for servers whose errors
 * carry no `extensions`.
 */
export function namesMissingField(errors: GraphqlErrors, type: string, field: string): boolean {
  return errors.some(
    (e) =>
      (e.extensions?.code === 'undefinedField' &&
        e.extensions.typeName === type &&
        e.extensions.fieldName === field) ||
      e.message.startsWith(`Field '${field}' doesn't exist on type '${type}'`),
  );
}

/** Only the details of each PR (`DETAIL_CONNECTIONS` per PR: 74 PRs for one point). */
export function buildDetailsQuery(pulls: readonly PullRef[]) {
  return aliasedQuery(
    'GitsyncPullDetails',
    pulls,
    pullVars,
    (i) =>
      `p${i}: repository(owner: $o${i}, name: $r${i}) { pullRequest(number: $n${i}) { ${DETAIL_FIELDS} } }`,
  );
}

/**
 * Candidate PRs per branch and repository: GitHub's largest page (`first` ≤ 100; "Rate limits and
 * node limits for the GraphQL API"). `pullRequests(headRefName:)` matches the name across every
 * fork and cannot filter by head owner, so when a full page holds none of the origin's owner the
 * lookup asks REST's `head=owner:branch` instead (GitHub REST docs, "List pull requests").
 */
export const CANDIDATES_PER_BRANCH = 100;

/** Candidates carry no nested connection, so a query of 50 lookups costs one point. */
const CANDIDATES = (h: string) =>
  `pullRequests(headRefName: ${h}, first: ${CANDIDATES_PER_BRANCH}, orderBy: { field: UPDATED_AT, direction: DESC }) { totalCount nodes { url number state merged updatedAt headRefName headRepositoryOwner { login } } }`;

/**
 * One aliased lookup per (repository, branch): the PRs whose head branch has that name, in the
 * repository and — when it is a fork — in its parent, where PRs from forks live. Only what picking
 * one needs; the chosen PRs are then read with `buildPullsQuery`.
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

const actor = z.object({ __typename: z.string().optional(), login: text });

/** Errors of a GraphQL answer: `type` (NOT_FOUND, FORBIDDEN, RATE_LIMITED…) and `path` where given. */
export const graphqlErrorsSchema = z
  .array(
    z.object({
      type: z.string().optional(),
      message: z.string(),
      path: z.array(z.union([z.string(), z.number()])).optional(),
      /** A validation error's kind and subject (graphql-ruby: `undefinedField`, `typeName`, `fieldName`). */
      // Tolerant: other errors carry other extensions, which must not fail the whole answer.
      extensions: z
        .object({
          code: z.string().optional().catch(undefined),
          typeName: z.string().optional().catch(undefined),
          fieldName: z.string().optional().catch(undefined),
        })
        .nullish()
        .catch(null),
    }),
  )
  .optional();
export type GraphqlErrors = NonNullable<z.infer<typeof graphqlErrorsSchema>>;

/** A check run or a commit status of `StatusCheckRollup.contexts` (a union: fields by `__typename`). */
const rollupContext = z
  .object({
    __typename: z.string(),
    name: text.optional(),
    status: z.string().optional(),
    conclusion: z.string().nullish(),
    detailsUrl: z.string().nullish(),
    /** The check run's own page on GitHub (REST `html_url`), where no details page is given. */
    url: z.string().nullish(),
    context: text.optional(),
    state: z.string().optional(),
    targetUrl: z.string().nullish(),
  })
  .nullable();

const detailFields = {
  headRefOid: z.string().optional(),
  statusCheckRollup: z
    .object({
      state: z.string(),
      contexts: z
        .object({ totalCount: z.number().int().nonnegative(), nodes: z.array(rollupContext) })
        .optional(),
    })
    .nullish(),
  reviewThreads: z
    .object({
      totalCount: z.number().int().nonnegative(),
      nodes: z.array(z.object({ isResolved: z.boolean() }).nullable()),
    })
    .optional(),
};
export const graphqlDetailsSchema = z.object(detailFields);
export type GraphqlDetails = z.infer<typeof graphqlDetailsSchema>;

export const graphqlDetailsResponseSchema = z.object({
  data: z.record(z.string(), z.object({ pullRequest: graphqlDetailsSchema.nullable() }).nullable()).nullish(),
  errors: graphqlErrorsSchema,
});

export const graphqlPullSchema = z.object({
  ...detailFields,
  mergeable: z.string().nullish(),
  mergeStateStatus: z.string().nullish(),
  totalCommentsCount: z.number().int().nonnegative().nullish(),
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
  author: actor.extend({ avatarUrl: text.nullish() }).nullish(),
  baseRefName: text,
  headRefName: text,
  updatedAt: z.string().optional(),
  reviewDecision: z.string().nullish(),
  reviews: z
    .object({
      totalCount: z.number().int().nonnegative(),
      nodes: z.array(
        z
          .object({
            databaseId: z.number().int().nullish(),
            state: z.string(),
            author: actor.nullish(),
          })
          .nullable(),
      ),
    })
    .nullish(),
  reviewRequests: z
    .object({
      totalCount: z.number().int().nonnegative(),
      nodes: z.array(
        z
          .object({
            // null where the person or team can no longer be seen (a deleted account).
            requestedReviewer: z
              .object({
                __typename: z.string(),
                login: text.optional(),
                slug: text.optional(),
                organization: z.object({ login: text }).nullish(),
              })
              .nullish(),
          })
          .nullable(),
      ),
    })
    .nullish(),
});
export type GraphqlPull = z.infer<typeof graphqlPullSchema>;

export const graphqlCandidateSchema = z.object({
  url: z.string(),
  number: z.number().int().positive(),
  state: z.string(),
  merged: z.boolean().nullish(),
  updatedAt: z.string(),
  headRefName: text,
  headRepositoryOwner: z.object({ login: z.string() }).nullish(),
});
export type GraphqlCandidate = z.infer<typeof graphqlCandidateSchema>;

const candidates = z.object({
  totalCount: z.number().int().nonnegative(),
  nodes: z.array(graphqlCandidateSchema.nullable()),
});
export type GraphqlCandidates = z.infer<typeof candidates>;

// `data` entries are nullable throughout: GitHub nulls the part of an answer an error hit.
export const graphqlBranchesResponseSchema = z.object({
  data: z
    .record(
      z.string(),
      z
        .object({
          pullRequests: candidates.nullable(),
          parent: z.object({ pullRequests: candidates.nullable() }).nullish(),
        })
        .nullable(),
    )
    .nullish(),
  errors: graphqlErrorsSchema,
});

export const graphqlPullsResponseSchema = z.object({
  data: z.record(z.string(), z.object({ pullRequest: graphqlPullSchema.nullable() }).nullable()).nullish(),
  errors: graphqlErrorsSchema,
});

/**
 * What an agent needs to act on one PR: the head commit's checks with the text GitHub gives for
 * each (a check run's output title and summary, a status's description), each review thread with
 * its first comment, and the latest opinionated review of each reviewer — each comment and review
 * with its author's `authorAssociation` (a scalar: no extra cost). 103 connection requests: one point.
 */
export function buildFeedbackQuery(pull: PullRef) {
  return {
    query: `query GitsyncFeedback($o: String!, $r: String!, $n: Int!) { repository(owner: $o, name: $r) { pullRequest(number: $n) {
      statusCheckRollup { contexts(first: ${CHECKS_PER_PULL}) { totalCount nodes {
        __typename ... on CheckRun { name status conclusion detailsUrl url title summary }
        ... on StatusContext { context state targetUrl description } } } }
      reviewThreads(first: ${THREADS_PER_PULL}) { totalCount nodes { isResolved path line
        comments(first: 1) { nodes { author { ${ACTOR} } authorAssociation body url } } } }
      latestOpinionatedReviews(first: 100) { totalCount nodes { state authorAssociation author { ${ACTOR} } } } } } }`,
    variables: { o: pull.repo.owner, r: pull.repo.name, n: pull.number },
  };
}

/**
 * Whether a GitHub `CommentAuthorAssociation` shows the author belongs to the repository (SPEC
 * §6.2): `OWNER`, `MEMBER` (of the owning organization), `COLLABORATOR` (invited to the repository)
 * do; `CONTRIBUTOR` (committed before, no standing), `FIRST_TIME_CONTRIBUTOR`, `FIRST_TIMER`, `NONE`
 * and `MANNEQUIN` (a placeholder of imported history) do not. Any other word: null (the enum may
 * grow). GitHub GraphQL reference, "CommentAuthorAssociation".
 */
export function githubTrust(association: string | null | undefined): boolean | null {
  switch (association) {
    case 'OWNER':
    case 'MEMBER':
    case 'COLLABORATOR':
      return true;
    case 'CONTRIBUTOR':
    case 'FIRST_TIME_CONTRIBUTOR':
    case 'FIRST_TIMER':
    case 'NONE':
    case 'MANNEQUIN':
      return false;
    default:
      return null;
  }
}

/** A check or status as feedback reads it: with the text GitHub gives for it. */
const feedbackContext = rollupContext
  .unwrap()
  .extend({ title: text.nullish(), summary: text.nullish(), description: text.nullish() })
  .nullable();

export const graphqlFeedbackResponseSchema = z.object({
  data: z
    .object({
      repository: z
        .object({
          pullRequest: z
            .object({
              statusCheckRollup: z
                .object({
                  contexts: z.object({
                    totalCount: z.number().int().nonnegative(),
                    nodes: z.array(feedbackContext),
                  }),
                })
                .nullish(),
              reviewThreads: z.object({
                totalCount: z.number().int().nonnegative(),
                nodes: z.array(
                  z
                    .object({
                      isResolved: z.boolean(),
                      path: text.nullish(),
                      line: z.number().int().nullish(),
                      comments: z.object({
                        nodes: z.array(
                          z
                            .object({
                              author: actor.nullish(),
                              authorAssociation: z.string().nullish(),
                              body: text,
                              url: z.string().nullish(),
                            })
                            .nullable(),
                        ),
                      }),
                    })
                    .nullable(),
                ),
              }),
              latestOpinionatedReviews: z.object({
                totalCount: z.number().int().nonnegative(),
                nodes: z.array(
                  z
                    .object({
                      state: z.string(),
                      authorAssociation: z.string().nullish(),
                      author: actor.nullish(),
                    })
                    .nullable(),
                ),
              }),
            })
            .nullable(),
        })
        .nullable(),
    })
    .nullish(),
  errors: graphqlErrorsSchema,
});
export type GraphqlFeedback = NonNullable<
  NonNullable<NonNullable<z.infer<typeof graphqlFeedbackResponseSchema>['data']>['repository']>['pullRequest']
>;

/** `reviewDecision` and the review threads, for a PR read through REST. */
export function buildReviewExtrasQuery(pull: PullRef) {
  return {
    query: `query GitsyncReviewExtras($o: String!, $r: String!, $n: Int!) { repository(owner: $o, name: $r) { pullRequest(number: $n) { reviewDecision reviewThreads(first: ${THREADS_PER_PULL}) { totalCount nodes { isResolved } } } } }`,
    variables: { o: pull.repo.owner, r: pull.repo.name, n: pull.number },
  };
}

export const graphqlReviewExtrasResponseSchema = z.object({
  data: z
    .object({
      repository: z
        .object({
          pullRequest: z
            .object({
              reviewDecision: z.string().nullish(),
              reviewThreads: detailFields.reviewThreads,
            })
            .nullable(),
        })
        .nullable(),
    })
    .nullish(),
  errors: graphqlErrorsSchema,
});
