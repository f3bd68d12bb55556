import { NotFoundError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import {
  type PrFields,
  type PrState,
  type RequestedReviewer,
  sortRequestedReviewers,
} from '../../core/types.ts';
import { NOT_READ_YET } from '../checks.ts';
import { isOnHost, matchRepoOnHost, matchWebPath, pullNumber } from '../origin-match.ts';
import type {
  CallOptions,
  Provider,
  ProviderCapabilities,
  ProviderConfig,
  ProviderDeps,
  ProviderWebhooks,
  PullRef,
  RepoRef,
} from '../types.ts';
import { GiteaClient, type GiteaClientOptions, totalCount } from './client.ts';
import {
  anyListSchema,
  type GiteaPull,
  type GiteaReview,
  pullListSchema,
  pullSchema,
  type RepoInfo,
  repoSchema,
  reviewListSchema,
} from './schemas.ts';
import { giteaWebhooks } from './webhooks.ts';

export type GiteaKind = 'gitea' | 'forgejo';

/**
 * Items asked per list page. Gitea caps every page at `[api] MAX_RESPONSE_ITEMS` (50 by default;
 * Gitea docs, "Config Cheat Sheet", section `[api]`) and silently answers fewer when asked for
 * more, so pages are followed by `X-Total-Count`, never by "a short page is the last".
 */
export const PAGE_LIMIT = 50;
/** Pages read at most when looking for a branch's PR: the 250 most recently updated PRs by default. */
export const MAX_LIST_PAGES = 5;
/** Pages of reviews read at most (250 reviews by default). */
const MAX_REVIEW_PAGES = 5;
/** Pages of commits counted at most when a server sends no `X-Total-Count`. */
const MAX_COMMIT_PAGES = 20;
/** How long what a repository says of itself (its fork parent, its visibility) is trusted. */
const REPO_TTL_MS = 10 * 60_000;
/**
 * Title prefixes that mark a work-in-progress PR where the API has no `draft` field: Gitea's
 * default `[repository.pull-request] WORK_IN_PROGRESS_PREFIXES = WIP:,[WIP]` (Config Cheat
 * Sheet), compared without case as Gitea does.
 */
const WIP_PREFIXES = ['wip:', '[wip]'];
/** Owner and repository names Gitea accepts (alphanumerics, `-`, `_`, `.`; Gitea docs, "Repository"). */
const SEGMENT = /^[A-Za-z0-9_.-]+$/;

/**
 * Gitea's state → ours: `merged` (the single read's boolean, else `merged_at`) → merged, else the
 * PR's `state` (`open` | `closed`; swagger `StateType`).
 */
function mapState(pull: GiteaPull): PrState {
  if (pull.merged ?? Boolean(pull.merged_at)) return 'merged';
  return pull.state.toLowerCase() === 'closed' ? 'closed' : 'open';
}

const pathOf = (repo: RepoRef) => `${repo.owner}/${repo.name}`;
const apiPath = (repo: RepoRef) =>
  `/repos/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}`;
const samePath = (a: string | null | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();
const splitFullName = (fullName: string): RepoRef | null => {
  const [owner, name, ...rest] = fullName.split('/');
  return owner && name && rest.length === 0 ? { owner, name } : null;
};

/** Gitea and Forgejo (self-hosted, often under a path such as `https://host/gitea`). */
export class GiteaProvider implements Provider {
  readonly client: GiteaClient;
  /** Gitea has no batch API (no GraphQL): every PR is read on its own. */
  readonly capabilities: ProviderCapabilities = { pullsPerBatch: 0, branchesPerBatch: 0, minBatch: 1 };
  readonly webhooks: ProviderWebhooks;
  readonly #repos = new Map<string, { info: RepoInfo | null; until: number }>();
  /** Commits of a PR by (PR, head, merge base): the same head on the same base has the same commits. */
  readonly #commits = new Map<string, number | null>();
  readonly #clock: ProviderDeps['clock'];

  constructor(
    readonly config: ProviderConfig,
    readonly kind: GiteaKind,
    options: GiteaClientOptions,
  ) {
    this.client = new GiteaClient(config.api_url, kind, options);
    this.#clock = options.clock;
    this.webhooks = giteaWebhooks(this, kind);
  }

  matches(origin: string): boolean {
    return isOnHost(origin, this.config.web_url);
  }

  parseOrigin(origin: string): RepoRef | null {
    const repo = matchRepoOnHost(origin, this.config.web_url, false);
    if (!repo) return null;
    return SEGMENT.test(repo.owner) && SEGMENT.test(repo.name) ? repo : null;
  }

  repoUrl(repo: RepoRef): string {
    return `${this.config.web_url}/${pathOf(repo)}`;
  }

  /** `web_url/owner/repo/pulls/N`, with any trailing path (`/files`), query or fragment ignored. */
  parsePullUrl(url: string): PullRef | null {
    const m = matchWebPath(url, this.config.web_url, /^\/([^/]+)\/([^/]+)\/pulls\/(\d+)(?:\/.*)?$/);
    const number = m ? pullNumber(m[3]!) : null;
    if (!m || number === null || !SEGMENT.test(m[1]!) || !SEGMENT.test(m[2]!)) return null;
    return { repo: { owner: m[1]!, name: m[2]! }, number };
  }

  buildPullUrl(pull: PullRef): string {
    return `${this.config.web_url}/${pathOf(pull.repo)}/pulls/${pull.number}`;
  }

  /** One PR: the PR itself, its reviews, and its commit count (cached while head and base stay). */
  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const { data } = await this.client.get(`${apiPath(pull.repo)}/pulls/${pull.number}`, pullSchema, call);
    return this.#complete(pull.repo, data, call);
  }

  /**
   * The PR whose head is `branch` of `repo`: candidates among the repository's PRs in every state,
   * most recently updated first, whose head is that branch of that repository — an open one
   * first, else the most recently updated. A fork's PRs live in its parent (`GET /repos/{o}/{r}` →
   * `parent`), asked when the fork itself has none. Not `GET …/pulls/{base}/{head}`: it answers one
   * PR for a (base, head) pair, needs the base, and says nothing about which of several is current.
   */
  async findPullForBranch(repo: RepoRef, branch: string, call: CallOptions): Promise<PrFields | null> {
    let where = repo;
    let pick = await this.#candidate(repo, repo, branch, call);
    if (!pick) {
      const info = await this.#repo(repo, call);
      const parent = info?.parent ? splitFullName(info.parent.full_name) : null;
      if (!parent) return null;
      where = parent;
      pick = await this.#candidate(parent, repo, branch, call);
      if (!pick) return null;
    }
    // List items are whole `PullRequest`s; a server that leaves the sizes out of lists is asked
    // for the single PR so that every read shows the same fields.
    if (pick.additions == null && pick.deletions == null && pick.changed_files == null)
      return this.fetchPull({ repo: where, number: pick.number }, call);
    return this.#complete(where, pick, call);
  }

  /**
   * Whether the host says `repo` is public: `private` false, not `internal`, and an owner whose
   * `visibility` is public (a repository of a `limited` or `private` organization is not, though
   * Gitea sets `internal` only for the latter). An answer without these fields is not public.
   */
  async isRepoPublic(repo: RepoRef, call: CallOptions): Promise<boolean> {
    const info = await this.#repo(repo, call);
    return info?.private === false && info.internal !== true && info.owner?.visibility === 'public';
  }

  /** The PR in `where` whose head is `branch` of `head`, by the rules of `findPullForBranch`. */
  async #candidate(
    where: RepoRef,
    head: RepoRef,
    branch: string,
    call: CallOptions,
  ): Promise<GiteaPull | null> {
    const matches: GiteaPull[] = [];
    let seen = 0;
    for (let page = 1; page <= MAX_LIST_PAGES; page++) {
      const { data, headers } = await this.client.get(
        `${apiPath(where)}/pulls?state=all&sort=recentupdate&limit=${PAGE_LIMIT}&page=${page}`,
        pullListSchema,
        call,
      );
      for (const pull of data) {
        if (pull.head.ref !== branch) continue;
        const headRepo = pull.head.repo?.full_name;
        const mine = headRepo
          ? samePath(headRepo, pathOf(head))
          : // The head's fork is gone: only a PR within the repository itself can still be ours.
            samePath(pathOf(where), pathOf(head)) &&
            pull.head.repo_id != null &&
            pull.head.repo_id === pull.base.repo_id;
        if (!mine) continue;
        if (mapState(pull) === 'open') return pull;
        matches.push(pull);
      }
      seen += data.length;
      const total = totalCount(headers);
      // Without a total, only an empty page ends the list (a server may cap pages below the limit).
      if (data.length === 0 || (total !== null && seen >= total)) break;
    }
    return matches.sort((a, b) => Date.parse(b.updated_at ?? '') - Date.parse(a.updated_at ?? ''))[0] ?? null;
  }

  /** What the repository says of itself, cached per token; null when the host does not show it (404). */
  async #repo(repo: RepoRef, call: CallOptions): Promise<RepoInfo | null> {
    const key = `${pathOf(repo).toLowerCase()} ${tokenFingerprint(call.token)}`;
    const now = this.#clock.now().getTime();
    const cached = this.#repos.get(key);
    if (cached && cached.until > now) return cached.info;
    let info: RepoInfo | null;
    try {
      info = (await this.client.get(apiPath(repo), repoSchema, call)).data;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      info = null;
    }
    if (this.#repos.size > 10_000) this.#repos.clear();
    this.#repos.set(key, { info, until: now + REPO_TTL_MS });
    return info;
  }

  async #complete(repo: RepoRef, pull: GiteaPull, call: CallOptions): Promise<PrFields> {
    const [reviews, commits] = await Promise.all([
      this.#reviews(repo, pull.number, call),
      this.#commitCount(repo, pull, call),
    ]);
    return this.#toFields(repo, pull, reviews, commits);
  }

  /** All reviews of a PR, oldest first (`GET …/pulls/{n}/reviews`), bounded. */
  async #reviews(repo: RepoRef, number: number, call: CallOptions): Promise<GiteaReview[]> {
    const out: GiteaReview[] = [];
    for (let page = 1; page <= MAX_REVIEW_PAGES; page++) {
      const { data, headers } = await this.client.get(
        `${apiPath(repo)}/pulls/${number}/reviews?limit=${PAGE_LIMIT}&page=${page}`,
        reviewListSchema,
        call,
      );
      out.push(...data);
      const total = totalCount(headers);
      if (data.length === 0 || (total !== null && out.length >= total)) break;
    }
    return out;
  }

  /**
   * The PR's commits, exactly: `X-Total-Count` of `GET …/pulls/{n}/commits?limit=1` (the swagger's
   * `repoGetPullRequestCommits`; `verification=false&files=false` spare the server the per-commit
   * work where it supports them, and are ignored where not). A server that sends no total is
   * counted page by page, bounded; past the bound, null. Remembered per (head, merge base).
   */
  async #commitCount(repo: RepoRef, pull: GiteaPull, call: CallOptions): Promise<number | null> {
    const key =
      pull.head.sha && pull.merge_base
        ? `${pathOf(repo).toLowerCase()}#${pull.number} ${pull.head.sha} ${pull.merge_base}`
        : null;
    if (key && this.#commits.has(key)) return this.#commits.get(key)!;
    const path = `${apiPath(repo)}/pulls/${pull.number}/commits`;
    const first = await this.client.get(
      `${path}?limit=1&verification=false&files=false`,
      anyListSchema,
      call,
    );
    let count = totalCount(first.headers);
    if (count === null) {
      count = 0;
      for (let page = 1; ; page++) {
        if (page > MAX_COMMIT_PAGES) {
          count = null;
          break;
        }
        const { data } = await this.client.get(
          `${path}?limit=${PAGE_LIMIT}&page=${page}&verification=false&files=false`,
          anyListSchema,
          call,
        );
        count += data.length;
        if (data.length === 0) break;
      }
    }
    if (key) {
      if (this.#commits.size > 50_000) this.#commits.clear();
      this.#commits.set(key, count);
    }
    return count;
  }

  /** One PR as gitsync shows it (docs/gitea.md, "What maps to what"). */
  #toFields(
    repo: RepoRef,
    pull: GiteaPull,
    reviews: readonly GiteaReview[],
    commits: number | null,
  ): PrFields {
    // Per person (login without case), the latest review (highest id) that is not dismissed and
    // gives a verdict: APPROVED or REQUEST_CHANGES. COMMENT and PENDING give none; a stale review
    // (new commits since) still stands, as in Gitea's own view, unless the branch protection's
    // "dismiss stale approvals" dismissed it (Gitea docs, "Protected branches").
    const verdicts = new Map<string, { id: number; state: string }>();
    // The latest entry of any kind per person: a request (REQUEST_REVIEW) after their last review
    // means they are asked again.
    const latest = new Map<string, string>();
    for (const review of [...reviews].sort((a, b) => a.id - b.id)) {
      const login = review.user?.login.toLowerCase();
      if (!login) continue; // a team's review request names no person
      const state = review.state.toUpperCase();
      if (state !== 'PENDING') latest.set(login, state);
      if (review.dismissed || (state !== 'APPROVED' && state !== 'REQUEST_CHANGES')) continue;
      verdicts.set(login, { id: review.id, state });
    }
    const standing = [...verdicts.values()];
    const changesRequested = standing.some((v) => v.state === 'REQUEST_CHANGES');
    const approved = !changesRequested && standing.some((v) => v.state === 'APPROVED');
    const draft = pull.draft ?? WIP_PREFIXES.some((p) => pull.title.trimStart().toLowerCase().startsWith(p));
    // Asked and not reviewed yet: `requested_reviewers` (people) without a review of theirs after
    // the request, and `requested_reviewers_teams` (Gitea 1.22+).
    const requested: RequestedReviewer[] = [];
    for (const user of pull.requested_reviewers ?? []) {
      if (!user) continue;
      const last = latest.get(user.login.toLowerCase());
      if (last === undefined || last === 'REQUEST_REVIEW') requested.push({ kind: 'user', name: user.login });
    }
    for (const team of pull.requested_reviewers_teams ?? []) {
      if (!team) continue;
      const org = team.organization?.username;
      requested.push({ kind: 'team', name: org ? `${org}/${team.name}` : team.name });
    }
    return {
      url: this.buildPullUrl({ repo, number: pull.number }),
      pull_request_state: mapState(pull),
      pull_request_title: pull.title,
      pull_request_draft: draft,
      changes_requested: changesRequested,
      approved,
      reviewer_count: standing.length,
      additions: pull.additions ?? null,
      deletions: pull.deletions ?? null,
      changed_files: pull.changed_files ?? null,
      commits,
      pr_number: pull.number,
      author_login: pull.user?.login ?? null,
      author_avatar_url: pull.user?.avatar_url || null,
      base_branch: pull.base.ref,
      head_branch: pull.head.ref,
      requested_reviewers: sortRequestedReviewers([
        ...new Map(requested.map((r) => [`${r.kind} ${r.name.toLowerCase()}`, r])).values(),
      ]),
      ...NOT_READ_YET,
    };
  }
}

export function createGiteaProvider(
  config: ProviderConfig,
  deps: ProviderDeps,
  kind: GiteaKind,
): GiteaProvider {
  return new GiteaProvider(config, kind, { clock: deps.clock });
}
