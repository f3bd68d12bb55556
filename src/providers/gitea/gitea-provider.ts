import { NotFoundError, RateLimitedError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import {
  type PrFields,
  type PrState,
  type RequestedReviewer,
  sortRequestedReviewers,
} from '../../core/types.ts';
import { answeredAt, byRepository, eachAtMost, unchangedThrough } from '../batch-reads.ts';
import { NO_CHECKS, summarizeChecks } from '../checks.ts';
import { isOnHost, matchRepoOnHost, matchWebPath, pullNumber } from '../origin-match.ts';
import { CHECKS_SETTLE_MS, PullReadsCache, READS_MAX_AGE_MS } from '../pull-reads-cache.ts';
import {
  type CallOptions,
  type Provider,
  type ProviderCapabilities,
  type ProviderConfig,
  type ProviderDeps,
  type ProviderWebhooks,
  PULL_UNCHANGED,
  type PullFeedback,
  type PullRef,
  pullKey,
  type RepoRef,
} from '../types.ts';
import { GiteaClient, type GiteaClientOptions, totalCount } from './client.ts';
import { CollaboratorPermissions, giteaTrust } from './permissions.ts';
import {
  anyListSchema,
  combinedStatusSchema,
  type GiteaCommitStatus,
  type GiteaPull,
  type GiteaReview,
  type GiteaReviewComment,
  type GiteaSearchedPull,
  pullListSchema,
  pullSchema,
  type RepoInfo,
  repoSchema,
  reviewCommentListSchema,
  reviewListSchema,
  searchedPullListSchema,
} from './schemas.ts';
import {
  type Conversation,
  checkResult,
  conversationLine,
  conversations,
  mergeState,
  reviewVerdicts,
} from './status-mapping.ts';
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
/**
 * How long a full look for a branch's PR (up to `MAX_LIST_PAGES` pages) stands: until then a look
 * reads page 1 only — the 50 most recently updated PRs, where a PR opened, pushed to or merged
 * since is — and the PR the full look found, if any, by its number. A list page renders 50 whole
 * PRs (services/convert/pull.go opens the head and base repositories for each), so a branch
 * waiting for its PR costs 1 list read a retry instead of 5 in a busy repository.
 */
export const FULL_LOOK_TTL_MS = 60 * 60_000;
/**
 * PRs one `fetchPulls` call is asked for: the PRs of one repository in a call share one list read
 * (a page holds `PAGE_LIMIT` of them).
 */
export const PULLS_PER_BATCH = 50;
/**
 * Pages of the search for moved PRs (`#searchMoved`) read at most per owner and call: 200 PRs
 * moved by default. Past them, each repository's list is read as without the search.
 */
export const MAX_SEARCH_PAGES = 4;
/**
 * How long a PR may be answered from the search alone. A push to an open PR's base branch moves
 * `base.sha`, `merge_base` and `mergeable` (`checkAndUpdateStatus`, services/pull/check.go,
 * writes `merge_base` and `status` of the pull_request row) but not the issue's `updated_unix`,
 * so the search cannot show it; and a repository moved to another owner, deleted or no longer
 * readable drops out of the search without a word: past this the repository's list is read again.
 */
export const BASE_RECHECK_MS = 15 * 60_000;
/**
 * How long one search of an owner's moved PRs serves the `fetchPulls` calls of a round (a tick
 * claims up to hundreds of rows, asked 50 a call): a later round asks again.
 */
const SEARCH_ROUND_MS = 5_000;
/** How long a token and owner whose search failed (a token without the issue scope: 403) read lists only. */
const SEARCH_OFF_MS = 15 * 60_000;
/** PRs of one `fetchPulls` call read in full side by side. */
const FULL_READS_AT_ONCE = 8;
/** Pages of reviews read at most (250 reviews by default). */
const MAX_REVIEW_PAGES = 5;
/** Pages of commits counted at most when a server sends no `X-Total-Count`. */
const MAX_COMMIT_PAGES = 20;
/** Pages of a commit's statuses read at most (the latest of 250 contexts by default). */
const MAX_STATUS_PAGES = 5;
/**
 * Reviews with code comments whose comments a refresh reads to count open conversations (one
 * request each); a PR with more shows null rather than a refresh costing that much.
 */
const MAX_THREAD_REVIEWS = 5;
/** The same for the feedback endpoint, read on demand; past it the answer says `truncated`. */
const MAX_FEEDBACK_THREAD_REVIEWS = 20;
/**
 * How long a PR's head and base commits must have stood before `mergeable: true` is believed:
 * right after a push Gitea may still show the answer about the old commits until its checker
 * marks the PR "checking" (services/pull/check.go, `AddToTaskQueue`); this is below the engine's
 * re-ask of an unknown mergeability (`merge_unknown_ttl_ms`, 15 s), so that second read settles it.
 */
export const MERGEABLE_SETTLE_MS = 10_000;
/**
 * How long `mergeable: false` must have held for the same head and base before it reads as a
 * conflict: false also means "still checking" (`PullRequest.Mergeable` is false unless the status
 * is mergeable), and the checker's queue can lag minutes behind on a busy instance
 * (go-gitea/gitea#17204, #22578).
 */
export const CONFLICT_SETTLE_MS = 2 * 60_000;
/** `refs/pull/{n}/head`: a PR's head ref once its branch is deleted (services/convert/pull.go). */
const PULL_HEAD_REF = /^refs\/pull\/\d+\/head$/;

/**
 * The PR's head branch: `head.ref` while the branch exists; once it is deleted (the usual merge
 * flow) `head.ref` is `refs/pull/{n}/head` and `head.label` still holds the branch name — bare,
 * without an `owner:` prefix, forks included (`PRBranchInfo.Name`, services/convert/pull.go).
 */
export function headBranch(pull: Pick<GiteaPull, 'head'>): string {
  return PULL_HEAD_REF.test(pull.head.ref) && pull.head.label ? pull.head.label : pull.head.ref;
}
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

type Checks = Pick<PrFields, 'checks_state' | 'checks'>;

/**
 * What the PR answer shows with which its head's statuses were read (`PullReadsCache`): its
 * comment counts, which move when someone asks on the PR for a build to run again. A status
 * posted moves nothing in the PR; a title, label or review change says nothing of the checks, so
 * `updated_at` is not part of it (settled checks of an unchanged head are not read again for it).
 */
const checksStamp = (pull: GiteaPull) => [pull.comments, pull.review_comments].join('|');

/**
 * What a PR answer (single or list item) shows, to compare a list item with the last full read:
 * every field read but the sizes, which some servers leave out of lists (they move with the head
 * and the merge base, which are in it). `updated_at` moves with every comment Gitea records on
 * the PR — a push, a review, a review request or dismissal, a title, label or state change
 * (`CreateComment` → `updateCommentInfos` → `UpdateIssueCols(…, "updated_unix")`, models/issues/
 * comment.go) — but not with a commit status or a resolved conversation; `mergeable` and
 * `base.sha` move with the base branch.
 */
const pullDigest = (pull: GiteaPull) =>
  JSON.stringify({ ...pull, additions: undefined, deletions: undefined, changed_files: undefined });

/** A list item that carries the sizes can stand in for the PR's own read. */
const hasSizes = (pull: GiteaPull) =>
  pull.additions != null || pull.deletions != null || pull.changed_files != null;

/** What the last full read of a PR saw (`fetchPulls` compares the list's item with it). */
interface FullRead {
  digest: string;
  /** The PR's `updated_at` then (ms; NaN when absent). */
  updatedAt: number;
  readAt: number;
  /** Merged or closed, or its merge state known (not waiting for Gitea's conflict check). */
  settled: boolean;
  /** Its state then. */
  state: PrState;
  /** Its head commit and `checksStamp` then (the kept checks are asked by them). */
  head: string | null;
  stamp: string;
  /** The repository's `owner/name` as Gitea spells it (`base.repo.full_name`); null when absent. */
  fullName: string | null;
  /**
   * The repository's id (`base.repo_id`): search items are matched by it, so a repository renamed
   * since the read is still recognised; null when absent (matched by name then).
   */
  repoId: number | null;
  /**
   * Gitea's time (ms) through which the PR is known unchanged: its `updated_at`, or the `Date` of
   * an answer that showed it unchanged less ANSWER_SLACK_MS, whichever is later; NaN when unknown.
   */
  through: number;
  /** When (this clock) its repository's list or the PR itself last showed it (BASE_RECHECK_MS). */
  baseSeenAt: number;
}

/** What one search of an owner's moved PRs showed (`#searchMoved`): the PRs by repository and number, and when. */
interface SearchRound {
  items: Map<string, GiteaSearchedPull>;
  /** Gitea's time of its first page (`Date`); null when it sent none. */
  at: number | null;
}

/** A search item's key: by repository id where known (a rename keeps it), else by lower-case `owner/name`. */
const searchKey = (repoId: number | null, fullName: string, number: number) =>
  repoId !== null ? `id ${repoId}#${number}` : `name ${fullName}#${number}`;

/** The state a search item shows (`pull_request.merged`, else the issue's `state`). */
const searchedState = (item: GiteaSearchedPull): PrState => {
  if (item.pull_request?.merged ?? Boolean(item.pull_request?.merged_at)) return 'merged';
  return item.state.toLowerCase() === 'closed' ? 'closed' : 'open';
};

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
  /**
   * No batch API (no GraphQL), but one list page of a repository's PRs, most recently updated
   * first, shows each PR as its own read does (`fetchPulls`). Branches are looked up one by one.
   */
  readonly capabilities: ProviderCapabilities = {
    pullsPerBatch: PULLS_PER_BATCH,
    listsPerRepository: true,
    branchesPerBatch: 0,
    minBatch: 1,
  };
  readonly webhooks: ProviderWebhooks;
  readonly #repos = new Map<string, { info: RepoInfo | null; until: number }>();
  /** Commits of a PR by (PR, head, merge base): the same head on the same base has the same commits. */
  readonly #commits = new Map<string, number | null>();
  /**
   * Per PR, its (head, base) commits, when this provider first saw them (`MERGEABLE_SETTLE_MS`)
   * and since when `mergeable` has read false on them (`CONFLICT_SETTLE_MS`).
   */
  readonly #heads = new Map<string, { pair: string; since: number; falseSince: number | null }>();
  /** Per (token, repository, head repository, branch), the last full look (`FULL_LOOK_TTL_MS`). */
  readonly #looks = new Map<string, { number: number | null; until: number }>();
  /**
   * An open PR's head checks per (token, PR), read again when `head.sha` or `checksStamp` moves,
   * while a status is pending, until they have read the same for ten minutes, and at least
   * hourly (docs/gitea.md, "Cost").
   */
  readonly #checks = new PullReadsCache<Checks>({
    maxAgeMs: READS_MAX_AGE_MS,
    settleMs: CHECKS_SETTLE_MS,
    settled: (c) => c.checks_state !== 'pending',
  });
  /** Per (token, PR), what its last full read saw (`fetchPulls`). */
  readonly #reads = new Map<string, FullRead>();
  /** Per (token, owner), the search of this round (SEARCH_ROUND_MS): its `since`, when it was asked. */
  readonly #rounds = new Map<string, { since: number; at: number; read: Promise<SearchRound | null> }>();
  /** Per (token, owner), until when the search is not tried (SEARCH_OFF_MS). */
  readonly #searchOff = new Map<string, number>();
  readonly #clock: ProviderDeps['clock'];
  /** Thread authors' and reviewers' permission, for feedback (permissions.ts). */
  readonly #permissions: CollaboratorPermissions;

  constructor(
    readonly config: ProviderConfig,
    readonly kind: GiteaKind,
    options: GiteaClientOptions,
  ) {
    this.client = new GiteaClient(config.api_url, kind, options);
    this.#clock = options.clock;
    this.#permissions = new CollaboratorPermissions(this.client, () => this.#clock.now().getTime());
    this.webhooks = giteaWebhooks(this, kind, (commit) =>
      this.#checks.forget((_, head) => head.toLowerCase() === commit.toLowerCase()),
    );
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

  /**
   * One PR: the PR itself, its reviews, its commit count (cached while head and base stay), and,
   * while it is open, its head commit's statuses and the code comments of reviews that have some.
   */
  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const { data, headers } = await this.client.get(
      `${apiPath(pull.repo)}/pulls/${pull.number}`,
      pullSchema,
      call,
    );
    return this.#complete(pull.repo, data, call, pull.fresh === true, answeredAt(headers));
  }

  /**
   * Many PRs, grouped by repository. First, one search per owner of the PRs moved since they were
   * last known unchanged (`#bySearch`) answers PULL_UNCHANGED for every PR of each repository
   * where none moved, when each may be answered so (`#searchable`). The other repositories get one
   * list read each (`#listed`: its PRs in every state, most recently updated first, as many pages
   * as it takes to reach the PRs asked, bounded), which shows each PR as its own read does. A PR
   * whose item shows what its last full read saw (`pullDigest`), within the hour, whose ref shows
   * that read (`shownSince`), whose merge state is known and whose kept checks still stand
   * (settled) is answered PULL_UNCHANGED: no request of its own. Another is made from its item as
   * `fetchPull` makes it from the PR read (reviews, statuses, conversations). A PR the list did
   * not reach is read on its own; one a signal asked for (`fresh`) is never answered unchanged and
   * its checks are read.
   */
  async fetchPulls(
    pulls: readonly PullRef[],
    call: CallOptions,
  ): Promise<Map<string, PrFields | Error | typeof PULL_UNCHANGED>> {
    const out = new Map<string, PrFields | Error | typeof PULL_UNCHANGED>();
    const full: { pull: PullRef; item: GiteaPull | undefined; at: number | null }[] = [];
    const groups = byRepository(pulls.map((pull) => ({ pull })));
    const listed = await this.#bySearch(groups, call, out);
    await Promise.all(
      listed.map(async ({ repo, items: group }) => {
        const asked = group.map((g) => g.pull);
        let items: Map<number, { pull: GiteaPull; at: number | null }>;
        try {
          items = await this.#listed(repo, asked, call);
        } catch (error) {
          // A repository gone or hidden from this token: its PRs answer so, the others go on.
          if (!(error instanceof NotFoundError)) throw error;
          for (const pull of asked) out.set(pullKey(pull), error);
          return;
        }
        const now = this.#clock.now().getTime();
        for (const pull of asked) {
          const item = items.get(pull.number);
          if (item && this.#unchanged(pull, item.pull, call, now)) {
            out.set(pullKey(pull), PULL_UNCHANGED);
            this.#shownUnchanged(this.#reads.get(this.#readKey(call, pull.repo, pull.number))!, item.at, now);
          } else full.push({ pull, item: item?.pull, at: item?.at ?? null });
        }
      }),
    );
    await eachAtMost(full, FULL_READS_AT_ONCE, async ({ pull, item, at }) => {
      try {
        out.set(
          pullKey(pull),
          item && hasSizes(item)
            ? await this.#complete(pull.repo, item, call, pull.fresh === true, at)
            : await this.fetchPull(pull, call),
        );
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        out.set(pullKey(pull), error);
      }
    });
    return out;
  }

  /**
   * Answers PULL_UNCHANGED, from one search per owner (`#searchMoved`), for the PRs of each
   * repository whose every asked PR may be answered so (`#searchable`) and none of which moved:
   * one the search shows with the `updated_at` and state of its last full read, or one it does not
   * show that was last updated before the search's `since` (a PR updated at or after `since` and
   * not shown is not covered by the search: its repository's list says). Returns the
   * repositories left for their lists: any with a PR moved, not searchable, or whose owner's
   * search failed or found more moved PRs than MAX_SEARCH_PAGES pages hold.
   */
  async #bySearch<T extends { pull: PullRef }>(
    groups: { repo: RepoRef; items: T[] }[],
    call: CallOptions,
    out: Map<string, PrFields | Error | typeof PULL_UNCHANGED>,
  ): Promise<{ repo: RepoRef; items: T[] }[]> {
    const now = this.#clock.now().getTime();
    const left: { repo: RepoRef; items: T[] }[] = [];
    type Searched = { group: { repo: RepoRef; items: T[] }; reads: FullRead[]; fullName: string };
    const byOwner = new Map<string, { owner: string; repos: Searched[] }>();
    for (const group of groups) {
      const reads = group.items.map(({ pull }) => this.#searchable(pull, call, now));
      const fullName = reads[0]?.fullName ?? null;
      const owner = fullName ? splitFullName(fullName)?.owner : undefined;
      if (
        !fullName ||
        !owner ||
        reads.some((r) => r === null || !samePath(r.fullName, fullName)) ||
        (this.#searchOff.get(`${tokenFingerprint(call.token)} ${owner.toLowerCase()}`) ?? 0) > now
      ) {
        left.push(group);
        continue;
      }
      const entry = byOwner.get(owner.toLowerCase()) ?? { owner, repos: [] };
      entry.repos.push({ group, reads: reads as FullRead[], fullName: fullName.toLowerCase() });
      byOwner.set(owner.toLowerCase(), entry);
    }
    await Promise.all(
      [...byOwner.values()].map(async ({ owner, repos }) => {
        // `since` compares whole seconds (`issue.updated_unix >= since`).
        const wanted =
          Math.floor(Math.min(...repos.flatMap((r) => r.reads.map((x) => x.through))) / 1000) * 1000;
        // The search of this round serves these PRs if it starts no later than the time each is
        // known unchanged through, and was asked after each was last read in full (so that Gitea
        // answered it after that read); else a new one, which the next calls share.
        const key = `${tokenFingerprint(call.token)} ${owner.toLowerCase()}`;
        const shared = this.#rounds.get(key);
        const reuse =
          shared !== undefined &&
          now - shared.at < SEARCH_ROUND_MS &&
          shared.since <= wanted &&
          repos.every((r) => r.reads.every((x) => x.readAt < shared.at));
        const since = reuse ? shared.since : wanted;
        // Not shown: moved (or not covered) only once every page was read.
        const moved = (
          items: Map<string, GiteaSearchedPull>,
          { group, reads, fullName }: Searched,
          complete = true,
        ) =>
          group.items.some(({ pull }, i) => {
            const read = reads[i]!;
            const item = items.get(searchKey(read.repoId, fullName, pull.number));
            if (!item) return complete && read.updatedAt >= since;
            return Date.parse(item.updated_at ?? '') !== read.updatedAt || searchedState(item) !== read.state;
          });
        let found: SearchRound | null;
        if (reuse) found = await shared.read.catch(() => null);
        else {
          const read = this.#searchMoved(owner, since, call, (items) =>
            repos.every((r) => moved(items, r, false)),
          );
          if (this.#rounds.size > 10_000) this.#rounds.clear();
          this.#rounds.set(key, { since, at: now, read });
          found = await read;
        }
        if (!found) {
          left.push(...repos.map((r) => r.group));
          return;
        }
        for (const searched of repos) {
          if (moved(found.items, searched)) {
            left.push(searched.group);
            continue;
          }
          for (const { pull } of searched.group.items) out.set(pullKey(pull), PULL_UNCHANGED);
          for (const read of searched.reads) read.through = unchangedThrough(read.through, found.at);
        }
      }),
    );
    return left;
  }

  /**
   * The owner's PRs updated at or after `since` (Gitea's time, whole seconds), by repository and
   * number: `GET /repos/issues/search?type=pulls&state=all&owner=…&since=…&limit=50&page=…`
   * (`SearchIssues`, routers/api/v1/repo/issue.go). Without a keyword it reads the database, not
   * the asynchronous issue indexer (`SearchIssues`, modules/indexer/issues/indexer.go: "If the
   * keyword is empty, … db.NewIndexer()"), filtering `issue.updated_unix >= since` and ordering by
   * creation, newest first (`SortByCreatedDesc`; models/issues/issue_search.go). With `owner` it
   * covers that owner's repositories the token may read (`SearchRepositoryIDs` with `OwnerID`
   * and the doer as actor). Pages are followed by `X-Total-Count`; a total that changes between
   * pages (PRs moved meanwhile), more than MAX_SEARCH_PAGES pages, or `enough` saying every
   * repository will be listed anyway answers null, as does a failed search (then this token and
   * owner read lists for SEARCH_OFF_MS; a rate limit is thrown).
   */
  async #searchMoved(
    owner: string,
    since: number,
    call: CallOptions,
    enough: (items: Map<string, GiteaSearchedPull>) => boolean,
  ): Promise<SearchRound | null> {
    const items = new Map<string, GiteaSearchedPull>();
    const query = [
      'type=pulls',
      'state=all',
      `owner=${encodeURIComponent(owner)}`,
      `since=${encodeURIComponent(new Date(since).toISOString().replace(/\.\d{3}Z$/, 'Z'))}`,
      `limit=${PAGE_LIMIT}`,
    ].join('&');
    let at: number | null = null;
    let total: number | null = null;
    let seen = 0;
    try {
      for (let page = 1; page <= MAX_SEARCH_PAGES; page++) {
        const { data, headers } = await this.client.get(
          `/repos/issues/search?${query}&page=${page}`,
          searchedPullListSchema,
          call,
        );
        const count = totalCount(headers);
        if (page === 1) at = answeredAt(headers);
        else if (count !== total) return null;
        total = count;
        for (const item of data) {
          // An item that does not say which repository's PR it is (Gitea answers an empty issue
          // when it cannot load its repository): the search tells nothing this round.
          if (!item.pull_request || !item.repository) return null;
          const { id, full_name } = item.repository;
          items.set(searchKey(null, full_name.toLowerCase(), item.number), item);
          if (id != null) items.set(searchKey(id, '', item.number), item);
        }
        seen += data.length;
        // Without a total, only an empty page ends the list (a server may cap pages below the limit).
        if (data.length === 0 || (total !== null && seen >= total)) return { items, at };
        if (enough(items)) return null;
      }
      return null;
    } catch (error) {
      if (error instanceof RateLimitedError || call.signal?.aborted) throw error;
      if (this.#searchOff.size > 10_000) this.#searchOff.clear();
      this.#searchOff.set(
        `${tokenFingerprint(call.token)} ${owner.toLowerCase()}`,
        this.#clock.now().getTime() + SEARCH_OFF_MS,
      );
      return null;
    }
  }

  /**
   * The last full read of a PR, when the search may answer for it: not asked by a signal, shown
   * by its ref since that read, settled, within the hour, its repository known, known unchanged
   * past its update time's second, its repository's list or its own read within BASE_RECHECK_MS;
   * if open, its kept checks (by the head and `checksStamp` of that read: a push or a comment
   * moves `updated_at`) still standing.
   */
  #searchable(pull: PullRef, call: CallOptions, now: number): FullRead | null {
    const key = this.#readKey(call, pull.repo, pull.number);
    const read = this.#settledRead(pull, key, now);
    // `updated_unix` counts whole seconds: a PR known unchanged only through its own update time
    // may have moved again within that second, which the search cannot tell (its repository's
    // list compares all it shows). And a PR the search does not show may be one it no longer
    // covers (its repository moved to another owner, deleted, or no longer readable by the token),
    // not one that did not move: its repository's list or its own read looks every BASE_RECHECK_MS.
    if (
      !read?.fullName ||
      !(read.through - read.updatedAt >= 1000) ||
      now - read.baseSeenAt >= BASE_RECHECK_MS
    )
      return null;
    if (read.state !== 'open') return read;
    if (read.head === null) return null;
    return this.#checks.get(key, read.head, read.stamp, now) === undefined ? null : read;
  }

  /**
   * The last full read of a PR (`key`), when a list may answer for it: not asked by a signal,
   * shown by its ref since that read, settled and within the hour.
   */
  #settledRead(pull: PullRef, key: string, now: number): FullRead | undefined {
    if (pull.fresh || !pull.shownSince) return undefined;
    const read = this.#reads.get(key);
    if (!read?.settled || read.readAt > pull.shownSince.getTime() || now - read.readAt >= READS_MAX_AGE_MS)
      return undefined;
    return read;
  }

  /** A list answered at `at` (Gitea's time) showed the PR as its last full read. */
  #shownUnchanged(read: FullRead, at: number | null, now: number): void {
    read.baseSeenAt = now;
    read.through = unchangedThrough(read.through, at);
  }

  /**
   * The list items of the PRs asked in `repo`, each with the time of the answer that showed it:
   * `GET …/pulls?state=all&sort=recentupdate` (ordered
   * by `updated_unix`, then creation and id, all descending: `applySorts`, models/issues/
   * issue_search.go), page by page until every PR asked was seen, the list ends, or
   * `MAX_LIST_PAGES` were read. It stops early when each PR not seen yet was last read with an
   * update time later than the page's oldest item: `updated_at` only grows, so such a PR is no
   * longer in this list (moved or deleted) and is read on its own.
   */
  async #listed(
    repo: RepoRef,
    asked: readonly PullRef[],
    call: CallOptions,
  ): Promise<Map<number, { pull: GiteaPull; at: number | null }>> {
    const items = new Map<number, { pull: GiteaPull; at: number | null }>();
    const unseen = new Set(asked.map((p) => p.number));
    let seen = 0;
    for (let page = 1; page <= MAX_LIST_PAGES && unseen.size > 0; page++) {
      const { data, headers } = await this.client.get(
        `${apiPath(repo)}/pulls?state=all&sort=recentupdate&limit=${PAGE_LIMIT}&page=${page}`,
        pullListSchema,
        call,
      );
      const at = answeredAt(headers);
      for (const pull of data) {
        if (!unseen.delete(pull.number)) continue;
        items.set(pull.number, { pull, at });
      }
      seen += data.length;
      const total = totalCount(headers);
      if (data.length === 0 || (total !== null && seen >= total)) break;
      const oldest = Date.parse(data.at(-1)!.updated_at ?? '');
      const gone = [...unseen].every((number) => {
        const read = this.#reads.get(this.#readKey(call, repo, number));
        return read !== undefined && read.updatedAt > oldest;
      });
      if (gone) break;
    }
    return items;
  }

  /** Whether `item` shows the PR as the read its ref shows, with nothing unseen that may have moved. */
  #unchanged(pull: PullRef, item: GiteaPull, call: CallOptions, now: number): boolean {
    const key = this.#readKey(call, pull.repo, pull.number);
    if (this.#settledRead(pull, key, now)?.digest !== pullDigest(item)) return false;
    if (mapState(item) !== 'open') return true;
    // The head's checks: only while kept ones still stand (settled, stood, within the hour).
    const sha = item.head.sha || null;
    return sha !== null && this.#checks.get(key, sha, checksStamp(item), now) !== undefined;
  }

  /** The key of a PR's kept reads (`#reads`, `#checks`) for the token of `call`. */
  #readKey(call: CallOptions, repo: RepoRef, number: number): string {
    return PullReadsCache.key(call.token, this.buildPullUrl({ repo, number }));
  }

  /**
   * What an agent needs to act on a PR, read on demand: the failed statuses of the head commit,
   * the conversations nobody resolved (by their first comment), and who requests changes. The PR,
   * its reviews and statuses, and the comments of up to `MAX_FEEDBACK_THREAD_REVIEWS` reviews
   * with code comments (the newest); anything left unread makes it `truncated`.
   */
  async fetchFeedback(ref: PullRef, call: CallOptions): Promise<PullFeedback> {
    const { data: pull } = await this.client.get(
      `${apiPath(ref.repo)}/pulls/${ref.number}`,
      pullSchema,
      call,
    );
    const sha = pull.head.sha || null;
    const [reviews, statuses] = await Promise.all([
      this.#reviews(ref.repo, pull.number, call),
      sha ? this.#statuses(ref.repo, sha, call) : null,
    ]);
    const threads = await this.#conversations(
      ref.repo,
      pull.number,
      reviews,
      MAX_FEEDBACK_THREAD_REVIEWS,
      call,
    );
    const failing = (statuses?.list ?? [])
      .map((status) => ({ status, check: checkResult(status, this.config.web_url) }))
      .filter(({ check }) => check.outcome === 'failed')
      .map(({ status, check }) => ({
        name: check.name,
        url: check.url,
        summary: status.description || null,
      }));
    const open = threads.list.filter((c) => !c.resolved);
    const { standing } = reviewVerdicts(reviews.list);
    const requesting = [...standing.values()]
      .filter((v) => v.state === 'REQUEST_CHANGES')
      .map((v) => v.login);
    // Whether each author and reviewer belongs: their permission here (permissions.ts).
    const permissions = await this.#permissions.permissions(
      ref.repo,
      [...requesting, ...open.flatMap(({ first }) => (first.user?.login ? [first.user.login] : []))],
      call,
    );
    const permission = (login: string | null | undefined) =>
      login ? permissions.get(login.toLowerCase()) : undefined;
    const unresolved = open.map(({ first }) => ({
      path: first.path || null,
      line: conversationLine(first),
      author: first.user?.login ?? null,
      author_association: permission(first.user?.login) ?? null,
      trusted: giteaTrust(permission(first.user?.login)),
      body: first.body ?? '',
      url: first.html_url || null,
    }));
    return {
      failing_checks: failing,
      unresolved_threads: unresolved,
      changes_requested_by: requesting.map((name) => ({ name, trusted: giteaTrust(permission(name)) })),
      truncated: !reviews.complete || statuses?.complete === false || !threads.complete,
    };
  }

  /**
   * The PR whose head is `branch` of `repo`: candidates among the repository's PRs in every state,
   * most recently updated first, whose head is that branch of that repository — an open one
   * first, else the most recently updated. A fork's PRs live in its parent (`GET /repos/{o}/{r}` →
   * `parent`), asked when the fork itself has none. Not `GET …/pulls/{base}/{head}`
   * (`repoGetPullRequestByBaseHead`, Gitea 1.22+ and Forgejo; older servers answer 404 as for a
   * missing PR): it needs the base branch, and of several PRs of one (base, head) it answers any
   * one (`GetPullRequestByBaseHeadInfo`, models/issues/pull.go, has no order), often an old
   * merged one, and as a whole PR it costs what a list page of one does.
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

  /**
   * The PR in `where` whose head is `branch` of `head`, by the rules of `findPullForBranch`: every
   * page (up to `MAX_LIST_PAGES`) on a first look; for `FULL_LOOK_TTL_MS` after it, page 1 and the
   * PR that look found (read by number when page 1 does not show a match).
   */
  async #candidate(
    where: RepoRef,
    head: RepoRef,
    branch: string,
    call: CallOptions,
  ): Promise<GiteaPull | null> {
    const key = [tokenFingerprint(call.token), pathOf(where), pathOf(head), branch].join(' ').toLowerCase();
    const now = this.#clock.now().getTime();
    const known = this.#looks.get(key);
    const full = !known || known.until <= now;
    const matches: GiteaPull[] = [];
    let seen = 0;
    for (let page = 1; page <= (full ? MAX_LIST_PAGES : 1); page++) {
      const { data, headers } = await this.client.get(
        `${apiPath(where)}/pulls?state=all&sort=recentupdate&limit=${PAGE_LIMIT}&page=${page}`,
        pullListSchema,
        call,
      );
      for (const pull of data) {
        if (headBranch(pull) !== branch) continue;
        const headRepo = pull.head.repo?.full_name;
        const mine = headRepo
          ? samePath(headRepo, pathOf(head))
          : // The head's fork is gone: only a PR within the repository itself can still be ours.
            samePath(pathOf(where), pathOf(head)) &&
            pull.head.repo_id != null &&
            pull.head.repo_id === pull.base.repo_id;
        if (!mine) continue;
        if (mapState(pull) === 'open') {
          if (full) this.#remember(key, pull.number, now);
          return pull;
        }
        matches.push(pull);
      }
      seen += data.length;
      const total = totalCount(headers);
      // Without a total, only an empty page ends the list (a server may cap pages below the limit).
      if (data.length === 0 || (total !== null && seen >= total)) break;
    }
    // Of merged and closed PRs, the newest is the one with the highest number (SPEC §5): a
    // comment on an old merged PR moves it up the list but must not bring the ref back to it.
    const newest = matches.sort((a, b) => b.number - a.number)[0] ?? null;
    if (full) {
      this.#remember(key, newest?.number ?? null, now);
      return newest;
    }
    // Page 1 holds the most recently updated PRs: a PR opened, pushed to or closed since the full
    // look is there; the one that look found is newer if its number is higher.
    if (known.number === null || (newest && newest.number >= known.number)) return newest;
    try {
      const { data } = await this.client.get(`${apiPath(where)}/pulls/${known.number}`, pullSchema, call);
      return headBranch(data) === branch ? data : null;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      this.#looks.delete(key);
      return null;
    }
  }

  #remember(key: string, number: number | null, now: number): void {
    if (this.#looks.size > 50_000) this.#looks.clear();
    this.#looks.set(key, { number, until: now + FULL_LOOK_TTL_MS });
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

  /**
   * The rest of a PR's fields. Statuses and conversations are read for open PRs only: a merged or
   * closed PR's checks and threads no longer ask anything of anyone (null there).
   */
  async #complete(
    repo: RepoRef,
    pull: GiteaPull,
    call: CallOptions,
    fresh = false,
    answered: number | null = null,
  ): Promise<PrFields> {
    const readAt = this.#clock.now().getTime();
    const open = mapState(pull) === 'open';
    const sha = pull.head.sha || null;
    const [reviews, commits, checks] = await Promise.all([
      this.#reviews(repo, pull.number, call),
      this.#commitCount(repo, pull, call),
      open && sha ? this.#checksOf(repo, pull, sha, call, fresh) : null,
    ]);
    let threads: number | null = null;
    if (open) {
      const read = await this.#conversations(repo, pull.number, reviews, MAX_THREAD_REVIEWS, call, true);
      threads = read.complete ? read.list.filter((c) => !c.resolved).length : null;
    }
    const fields = this.#toFields(repo, pull, reviews, commits, checks, threads);
    if (this.#reads.size > 50_000) this.#reads.clear();
    const updatedAt = Date.parse(pull.updated_at ?? '');
    this.#reads.set(this.#readKey(call, repo, pull.number), {
      digest: pullDigest(pull),
      updatedAt,
      readAt,
      // A server without `mergeable` never settles it: unknown is all it will ever say.
      settled: !open || fields.merge_state !== 'unknown' || pull.mergeable == null,
      state: mapState(pull),
      head: sha,
      stamp: checksStamp(pull),
      fullName: pull.base.repo?.full_name ?? null,
      repoId: pull.base.repo_id ?? pull.base.repo?.id ?? null,
      through: unchangedThrough(updatedAt, answered),
      baseSeenAt: readAt,
    });
    return fields;
  }

  /**
   * The head's checks: kept ones while they may stand in (`#checks`), else its statuses read;
   * `fresh` (a signal asked for this read) reads them whatever is kept.
   */
  async #checksOf(
    repo: RepoRef,
    pull: GiteaPull,
    sha: string,
    call: CallOptions,
    fresh: boolean,
  ): Promise<Checks> {
    const key = this.#readKey(call, repo, pull.number);
    const stamp = checksStamp(pull);
    const kept = fresh ? undefined : this.#checks.get(key, sha, stamp, this.#clock.now().getTime());
    if (kept) return kept;
    const statuses = await this.#statuses(repo, sha, call);
    const checks = summarizeChecks(statuses.list.map((s) => checkResult(s, this.config.web_url)));
    this.#checks.set(key, sha, stamp, checks, this.#clock.now().getTime());
    return checks;
  }

  /** All reviews of a PR, oldest first (`GET …/pulls/{n}/reviews`), bounded; `complete` if all were read. */
  async #reviews(
    repo: RepoRef,
    number: number,
    call: CallOptions,
  ): Promise<{ list: GiteaReview[]; complete: boolean }> {
    const out: GiteaReview[] = [];
    for (let page = 1; page <= MAX_REVIEW_PAGES; page++) {
      const { data, headers } = await this.client.get(
        `${apiPath(repo)}/pulls/${number}/reviews?limit=${PAGE_LIMIT}&page=${page}`,
        reviewListSchema,
        call,
      );
      out.push(...data);
      const total = totalCount(headers);
      if (data.length === 0 || (total !== null && out.length >= total)) return { list: out, complete: true };
    }
    return { list: out, complete: false };
  }

  /**
   * The head commit's statuses, the latest per context (`GET /repos/{o}/{r}/commits/{sha}/status`,
   * `repoGetCombinedStatusByRef`, paged like a list), read in the PR's own repository, where Gitea
   * keeps them for its PR view (a fork's PR included: its Actions run there). Asked by sha, so a
   * force-push's replaced commit never answers. Without `X-Total-Count` (servers before its
   * combined status sent one), only an empty page ends the list.
   */
  async #statuses(
    repo: RepoRef,
    sha: string,
    call: CallOptions,
  ): Promise<{ list: GiteaCommitStatus[]; complete: boolean }> {
    const out: GiteaCommitStatus[] = [];
    for (let page = 1; page <= MAX_STATUS_PAGES; page++) {
      const { data, headers } = await this.client.get(
        `${apiPath(repo)}/commits/${encodeURIComponent(sha)}/status?limit=${PAGE_LIMIT}&page=${page}`,
        combinedStatusSchema,
        call,
      );
      const list = data.statuses ?? [];
      out.push(...list);
      const total = totalCount(headers);
      if (list.length === 0 || (total !== null && out.length >= total)) return { list: out, complete: true };
    }
    return { list: out, complete: false };
  }

  /**
   * The PR's review conversations (`status-mapping.ts`, `conversations`), from the code comments of
   * each published review that has some (`comments_count`; `GET …/reviews/{id}/comments`, one
   * request each, not paged), the newest `limit` of them. A PR whose reviews show no code comments
   * costs nothing more. With `all`, more reviews with comments than `limit` (or reviews not all
   * read) reads none: the count would be wrong.
   */
  async #conversations(
    repo: RepoRef,
    number: number,
    reviews: { list: GiteaReview[]; complete: boolean },
    limit: number,
    call: CallOptions,
    all = false,
  ): Promise<{ list: Conversation[]; complete: boolean }> {
    // A pending review's comments are its author's draft; a review request has none.
    const commented = reviews.list
      .filter((r) => !['PENDING', 'REQUEST_REVIEW'].includes(r.state.toUpperCase()))
      .filter((r) => (r.comments_count ?? 1) > 0)
      .sort((a, b) => b.id - a.id);
    const complete = reviews.complete && commented.length <= limit;
    if (all && !complete) return { list: [], complete: false };
    const comments: GiteaReviewComment[][] = await Promise.all(
      commented
        .slice(0, limit)
        .map(
          async (r) =>
            (
              await this.client.get(
                `${apiPath(repo)}/pulls/${number}/reviews/${r.id}/comments`,
                reviewCommentListSchema,
                call,
              )
            ).data,
        ),
    );
    return { list: conversations(comments.flat()), complete };
  }

  /**
   * Whether `mergeable` may be believed: `true` once the PR's head and base commits have stood
   * `MERGEABLE_SETTLE_MS` since this provider first saw them, `false` once it has read false on
   * them for `CONFLICT_SETTLE_MS` (each replica keeps its own memory; a restart forgets, and the
   * wait starts again).
   */
  #settled(repo: RepoRef, pull: GiteaPull): boolean {
    const key = `${pathOf(repo).toLowerCase()}#${pull.number}`;
    const pair = `${pull.head.sha ?? ''} ${pull.base.sha ?? ''}`;
    const now = this.#clock.now().getTime();
    let seen = this.#heads.get(key);
    if (seen?.pair !== pair) {
      if (this.#heads.size > 50_000) this.#heads.clear();
      seen = { pair, since: now, falseSince: null };
      this.#heads.set(key, seen);
    }
    if (pull.mergeable === false) {
      seen.falseSince ??= now;
      return now - seen.falseSince >= CONFLICT_SETTLE_MS;
    }
    seen.falseSince = null;
    return now - seen.since >= MERGEABLE_SETTLE_MS;
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
    reviews: { list: GiteaReview[]; complete: boolean },
    commits: number | null,
    checks: Checks | null,
    unresolvedThreads: number | null,
  ): PrFields {
    const verdicts = reviewVerdicts(reviews.list);
    const latest = verdicts.latest;
    const standing = [...verdicts.standing.values()];
    const changesRequested = standing.some((v) => v.state === 'REQUEST_CHANGES');
    const approved = !changesRequested && standing.some((v) => v.state === 'APPROVED');
    const draft = pull.draft ?? WIP_PREFIXES.some((p) => pull.title.trimStart().toLowerCase().startsWith(p));
    const open = mapState(pull) === 'open';
    // Code comments: the PR's own count (Gitea 1.22+, absent when 0), else the reviews' counts
    // (published reviews; replies are filed under a review too).
    const published = reviews.list.filter((r) => r.state.toUpperCase() !== 'PENDING');
    const codeComments =
      pull.review_comments ??
      (reviews.complete && published.every((r) => r.comments_count != null)
        ? published.reduce((n, r) => n + (r.comments_count ?? 0), 0)
        : null);
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
      head_branch: headBranch(pull),
      requested_reviewers: sortRequestedReviewers([
        ...new Map(requested.map((r) => [`${r.kind} ${r.name.toLowerCase()}`, r])).values(),
      ]),
      head_sha: pull.head.sha || null,
      ...(checks ?? NO_CHECKS),
      ...(open
        ? mergeState(pull, draft, this.#settled(repo, pull))
        : { merge_state: null, merge_state_reason: null }),
      // Gitea's `mergeable` leaves approvals out (`PullRequest.Mergeable`: not checking, no
      // conflict, no error, not WIP — models/issues/pull.go), and the branch protection's
      // required approvals are read only by repository admins (`GET …/branch_protections`):
      // Gitea cannot say, so readiness asks for a standing approval (docs/gitea.md).
      awaiting_approval: null,
      unresolved_threads: unresolvedThreads,
      comments: pull.comments == null || codeComments === null ? null : pull.comments + codeComments,
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
