import { schema as githubSchema } from '@octokit/graphql-schema';
import { buildSchema, type GraphQLSchema, graphql } from 'graphql';
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

class NotFound extends Error {
  readonly type = 'NOT_FOUND';
}

/**
 * Runs a query with the model behind `Query.repository` and the `PullRequest` fields gitsync
 * reads. Errors carry GitHub's `type` (e.g. NOT_FOUND) next to the message, as GitHub's do.
 */
export async function executeGitHubGraphql(
  render: Renderer,
  query: string,
  variables: Record<string, unknown> | undefined,
  /** Whether the caller's token sees a repository (private ones: owner and collaborators only). */
  canSee: (repo: EmuRepo) => boolean = () => true,
): Promise<unknown> {
  const model = render.model;
  const user = (login: string) => ({ __typename: 'User', login, avatarUrl: render.user(login).avatar_url });
  const review = (r: EmuReview) => ({ databaseId: r.id, state: r.state, author: user(r.login) });
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
    commits: { totalCount: p.commits },
    author: user(p.author),
    baseRefName: p.base_ref,
    headRefName: p.head_ref,
    updatedAt: p.updated_at.toISOString(),
    headRepositoryOwner: { __typename: 'User', login: p.head_repo.split('/')[0] },
    reviews: ({ first, last }: { first?: number; last?: number }) => {
      let list = [...p.reviews].sort((a, b) => a.id - b.id);
      if (first !== undefined) list = list.slice(0, first);
      if (last !== undefined) list = list.slice(-last);
      return { totalCount: p.reviews.length, nodes: list.map(review) };
    },
  });
  type PullsArgs = {
    headRefName?: string;
    states?: string[];
    first?: number;
    last?: number;
    orderBy?: { field: string; direction: string };
  };
  const stateOf = (p: EmuPull) => (p.merged ? 'MERGED' : p.state.toUpperCase());
  const repository = (full: string): object => ({
    pullRequest: ({ number }: { number: number }) => {
      const pull = model.pulls.get(full.toLowerCase())?.find((p) => p.number === number);
      if (!pull) throw new NotFound(`Could not resolve to a PullRequest with the number of ${number}.`);
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
      return parent && seen && canSee(seen) ? repository(parent) : null;
    },
  });
  const rootValue = {
    repository: ({ owner, name }: { owner: string; name: string }) => {
      const full = `${owner}/${name}`;
      const repo = model.repos.get(full.toLowerCase());
      // GitHub does not tell a private repository the token cannot see from a missing one.
      if (!repo || !canSee(repo)) {
        throw new NotFound(`Could not resolve to a Repository with the name '${full}'.`);
      }
      return repository(full);
    },
  };
  const result = await graphql({
    schema: githubGraphqlSchema(),
    source: query,
    rootValue,
    variableValues: variables ?? {},
  });
  if (!result.errors) return { data: result.data };
  return {
    data: result.data ?? null,
    errors: result.errors.map((e) => ({
      ...(e.originalError instanceof NotFound ? { type: 'NOT_FOUND' } : {}),
      message: e.message,
      path: e.path,
      locations: e.locations,
    })),
  };
}
