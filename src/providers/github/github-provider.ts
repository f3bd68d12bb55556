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
import type { CheckResult } from '../checks.ts';
import { hostNotFound } from '../host-errors.ts';
import { isOnHost, matchRepoOnHost, matchWebPath, pullNumber } from '../origin-match.ts';
import {
  branchKey,
  type CallOptions,
  type Provider,
  type ProviderCapabilities,
  type ProviderConfig,
  type ProviderWebhooks,
  PULL_UNCHANGED,
  type PullFeedback,
  type PullRef,
  pullKey,
  type RepoRef,
  repoKey,
} from '../types.ts';
import { GitHubApp } from './app.ts';
import { checkRunOutcome, checksOf, commitStatusOutcome, mergeStateOf } from './checks.ts';
import { GitHubClient, type GitHubClientOptions, graphqlUrlFor, type RequestCounts } from './client.ts';
import { readErrorBody, translateGitHubError } from './errors.ts';
import {
  buildBranchesQuery,
  buildDetailsQuery,
  buildFeedbackQuery,
  buildPullsQuery,
  buildReviewExtrasQuery,
  CHECKS_PER_PULL,
  CONNECTIONS_PER_PULL,
  DETAIL_CONNECTIONS,
  type GraphqlCandidate,
  type GraphqlCandidates,
  type GraphqlDetails,
  type GraphqlErrors,
  type GraphqlFeedback,
  type GraphqlPull,
  githubTrust,
  graphqlBranchesResponseSchema,
  graphqlDetailsResponseSchema,
  graphqlFeedbackResponseSchema,
  graphqlPullsResponseSchema,
  graphqlReviewExtrasResponseSchema,
  MAX_PULLS_PER_QUERY,
  MERGE_INFO_PREVIEW,
  namesMissingField,
  REQUESTS_PER_POINT,
  REVIEW_REQUESTS_PER_PULL,
  REVIEWS_PER_PULL,
} from './graphql.ts';
import { detailsOf, type PullDetails, PullDetailsCache } from './pull-details.ts';
import { applyReviewDecision, awaitingApproval, letsMerge, summarizeReviews } from './review-summary.ts';
import {
  checkRunListSchema,
  combinedStatusSchema,
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
 * Details (checks, threads) unchanged by every sign GitHub gives are still read again after this
 * long: resolving a review thread moves neither the PR's `updatedAt` nor its comment count. An
 * hour keeps the cost of an unchanged open PR within a few percent of reading none (one refresh
 * in 30 at the default TTL pays two more connections). A read a signal asked for (PullRef.fresh:
 * a webhook delivery, "refresh now", a wait) bypasses it, and what it reads is kept as usual.
 */
const DETAILS_MAX_AGE_MS = 3_600_000;
/** Entries of the details and review caches: one per tracked PR and token, a few hundred bytes each. */
const CACHE_ENTRIES = 100_000;
/**
 * How long one answer of a repository's PR list serves the batches of a round (a tick claims
 * up to hundreds of rows, read in batches of 49 at once): a new round asks again.
 */
const LIST_ROUND_MS = 5_000;
/** A PR without checks counts as settled (its CI is not coming) once unchanged this long. */
const NO_CHECKS_SETTLE_MS = 600_000;
/**
 * Pages of a head commit's check runs, and of its commit statuses, read through REST (100 a page):
 * up to 1,000 of each ("List check runs for a Git reference" itself stops at the check runs of the
 * 1,000 most recent check suites).
 */
const MAX_CHECK_PAGES = 10;
/** Pages of a repository's open PRs read to find the PRs asked for (100 a page). */
const MAX_LIST_PAGES = 10;

/** A PR as a repository's PR list shows it: enough to tell that it has not moved. */
interface ListedPull {
  updatedAt: number;
  headSha: string | undefined;
}

/** The pages of one repository's open-PR list read in one round. */
interface PullListRound {
  at: number;
  items: Map<number, ListedPull>;
  /** The next page to read; null after the last. */
  next: string | null;
  pages: number;
  /** The read in progress: batches of one round read the list one after another. */
  busy: Promise<void>;
}

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

export interface GitHubProviderOptions extends GitHubClientOptions {
  /**
   * Read checks and review threads with batched PRs (default true). false reads the batch query
   * as it was before they existed, leaving those fields null: for cost comparisons only
   * (`npm run bench`).
   */
  pullDetails?: boolean;
  /**
   * Ask each repository's PR list (conditional, free when unchanged) before reading its settled
   * PRs, and answer those it shows unchanged without reading them (default true). false: read
   * every PR of a batch through GraphQL, for cost comparisons (`npm run bench`).
   */
  listFirst?: boolean;
}

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
  /** The GitHub App's installation tokens, where the configuration names an App. */
  readonly repoCredentials: GitHubApp | undefined;
  /** Until when GraphQL is limited, per token (hashed): nothing is sent there before then. */
  readonly #graphqlPaused = new Map<string, RateLimitedError>();
  /**
   * `reviewDecision` and unresolved threads of PRs read through REST, by (PR, token), with what
   * they were read for (the reviews, the PR's `updated_at` and review comment count) and when.
   */
  readonly #reviewExtras = new Map<
    string,
    { stamp: string; at: number; decision: string | null; threads: number }
  >();
  /** Checks and threads of PRs read through GraphQL (see PullDetailsCache). */
  readonly #details = new PullDetailsCache(DETAILS_MAX_AGE_MS, CACHE_ENTRIES);
  /**
   * Per (PR, token): what the last full read saw of a settled PR — its `updatedAt` and head
   * commit — and when. While the repository's PR list shows both unchanged, the PR is answered
   * PULL_UNCHANGED without reading it (see #unchangedByList).
   */
  readonly #reads = new Map<string, { updatedAt: number; headSha: string; at: number }>();
  /** Per (repository, token): the open-PR list pages read this round, shared by the batches of one tick. */
  readonly #lists = new Map<string, PullListRound>();
  /** Per token (hashed): until when REST refused the list (the PRs are read in full meanwhile). */
  readonly #listPausedUntil = new Map<string, number>();

  /**
   * Whether this server (this `api_url`) has `PullRequest.mergeStateStatus`: true until it answers
   * that it has no such field — an Enterprise Server without the merge-info preview — and then
   * false for this provider's life: batches ask `mergeable` alone (see #pullsQuery).
   */
  #mergeStateStatus = true;

  /** See GitHubProviderOptions. */
  readonly #pullDetails: boolean;
  readonly #listFirst: boolean;

  constructor(
    readonly config: ProviderConfig,
    options: GitHubProviderOptions,
  ) {
    this.#pullDetails = options.pullDetails ?? true;
    this.#listFirst = options.listFirst ?? true;
    this.client = new GitHubClient(config.api_url, options);
    this.repoCredentials = config.app ? new GitHubApp(config.api_url, config.app, options) : undefined;
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
   * One PR through REST (conditional requests: an unchanged PR costs nothing): the PR, its reviews,
   * and the check runs and commit statuses of its head commit. Where it has decisive reviews or
   * review comments, GitHub's `reviewDecision` and the threads' resolution (GraphQL only) are
   * asked too, so that the fields read the same as through the batch path; that answer is kept
   * until the reviews, the PR or its review comments change (and at most DETAILS_MAX_AGE_MS), and
   * asked again for a fresh read (PullRef.fresh). Conditional requests stay conditional when
   * fresh: a 304 is GitHub's answer now that this very resource — the PR, its reviews, the check
   * runs or the statuses of its head commit — is as last read (a check re-run changes the check-run
   * list's body, so its ETag); it is not a kept answer standing in for another resource's.
   */
  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const path = `/repos/${enc(pull.repo.owner)}/${enc(pull.repo.name)}/pulls/${pull.number}`;
    const [{ value: pr }, reviews] = await Promise.all([
      this.client.get('get_pull', path, pullSchema, call),
      this.#reviews(`${path}/reviews?per_page=100`, call),
    ]);
    const [checks, extras] = await Promise.all([
      pr.head.sha ? this.#restChecks(pull.repo, pr.head.sha, call) : null,
      this.#extrasOf(pull, pr, reviews, call),
    ]);
    const fields = toFields(pr, reviews, pull.repo.owner, checks, extras);
    return { ...fields, ...applyReviewDecision(reviews, extras.decision ?? null) };
  }

  /**
   * The head commit's check runs and commit statuses through REST, every page conditional (free
   * when unchanged): "List check runs for a Git reference" and "Get the combined status for a
   * specific reference", by SHA, so a force-push never shows the checks of the replaced commit.
   * Both are paged (`per_page` at most 100, `page`) and say how many there are (`total_count`):
   * the first pages of both, then the rest of both together, up to MAX_CHECK_PAGES of each. Pages
   * are asked by number, as `total_count` gives them: GitHub documents a `Link` header for the
   * check runs only. Beyond that bound the counts are of those read and the state is failing when
   * anything read failed (or the combined status says `failure`, which covers every status), else
   * pending — never passing, as not all were seen.
   */
  async #restChecks(repo: RepoRef, sha: string, call: CallOptions) {
    const base = `/repos/${enc(repo.owner)}/${enc(repo.name)}/commits/${enc(sha)}`;
    const runsPage = (page: number) =>
      this.client.get(
        'list_check_runs',
        `${base}/check-runs?per_page=${CHECKS_PER_PULL}&page=${page}`,
        checkRunListSchema,
        call,
      );
    const statusPage = (page: number) =>
      this.client.get(
        'combined_status',
        `${base}/status?per_page=${CHECKS_PER_PULL}&page=${page}`,
        combinedStatusSchema,
        call,
      );
    const [{ value: runs }, { value: combined }] = await Promise.all([runsPage(1), statusPage(1)]);
    const more = (total: number) =>
      Array.from(
        { length: Math.min(MAX_CHECK_PAGES, Math.ceil(total / CHECKS_PER_PULL)) - 1 },
        (_, i) => i + 2,
      );
    const [moreRuns, moreStatuses] = await Promise.all([
      Promise.all(more(runs.total_count).map(runsPage)),
      Promise.all(more(combined.total_count).map(statusPage)),
    ]);
    const allRuns = [...runs.check_runs, ...moreRuns.flatMap((p) => p.value.check_runs)];
    const allStatuses = [...combined.statuses, ...moreStatuses.flatMap((p) => p.value.statuses)];
    const results: CheckResult[] = [
      ...allRuns.map((r) => ({
        name: r.name,
        url: r.details_url ?? r.html_url ?? null,
        outcome: checkRunOutcome(r.status, r.conclusion),
      })),
      ...allStatuses.map((st) => ({
        name: st.context,
        url: st.target_url ?? null,
        outcome: commitStatusOutcome(st.state),
      })),
    ];
    const complete = runs.total_count <= allRuns.length && combined.total_count <= allStatuses.length;
    const failing = results.some((r) => r.outcome === 'failed') || combined.state === 'failure';
    return checksOf(results, complete, failing ? 'FAILURE' : results.length > 0 ? 'PENDING' : null);
  }

  /**
   * Details whose head commit has more checks than GraphQL's one page of the rollup holds (100):
   * their checks are read through REST, every page (#restChecks), so that the batch path and the
   * single read count the same checks and agree on the state. The price: two conditional REST
   * requests per 100 checks and statuses (free while unchanged), only for such PRs.
   */
  async #allChecks(
    pull: PullRef,
    found: GraphqlDetails,
    details: PullDetails,
    call: CallOptions,
  ): Promise<PullDetails> {
    const contexts = found.statusCheckRollup?.contexts;
    if (!contexts || contexts.totalCount <= contexts.nodes.length || !found.headRefOid) return details;
    return { ...details, ...(await this.#restChecks(pull.repo, found.headRefOid, call)) };
  }

  /**
   * `reviewDecision` and unresolved threads of a PR read through REST, remembered per (PR, token)
   * while its reviews, `updated_at` and review comment count stay the same (for at most
   * DETAILS_MAX_AGE_MS). Without decisive reviews or review comments there is nothing to ask —
   * unless the PR is open and GitHub does not let it merge as it is: then the decision says
   * whether approvals are what holds it (`awaiting_approval`), as the batch path reads it.
   * `decision` undefined: not asked.
   */
  async #extrasOf(
    pull: PullRef,
    pr: Pull,
    reviews: readonly { id: number; state: string; login: string | null }[],
    call: CallOptions,
  ): Promise<{ decision: string | null | undefined; threads: number }> {
    const reviewComments = pr.review_comments ?? 0;
    const held = mapPullState(pr) === 'open' && (pr.mergeable === null || !letsMerge(pr.mergeable_state));
    if (summarizeReviews(reviews).reviewer_count === 0 && reviewComments === 0 && !held)
      return { decision: undefined, threads: 0 };
    const key = `${pullKey(pull)} ${tokenFingerprint(call.token)}`;
    const stamp = `${reviews.map((r) => `${r.id}:${r.state}`).join(',')}|${pr.updated_at}|${reviewComments}`;
    const now = this.#clock.now().getTime();
    const known = pull.fresh ? undefined : this.#reviewExtras.get(key);
    if (known && known.stamp === stamp && now - known.at < DETAILS_MAX_AGE_MS) return known;
    const { query, variables } = buildReviewExtrasQuery(pull);
    const { data, errors } = await this.#graphqlData(
      query,
      variables,
      graphqlReviewExtrasResponseSchema,
      call,
    );
    const problem = aliasProblem('repository', errors, `${pullKey(pull)}`);
    if (problem) throw problem;
    const found = data.repository?.pullRequest;
    const extras = {
      stamp,
      at: now,
      decision: found?.reviewDecision ?? null,
      threads: (found?.reviewThreads?.nodes ?? []).filter((t) => t !== null && !t.isResolved).length,
    };
    this.#reviewExtras.delete(key);
    this.#reviewExtras.set(key, extras);
    if (this.#reviewExtras.size > CACHE_ENTRIES)
      this.#reviewExtras.delete(this.#reviewExtras.keys().next().value!);
    return extras;
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
   * Many PRs. Settled PRs that their repository's PR list shows unchanged since their last full
   * read are answered PULL_UNCHANGED for free (#unchangedByList); the rest are read in full. A
   * fresh PR (PullRef.fresh) is always read in full with its checks and threads: the list shows
   * neither, and a check re-run on the same head moves nothing in it.
   */
  async fetchPulls(
    asked: readonly PullRef[],
    call: CallOptions,
  ): Promise<Map<string, PrFields | Error | typeof PULL_UNCHANGED>> {
    const unchanged = this.#listFirst ? await this.#unchangedByList(asked, call) : new Set<string>();
    const out: Map<string, PrFields | Error | typeof PULL_UNCHANGED> = await this.#readPulls(
      asked.filter((pull) => !unchanged.has(pullKey(pull))),
      call,
    );
    for (const key of unchanged) out.set(key, PULL_UNCHANGED);
    return out;
  }

  /**
   * PRs in full through GraphQL (aliases, typed variables), as many per request as keep it at one
   * point. A PR whose checks and threads are known and unchanged is read without them (three
   * connections: 49 a query); one without usable details, or fresh, gets them in the same query (five);
   * one whose cheap fields show a change (a new head, a new rollup state, a comment, any update)
   * has them read in a second query of details only (two: 74 a query). PRs with more reviews or
   * review requests than one query reads are fetched through REST instead, which gives them all.
   * A PR whose part of the answer carries an error (GitHub nulls that part and names it in the
   * error's `path`) gets that error, never a guess from the incomplete data.
   */
  async #readPulls(pulls: readonly PullRef[], call: CallOptions): Promise<Map<string, PrFields | Error>> {
    const out = new Map<string, PrFields | Error>();
    const viaRest: PullRef[] = [];
    const token = tokenFingerprint(call.token);
    const cacheKey = (pull: PullRef) => `${pullKey(pull)} ${token}`;
    const now = () => this.#clock.now().getTime();
    /** What a full read saw, so that a later round can tell from the PR list that nothing moved. */
    const remember = (pull: PullRef, node: GraphqlPull, fields: PrFields) =>
      this.#rememberRead(cacheKey(pull), node.updatedAt, node.headRefOid, fields);
    const items = pulls.map((pull) => ({
      pull,
      details: this.#pullDetails && (pull.fresh === true || !this.#details.usable(cacheKey(pull), now())),
    }));
    const changed: { pull: PullRef; node: GraphqlPull }[] = [];
    /** PRs whose details were read (`found`, with the PR's cheap fields as `node`). */
    const read: { pull: PullRef; node: GraphqlPull; found: GraphqlDetails }[] = [];
    for (const chunk of packByConnections(
      items,
      (i) => CONNECTIONS_PER_PULL + (i.details ? DETAIL_CONNECTIONS : 0),
    )) {
      const { data, errors } = await this.#pullsQuery(
        chunk.map((i) => i.pull),
        (j) => chunk[j]!.details,
        call,
      );
      chunk.forEach(({ pull, details }, j) => {
        const problem = aliasProblem(`p${j}`, errors, pullKey(pull));
        const node = data[`p${j}`]?.pullRequest;
        if (problem) out.set(pullKey(pull), problem);
        else if (!node) out.set(pullKey(pull), hostNotFound(`github: no pull request ${pullKey(pull)}`));
        else if (
          (node.reviews?.totalCount ?? 0) > REVIEWS_PER_PULL ||
          (node.reviewRequests?.totalCount ?? 0) > REVIEW_REQUESTS_PER_PULL
        )
          viaRest.push(pull);
        else {
          const known = details
            ? null
            : this.#details.get(cacheKey(pull), PullDetailsCache.stamp(node), now());
          if (!this.#pullDetails) out.set(pullKey(pull), fromGraphql(node, null));
          else if (details) read.push({ pull, node, found: node });
          else if (!known) changed.push({ pull, node });
          else {
            const fields = fromGraphql(node, known);
            remember(pull, node, fields);
            out.set(pullKey(pull), fields);
          }
        }
      });
    }
    const perDetailsQuery = Math.floor(REQUESTS_PER_POINT / DETAIL_CONNECTIONS);
    for (let i = 0; i < changed.length; i += perDetailsQuery) {
      const chunk = changed.slice(i, i + perDetailsQuery);
      const { query, variables } = buildDetailsQuery(chunk.map((c) => c.pull));
      const { data, errors } = await this.#graphqlData(query, variables, graphqlDetailsResponseSchema, call);
      chunk.forEach(({ pull, node }, j) => {
        const problem = aliasProblem(`p${j}`, errors, pullKey(pull));
        const found = data[`p${j}`]?.pullRequest;
        if (problem) out.set(pullKey(pull), problem);
        else if (!found) out.set(pullKey(pull), hostNotFound(`github: no pull request ${pullKey(pull)}`));
        // Pushed between the two reads: the details are of the newer head, so is the SHA shown.
        else read.push({ pull, node: { ...node, headRefOid: found.headRefOid ?? node.headRefOid }, found });
      });
    }
    for (const { pull, node, found } of read) {
      let details: PullDetails;
      try {
        details = await this.#allChecks(pull, found, detailsOf(found), call);
      } catch (error) {
        out.set(pullKey(pull), error as Error);
        continue;
      }
      this.#details.set(cacheKey(pull), PullDetailsCache.stamp(node), details, now());
      const fields = fromGraphql(node, details);
      remember(pull, node, fields);
      out.set(pullKey(pull), fields);
    }
    for (const pull of viaRest) {
      out.set(pullKey(pull), await this.fetchPull(pull, call).catch((error: Error) => error));
    }
    return out;
  }

  /**
   * One batch of `buildPullsQuery`: with `mergeStateStatus` and the merge-info preview's media type
   * (which an Enterprise Server needs to show the field: GitHub docs, "Schema previews") while this
   * server has the field. A server that answers it has no such field fails validation of the whole
   * query; it is then remembered as lacking it, and the same batch asked again without it —
   * `mergeable` alone tells the merge state (see fromGraphql). The batch never fails for it.
   */
  async #pullsQuery(pulls: readonly PullRef[], withDetails: (i: number) => boolean, call: CallOptions) {
    if (this.#mergeStateStatus) {
      const { query, variables } = buildPullsQuery(pulls, withDetails);
      try {
        return await this.#graphqlData(
          query,
          variables,
          graphqlPullsResponseSchema,
          call,
          MERGE_INFO_PREVIEW,
        );
      } catch (error) {
        if (!(error instanceof MergeStateStatusMissing)) throw error;
        this.#mergeStateStatus = false;
      }
    }
    const { query, variables } = buildPullsQuery(pulls, withDetails, { mergeStateStatus: false });
    return this.#graphqlData(query, variables, graphqlPullsResponseSchema, call);
  }

  /**
   * Remembers a full read of a PR that is settled — merged or closed, or open with its checks
   * finished and its mergeability known — so that the PR list can stand for the next reads;
   * forgets one that is not (running checks and mergeability being computed are read every time).
   */
  #rememberRead(
    key: string,
    updatedAt: string | undefined,
    headSha: string | undefined,
    fields: PrFields,
  ): void {
    const at = updatedAt ? Date.parse(updatedAt) : Number.NaN;
    // No checks yet is settled only once the PR has been quiet a while: CI posts its first runs on
    // the same commit, which moves nothing in the list.
    const quiet = this.#clock.now().getTime() - at >= NO_CHECKS_SETTLE_MS;
    const settled =
      fields.pull_request_state !== 'open' ||
      (fields.checks_state !== 'pending' &&
        (fields.checks_state !== 'none' || quiet) &&
        fields.merge_state !== 'unknown');
    this.#reads.delete(key);
    if (!settled || !headSha || Number.isNaN(at)) return;
    this.#reads.set(key, { updatedAt: at, headSha, at: this.#clock.now().getTime() });
    if (this.#reads.size > CACHE_ENTRIES) this.#reads.delete(this.#reads.keys().next().value!);
  }

  /**
   * The PRs a repository's list of open PRs shows unchanged since their last full read. The list
   * is read oldest first (`GET /repos/{o}/{r}/pulls?state=open&sort=created&direction=asc`, 100 a
   * page, as many pages as hold the PRs asked for, at most MAX_LIST_PAGES), so a page changes only
   * when one of its own PRs does (new PRs land on the last page): every page is a conditional
   * request, free when answered 304 ("Best practices for using the REST API"). Whatever changes a
   * PR for a reader moves its `updated_at` or its head commit there (a push, a title, a review, a
   * comment, a merge or close, which also takes it off the list); the checks of its head commit
   * and its mergeability do not, so only PRs whose checks are finished and whose mergeability is
   * known are answered this way, and every PR is read in full at least every DETAILS_MAX_AGE_MS.
   * A PR not found within those pages, a list that cannot be read, anything uncertain: read as before.
   */
  async #unchangedByList(pulls: readonly PullRef[], call: CallOptions): Promise<Set<string>> {
    const out = new Set<string>();
    const token = tokenFingerprint(call.token);
    const now = this.#clock.now().getTime();
    const byRepo = new Map<
      string,
      { repo: RepoRef; pulls: { pull: PullRef; seen: { updatedAt: number; headSha: string; at: number } }[] }
    >();
    const listPaused = this.#listPausedUntil.get(token);
    if (listPaused !== undefined && listPaused > now) return out;
    for (const pull of pulls) {
      // A signal asked for this read: the list says nothing of checks re-run on the same head.
      if (pull.fresh) continue;
      const seen = this.#reads.get(`${pullKey(pull)} ${token}`);
      if (!seen || now - seen.at >= DETAILS_MAX_AGE_MS) continue;
      // What the caller shows must be no older than this provider's last full read (another
      // chat's refresh may have read the PR since this one's): else "unchanged" would keep it old.
      if (!pull.shownSince || pull.shownSince.getTime() < seen.at) continue;
      const key = repoKey(pull.repo);
      const group = byRepo.get(key) ?? { repo: pull.repo, pulls: [] };
      group.pulls.push({ pull, seen });
      byRepo.set(key, group);
    }
    await Promise.all(
      [...byRepo].map(async ([repoKey, group]) => {
        let items: Map<number, ListedPull>;
        try {
          items = await this.#openPullList(
            `${repoKey} ${token}`,
            group.repo,
            group.pulls.map((p) => p.pull.number),
            Math.max(...group.pulls.map((p) => p.seen.at)),
            call,
          );
        } catch (error) {
          // The list's budget (REST `core`) is limited: no list until its reset; read in full.
          if (error instanceof RateLimitedError) {
            this.#listPausedUntil.set(token, error.resetAt.getTime());
            if (this.#listPausedUntil.size > 10_000) this.#listPausedUntil.clear();
          }
          return;
        }
        for (const { pull, seen } of group.pulls) {
          const item = items.get(pull.number);
          if (item && item.updatedAt === seen.updatedAt && item.headSha === seen.headSha)
            out.add(pullKey(pull));
        }
      }),
    );
    return out;
  }

  /**
   * The open PRs of a repository as its list shows them this round, read page after page until
   * `wanted` are all seen (or MAX_LIST_PAGES); pages already read this round (LIST_ROUND_MS) serve
   * every batch, and concurrent batches wait for one another instead of reading a page twice. A
   * round begun no later than `readAfter` (the last full read of a PR asked about) is not used: a
   * list older than a read cannot say that nothing moved since.
   */
  async #openPullList(
    key: string,
    repo: RepoRef,
    wanted: readonly number[],
    readAfter: number,
    call: CallOptions,
  ): Promise<Map<number, ListedPull>> {
    const now = this.#clock.now().getTime();
    let round = this.#lists.get(key);
    if (!round || now - round.at >= LIST_ROUND_MS || round.at <= readAfter) {
      const query = new URLSearchParams({
        state: 'open',
        sort: 'created',
        direction: 'asc',
        per_page: '100',
      });
      round = {
        at: now,
        items: new Map(),
        next: `/repos/${enc(repo.owner)}/${enc(repo.name)}/pulls?${query}`,
        pages: 0,
        busy: Promise.resolve(),
      };
      if (this.#lists.size > 10_000) this.#lists.clear();
      this.#lists.set(key, round);
    }
    const r = round;
    const read = r.busy.then(async () => {
      while (r.next && r.pages < MAX_LIST_PAGES && wanted.some((n) => !r.items.has(n))) {
        const { value, next } = await this.client.get('list_pulls', r.next, pullListSchema, call);
        for (const p of value)
          r.items.set(p.number, { updatedAt: Date.parse(p.updated_at), headSha: p.head.sha });
        r.next = next;
        r.pages++;
      }
    });
    r.busy = read.catch(() => {});
    await read;
    return r.items;
  }

  /**
   * What an agent needs to act on (one GraphQL query, one point): the failed checks of the head
   * commit with GitHub's text for each, the unresolved review threads by their first comment, and
   * whoever's latest review requests changes.
   */
  async fetchFeedback(pull: PullRef, call: CallOptions): Promise<PullFeedback> {
    const { query, variables } = buildFeedbackQuery(pull);
    const { data, errors } = await this.#graphqlData(query, variables, graphqlFeedbackResponseSchema, call);
    const problem = aliasProblem('repository', errors, pullKey(pull));
    if (problem) throw problem;
    const pr = data.repository?.pullRequest;
    if (!pr) throw hostNotFound(`github: no pull request ${pullKey(pull)}`);
    return feedbackOf(pr);
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
    const read = await this.#readPulls([...chosen.values()], call);
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
    accept?: string,
  ): Promise<{ data: D; errors: GraphqlErrors }> {
    const tokenKey = tokenFingerprint(call.token);
    const paused = this.#graphqlPaused.get(tokenKey);
    if (paused && paused.resetAt > this.#clock.now()) throw paused;
    const limited = (error: RateLimitedError) => {
      this.#graphqlPaused.set(tokenKey, error);
      return error;
    };
    const { value, headers } = await this.client
      .graphql(this.#graphqlUrl, query, variables, schema, call, accept)
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
    if (!value.data && namesMissingField(errors, 'PullRequest', 'mergeStateStatus'))
      throw new MergeStateStatusMissing(`github GraphQL: ${errors[0]?.message}`);
    const general = errors.find((e) => !e.path || e.path.length === 0);
    if (!value.data || general)
      throw new UnavailableError(`github GraphQL failed: ${(general ?? errors[0])?.message ?? 'no data'}`);
    return { data: value.data, errors };
  }

  requestCounts(): RequestCounts {
    return structuredClone(this.client.counts);
  }
}

/** The server refused a query for naming `PullRequest.mergeStateStatus`, which it lacks (see #pullsQuery). */
class MergeStateStatusMissing extends UnavailableError {}

/**
 * `owner`: the repository's owner as asked, should REST not name the base repository. `checks`:
 * the head commit's, null when REST named no head commit. Comments are the conversation's and the
 * review threads' together, as GraphQL's `totalCommentsCount` counts them.
 */
function toFields(
  pr: Pull,
  reviews: Parameters<typeof summarizeReviews>[0],
  owner: string,
  checks: Pick<PrFields, 'checks_state' | 'checks'> | null,
  extras: { decision: string | null | undefined; threads: number },
): PrFields {
  const state = mapPullState(pr);
  return {
    url: pr.html_url,
    pull_request_state: state,
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
    head_sha: pr.head.sha ?? null,
    checks_state: checks?.checks_state ?? null,
    checks: checks?.checks ?? null,
    // `mergeable` null: GitHub is still computing it, whatever `mergeable_state` says meanwhile.
    ...mergeStateOf(
      pr.mergeable === null ? 'unknown' : pr.mergeable_state,
      pr.draft ?? false,
      state === 'open',
    ),
    awaiting_approval:
      state === 'open'
        ? awaitingApproval(extras.decision, pr.mergeable === null ? 'unknown' : pr.mergeable_state)
        : null,
    unresolved_threads: extras.threads,
    comments: pr.comments == null || pr.review_comments == null ? null : pr.comments + pr.review_comments,
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

/** `details` null: not read (GitHubProviderOptions.pullDetails false). */
function fromGraphql(pr: GraphqlPull, details: PullDetails | null): PrFields {
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
    ...applyReviewDecision(reviews, pr.reviewDecision ?? null),
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
    head_sha: pr.headRefOid ?? null,
    checks_state: details?.checks_state ?? null,
    checks: details?.checks ?? null,
    // `mergeable` UNKNOWN: GitHub is still computing it (REST's null). A server without
    // `mergeStateStatus` (not asked: undefined) tells only `mergeable`: MERGEABLE or CONFLICTING.
    ...mergeStateOf(
      pr.mergeable === 'UNKNOWN' ? 'UNKNOWN' : (pr.mergeStateStatus ?? pr.mergeable),
      pr.isDraft ?? false,
      pr.state === 'OPEN',
    ),
    awaiting_approval:
      pr.state === 'OPEN'
        ? awaitingApproval(
            pr.reviewDecision ?? null,
            pr.mergeable === 'UNKNOWN' ? 'UNKNOWN' : (pr.mergeStateStatus ?? pr.mergeable),
          )
        : null,
    unresolved_threads: details?.unresolved_threads ?? null,
    comments: pr.totalCommentsCount ?? null,
  };
}

/**
 * Packs items into queries of at most REQUESTS_PER_POINT connection requests each (one point),
 * in order; `weight` is an item's connections.
 */
function packByConnections<T>(items: readonly T[], weight: (item: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let used = 0;
  for (const item of items) {
    const w = weight(item);
    if (current.length > 0 && used + w > REQUESTS_PER_POINT) {
      out.push(current);
      current = [];
      used = 0;
    }
    current.push(item);
    used += w;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** The feedback of a GraphQL answer (see `fetchFeedback`). */
function feedbackOf(pr: GraphqlFeedback): PullFeedback {
  const contexts = pr.statusCheckRollup?.contexts ?? { totalCount: 0, nodes: [] };
  const failing_checks: PullFeedback['failing_checks'] = [];
  for (const c of contexts.nodes) {
    if (c?.__typename === 'CheckRun' && c.name !== undefined && c.status !== undefined) {
      if (checkRunOutcome(c.status, c.conclusion) === 'failed')
        failing_checks.push({
          name: c.name,
          url: c.detailsUrl ?? c.url ?? null,
          summary: [c.title, c.summary].filter((t): t is string => !!t).join('\n\n') || null,
        });
    } else if (c?.__typename === 'StatusContext' && c.context !== undefined && c.state !== undefined) {
      if (commitStatusOutcome(c.state) === 'failed')
        failing_checks.push({ name: c.context, url: c.targetUrl ?? null, summary: c.description ?? null });
    }
  }
  const unresolved_threads: PullFeedback['unresolved_threads'] = [];
  for (const t of pr.reviewThreads.nodes) {
    if (!t || t.isResolved) continue;
    const first = t.comments.nodes[0];
    unresolved_threads.push({
      path: t.path ?? null,
      line: t.line ?? null,
      author: graphqlLogin(first?.author),
      author_association: first?.authorAssociation ?? null,
      trusted: githubTrust(first?.authorAssociation),
      body: first?.body ?? '',
      url: first?.url ?? null,
    });
  }
  const changes_requested_by = pr.latestOpinionatedReviews.nodes.flatMap((r) => {
    const login = r?.state === 'CHANGES_REQUESTED' ? graphqlLogin(r.author) : null;
    return login === null ? [] : [{ name: login, trusted: githubTrust(r?.authorAssociation) }];
  });
  return {
    failing_checks,
    unresolved_threads,
    changes_requested_by,
    truncated:
      contexts.totalCount > contexts.nodes.length ||
      pr.reviewThreads.totalCount > pr.reviewThreads.nodes.length ||
      pr.latestOpinionatedReviews.totalCount > pr.latestOpinionatedReviews.nodes.length,
  };
}

/**
 * Prefer an open PR; among the others, the newest — the highest number (GitHub numbers a
 * repository's PRs in the order they are opened). Not the most recently updated: a comment on an
 * old merged PR moves its `updated_at`, and must not take the branch back to it.
 */
export function pickPull<T>(
  pulls: readonly T[],
  describe: (p: T) => { open: boolean; number: number },
): T | null {
  let best: T | null = null;
  for (const p of pulls) {
    if (best === null) {
      best = p;
      continue;
    }
    const a = describe(p);
    const b = describe(best);
    if ((a.open && !b.open) || (a.open === b.open && a.number > b.number)) best = p;
  }
  return best;
}

const describeListItem = (p: PullListItem) => ({ open: mapPullState(p) === 'open', number: p.number });
const describeCandidate = (p: GraphqlCandidate) => ({
  open: mapPullState({ state: p.state, merged: p.merged ?? p.state === 'MERGED' }) === 'open',
  number: p.number,
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
