import type { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { AuthError, NotFoundError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import {
  type PrFields,
  type PrState,
  type RequestedReviewer,
  sortRequestedReviewers,
} from '../../core/types.ts';
import { NOT_READ_YET } from '../checks.ts';
import { hostNotFound } from '../host-errors.ts';
import { isOnHost, matchRepoOnHost, matchWebPath, pullNumber } from '../origin-match.ts';
import {
  branchKey,
  type CallOptions,
  type Provider,
  type ProviderCapabilities,
  type ProviderConfig,
  type ProviderWebhooks,
  type PullRef,
  pullKey,
  type RepoRef,
} from '../types.ts';
import { GitHubClient, type GitHubClientOptions, graphqlUrlFor, type RequestCounts } from './client.ts';
import { readErrorBody, translateGitHubError } from './errors.ts';
import {
  buildBranchesQuery,
  buildDecisionQuery,
  buildPullsQuery,
  type GraphqlCandidate,
  type GraphqlCandidates,
  type GraphqlErrors,
  type GraphqlPull,
  graphqlBranchesResponseSchema,
  graphqlDecisionResponseSchema,
  graphqlPullsResponseSchema,
  MAX_PULLS_PER_QUERY,
  REVIEW_REQUESTS_PER_PULL,
  REVIEWS_PER_PULL,
} from './graphql.ts';
import { applyReviewDecision, summarizeReviews } from './review-summary.ts';
import {
  type Pull,
  type PullListItem,
  pullListSchema,
  pullSchema,
  repositorySchema,
  reviewListSchema,
} from './schemas.ts';
import { githubWebhooks } from './webhooks.ts';

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
  readonly capabilities: ProviderCapabilities = {
    // One GraphQL query reads 49 PRs or answers 49 branches for one point, within GitHub's node
    // limits ("Rate limits and node limits for the GraphQL API"; see MAX_PULLS_PER_QUERY); below
    // two, a conditional REST read (free when answered 304, "Best practices for using the REST
    // API") is cheaper.
    pullsPerBatch: MAX_PULLS_PER_QUERY,
    branchesPerBatch: MAX_PULLS_PER_QUERY,
    minBatch: 2,
    // REST and GraphQL are separate budgets: batch reads go through GraphQL, single reads through
    // REST (errors carry these scopes), and the engine pauses them apart.
    rateLimitScopes: { batch: 'graphql', single: 'core' },
  };
  readonly webhooks: ProviderWebhooks = githubWebhooks(this);
  /** Until when GraphQL is limited, per token (hashed): nothing is sent there before then. */
  readonly #graphqlPaused = new Map<string, RateLimitedError>();
  /** `reviewDecision` of PRs read through REST, by (PR, token), with the reviews it was read for. */
  readonly #decisions = new Map<string, { stamp: string; decision: string | null }>();

  constructor(
    readonly config: ProviderConfig,
    options: GitHubClientOptions,
  ) {
    this.client = new GitHubClient(config.api_url, options);
    this.#graphqlUrl = graphqlUrlFor(config.api_url);
    this.#clock = options.clock;
  }

  matches(origin: string): boolean {
    return isOnHost(origin, this.config.web_url);
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
    const m = matchWebPath(url, this.config.web_url, /^\/([^/]+)\/([^/]+)\/pull\/(\d+)(?:\/.*)?$/);
    const number = m ? pullNumber(m[3]!) : null;
    if (!m || number === null || !isName(m[1]!) || !isName(m[2]!)) return null;
    return { repo: { owner: m[1]!, name: m[2]! }, number };
  }

  buildPullUrl(pull: PullRef): string {
    return `${this.repoUrl(pull.repo)}/pull/${pull.number}`;
  }

  async findPullForBranch(repo: RepoRef, branch: string, call: CallOptions): Promise<PrFields | null> {
    const ref = await this.#restCandidate(repo, branch, call);
    return ref ? this.fetchPull(ref, call) : null;
  }

  /**
   * The PR of `owner:branch` through REST, whose `head=owner:branch` filter matches the head
   * owner on the server however many forks use the same branch name (GitHub REST docs, "List
   * pull requests"): the repository first; if it has none and is a fork, its parent.
   */
  async #restCandidate(repo: RepoRef, branch: string, call: CallOptions): Promise<PullRef | null> {
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
    return (
      this.parsePullUrl(best.html_url) ?? {
        repo: splitFullName(best.base.repo?.full_name) ?? repo,
        number: best.number,
      }
    );
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

  /**
   * One PR through REST (conditional requests: an unchanged PR costs nothing). Where it has
   * decisive reviews, GitHub's `reviewDecision` (GraphQL only) is asked too, so that `approved`
   * and `changes_requested` read the same as through the batch path; the answer is kept until the
   * reviews change.
   */
  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const path = `/repos/${enc(pull.repo.owner)}/${enc(pull.repo.name)}/pulls/${pull.number}`;
    const [{ value: pr }, reviews] = await Promise.all([
      this.client.get('get_pull', path, pullSchema, call),
      this.#reviews(`${path}/reviews?per_page=100`, call),
    ]);
    const fields = toFields(pr, reviews, pull.repo.owner);
    if (fields.reviewer_count === 0) return fields;
    const decision = await this.#reviewDecision(pull, reviews, call);
    return { ...fields, ...applyReviewDecision(fields, decision) };
  }

  /** `reviewDecision` of a PR read through REST, remembered per (PR, token) until its reviews change. */
  async #reviewDecision(
    pull: PullRef,
    reviews: readonly { id: number; state: string }[],
    call: CallOptions,
  ): Promise<string | null> {
    const key = `${pullKey(pull)} ${tokenFingerprint(call.token)}`;
    const stamp = reviews.map((r) => `${r.id}:${r.state}`).join(',');
    const known = this.#decisions.get(key);
    if (known && known.stamp === stamp) return known.decision;
    const { query, variables } = buildDecisionQuery(pull);
    const { data, errors } = await this.#graphqlData(query, variables, graphqlDecisionResponseSchema, call);
    const problem = aliasProblem('repository', errors, `${pullKey(pull)}`);
    if (problem) throw problem;
    const decision = data.repository?.pullRequest?.reviewDecision ?? null;
    this.#decisions.delete(key);
    this.#decisions.set(key, { stamp, decision });
    if (this.#decisions.size > 20_000) this.#decisions.delete(this.#decisions.keys().next().value!);
    return decision;
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
   * Many PRs through GraphQL, up to MAX_PULLS_PER_QUERY (49) per request (aliases, typed
   * variables). PRs with more reviews or review requests than one query reads are fetched through
   * REST instead, which gives them all.
   * A PR whose part of the answer carries an error (GitHub nulls that part and names it in the
   * error's `path`) gets that error, never a guess from the incomplete data.
   */
  async fetchPulls(pulls: readonly PullRef[], call: CallOptions): Promise<Map<string, PrFields | Error>> {
    const out = new Map<string, PrFields | Error>();
    const viaRest: PullRef[] = [];
    for (let i = 0; i < pulls.length; i += MAX_PULLS_PER_QUERY) {
      const chunk = pulls.slice(i, i + MAX_PULLS_PER_QUERY);
      const { query, variables } = buildPullsQuery(chunk);
      const { data, errors } = await this.#graphqlData(query, variables, graphqlPullsResponseSchema, call);
      chunk.forEach((pull, j) => {
        const problem = aliasProblem(`p${j}`, errors, pullKey(pull));
        const node = data[`p${j}`]?.pullRequest;
        if (problem) out.set(pullKey(pull), problem);
        else if (!node) out.set(pullKey(pull), hostNotFound(`github: no pull request ${pullKey(pull)}`));
        else if (
          (node.reviews?.totalCount ?? 0) > REVIEWS_PER_PULL ||
          (node.reviewRequests?.totalCount ?? 0) > REVIEW_REQUESTS_PER_PULL
        )
          viaRest.push(pull);
        else out.set(pullKey(pull), fromGraphql(node));
      });
    }
    for (const pull of viaRest) {
      out.set(pullKey(pull), await this.fetchPull(pull, call).catch((error: Error) => error));
    }
    return out;
  }

  /**
   * `findPullForBranch` for many (repository, branch) pairs, in two cheap steps: one GraphQL
   * query per 49 lists each branch's candidates (no nested connections: one point), then the
   * chosen PRs are read with `fetchPulls` (one point per 49). Where a full page of candidates
   * holds none of the origin's owner (a crowded name such as `main` or `patch-1` in a busy
   * upstream), REST's server-side `head=owner:branch` filter finds it instead.
   */
  async findPullsForBranches(
    items: readonly { repo: RepoRef; branch: string }[],
    call: CallOptions,
  ): Promise<Map<string, PrFields | null | Error>> {
    const out = new Map<string, PrFields | null | Error>();
    const chosen = new Map<string, PullRef>();
    const crowded: { repo: RepoRef; branch: string }[] = [];
    for (let i = 0; i < items.length; i += MAX_PULLS_PER_QUERY) {
      const chunk = items.slice(i, i + MAX_PULLS_PER_QUERY);
      const { query, variables } = buildBranchesQuery(chunk);
      const { data, errors } = await this.#graphqlData(query, variables, graphqlBranchesResponseSchema, call);
      chunk.forEach(({ repo, branch }, j) => {
        const key = branchKey(repo, branch);
        const problem = aliasProblem(`b${j}`, errors, `${repo.owner}/${repo.name}`);
        const found = data[`b${j}`];
        if (problem || !found?.pullRequests) {
          out.set(key, problem ?? hostNotFound(`github: no repository ${repo.owner}/${repo.name}`));
          return;
        }
        const mine = (page: GraphqlCandidates) =>
          page.nodes.filter(
            (n): n is GraphqlCandidate =>
              n !== null &&
              n.headRefName === branch &&
              n.headRepositoryOwner?.login.toLowerCase() === repo.owner.toLowerCase(),
          );
        // A page that does not hold every PR of that name may have left the origin's out.
        const full = (page: GraphqlCandidates) => page.totalCount > page.nodes.length;
        let candidates = mine(found.pullRequests);
        let incomplete = candidates.length === 0 && full(found.pullRequests);
        const parent = found.parent?.pullRequests;
        if (candidates.length === 0 && parent) {
          candidates = mine(parent);
          incomplete ||= candidates.length === 0 && full(parent);
        }
        const best = pickPull(candidates, describeCandidate);
        const ref = best ? this.parsePullUrl(best.url) : null;
        if (ref) chosen.set(key, ref);
        else if (incomplete) crowded.push({ repo, branch });
        else out.set(key, null);
      });
    }
    for (const { repo, branch } of crowded) {
      const key = branchKey(repo, branch);
      try {
        const ref = await this.#restCandidate(repo, branch, call);
        if (ref) chosen.set(key, ref);
        else out.set(key, null);
      } catch (error) {
        if (error instanceof RateLimitedError) throw error;
        out.set(key, error as Error);
      }
    }
    const read = await this.fetchPulls([...chosen.values()], call);
    for (const [key, ref] of chosen) out.set(key, read.get(pullKey(ref)) ?? hostNotFound('missing'));
    return out;
  }

  /**
   * Runs a query and returns its `data` and `errors`. GraphQL answers its limits with HTTP 200
   * and errors of type RATE_LIMITED / RATE_LIMIT, or a message naming a secondary rate limit
   * (GitHub docs, "Rate limits and node limits for the GraphQL API"): those are rate limits of
   * the `graphql` budget. Errors that name no path concern the whole answer; no data is an outage.
   */
  async #graphqlData<D>(
    query: string,
    variables: object,
    schema: z.ZodType<{ data?: D | null | undefined; errors?: GraphqlErrors | undefined }>,
    call: CallOptions,
  ): Promise<{ data: D; errors: GraphqlErrors }> {
    const tokenKey = tokenFingerprint(call.token);
    const paused = this.#graphqlPaused.get(tokenKey);
    if (paused && paused.resetAt > this.#clock.now()) throw paused;
    const limited = (error: RateLimitedError) => {
      this.#graphqlPaused.set(tokenKey, error);
      return error;
    };
    const { value, headers } = await this.client
      .graphql(this.#graphqlUrl, query, variables, schema, call)
      .catch((error: unknown) => {
        throw error instanceof RateLimitedError ? limited(error) : error;
      });
    const errors = value.errors ?? [];
    if (errors.length > 0) {
      const body = readErrorBody(JSON.stringify({ errors }));
      const limit = translateGitHubError(200, headers, 'POST graphql', this.#clock.now(), {
        body,
        scope: 'graphql',
        secondaryWaitMs: () => this.client.secondaryWaitMs(call.token, 'graphql'),
      });
      if (limit instanceof RateLimitedError) throw limited(limit);
    }
    this.#graphqlPaused.delete(tokenKey);
    this.client.graphqlSucceeded(call.token);
    const general = errors.find((e) => !e.path || e.path.length === 0);
    if (!value.data || general)
      throw new UnavailableError(`github GraphQL failed: ${(general ?? errors[0])?.message ?? 'no data'}`);
    return { data: value.data, errors };
  }

  requestCounts(): RequestCounts {
    return structuredClone(this.client.counts);
  }
}

/** `owner`: the repository's owner as asked, should REST not name the base repository. */
function toFields(pr: Pull, reviews: Parameters<typeof summarizeReviews>[0], owner: string): PrFields {
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
    author_login: restLogin(pr.user),
    author_avatar_url: restLogin(pr.user) === null ? null : (pr.user?.avatar_url ?? null),
    base_branch: pr.base.ref,
    head_branch: pr.head.ref,
    requested_reviewers: restRequestedReviewers(pr, owner),
    ...NOT_READ_YET,
  };
}

/**
 * REST's `requested_reviewers` (people, by login: an app as `name[bot]`, as GraphQL's are spelled
 * below) and `requested_teams` (by slug). A team is named `org/slug`, as GitHub mentions it
 * (`@org/slug`): only teams of the organization owning the repository can be asked ("Requesting
 * a pull request review": "any person or team with read access to a repository"), so `org` is
 * the base repository's owner. The placeholder `ghost` (a deleted account) is no one.
 */
function restRequestedReviewers(pr: Pull, owner: string): RequestedReviewer[] {
  const org = pr.base.repo?.full_name.split('/')[0] || owner;
  return sortRequestedReviewers([
    ...(pr.requested_reviewers ?? []).flatMap((u) => {
      const login = restLogin(u);
      return login === null ? [] : [{ kind: 'user' as const, name: login }];
    }),
    ...(pr.requested_teams ?? []).map((t) => ({ kind: 'team' as const, name: `${org}/${t.slug}` })),
  ]);
}

/**
 * GraphQL's `reviewRequests`: `User`, `Bot` (its login in REST's spelling) and `Mannequin` (an
 * imported account) are people; a `Team` is `org/slug` as in REST. A request whose reviewer is
 * null (an account gone) or of a kind GitHub adds later is left out.
 */
function graphqlRequestedReviewers(pr: GraphqlPull): RequestedReviewer[] {
  const out: RequestedReviewer[] = [];
  for (const node of pr.reviewRequests?.nodes ?? []) {
    const who = node?.requestedReviewer;
    if (!who) continue;
    if (who.__typename === 'Team') {
      if (who.slug && who.organization)
        out.push({ kind: 'team', name: `${who.organization.login}/${who.slug}` });
    } else if (['User', 'Bot', 'Mannequin'].includes(who.__typename) && who.login !== undefined) {
      const login = graphqlLogin({ __typename: who.__typename, login: who.login });
      if (login !== null) out.push({ kind: 'user', name: login });
    }
  }
  return sortRequestedReviewers(out);
}

function fromGraphql(pr: GraphqlPull): PrFields {
  const reviews = (pr.reviews?.nodes ?? []).flatMap((r) =>
    r ? [{ id: r.databaseId ?? 0, state: r.state, login: graphqlLogin(r.author) }] : [],
  );
  const summary = summarizeReviews(reviews);
  return {
    url: pr.url,
    // GraphQL's state is OPEN, CLOSED or MERGED; `merged` decides as in REST.
    pull_request_state: mapPullState({ state: pr.state, merged: pr.merged ?? pr.state === 'MERGED' }),
    pull_request_title: pr.title,
    pull_request_draft: pr.isDraft ?? false,
    ...summary,
    ...applyReviewDecision(summary, pr.reviewDecision ?? null),
    additions: pr.additions,
    deletions: pr.deletions,
    changed_files: pr.changedFiles,
    commits: pr.commits.totalCount,
    pr_number: pr.number,
    author_login: graphqlLogin(pr.author),
    author_avatar_url: pr.author?.avatarUrl ?? null,
    base_branch: pr.baseRefName,
    head_branch: pr.headRefName,
    requested_reviewers: graphqlRequestedReviewers(pr),
    ...NOT_READ_YET,
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
const describeCandidate = (p: GraphqlCandidate) => ({
  open: mapPullState({ state: p.state, merged: p.merged ?? p.state === 'MERGED' }) === 'open',
  updatedAt: p.updatedAt,
});

/**
 * REST's login: a GitHub App as `name[bot]`, as REST shows it. A deleted account is REST's
 * placeholder user `ghost` and a null author in GraphQL: gitsync shows no author for both.
 */
function restLogin(user: { login: string } | null | undefined): string | null {
  return !user || user.login === 'ghost' ? null : user.login;
}

/**
 * GraphQL's login in REST's spelling: a `Bot` (GitHub App) is `name` there and `name[bot]` in REST
 * (GitHub docs, "About GitHub Apps" / the REST `user.login` of app actions), so the suffix is
 * added; a deleted account (null author) stays null.
 */
function graphqlLogin(
  actor: { __typename?: string | undefined; login: string } | null | undefined,
): string | null {
  if (!actor) return null;
  return actor.__typename === 'Bot' && !actor.login.endsWith('[bot]') ? `${actor.login}[bot]` : actor.login;
}

/**
 * The error for one alias of a GraphQL answer, from the errors whose `path` starts with it: GitHub
 * answers the rest of the query and nulls the part an error hit. FORBIDDEN (an organization's SAML
 * enforcement or IP allow list refusing this token) is an access error a person must fix;
 * NOT_FOUND alone is "not found"; anything else means that part is incomplete.
 */
function aliasProblem(alias: string, errors: GraphqlErrors, what: string): Error | null {
  const mine = errors.filter((e) => e.path?.[0] === alias);
  if (mine.length === 0) return null;
  const forbidden = mine.find((e) => e.type === 'FORBIDDEN');
  if (forbidden)
    return new AuthError(
      `github denied access to ${what} (FORBIDDEN: an organization policy such as SAML single sign-on or an IP allow list refuses this token): ${forbidden.message.slice(0, 300)}`,
    );
  if (mine.every((e) => e.type === 'NOT_FOUND')) return hostNotFound(`github: not found (${what})`);
  return new UnavailableError(
    `github answered only part of the query for ${what}: ${mine[0]!.message.slice(0, 300)} (at ${mine[0]!.path!.join('.')})`,
  );
}

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
