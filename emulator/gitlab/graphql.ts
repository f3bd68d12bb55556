import {
  buildSchema,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  getNamedType,
  graphql,
  Kind,
  parse,
  type SelectionSetNode,
  validate,
  valueFromASTUntyped,
} from 'graphql';
import {
  CI_STATUSES,
  DETAILED_MERGE_STATUSES,
  type DetailedMergeStatus,
  FAILURE_MESSAGES,
  type GitLabModel,
  type GlMergeRequest,
  type GlPipeline,
  type GlProject,
  type MrState,
} from './model.ts';
import type { Renderer } from './render.ts';

/**
 * The part of GitLab's GraphQL schema a provider needs to read merge requests, written from the
 * GraphQL API reference (`doc/api/graphql/reference/_index.md`: `Query.project`,
 * `Project.mergeRequests` / `Project.mergeRequest`, `MergeRequest`, `MergeRequestReviewer`,
 * `UserMergeRequestInteraction`, `DiffStatsSummary`, the `MergeRequestState`,
 * `MergeRequestSort`, `MergeRequestReviewState` and `DetailedMergeStatus` enums, `Pipeline`,
 * `CiJob`, `CiStage`, the `PipelineStatusEnum` and `CiJobStatus` enums) and
 * `Query.queryComplexity` (`doc/api/graphql/getting_started.md`, "Query complexity").
 */
/**
 * GraphQL's name for each REST `detailed_merge_status` word: the word upper-cased, but for the five
 * GitLab's enum renames (`app/graphql/types/merge_requests/detailed_merge_status_enum.rb`:
 * `value 'BLOCKED_STATUS', value: :merge_request_blocked`, …; `TITLE_NOT_MATCHING` is newer than the
 * reference in `schema/`, gitlabhq/gitlabhq 09e2e954).
 */
const GRAPHQL_DETAILED_MERGE_STATUS: Partial<Record<DetailedMergeStatus, string>> = {
  merge_request_blocked: 'BLOCKED_STATUS',
  status_checks_must_pass: 'EXTERNAL_STATUS_CHECKS',
  jira_association_missing: 'JIRA_ASSOCIATION',
  security_policy_violations: 'SECURITY_POLICIES_VIOLATIONS',
  title_regex: 'TITLE_NOT_MATCHING',
};
export const graphqlDetailedMergeStatus = (status: DetailedMergeStatus): string =>
  GRAPHQL_DETAILED_MERGE_STATUS[status] ?? status.toUpperCase();

export const GITLAB_SDL = /* GraphQL */ `
  scalar Time

  # A job's global ID; GitLab's CiJob.id is a JobID, not an ID (GraphQL reference, CiJob).
  scalar JobID

  type Query {
    project(fullPath: ID!): Project
    currentUser: UserCore
    queryComplexity: QueryComplexity
  }

  type QueryComplexity {
    score: Int
    limit: Int
  }

  type Project {
    id: ID!
    fullPath: ID!
    name: String!
    path: String!
    webUrl: String
    visibility: String
    mergeRequest(iid: String!): MergeRequest
    mergeRequests(
      iids: [String!]
      sourceBranches: [String!]
      targetBranches: [String!]
      state: MergeRequestState
      draft: Boolean
      sort: MergeRequestSort = created_desc
      first: Int
      last: Int
      after: String
      before: String
    ): MergeRequestConnection
  }

  enum MergeRequestState {
    opened
    closed
    locked
    merged
    all
  }

  enum MergeRequestSort {
    created_desc
    created_asc
    updated_desc
    updated_asc
    CREATED_DESC
    CREATED_ASC
    UPDATED_DESC
    UPDATED_ASC
    MERGED_AT_ASC
    MERGED_AT_DESC
  }

  enum MergeRequestReviewState {
    UNREVIEWED
    REVIEWED
    REQUESTED_CHANGES
    APPROVED
    UNAPPROVED
    REVIEW_STARTED
  }

  enum DetailedMergeStatus {
    ${[...new Set(DETAILED_MERGE_STATUSES.map(graphqlDetailedMergeStatus))].join('\n    ')}
  }

  enum PipelineStatusEnum {
    ${CI_STATUSES.map((s) => s.toUpperCase()).join('\n    ')}
  }

  enum CiJobStatus {
    ${CI_STATUSES.map((s) => s.toUpperCase()).join('\n    ')}
  }

  type Pipeline {
    id: ID!
    iid: String!
    sha: String
    ref: String
    source: String
    status: PipelineStatusEnum!
    active: Boolean!
    path: String
    createdAt: Time!
    updatedAt: Time!
    jobs(
      retried: Boolean
      statuses: [CiJobStatus!]
      first: Int
      last: Int
      after: String
      before: String
    ): CiJobConnection
  }

  type CiJobConnection {
    count: Int!
    nodes: [CiJob]
    edges: [CiJobEdge]
    pageInfo: PageInfo!
  }

  type CiJobEdge {
    cursor: String!
    node: CiJob
  }

  type CiJob {
    id: JobID
    name: String
    status: CiJobStatus
    allowFailure: Boolean!
    retried: Boolean
    manualJob: Boolean
    stage: CiStage
    webPath: String
    failureMessage: String
  }

  type CiStage {
    id: ID!
    name: String
  }

  enum MergeStatus {
    UNCHECKED
    CHECKING
    CAN_BE_MERGED
    CANNOT_BE_MERGED
    CANNOT_BE_MERGED_RECHECK
  }

  type PageInfo {
    hasNextPage: Boolean!
    hasPreviousPage: Boolean!
    startCursor: String
    endCursor: String
  }

  type MergeRequestConnection {
    count: Int!
    nodes: [MergeRequest]
    edges: [MergeRequestEdge]
    pageInfo: PageInfo!
  }

  type MergeRequestEdge {
    cursor: String!
    node: MergeRequest
  }

  type MergeRequest {
    id: ID!
    iid: String!
    projectId: Int!
    sourceProjectId: Int
    targetProjectId: Int!
    title: String!
    description: String
    state: MergeRequestState!
    draft: Boolean!
    sourceBranch: String!
    targetBranch: String!
    webUrl: String
    createdAt: Time!
    updatedAt: Time!
    mergedAt: Time
    closedAt: Time
    preparedAt: Time
    author: MergeRequestAuthor
    approved: Boolean!
    approvalsRequired: Int
    approvalsLeft: Int
    approvedBy(first: Int, last: Int, after: String, before: String): UserCoreConnection
    reviewers(first: Int, last: Int, after: String, before: String): MergeRequestReviewerConnection
    diffStatsSummary: DiffStatsSummary
    commitCount: Int
    commits(first: Int, last: Int, after: String, before: String): CommitConnection
    diffHeadSha: String
    diffRefs: DiffRefs
    detailedMergeStatus: DetailedMergeStatus
    mergeStatusEnum: MergeStatus
    userNotesCount: Int
    resolvableDiscussionsCount: Int
    resolvedDiscussionsCount: Int
    headPipeline: Pipeline
    sourceProject: Project
    targetProject: Project!
  }

  type MergeRequestAuthor {
    id: ID!
    username: String!
    name: String!
    avatarUrl: String
    webUrl: String!
    bot: Boolean!
  }

  type UserCore {
    id: ID!
    username: String!
    name: String!
    avatarUrl: String
    webUrl: String!
    bot: Boolean!
  }

  type UserCoreConnection {
    count: Int!
    nodes: [UserCore]
    pageInfo: PageInfo!
  }

  type MergeRequestReviewer {
    id: ID!
    username: String!
    name: String!
    avatarUrl: String
    webUrl: String!
    bot: Boolean!
    mergeRequestInteraction: UserMergeRequestInteraction
  }

  type UserMergeRequestInteraction {
    reviewState: MergeRequestReviewState
    approved: Boolean!
    reviewed: Boolean!
    canMerge: Boolean!
  }

  type MergeRequestReviewerConnection {
    count: Int!
    nodes: [MergeRequestReviewer]
    pageInfo: PageInfo!
  }

  type DiffStatsSummary {
    additions: Int!
    deletions: Int!
    changes: Int!
    fileCount: Int!
  }

  type DiffRefs {
    baseSha: String
    headSha: String!
    startSha: String!
  }

  type Commit {
    id: ID!
    sha: String!
    shortId: String!
    title: String
    message: String
    authorName: String
    authoredDate: Time
    webUrl: String!
  }

  type CommitConnection {
    nodes: [Commit]
    pageInfo: PageInfo!
  }
`;

let schema: GraphQLSchema | null = null;
export function gitlabGraphqlSchema(): GraphQLSchema {
  schema ??= buildSchema(GITLAB_SDL);
  return schema;
}

/**
 * GraphQL limits (`doc/api/graphql/_index.md`, "Limits"): maximum page size 100 nodes, maximum
 * query complexity 200 unauthenticated / 250 authenticated, maximum query size 10,000 characters.
 */
export const MAX_PAGE_SIZE = 100;
export const MAX_COMPLEXITY_AUTHENTICATED = 250;
export const MAX_COMPLEXITY_UNAUTHENTICATED = 200;
export const MAX_QUERY_SIZE = 10_000;

/**
 * What GitLab's field definitions weigh (`Types::BaseField#base_complexity`: 1, plus 1 for a field
 * declared `calls_gitaly: true`; or an explicit `complexity:`), for the fields of
 * `app/graphql/types/merge_request_type.rb` that weigh more than 1 (`diff_head_sha`,
 * `diff_stats_summary`, `detailed_merge_status`, `approved` and `commits` call Gitaly; `merged_at`,
 * `closed_at` and `reviewers` say `complexity: 5`).
 */
const FIELD_WEIGHTS: Record<string, number> = {
  'MergeRequest.diffHeadSha': 2,
  'MergeRequest.diffStatsSummary': 2,
  'MergeRequest.detailedMergeStatus': 2,
  'MergeRequest.approved': 2,
  'MergeRequest.approvalsLeft': 2,
  'MergeRequest.commits': 2,
  'MergeRequest.mergedAt': 5,
  'MergeRequest.closedAt': 5,
  'MergeRequest.reviewers': 5,
};

/**
 * Fields GitLab resolves with a resolver class (`resolver:` in the type definition), whose
 * complexity is GitLab's proc (`Types::BaseField#field_resolver_complexity`): the children's
 * score plus the resolver's own (`Resolvers::BaseResolver.resolver_complexity`: 1, +1 when `sort`
 * has a value — a default counts, as `MergeRequestsResolver`'s `created_desc` does — +5 with
 * `search`); for a connection that is then raised by 1% per node of its page
 * (`connection_complexity_multiplier`: `[first, last, max_page_size 100].min` ×
 * `BaseResolver.complexity_multiplier`, 0.01, or 0 when `iid`/`iids` are given). `to_i` truncates.
 * - `Query.project`: `Resolvers::ProjectResolver`, not a connection.
 * - `Project.mergeRequest`: `Resolvers::MergeRequestsResolver.single` (the same arguments, so the
 *   default sort counts), not a connection.
 * - `Project.mergeRequests`: `Resolvers::ProjectMergeRequestsResolver`, a connection.
 * - `MergeRequest.userNotesCount`: `Resolvers::UserNotesCountResolver`, not a connection.
 * - `Pipeline.jobs`: `Resolvers::Ci::JobsResolver` (`app/graphql/types/ci/pipeline_type.rb`), a
 *   connection without `sort`.
 */
const RESOLVER_FIELDS: Record<string, { sortByDefault: boolean; connection: boolean }> = {
  'Query.project': { sortByDefault: false, connection: false },
  'Project.mergeRequest': { sortByDefault: true, connection: false },
  'Project.mergeRequests': { sortByDefault: true, connection: true },
  'MergeRequest.userNotesCount': { sortByDefault: false, connection: false },
  'Pipeline.jobs': { sortByDefault: false, connection: true },
};

/**
 * A query's complexity as GitLab computes it. graphql-ruby's analyzer
 * (`GraphQL::Analysis::QueryComplexity`) asks each field `calculate_complexity(query:, nodes:,
 * child_complexity:)` with the sum of its selections' scores (a field selected twice under one
 * response key counts once; aliases count apart). graphql-ruby (`lib/graphql/schema/field.rb`, 2.x)
 * takes, before anything else, a field's `complexity_for` where it has one — and GitLab's
 * `Types::BaseField` defines `complexity_for` ("allowing us to ensure our complexity calculation
 * is used even for connections", `app/graphql/types/base_field.rb`). So graphql-ruby's own
 * connection rule (children × page size) never applies on GitLab: a field scores its weight plus
 * its children's (`FIELD_WEIGHTS`, default 1), or GitLab's resolver proc (`RESOLVER_FIELDS`), and a
 * connection's `nodes`, `edges` and `pageInfo` are fields like any other. `__typename` is free. The
 * score is GitLab's `queryComplexity.score`; above the limit GitLab refuses the query unrun.
 */
export function queryComplexity(
  document: DocumentNode,
  schema: GraphQLSchema = gitlabGraphqlSchema(),
  variables: Record<string, unknown> = {},
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const argument = (field: FieldNode, name: string): unknown => {
    const arg = field.arguments?.find((a) => a.name.value === name);
    return arg ? valueFromASTUntyped(arg.value, variables) : undefined;
  };
  /** The fields a selection set selects, fragments spread in. */
  const fieldsOf = (set: SelectionSetNode, seen: Set<string> = new Set()): FieldNode[] =>
    set.selections.flatMap((sel) => {
      if (sel.kind === Kind.FIELD) return [sel];
      if (sel.kind === Kind.INLINE_FRAGMENT) return fieldsOf(sel.selectionSet, seen);
      const frag = fragments.get(sel.name.value);
      if (!frag || seen.has(frag.name.value)) return [];
      return fieldsOf(frag.selectionSet, new Set([...seen, frag.name.value]));
    });
  const scoreSet = (set: SelectionSetNode | undefined, type: GraphQLNamedType | undefined): number => {
    if (!set || !type || !('getFields' in type)) return 0;
    // One score per response key (graphql-ruby merges a key's selections).
    const byKey = new Map<string, FieldNode>();
    for (const field of fieldsOf(set)) byKey.set(field.alias?.value ?? field.name.value, field);
    let total = 0;
    for (const field of byKey.values()) total += scoreField(field, type as GraphQLObjectType);
    return total;
  };
  const scoreField = (field: FieldNode, parent: GraphQLObjectType): number => {
    const name = field.name.value;
    if (name === '__typename') return 0;
    const def = parent.getFields()[name];
    const type = def ? getNamedType(def.type) : undefined;
    const key = `${parent.name}.${name}`;
    const child = scoreSet(field.selectionSet, type);
    const resolver = RESOLVER_FIELDS[key];
    if (!resolver) return (FIELD_WEIGHTS[key] ?? 1) + child;
    let complexity = child + 1 + (resolver.sortByDefault || argument(field, 'sort') !== undefined ? 1 : 0);
    if (argument(field, 'search') !== undefined) complexity += 5;
    if (resolver.connection) {
      const given = [argument(field, 'first'), argument(field, 'last')].filter(
        (n): n is number => typeof n === 'number',
      );
      const limit = Math.min(MAX_PAGE_SIZE, ...given);
      const multiplier =
        argument(field, 'iids') !== undefined || argument(field, 'iid') !== undefined ? 0 : 0.01;
      complexity += complexity * limit * multiplier;
    }
    return Math.trunc(complexity);
  };
  let total = 0;
  for (const d of document.definitions)
    if (d.kind === Kind.OPERATION_DEFINITION) {
      const root = d.operation === 'query' ? schema.getQueryType() : null;
      total = Math.max(total, scoreSet(d.selectionSet, root ?? undefined));
    }
  return total;
}

export interface GraphqlContext {
  viewer: string | null;
  /** A higher complexity limit than GitLab's, for tests of other behaviour; null: GitLab's. */
  maxComplexity?: number | null;
  /** Whether the viewer sees a project (private: members; internal: signed-in users). */
  canSee: (project: GlProject) => boolean;
}

type Page<T> = { count: number; nodes: T[]; pageInfo: object; edges?: { cursor: string; node: T }[] };

const cursorOf = (i: number) => Buffer.from(JSON.stringify({ i })).toString('base64');
const indexOf = (cursor: string | undefined): number | undefined => {
  if (cursor === undefined) return undefined;
  try {
    const i = (JSON.parse(Buffer.from(cursor, 'base64').toString('utf8')) as { i?: unknown }).i;
    return typeof i === 'number' ? i : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Relay-style paging. `first`/`last` above the maximum page size are not an error on GitLab: the
 * page is cut to 100 nodes and `hasNextPage` says more exist.
 */
function paginate<T>(
  items: T[],
  args: { first?: number; last?: number; after?: string; before?: string },
): Page<T> {
  let start = 0;
  let end = items.length;
  const after = indexOf(args.after);
  const before = indexOf(args.before);
  if (after !== undefined) start = Math.max(start, after + 1);
  if (before !== undefined) end = Math.min(end, before);
  const cap = (n: number | undefined) =>
    n === undefined ? undefined : Math.max(0, Math.min(n, MAX_PAGE_SIZE));
  const first = cap(args.first);
  const last = cap(args.last);
  if (first === undefined && last === undefined) end = Math.min(end, start + MAX_PAGE_SIZE);
  if (first !== undefined) end = Math.min(end, start + first);
  if (last !== undefined) start = Math.max(start, end - last);
  const slice = items.slice(start, end);
  return {
    count: items.length,
    nodes: slice,
    edges: slice.map((node, k) => ({ cursor: cursorOf(start + k), node })),
    pageInfo: {
      hasNextPage: end < items.length,
      hasPreviousPage: start > 0,
      startCursor: slice.length ? cursorOf(start) : null,
      endCursor: slice.length ? cursorOf(end - 1) : null,
    },
  };
}

const SORTS: Record<string, { key: 'created_at' | 'updated_at' | 'merged_at'; dir: 'asc' | 'desc' }> = {
  created_desc: { key: 'created_at', dir: 'desc' },
  created_asc: { key: 'created_at', dir: 'asc' },
  updated_desc: { key: 'updated_at', dir: 'desc' },
  updated_asc: { key: 'updated_at', dir: 'asc' },
  CREATED_DESC: { key: 'created_at', dir: 'desc' },
  CREATED_ASC: { key: 'created_at', dir: 'asc' },
  UPDATED_DESC: { key: 'updated_at', dir: 'desc' },
  UPDATED_ASC: { key: 'updated_at', dir: 'asc' },
  MERGED_AT_ASC: { key: 'merged_at', dir: 'asc' },
  MERGED_AT_DESC: { key: 'merged_at', dir: 'desc' },
};

/** Translates graphql-js validation wording into GitLab's (graphql-ruby) where they differ. */
function gitlabMessage(error: GraphQLError): string {
  const field = /^Cannot query field "([^"]+)" on type "([^"]+)"/.exec(error.message);
  if (field) return `Field '${field[1]}' doesn't exist on type '${field[2]}'`;
  return error.message;
}

/**
 * Runs one GraphQL request against the model. Refusals (syntax, validation, size, complexity) come
 * back as `{"errors": [{"message"}]}` without data, as GitLab answers them.
 */
export async function executeGitLabGraphql(
  render: Renderer,
  request: { query?: unknown; variables?: unknown; operationName?: unknown },
  context: GraphqlContext,
): Promise<{ body: unknown; complexity: number | null }> {
  const model: GitLabModel = render.model;
  if (typeof request.query !== 'string' || request.query.trim() === '')
    return { body: { errors: [{ message: 'No query string was present' }] }, complexity: null };
  let document: DocumentNode;
  try {
    document = parse(request.query);
  } catch (error) {
    return { body: { errors: [{ message: (error as Error).message }] }, complexity: null };
  }
  const invalid = validate(gitlabGraphqlSchema(), document);
  if (invalid.length > 0)
    return {
      body: { errors: invalid.map((e) => ({ message: gitlabMessage(e), locations: e.locations })) },
      complexity: null,
    };
  const score = queryComplexity(
    document,
    gitlabGraphqlSchema(),
    (request.variables ?? {}) as Record<string, unknown>,
  );
  const limit =
    context.maxComplexity ??
    (context.viewer === null ? MAX_COMPLEXITY_UNAUTHENTICATED : MAX_COMPLEXITY_AUTHENTICATED);
  if (score > limit)
    return {
      body: {
        errors: [{ message: `Query has complexity of ${score}, which exceeds max complexity of ${limit}` }],
      },
      complexity: score,
    };

  const user = (username: string) => {
    const u = model.user(username);
    return {
      id: `gid://gitlab/User/${u.id}`,
      username: u.username,
      name: u.name,
      avatarUrl: render.avatarUrl(u),
      webUrl: `${render.webUrl}/${u.username}`,
      bot: u.bot,
    };
  };
  const projectNode = (p: GlProject): object => ({
    id: `gid://gitlab/Project/${p.id}`,
    fullPath: p.path_with_namespace,
    name: p.path,
    path: p.path,
    webUrl: render.projectWebUrl(p),
    visibility: p.visibility,
    mergeRequest: ({ iid }: { iid: string }) => {
      const mr = model.mergeRequests.get(p.id)?.find((m) => String(m.iid) === iid);
      return mr ? mergeRequestNode(mr) : null;
    },
    mergeRequests: (args: {
      iids?: string[];
      sourceBranches?: string[];
      targetBranches?: string[];
      state?: MrState | 'all';
      draft?: boolean;
      sort?: string;
      first?: number;
      last?: number;
      after?: string;
      before?: string;
    }) => {
      let list = [...(model.mergeRequests.get(p.id) ?? [])];
      if (args.iids) list = list.filter((m) => args.iids!.includes(String(m.iid)));
      if (args.sourceBranches) list = list.filter((m) => args.sourceBranches!.includes(m.source_branch));
      if (args.targetBranches) list = list.filter((m) => args.targetBranches!.includes(m.target_branch));
      if (args.state && args.state !== 'all') list = list.filter((m) => m.state === args.state);
      if (args.draft !== undefined) list = list.filter((m) => m.draft === args.draft);
      const sort = SORTS[args.sort ?? 'created_desc'] ?? SORTS.created_desc!;
      const time = (m: GlMergeRequest) => m[sort.key]?.getTime() ?? 0;
      list.sort((a, b) => time(a) - time(b) || a.id - b.id);
      if (sort.dir === 'desc') list.reverse();
      const page = paginate(list, args);
      const nodes = page.nodes.map(mergeRequestNode);
      return { ...page, nodes, edges: page.edges!.map((e, k) => ({ cursor: e.cursor, node: nodes[k] })) };
    },
  });
  const visibleProject = (idOrPath: string | number) => {
    const p = model.findProject(idOrPath);
    return p && context.canSee(p) ? projectNode(p) : null;
  };
  const mergeRequestNode = (mr: GlMergeRequest): object => {
    const project = model.project(mr.project_id);
    return {
      id: `gid://gitlab/MergeRequest/${mr.id}`,
      iid: String(mr.iid),
      projectId: mr.project_id,
      sourceProjectId: mr.source_project_id,
      targetProjectId: mr.project_id,
      title: model.displayTitle(mr),
      description: mr.description,
      state: mr.state,
      draft: mr.draft,
      sourceBranch: mr.source_branch,
      targetBranch: mr.target_branch,
      webUrl: render.mergeRequestWebUrl(mr),
      createdAt: mr.created_at.toISOString(),
      updatedAt: mr.updated_at.toISOString(),
      mergedAt: mr.merged_at?.toISOString() ?? null,
      closedAt: mr.closed_at?.toISOString() ?? null,
      preparedAt: mr.prepared_at?.toISOString() ?? null,
      author: () => user(mr.author),
      approved: () => model.approved(mr),
      approvalsRequired: project.tier === 'premium' ? project.approvals_required : 0,
      approvalsLeft: () => model.approvalsLeft(mr),
      approvedBy: (args: object) => {
        const page = paginate(mr.approvals, args);
        return { ...page, nodes: page.nodes.map((a) => user(a.username)) };
      },
      reviewers: (args: object) => {
        const page = paginate(mr.reviewers, args);
        return {
          ...page,
          nodes: page.nodes.map((r) => ({
            ...user(r.username),
            mergeRequestInteraction: {
              reviewState: r.state.toUpperCase(),
              approved: mr.approvals.some((a) => a.username.toLowerCase() === r.username.toLowerCase()),
              reviewed: r.state !== 'unreviewed',
              canMerge: project.members.has(r.username.toLowerCase()),
            },
          })),
        };
      },
      // Statistics are computed lazily: before GitLab first prepares the MR it answers zeros, not
      // null (its diff-summary batch loader's NIL_STATS), and no commits; `preparedAt` tells. While
      // a later push is being prepared, null here.
      diffStatsSummary: mr.diff
        ? {
            additions: mr.diff.additions,
            deletions: mr.diff.deletions,
            changes: mr.diff.additions + mr.diff.deletions,
            fileCount: mr.diff.file_count,
          }
        : mr.prepared_at
          ? null
          : { additions: 0, deletions: 0, changes: 0, fileCount: 0 },
      commitCount: mr.prepared_at ? mr.commits.length : 0,
      commits: (args: object) => {
        const newestFirst = [...mr.commits].reverse();
        const page = paginate(newestFirst, args);
        return {
          ...page,
          nodes: page.nodes.map((c) => ({
            id: `gid://gitlab/CommitPresenter/${c.id}`,
            sha: c.id,
            shortId: c.id.slice(0, 8),
            title: c.title,
            message: c.message,
            authorName: c.author_name,
            authoredDate: c.created_at.toISOString(),
            webUrl: `${render.projectWebUrl(project)}/-/commit/${c.id}`,
          })),
        };
      },
      // GitLab's `diff_head_sha`: the MR diff's head, or the source branch's before any diff exists.
      diffHeadSha: model.headSha(mr),
      diffRefs: mr.prepared_at
        ? { baseSha: mr.base_sha, headSha: model.headSha(mr), startSha: mr.base_sha }
        : null,
      detailedMergeStatus: () => graphqlDetailedMergeStatus(model.detailedMergeStatus(mr)),
      // `public_merge_status` as `MergeStatusEnum` (`app/graphql/types/merge_request_type.rb`).
      mergeStatusEnum: () => model.mergeStatus(mr).toUpperCase(),
      userNotesCount: mr.user_notes_count,
      resolvableDiscussionsCount: () => model.resolvableDiscussions(mr).length,
      resolvedDiscussionsCount: () =>
        model.resolvableDiscussions(mr).length - model.unresolvedDiscussions(mr).length,
      // `diff_head_pipeline`: the head pipeline only while it is of the current head commit.
      headPipeline: () => {
        const pipeline = model.diffHeadPipeline(mr);
        return pipeline ? pipelineNode(pipeline) : null;
      },
      sourceProject: () => visibleProject(mr.source_project_id),
      targetProject: () => projectNode(project),
    };
  };
  const pipelineNode = (pipeline: GlPipeline): object => {
    const status = model.pipelineStatus(pipeline);
    return {
      id: `gid://gitlab/Ci::Pipeline/${pipeline.id}`,
      iid: String(pipeline.iid),
      sha: pipeline.sha,
      ref: pipeline.ref,
      source: pipeline.source,
      status: status.toUpperCase(),
      active: ['created', 'waiting_for_resource', 'preparing', 'pending', 'running', 'canceling'].includes(
        status,
      ),
      path: render.webPath(render.pipelineWebUrl(pipeline)),
      createdAt: pipeline.created_at.toISOString(),
      updatedAt: pipeline.updated_at.toISOString(),
      // `retried: false` keeps the latest attempt of each job, `true` the replaced ones, none both
      // (GitLab's JobsResolver).
      jobs: (args: {
        retried?: boolean | null;
        statuses?: string[] | null;
        first?: number;
        last?: number;
        after?: string;
        before?: string;
      }) => {
        let jobs = pipeline.jobs;
        if (args.retried === false) jobs = jobs.filter((j) => !j.retried);
        if (args.retried === true) jobs = jobs.filter((j) => j.retried);
        if (args.statuses) jobs = jobs.filter((j) => args.statuses!.includes(j.status.toUpperCase()));
        const page = paginate(jobs, args);
        const nodes = page.nodes.map((j) => ({
          id: `gid://gitlab/Ci::Build/${j.id}`,
          name: j.name,
          status: j.status.toUpperCase(),
          allowFailure: j.allow_failure,
          retried: j.retried,
          manualJob: j.status === 'manual',
          stage: { id: `gid://gitlab/Ci::Stage/${pipeline.id}-${j.stage}`, name: j.stage },
          webPath: render.webPath(render.jobWebUrl(pipeline, j)),
          failureMessage:
            j.status === 'failed' && j.failure_reason ? FAILURE_MESSAGES[j.failure_reason] : null,
        }));
        return { ...page, nodes, edges: page.edges!.map((e, k) => ({ cursor: e.cursor, node: nodes[k] })) };
      },
    };
  };
  const rootValue = {
    project: ({ fullPath }: { fullPath: string }) => {
      // A project the viewer cannot see, or that does not exist, is `null` without an error.
      const p = model.findProject(fullPath);
      if (p && context.canSee(p)) return projectNode(p);
      const moved = model.redirects.get(fullPath.toLowerCase());
      const target = moved === undefined ? undefined : model.findProject(moved);
      return target && context.canSee(target) ? projectNode(target) : null;
    },
    currentUser: () => (context.viewer === null ? null : user(context.viewer)),
    queryComplexity: { score, limit },
  };
  const result = await graphql({
    schema: gitlabGraphqlSchema(),
    source: request.query,
    rootValue,
    variableValues: (request.variables ?? {}) as Record<string, unknown>,
    operationName: typeof request.operationName === 'string' ? request.operationName : undefined,
  });
  if (!result.errors) return { body: { data: result.data }, complexity: score };
  return {
    body: {
      errors: result.errors.map((e) => ({ message: gitlabMessage(e), locations: e.locations, path: e.path })),
      data: result.data ?? null,
    },
    complexity: score,
  };
}
