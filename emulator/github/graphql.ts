import { schema as githubSchema } from '@octokit/graphql-schema';
import {
  buildSchema,
  type DocumentNode,
  execute,
  type GraphQLObjectType,
  type GraphQLSchema,
  getLocation,
  getNamedType,
  graphql,
  isObjectType,
  Kind,
  parse,
  type SelectionSetNode,
  TypeInfo,
  validate,
  valueFromASTUntyped,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { EmuPull, EmuRepo, EmuReview } from './model.ts';
import type { Renderer } from './render.ts';

let schema: GraphQLSchema | null = null;

/**
 * GitHub's published GraphQL schema (@octokit/graphql-schema). Its SDL repeats a few field
 * definitions, so it is built without SDL validation; queries are still validated against it.
 */
export function githubGraphqlSchema(): GraphQLSchema {
  schema ??= buildSchema(githubSchema.idl, { assumeValidSDL: true });
  return schema;
}

/** An error GitHub reports with a `type` next to its message (NOT_FOUND, FORBIDDEN…). */
class TypedError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * GitHub's GraphQL limits ("Rate limits and node limits for the GraphQL API",
 * https://docs.github.com/en/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api):
 * `first`/`last` between 1 and 100 on every connection that returns nodes, at most 500,000 nodes
 * per call.
 */
export const MAX_PAGE = 100;
export const MAX_NODES = 500_000;

export interface QueryCost {
  /** Connection requests: each connection counts once per item of every connection around it. */
  requests: number;
  /** Nodes the query may return, by the same rule (GitHub's node limit). */
  nodes: number;
  /** Points charged: requests ÷ 100, rounded, at least 1 (GitHub's published formula). */
  cost: number;
  /** Limit violations, as GitHub words them; a query with any is refused and not run. */
  errors: { type: string; message: string }[];
}

/**
 * GitHub's published formula for a query's cost: "Add up the number of requests needed to fulfill
 * each unique connection in the call. Assume every request will reach the first or last argument
 * limits. Divide the number by 100 and round the result … Rate limits have a minimum cost of 1"
 * (page above, "Calculating a rate limit score"). A connection asked only for `totalCount` still
 * counts as a request but returns no nodes.
 */
export function graphqlCost(document: DocumentNode, variables: Record<string, unknown>): QueryCost {
  const s = githubGraphqlSchema();
  const out: QueryCost = { requests: 0, nodes: 0, cost: 1, errors: [] };
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d]] : [])),
  );
  const walk = (set: SelectionSetNode, parent: GraphQLObjectType, multiplier: number) => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT || sel.kind === Kind.FRAGMENT_SPREAD) {
        const frag = sel.kind === Kind.FRAGMENT_SPREAD ? fragments.get(sel.name.value) : sel;
        if (!frag) continue;
        const on = frag.typeCondition ? s.getType(frag.typeCondition.name.value) : parent;
        if (isObjectType(on)) walk(frag.selectionSet, on, multiplier);
        continue;
      }
      const def = parent.getFields()[sel.name.value];
      if (!def || !sel.selectionSet) continue;
      const type = getNamedType(def.type);
      if (!isObjectType(type)) continue;
      const isConnection = type.name.endsWith('Connection') && 'pageInfo' in type.getFields();
      if (!isConnection) {
        walk(sel.selectionSet, type, multiplier);
        continue;
      }
      const arg = (name: string) => {
        const node = sel.arguments?.find((a) => a.name.value === name);
        const value = node ? valueFromASTUntyped(node.value, variables) : undefined;
        return typeof value === 'number' ? value : undefined;
      };
      const size = arg('first') ?? arg('last');
      out.requests += multiplier;
      const wantsNodes = sel.selectionSet.selections.some(
        (c) => c.kind !== Kind.FIELD || (c.name.value !== 'totalCount' && c.name.value !== 'pageInfo'),
      );
      if (!wantsNodes) continue;
      if (size === undefined) {
        out.errors.push({
          type: 'MISSING_PAGINATION_BOUNDARIES',
          message: `You must provide a \`first\` or \`last\` value to properly paginate the \`${sel.name.value}\` connection.`,
        });
        continue;
      }
      if (size < 1 || size > MAX_PAGE) {
        out.errors.push({
          type: 'EXCESSIVE_PAGINATION',
          message: `Requesting ${size} records on the \`${sel.name.value}\` connection exceeds the \`${arg('first') !== undefined ? 'first' : 'last'}\` limit of ${MAX_PAGE} records.`,
        });
        continue;
      }
      out.nodes += multiplier * size;
      walk(sel.selectionSet, type, multiplier * size);
    }
  };
  for (const def of document.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION && def.operation === 'query')
      walk(def.selectionSet, s.getQueryType()!, 1);
  }
  if (out.nodes > MAX_NODES)
    out.errors.push({
      type: 'MAX_NODE_LIMIT_EXCEEDED',
      message: `This query requests up to ${out.nodes} possible nodes which exceeds the maximum limit of ${MAX_NODES}.`,
    });
  out.cost = Math.max(1, Math.round(out.requests / 100));
  return out;
}

type PageArgs = { first?: number; last?: number };

/** One page of a connection, as `first` / `last` ask. */
function page<T>(list: readonly T[], first?: number, last?: number): T[] {
  let out = [...list];
  if (first !== undefined) out = out.slice(0, first);
  if (last !== undefined) out = out.slice(-last);
  return out;
}

/** How the emulator should answer one query beyond the model itself. */
export interface GraphqlRun {
  /** Whether the caller's token sees a repository (private ones: owner and collaborators only). */
  canSee?: (repo: EmuRepo) => boolean;
  /** PullRequest fields that fail with an error (the field is nulled, the rest answered). */
  failingFields?: readonly string[];
}

/**
 * Valid queries by their text. Clients send the same text with other variables (gitsync's batch
 * reads do), and validating against GitHub's whole schema is most of the emulator's CPU per query.
 */
const validDocuments = new Map<string, DocumentNode>();
const VALID_DOCUMENTS_KEPT = 200;

/**
 * Schema members a server does not show (`Type.field`): an Enterprise Server hides a preview's
 * members unless its media type is in `Accept` ("Schema previews": "To access a schema preview,
 * you'll need to provide a custom media type in the Accept header"), and an older one lacks them.
 */
export type HiddenFields = ReadonlySet<string>;

/** `PullRequest` fields the merge-info preview toggles on (github/docs, src/graphql/data/ghes-3.11/previews.json). */
export const MERGE_INFO_FIELDS: HiddenFields = new Set([
  'PullRequest.canBeRebased',
  'PullRequest.mergeStateStatus',
]);

/**
 * The errors GitHub's GraphQL server (graphql-ruby) answers for fields its schema lacks: one per
 * use, "Field 'f' doesn't exist on type 'T'" with `extensions.code` `undefinedField`, `typeName`,
 * `fieldName`, the use's `locations`, and graphql-ruby's static `path` — the operation as
 * `query Name`, each field by alias or name, an inline fragment as `... on T`, a fragment
 * definition as `fragment F` (graphql-ruby, lib/graphql/static_validation/base_visitor.rb,
 * rules/fields_are_defined_on_type.rb and fields_are_defined_on_type_error.rb). Such a query is
 * answered HTTP 200 with `errors` and no `data`.
 */
export function undefinedFieldErrors(document: DocumentNode, hidden: HiddenFields): object[] {
  if (hidden.size === 0) return [];
  const typeInfo = new TypeInfo(githubGraphqlSchema());
  const path: string[] = [];
  const errors: object[] = [];
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      OperationDefinition: {
        enter: (node) => void path.push(`${node.operation}${node.name ? ` ${node.name.value}` : ''}`),
        leave: () => void path.pop(),
      },
      FragmentDefinition: {
        enter: (node) => void path.push(`fragment ${node.name.value}`),
        leave: () => void path.pop(),
      },
      InlineFragment: {
        enter: (node) =>
          void path.push(node.typeCondition ? `... on ${node.typeCondition.name.value}` : '...'),
        leave: () => void path.pop(),
      },
      Field: {
        enter: (node) => {
          path.push(node.alias?.value ?? node.name.value);
          const parent = typeInfo.getParentType();
          if (!parent || !hidden.has(`${parent.name}.${node.name.value}`)) return;
          const at = node.loc ? getLocation(node.loc.source, node.loc.start) : null;
          errors.push({
            path: [...path],
            extensions: { code: 'undefinedField', typeName: parent.name, fieldName: node.name.value },
            locations: at ? [{ line: at.line, column: at.column }] : [],
            message: `Field '${node.name.value}' doesn't exist on type '${parent.name}'`,
          });
        },
        leave: () => void path.pop(),
      },
    }),
  );
  return errors;
}

/**
 * Parses and validates a query against GitHub's schema and prices it. A query GitHub would refuse
 * (invalid, naming a field this server hides, over a limit) comes back as `refused`, and is
 * neither run nor charged.
 */
export function prepareGraphql(
  query: string,
  variables: Record<string, unknown>,
  hidden: HiddenFields = new Set(),
): { document: DocumentNode; cost: QueryCost } | { refused: unknown } {
  let document = validDocuments.get(query);
  if (!document) {
    try {
      document = parse(query);
    } catch (error) {
      return { refused: { errors: [{ message: (error as Error).message }] } };
    }
    const invalid = validate(githubGraphqlSchema(), document);
    if (invalid.length > 0)
      return { refused: { errors: invalid.map((e) => ({ message: e.message, locations: e.locations })) } };
    if (validDocuments.size >= VALID_DOCUMENTS_KEPT)
      validDocuments.delete(validDocuments.keys().next().value!);
    validDocuments.set(query, document);
  }
  const undefinedFields = undefinedFieldErrors(document, hidden);
  if (undefinedFields.length > 0) return { refused: { errors: undefinedFields } };
  const cost = graphqlCost(document, variables);
  if (cost.errors.length > 0) return { refused: { errors: cost.errors } };
  return { document, cost };
}

/**
 * Runs a query with the model behind `Query.repository` and the `PullRequest` fields gitsync
 * reads. Errors carry GitHub's `type` (NOT_FOUND, FORBIDDEN) and `path` next to the message, and
 * data is partial where a field failed, as GitHub's are.
 */
export async function executeGitHubGraphql(
  render: Renderer,
  query: string | DocumentNode,
  variables: Record<string, unknown> | undefined,
  run: GraphqlRun = {},
): Promise<unknown> {
  const model = render.model;
  const canSee = run.canSee ?? (() => true);
  const failing = new Set(run.failingFields ?? []);
  // GraphQL shows a GitHub App as a Bot whose login lacks REST's `[bot]` suffix; a deleted
  // account is a null author (REST shows it as the `ghost` user).
  const actor = (login: string) => {
    if (model.deletedUsers.has(login.toLowerCase())) return null;
    const bot = /^(.+)\[bot\]$/.exec(login);
    return {
      __typename: bot ? 'Bot' : 'User',
      login: bot ? bot[1] : login,
      avatarUrl: render.user(login).avatar_url,
    };
  };
  const review = (r: EmuReview, p: EmuPull) => ({
    databaseId: r.id,
    state: r.state,
    author: actor(r.login),
    authorAssociation: model.association(p.base_repo, r.login),
  });
  const failIf = <T>(field: string, value: () => T) => {
    if (failing.has(field)) throw new Error(`Something went wrong while executing your query (${field}).`);
    return value();
  };
  const pullRequest = (p: EmuPull) => ({
    url: `${render.webUrl}/${p.base_repo}/pull/${p.number}`,
    number: p.number,
    title: p.title,
    state: p.merged ? 'MERGED' : p.state.toUpperCase(),
    isDraft: p.draft,
    merged: p.merged,
    additions: p.additions,
    deletions: p.deletions,
    changedFiles: p.changed_files,
    commits: () => failIf('commits', () => ({ totalCount: p.commits })),
    author: () => failIf('author', () => actor(p.author)),
    baseRefName: p.base_ref,
    headRefName: p.head_ref,
    updatedAt: p.updated_at.toISOString(),
    headRepositoryOwner: p.head_repo_deleted
      ? null
      : { __typename: 'User', login: p.head_repo.split('/')[0] },
    reviewDecision: () => failIf('reviewDecision', () => model.reviewDecision(p)),
    // Requested people (a GitHub App as a `Bot`, a deleted account as a null reviewer), then teams.
    reviewRequests: ({ first, last }: { first?: number; last?: number }) =>
      failIf('reviewRequests', () => {
        const org = p.base_repo.split('/')[0]!;
        let list: unknown[] = [
          ...p.requested_reviewers.map((login) => actor(login)),
          ...p.requested_teams.map((slug) => ({
            __typename: 'Team',
            slug,
            combinedSlug: `${org}/${slug}`,
            organization: { login: org },
          })),
        ];
        const totalCount = list.length;
        if (first !== undefined) list = list.slice(0, first);
        if (last !== undefined) list = list.slice(-last);
        return { totalCount, nodes: list.map((requestedReviewer) => ({ requestedReviewer })) };
      }),
    reviews: ({ first, last }: { first?: number; last?: number }) =>
      failIf('reviews', () => {
        let list = [...p.reviews].sort((a, b) => a.id - b.id);
        if (first !== undefined) list = list.slice(0, first);
        if (last !== undefined) list = list.slice(-last);
        return { totalCount: p.reviews.length, nodes: list.map((r) => review(r, p)) };
      }),
    // The latest approving, change-requesting or dismissed review of each author.
    latestOpinionatedReviews: ({ first, last }: PageArgs) =>
      failIf('latestOpinionatedReviews', () => {
        const latest = new Map<string, EmuReview>();
        for (const r of [...p.reviews].sort((a, b) => a.id - b.id))
          if (r.state !== 'COMMENTED') latest.set(r.login.toLowerCase(), r);
        const list = [...latest.values()];
        return { totalCount: list.length, nodes: page(list, first, last).map((r) => review(r, p)) };
      }),
    headRefOid: p.head_sha,
    mergeable: () => failIf('mergeable', () => model.mergeable(p)),
    mergeStateStatus: () => failIf('mergeStateStatus', () => model.mergeStateStatus(p)),
    totalCommentsCount: () =>
      failIf(
        'totalCommentsCount',
        () => p.comments.length + p.threads.reduce((n, t) => n + t.comments.length, 0),
      ),
    statusCheckRollup: () => failIf('statusCheckRollup', () => rollup(p.head_sha, p.base_repo)),
    reviewThreads: ({ first, last }: PageArgs) =>
      failIf('reviewThreads', () => ({
        totalCount: p.threads.length,
        nodes: page(p.threads, first, last).map((t) => ({
          isResolved: t.resolved,
          path: t.path,
          line: t.line,
          comments: (args: PageArgs) => ({
            totalCount: t.comments.length,
            nodes: page(t.comments, args.first, args.last).map((c) => ({
              author: actor(c.login),
              authorAssociation: model.association(p.base_repo, c.login),
              body: c.body,
              url: `${render.webUrl}/${p.base_repo}/pull/${p.number}#discussion_r${c.id}`,
            })),
          }),
        })),
      })),
  });
  /** A commit's checks as GraphQL's `StatusCheckRollup`: check runs and commit statuses in one list. */
  const rollup = (sha: string, repoFull: string) => {
    const state = model.rollupState(sha);
    if (state === null) return null;
    const { runs, statuses } = model.checksOf(sha);
    const contexts = [
      ...runs.map((r) => ({
        __typename: 'CheckRun',
        name: r.name,
        status: r.status.toUpperCase(),
        conclusion: r.conclusion?.toUpperCase() ?? null,
        detailsUrl: r.details_url,
        url: `${render.webUrl}/${repoFull}/runs/${r.id}`,
        title: r.title,
        summary: r.summary,
      })),
      ...statuses.map((st) => ({
        __typename: 'StatusContext',
        context: st.context,
        state: st.state.toUpperCase(),
        targetUrl: st.target_url,
        description: st.description,
      })),
    ];
    return {
      state,
      commit: { oid: sha },
      contexts: ({ first, last }: PageArgs) => ({
        totalCount: contexts.length,
        nodes: page(contexts, first, last),
      }),
    };
  };
  type PullsArgs = {
    headRefName?: string;
    states?: string[];
    first?: number;
    last?: number;
    orderBy?: { field: string; direction: string };
  };
  const stateOf = (p: EmuPull) => (p.merged ? 'MERGED' : p.state.toUpperCase());
  const guard = (repo: EmuRepo) => {
    // Organizations enforcing SAML SSO or an IP allow list answer FORBIDDEN for that part of the
    // query only (GitHub docs, "About authentication with SAML single sign-on" and "Managing
    // allowed IP addresses for your organization").
    if (repo.restriction) throw new TypedError('FORBIDDEN', restrictionMessage(repo.restriction, repo.owner));
  };
  const repository = (full: string): object => ({
    pullRequest: ({ number }: { number: number }) => {
      const pull = model.pulls.get(full.toLowerCase())?.find((p) => p.number === number);
      if (!pull)
        throw new TypedError('NOT_FOUND', `Could not resolve to a PullRequest with the number of ${number}.`);
      return pullRequest(pull);
    },
    pullRequests: (args: PullsArgs) => {
      let list = [...(model.pulls.get(full.toLowerCase()) ?? [])];
      if (args.headRefName !== undefined) list = list.filter((p) => p.head_ref === args.headRefName);
      if (args.states) list = list.filter((p) => args.states!.includes(stateOf(p)));
      const key = args.orderBy?.field === 'UPDATED_AT' ? 'updated_at' : 'created_at';
      list.sort((a, b) => a[key].getTime() - b[key].getTime() || a.number - b.number);
      if (args.orderBy?.direction === 'DESC') list.reverse();
      const totalCount = list.length;
      if (args.first !== undefined) list = list.slice(0, args.first);
      if (args.last !== undefined) list = list.slice(-args.last);
      return { totalCount, nodes: list.map(pullRequest) };
    },
    parent: () => {
      const parent = model.repo(full).fork_of;
      const seen = parent ? model.repos.get(parent.toLowerCase()) : undefined;
      if (!parent || !seen || !canSee(seen)) return null;
      guard(seen);
      return repository(parent);
    },
  });
  const rootValue = {
    repository: ({ owner, name }: { owner: string; name: string }) => {
      // GraphQL follows a rename or transfer to the repository's new name, as github.com does.
      const asked = `${owner}/${name}`;
      const full = model.renames.get(asked.toLowerCase()) ?? asked;
      const repo = model.repos.get(full.toLowerCase());
      // GitHub does not tell a private repository the token cannot see from a missing one.
      if (!repo || !canSee(repo)) {
        throw new TypedError('NOT_FOUND', `Could not resolve to a Repository with the name '${asked}'.`);
      }
      guard(repo);
      return repository(`${repo.owner}/${repo.name}`);
    },
  };
  // A document comes from prepareGraphql, parsed and validated already: validating GitHub's whole
  // schema again would double the emulator's CPU per query.
  const args = { schema: githubGraphqlSchema(), rootValue, variableValues: variables ?? {} };
  const result =
    typeof query === 'string'
      ? await graphql({ ...args, source: query })
      : await execute({ ...args, document: query });
  if (!result.errors) return { data: result.data };
  return {
    data: result.data ?? null,
    errors: result.errors.map((e) => ({
      ...(e.originalError instanceof TypedError ? { type: e.originalError.type } : {}),
      message: e.message,
      path: e.path,
      locations: e.locations,
    })),
  };
}

/** GitHub's words when an organization's SAML enforcement or IP allow list refuses the token. */
export function restrictionMessage(restriction: 'saml' | 'ip_allow_list', org: string): string {
  return restriction === 'saml'
    ? `Resource protected by organization SAML enforcement. You must grant your Personal Access token access to the '${org}' organization.`
    : `Although you appear to have the correct authorization credentials, the \`${org}\` organization has an IP allow list enabled, and your IP address is not permitted to access this resource.`;
}
