import type { z } from 'zod';
import { NotFoundError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import {
  type PrFields,
  type PrState,
  type RequestedReviewer,
  sortRequestedReviewers,
} from '../../core/types.ts';
import { NOT_READ_YET } from '../checks.ts';
import { hostPullUrl, isOnHost, matchRepoOnHost, matchWebPath, pullNumber } from '../origin-match.ts';
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
import { BitbucketClient, type BitbucketClientOptions } from './client.ts';
import {
  type BbAccount,
  type BbPull,
  type BbRepository,
  commitsPageSchema,
  diffstatPageSchema,
  pullListSchema,
  pullSchema,
  repositorySchema,
} from './schemas.ts';
import { bitbucketWebhooks } from './webhooks.ts';

/**
 * A workspace ID or repository slug as Bitbucket makes them: letters, digits, `-`, `_`, `.`
 * (Atlassian, "URI, UUID, and structures"; slugs are lower-case, so origins are stored lower-case).
 */
const SEGMENT = /^[a-z0-9_.-]+$/;
/** How long what a repository says of itself (its fork parent, its privacy) is trusted. */
const REPO_TTL_MS = 10 * 60_000;
/** Every state, since the list answers only OPEN ones by default ("Pullrequests": `state`, repeatable). */
const ALL_STATES = ['OPEN', 'MERGED', 'DECLINED', 'SUPERSEDED'] as const;
/** The largest page asked of a list ("Pagination": `pagelen`; 50 is the PR list's maximum). */
const LIST_PAGELEN = 50;
/** Pages walked at most for the diffstat or the commits of one PR (with Bitbucket's pages, thousands). */
const MAX_PAGES = 100;

/**
 * Bitbucket's state → ours: `OPEN` → open, `MERGED` → merged, `DECLINED` and `SUPERSEDED` (replaced
 * by another PR) → closed ("Bitbucket Cloud REST API, Pullrequests": `state`).
 */
export function mapState(state: string): PrState {
  const s = state.toUpperCase();
  if (s === 'MERGED') return 'merged';
  if (s === 'DECLINED' || s === 'SUPERSEDED') return 'closed';
  return 'open';
}

type Sizes = Pick<PrFields, 'additions' | 'deletions' | 'changed_files' | 'commits'>;

const pathOf = (repo: RepoRef) => `${repo.owner}/${repo.name}`;
const apiPath = (repo: RepoRef) =>
  `/repositories/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}`;
const samePath = (a: string | null | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();

/** A BBQL string literal: double quotes, with `"` and `\` escaped ("Filter and sort API objects"). */
const bbqlString = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/** Bitbucket Cloud (`https://bitbucket.org`, API `https://api.bitbucket.org/2.0`). */
export class BitbucketProvider implements Provider {
  readonly client: BitbucketClient;
  /** Bitbucket has no batch read: one PR at a time (no GraphQL, no multi-PR query). */
  readonly capabilities: ProviderCapabilities = { pullsPerBatch: 0, branchesPerBatch: 0, minBatch: 1 };
  readonly webhooks: ProviderWebhooks = bitbucketWebhooks(this);
  readonly #clock: ProviderDeps['clock'];
  readonly #repos = new Map<string, { info: BbRepository | null; until: number }>();
  /**
   * Sizes and commit counts per (token, PR, source commit, destination commit): they change only
   * when one of the two commits does, so an unchanged PR is one request.
   */
  readonly #sizes = new Map<string, Sizes>();

  constructor(
    readonly config: ProviderConfig,
    options: BitbucketClientOptions,
  ) {
    this.client = new BitbucketClient(config.api_url, options);
    this.#clock = options.clock;
  }

  matches(origin: string): boolean {
    return isOnHost(origin, this.config.web_url);
  }

  /** `https://[user@]bitbucket.org/{workspace}/{repo}[.git]`, `git@bitbucket.org:{workspace}/{repo}.git`, `ssh://…`. */
  parseOrigin(origin: string): RepoRef | null {
    const repo = matchRepoOnHost(origin, this.config.web_url, false);
    if (!repo) return null;
    const lower = { owner: repo.owner.toLowerCase(), name: repo.name.toLowerCase() };
    return SEGMENT.test(lower.owner) && SEGMENT.test(lower.name) ? lower : null;
  }

  repoUrl(repo: RepoRef): string {
    return `${this.config.web_url}/${pathOf(repo)}`;
  }

  /** `web_url/{workspace}/{repo}/pull-requests/{id}`, with a trailing tab (`/diff`), query or fragment ignored. */
  parsePullUrl(url: string): PullRef | null {
    const m = matchWebPath(url, this.config.web_url, /^\/([^/]+)\/([^/]+)\/pull-requests\/(\d+)(?:\/.*)?$/);
    const number = m ? pullNumber(m[3]!) : null;
    if (!m || number === null) return null;
    const repo = { owner: m[1]!.toLowerCase(), name: m[2]!.toLowerCase() };
    if (!SEGMENT.test(repo.owner) || !SEGMENT.test(repo.name)) return null;
    return { repo, number };
  }

  buildPullUrl(pull: PullRef): string {
    return `${this.config.web_url}/${pathOf(pull.repo)}/pull-requests/${pull.number}`;
  }

  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    this.client.gate(call);
    return this.#read(pull, call);
  }

  /**
   * The PR of a branch: the PRs of the origin's repository in every state whose source branch is
   * `branch` and whose source repository is the origin's (a PR from a fork lists in its
   * destination); an open one first, else the most recently updated. None there and the origin is
   * a fork: the same in its parent (`GET /repositories/{ws}/{repo}` → `parent`), where PRs from
   * the fork live.
   */
  async findPullForBranch(repo: RepoRef, branch: string, call: CallOptions): Promise<PrFields | null> {
    this.client.gate(call);
    let found = await this.#candidate(repo, repo, branch, call);
    if (found === null) {
      const parent = (await this.#repository(repo, call))?.parent?.full_name;
      const at = parent?.indexOf('/') ?? -1;
      if (parent && at > 0) {
        const where = { owner: parent.slice(0, at).toLowerCase(), name: parent.slice(at + 1).toLowerCase() };
        found = await this.#candidate(where, repo, branch, call);
      }
    }
    return found ? this.#read(found, call) : null;
  }

  /** Whether Bitbucket says the repository is public (`is_private: false`); one it does not show is not. */
  async isRepoPublic(repo: RepoRef, call: CallOptions): Promise<boolean> {
    this.client.gate(call);
    const info = await this.#repository(repo, call);
    return info !== null && info.is_private === false;
  }

  async #candidate(
    where: RepoRef,
    source: RepoRef,
    branch: string,
    call: CallOptions,
  ): Promise<PullRef | null> {
    const query = [
      `q=${encodeURIComponent(`source.branch.name=${bbqlString(branch)}`)}`,
      ...ALL_STATES.map((s) => `state=${s}`),
      'sort=-updated_on',
      `pagelen=${LIST_PAGELEN}`,
    ].join('&');
    const list = await this.client.get(`${apiPath(where)}/pullrequests?${query}`, pullListSchema, call);
    const mine = list.values.filter(
      (p) => p.source.branch.name === branch && samePath(p.source.repository?.full_name, pathOf(source)),
    );
    const pick =
      mine.find((p) => mapState(p.state) === 'open') ??
      [...mine].sort((a, b) => Date.parse(b.updated_on ?? '') - Date.parse(a.updated_on ?? ''))[0];
    return pick ? { repo: where, number: pick.id } : null;
  }

  async #read(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const pr = await this.client.get(`${apiPath(pull.repo)}/pullrequests/${pull.number}`, pullSchema, call);
    return this.#toFields(pull, pr, await this.#sizesOf(pull, pr, call));
  }

  /**
   * Additions, deletions and changed files from the PR's diffstat — a 302 to the repository
   * diffstat of the PR's commits, paginated: every page summed ("Pullrequests": "List changes in
   * a pull request"; "diffstat": `lines_added`, `lines_removed`, one entry per file) — and the
   * commits counted over every page of `…/commits`. Read again only when the PR's source or
   * destination commit moved. A PR whose commits Bitbucket no longer has (a deleted fork) answers
   * 404 there: those counts are null, not made up.
   */
  async #sizesOf(pull: PullRef, pr: BbPull, call: CallOptions): Promise<Sizes> {
    const source = pr.source.commit?.hash;
    const destination = pr.destination.commit?.hash;
    const key =
      source && destination
        ? `${tokenFingerprint(call.token)} ${pathOf(pull.repo)}#${pull.number} ${source} ${destination}`
        : null;
    const cached = key ? this.#sizes.get(key) : undefined;
    if (cached) return cached;
    const base = `${apiPath(pull.repo)}/pullrequests/${pull.number}`;
    const sizes: Sizes = { additions: null, deletions: null, changed_files: null, commits: null };
    const diffstat = await this.#walk(`${base}/diffstat`, diffstatPageSchema, call);
    if (diffstat) {
      sizes.additions = diffstat.reduce((n, f) => n + (f.lines_added ?? 0), 0);
      sizes.deletions = diffstat.reduce((n, f) => n + (f.lines_removed ?? 0), 0);
      sizes.changed_files = diffstat.length;
    }
    const commits = await this.#walk(`${base}/commits?pagelen=${LIST_PAGELEN}`, commitsPageSchema, call);
    if (commits) sizes.commits = commits.length;
    if (key) {
      if (this.#sizes.size > 20_000) this.#sizes.clear();
      this.#sizes.set(key, sizes);
    }
    return sizes;
  }

  /** Every item of a paginated resource (following `next`); null when Bitbucket answers 404. */
  async #walk<T>(
    path: string,
    schema: z.ZodType<{ values: T[]; next?: string | null | undefined }>,
    call: CallOptions,
  ): Promise<T[] | null> {
    const items: T[] = [];
    let next: string | null | undefined = path;
    for (let pages = 0; next; pages++) {
      if (pages >= MAX_PAGES) return null;
      let page: { values: T[]; next?: string | null | undefined };
      try {
        page = await this.client.get(next, schema, call);
      } catch (error) {
        if (error instanceof NotFoundError) return null;
        throw error;
      }
      items.push(...page.values);
      next = page.next;
    }
    return items;
  }

  /** What the repository says of itself, cached per token; null when Bitbucket does not show it (404). */
  async #repository(repo: RepoRef, call: CallOptions): Promise<BbRepository | null> {
    const key = `${pathOf(repo)} ${tokenFingerprint(call.token)}`;
    const now = this.#clock.now().getTime();
    const cached = this.#repos.get(key);
    if (cached && cached.until > now) return cached.info;
    let info: BbRepository | null;
    try {
      info = await this.client.get(apiPath(repo), repositorySchema, call);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      info = null;
    }
    if (this.#repos.size > 10_000) this.#repos.clear();
    this.#repos.set(key, { info, until: now + REPO_TTL_MS });
    return info;
  }

  /** One PR as gitsync shows it (docs/bitbucket.md, "What maps to what"). */
  #toFields(pull: PullRef, pr: BbPull, sizes: Sizes): PrFields {
    const who = (u: BbAccount | null | undefined) =>
      u ? (u.uuid ?? u.account_id ?? u.nickname ?? u.display_name ?? null) : null;
    // A participant's verdict: `state` (`approved` / `changes_requested`), or the older `approved`
    // flag ("Pullrequests": participant `state`, `approved`).
    const verdicts = new Map<string, 'approved' | 'changes_requested'>();
    for (const p of pr.participants ?? []) {
      const id = who(p.user);
      if (!id) continue;
      const state = p.state?.toLowerCase();
      if (state === 'changes_requested') verdicts.set(id, 'changes_requested');
      else if (state === 'approved' || p.approved === true) verdicts.set(id, 'approved');
    }
    const all = [...verdicts.values()];
    const changesRequested = all.includes('changes_requested');
    // Asked to review and no verdict yet: the PR's reviewers (and reviewer participants) who have
    // not approved or requested changes. People only: Bitbucket has no team reviewers.
    const asked = new Map<string, RequestedReviewer>();
    const reviewers = [
      ...(pr.reviewers ?? []),
      ...(pr.participants ?? []).filter((p) => p.role?.toUpperCase() === 'REVIEWER').map((p) => p.user),
    ];
    for (const user of reviewers) {
      const id = who(user);
      const name = user?.nickname ?? user?.display_name;
      if (!id || !name || verdicts.has(id) || asked.has(id)) continue;
      asked.set(id, { kind: 'user', name });
    }
    return {
      url: hostPullUrl(this, pr.links?.html?.href, pull),
      pull_request_state: mapState(pr.state),
      pull_request_title: pr.title,
      pull_request_draft: pr.draft ?? false,
      changes_requested: changesRequested,
      // Bitbucket gives no overall verdict of its own: some approval and no request for changes.
      approved: all.includes('approved') && !changesRequested,
      reviewer_count: verdicts.size,
      ...sizes,
      pr_number: pr.id,
      author_login: pr.author?.nickname ?? null,
      author_avatar_url: pr.author?.links?.avatar?.href ?? null,
      base_branch: pr.destination.branch.name,
      head_branch: pr.source.branch.name,
      requested_reviewers: sortRequestedReviewers([...asked.values()]),
      ...NOT_READ_YET,
    };
  }
}

export function createBitbucketProvider(config: ProviderConfig, deps: ProviderDeps): BitbucketProvider {
  return new BitbucketProvider(config, { clock: deps.clock });
}
