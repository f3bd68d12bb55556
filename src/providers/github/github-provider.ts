import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { NotFoundError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import type { PrFields, PrState } from '../../core/types.ts';
import { matchRepoOnHost } from '../origin-match.ts';
import {
  branchKey,
  type CallOptions,
  type Provider,
  type ProviderConfig,
  type PullRef,
  pullKey,
  type RepoRef,
} from '../types.ts';
import { GitHubClient, type GitHubClientOptions, graphqlUrlFor, type RequestCounts } from './client.ts';
import {
  buildBranchesQuery,
  buildPullsQuery,
  type GraphqlPull,
  graphqlBranchesResponseSchema,
  graphqlPullsResponseSchema,
  MAX_PULLS_PER_QUERY,
  REVIEWS_PER_PULL,
} from './graphql.ts';
import { summarizeReviews } from './review-summary.ts';
import {
  type Pull,
  type PullListItem,
  pullListSchema,
  pullSchema,
  repositorySchema,
  reviewListSchema,
} from './schemas.ts';

/** Reviews are read 100 a page (GitHub's maximum); a PR with more than this many pages is cut off. */
const MAX_REVIEW_PAGES = 10;

/**
 * GitHub's state vocabulary → gitsync's: `merged` when the single-PR read says `merged` (list
 * items lack that field, so `merged_at` stands in there), otherwise `open` or `closed`.
 */
export function mapPullState(pull: {
  state: string;
  merged?: boolean | null;
  merged_at?: string | null;
}): PrState {
  const merged = pull.merged ?? (pull.merged_at !== undefined && pull.merged_at !== null);
  if (merged) return 'merged';
  return pull.state.toLowerCase() === 'open' ? 'open' : 'closed';
}

const enc = encodeURIComponent;

/** github.com and GitHub Enterprise Server (`api_url` like `https://host/api/v3`). */
export class GitHubProvider implements Provider {
  readonly client: GitHubClient;
  readonly #graphqlUrl: string;
  readonly #clock: GitHubClientOptions['clock'];

  constructor(
    readonly config: ProviderConfig,
    options: GitHubClientOptions,
  ) {
    this.client = new GitHubClient(config.api_url, options);
    this.#graphqlUrl = graphqlUrlFor(config.api_url);
    this.#clock = options.clock;
  }

  parseOrigin(origin: string): RepoRef | null {
    const repo = matchRepoOnHost(origin, this.config.web_url, false);
    return repo && isName(repo.owner) && isName(repo.name) ? repo : null;
  }

  repoUrl(repo: RepoRef): string {
    return `${this.config.web_url}/${repo.owner}/${repo.name}`;
  }

  /** `web_url/owner/repo/pull/N`, with any trailing path (`/files`), query or fragment ignored. */
  parsePullUrl(url: string): PullRef | null {
    let parsed: URL;
    let base: URL;
    try {
      parsed = new URL(url);
      base = new URL(this.config.web_url);
    } catch {
      return null;
    }
    if (parsed.host.toLowerCase() !== base.host.toLowerCase() || parsed.protocol !== base.protocol)
      return null;
    const prefix = base.pathname.replace(/\/+$/, '');
    if (!parsed.pathname.startsWith(`${prefix}/`)) return null;
    const m = /^\/([^/]+)\/([^/]+)\/pull\/(\d+)(?:\/.*)?$/.exec(parsed.pathname.slice(prefix.length));
    if (!m || !isName(m[1]!) || !isName(m[2]!)) return null;
    const number = Number(m[3]);
    if (!Number.isSafeInteger(number) || number < 1) return null;
    return { repo: { owner: m[1]!, name: m[2]! }, number };
  }

  buildPullUrl(pull: PullRef): string {
    return `${this.repoUrl(pull.repo)}/pull/${pull.number}`;
  }

  async findPullForBranch(repo: RepoRef, branch: string, call: CallOptions): Promise<PrFields | null> {
    // Same repository first: `head` filters by "owner:branch".
    let candidates = await this.#listForHead(repo, `${repo.owner}:${branch}`, call);
    if (candidates.length === 0) {
      // The origin may be a fork whose PRs live in its parent repository.
      const { value: meta } = await this.client.get(
        'get_repo',
        `/repos/${enc(repo.owner)}/${enc(repo.name)}`,
        repositorySchema,
        call,
      );
      const parent = meta.fork ? meta.parent?.full_name : undefined;
      const [owner, name] = parent?.split('/') ?? [];
      if (owner && name)
        candidates = await this.#listForHead({ owner, name }, `${repo.owner}:${branch}`, call);
    }
    const best = pickPull(
      candidates.filter((p) => p.head.ref === branch),
      describeListItem,
    );
    if (!best) return null;
    const ref = this.parsePullUrl(best.html_url) ?? {
      repo: splitFullName(best.base.repo?.full_name) ?? repo,
      number: best.number,
    };
    return this.fetchPull(ref, call);
  }

  /**
   * `GET /repos/{owner}/{repo}` (GitHub REST docs, "Get a repository"): public only when it says
   * `private: false` and its `visibility` (where sent) is `public` — Enterprise `internal`
   * repositories are `private: true` too. GitHub answers 404, not 403, to a token that cannot
   * see a private repository ("Troubleshooting the REST API": 404 for resources that require
   * authentication or access), so not found means "not confirmed public". The answer is read
   * with whatever token the caller passes (the engine passes the service token: see the
   * refresher); only this one bit is returned, so nothing else of a private repository leaves.
   * Conditional requests make a repeated check free (304s are not charged).
   */
  async isRepoPublic(repo: RepoRef, call: CallOptions): Promise<boolean> {
    try {
      const { value } = await this.client.get(
        'get_repo',
        `/repos/${enc(repo.owner)}/${enc(repo.name)}`,
        repositorySchema,
        call,
      );
      return value.private === false && (value.visibility ?? 'public') === 'public';
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  async #listForHead(repo: RepoRef, head: string, call: CallOptions): Promise<PullListItem[]> {
    const query = new URLSearchParams({
      head,
      state: 'all',
      sort: 'updated',
      direction: 'desc',
      per_page: '30',
    });
    const { value } = await this.client.get(
      'list_pulls',
      `/repos/${enc(repo.owner)}/${enc(repo.name)}/pulls?${query}`,
      pullListSchema,
      call,
    );
    return value;
  }

  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const path = `/repos/${enc(pull.repo.owner)}/${enc(pull.repo.name)}/pulls/${pull.number}`;
    const [{ value: pr }, reviews] = await Promise.all([
      this.client.get('get_pull', path, pullSchema, call),
      this.#reviews(`${path}/reviews?per_page=100`, call),
    ]);
    return toFields(pr, reviews);
  }

  async #reviews(first: string, call: CallOptions) {
    const all: { id: number; state: string; login: string | null }[] = [];
    let next: string | null = first;
    for (let page = 0; next && page < MAX_REVIEW_PAGES; page++) {
      const result: {
        value: { id: number; state: string; user?: { login: string } | null }[];
        next: string | null;
      } = await this.client.get('list_reviews', next, reviewListSchema, call);
      for (const r of result.value) all.push({ id: r.id, state: r.state, login: r.user?.login ?? null });
      next = result.next;
    }
    return all;
  }

  /**
   * Many PRs through GraphQL, up to 50 per request (aliases, typed variables). PRs with more
   * reviews than one query reads are fetched through REST instead, which pages through them all.
   */
  async fetchPulls(pulls: readonly PullRef[], call: CallOptions): Promise<Map<string, PrFields | Error>> {
    const out = new Map<string, PrFields | Error>();
    const viaRest: PullRef[] = [];
    for (let i = 0; i < pulls.length; i += MAX_PULLS_PER_QUERY) {
      const chunk = pulls.slice(i, i + MAX_PULLS_PER_QUERY);
      const { query, variables } = buildPullsQuery(chunk);
      const data = await this.#graphqlData(query, variables, graphqlPullsResponseSchema, call);
      chunk.forEach((pull, j) => {
        const node = data[`p${j}`]?.pullRequest;
        if (!node) out.set(pullKey(pull), new NotFoundError(`github: no pull request ${pullKey(pull)}`));
        else if ((node.reviews?.totalCount ?? 0) > REVIEWS_PER_PULL) viaRest.push(pull);
        else out.set(pullKey(pull), fromGraphql(node));
      });
    }
    for (const pull of viaRest) {
      out.set(pullKey(pull), await this.fetchPull(pull, call).catch((error: Error) => error));
    }
    return out;
  }

  /**
   * `findPullForBranch` for many (repository, branch) pairs, 50 per GraphQL query: each looks at
   * the repository's PRs with that head branch name from that owner and, when the repository is a
   * fork, at its parent's — the same answer as the REST path (tested against it).
   */
  async findPullsForBranches(
    items: readonly { repo: RepoRef; branch: string }[],
    call: CallOptions,
  ): Promise<Map<string, PrFields | null | Error>> {
    const out = new Map<string, PrFields | null | Error>();
    const viaRest: PullRef[] = [];
    const restFor = new Map<string, string>();
    for (let i = 0; i < items.length; i += MAX_PULLS_PER_QUERY) {
      const chunk = items.slice(i, i + MAX_PULLS_PER_QUERY);
      const { query, variables } = buildBranchesQuery(chunk);
      const data = await this.#graphqlData(query, variables, graphqlBranchesResponseSchema, call);
      chunk.forEach(({ repo, branch }, j) => {
        const key = branchKey(repo, branch);
        const found = data[`b${j}`];
        if (!found) {
          out.set(key, new NotFoundError(`github: no repository ${repo.owner}/${repo.name}`));
          return;
        }
        const mine = (nodes: (GraphqlPull | null)[]) =>
          nodes.filter(
            (n): n is GraphqlPull =>
              n !== null &&
              n.headRefName === branch &&
              n.headRepositoryOwner?.login.toLowerCase() === repo.owner.toLowerCase(),
          );
        let candidates = mine(found.pullRequests.nodes);
        if (candidates.length === 0 && found.parent) candidates = mine(found.parent.pullRequests.nodes);
        const best = pickPull(candidates, describeNode);
        if (!best) out.set(key, null);
        else if ((best.reviews?.totalCount ?? 0) > REVIEWS_PER_PULL) {
          const pull = this.parsePullUrl(best.url);
          if (pull) {
            viaRest.push(pull);
            restFor.set(pullKey(pull), key);
          } else out.set(key, fromGraphql(best));
        } else out.set(key, fromGraphql(best));
      });
    }
    for (const pull of viaRest) {
      out.set(restFor.get(pullKey(pull))!, await this.fetchPull(pull, call).catch((error: Error) => error));
    }
    return out;
  }

  /**
   * Runs a query and returns its `data`. GraphQL answers its own rate limit with 200 and a
   * RATE_LIMITED error (the reset is in x-ratelimit-reset); no data at all is an outage.
   */
  async #graphqlData<D>(
    query: string,
    variables: object,
    schema: z.ZodType<{
      data?: D | null | undefined;
      errors?: { type?: string | undefined; message: string }[] | undefined;
    }>,
    call: CallOptions,
  ): Promise<D> {
    const { value, headers } = await this.client.graphql(this.#graphqlUrl, query, variables, schema, call);
    if (value.errors?.some((e) => e.type === 'RATE_LIMITED')) {
      const reset = Number(headers.get('x-ratelimit-reset'));
      const resetAt =
        Number.isFinite(reset) && reset > 0
          ? new Date(reset * 1000)
          : new Date(this.#clock.now().getTime() + 60_000);
      throw new RateLimitedError(resetAt, `github rate limited until ${resetAt.toISOString()} (graphql)`);
    }
    if (!value.data)
      throw new UnavailableError(`github GraphQL failed: ${value.errors?.[0]?.message ?? 'no data'}`);
    return value.data;
  }

  requestCounts(): RequestCounts {
    return structuredClone(this.client.counts);
  }
}

function toFields(pr: Pull, reviews: Parameters<typeof summarizeReviews>[0]): PrFields {
  return {
    url: pr.html_url,
    pull_request_state: mapPullState(pr),
    pull_request_title: pr.title,
    pull_request_draft: pr.draft ?? false,
    ...summarizeReviews(reviews),
    additions: pr.additions,
    deletions: pr.deletions,
    changed_files: pr.changed_files,
    commits: pr.commits,
    pr_number: pr.number,
    author_login: pr.user?.login ?? null,
    author_avatar_url: pr.user?.avatar_url ?? null,
    base_branch: pr.base.ref,
    head_branch: pr.head.ref,
  };
}

function fromGraphql(pr: GraphqlPull): PrFields {
  const reviews = (pr.reviews?.nodes ?? []).flatMap((r) =>
    r ? [{ id: r.databaseId ?? 0, state: r.state, login: r.author?.login ?? null }] : [],
  );
  return {
    url: pr.url,
    // GraphQL's state is OPEN, CLOSED or MERGED; `merged` decides as in REST.
    pull_request_state: mapPullState({ state: pr.state, merged: pr.merged ?? pr.state === 'MERGED' }),
    pull_request_title: pr.title,
    pull_request_draft: pr.isDraft ?? false,
    ...summarizeReviews(reviews),
    additions: pr.additions,
    deletions: pr.deletions,
    changed_files: pr.changedFiles,
    commits: pr.commits.totalCount,
    pr_number: pr.number,
    author_login: pr.author?.login ?? null,
    author_avatar_url: pr.author?.avatarUrl ?? null,
    base_branch: pr.baseRefName,
    head_branch: pr.headRefName,
  };
}

/** Prefer an open PR, then the most recently updated. */
export function pickPull<T>(
  pulls: readonly T[],
  describe: (p: T) => { open: boolean; updatedAt: string },
): T | null {
  let best: T | null = null;
  for (const p of pulls) {
    if (best === null) {
      best = p;
      continue;
    }
    const a = describe(p);
    const b = describe(best);
    if ((a.open && !b.open) || (a.open === b.open && Date.parse(a.updatedAt) > Date.parse(b.updatedAt)))
      best = p;
  }
  return best;
}

const describeListItem = (p: PullListItem) => ({ open: mapPullState(p) === 'open', updatedAt: p.updated_at });
const describeNode = (p: GraphqlPull) => ({
  open: mapPullState({ state: p.state, merged: p.merged ?? p.state === 'MERGED' }) === 'open',
  updatedAt: p.updatedAt ?? '',
});

/** GitHub owner and repository names: letters, digits, `-`, `_`, `.` (not `.` or `..` alone). */
function isName(s: string): boolean {
  return /^[A-Za-z0-9_.-]+$/.test(s) && s !== '.' && s !== '..';
}

function splitFullName(fullName: string | undefined): RepoRef | null {
  const [owner, name, ...rest] = fullName?.split('/') ?? [];
  return owner && name && rest.length === 0 ? { owner, name } : null;
}

export const createGitHubProvider = (config: ProviderConfig, deps: { clock: Clock }) =>
  new GitHubProvider(config, { clock: deps.clock });
