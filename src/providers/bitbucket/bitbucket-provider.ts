import type { z } from 'zod';
import { AuthError, NotFoundError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import {
  type PrFields,
  type PrState,
  type RequestedReviewer,
  sortRequestedReviewers,
} from '../../core/types.ts';
import { byRepository, eachAtMost, unchangedThrough } from '../batch-reads.ts';
import { type CheckOutcome, type CheckResult, NO_CHECKS, summarizeChecks } from '../checks.ts';
import { hostPullUrl, isOnHost, matchRepoOnHost, matchWebPath, pullNumber } from '../origin-match.ts';
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
  repoKey,
} from '../types.ts';
import { BitbucketClient, type BitbucketClientOptions } from './client.ts';
import { ComputeTimeoutError } from './errors.ts';
import {
  accountSchema,
  type BbAccount,
  type BbComment,
  type BbPull,
  type BbPullMove,
  type BbRepository,
  type BbStatus,
  commentsPageSchema,
  commitsPageSchema,
  conflictsPageSchema,
  diffstatPageSchema,
  pullListSchema,
  pullMovesSchema,
  pullSchema,
  repositorySchema,
  statusesPageSchema,
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
/** The largest page of build statuses and comments ("Pagination": 100 is the general maximum). */
const PAGELEN_100 = 100;
/** PRs one `fetchPulls` call answers: the engine's batch. */
const PULLS_PER_BATCH = 50;
/** Pages of a repository's moved PRs read at most per `fetchPulls` call; PRs left unsettled are read in full. */
const MOVED_PAGES = 4;
/** Pages of a user's moved PRs read at most per round (see `MovedList.maxPages`). */
const USER_PAGES = 20;
/** Full reads (and repositories' lists) under way at once within one `fetchPulls` call. */
const READS_AT_ONCE = 8;
/**
 * What the list of moved PRs asks of each ("Partial responses": `fields` keeps what it names, and
 * `next` must be named or paging stops after the first page — see THREAD_FIELDS).
 */
const MOVED_FIELDS = ['next', 'values.id', 'values.state', 'values.updated_on', 'values.comment_count'].join(
  ',',
);
/**
 * What a user's list of moved PRs asks of each: as MOVED_FIELDS, and the repository it lives in
 * (the list spans a workspace's repositories).
 */
const USER_MOVED_FIELDS = `${MOVED_FIELDS},values.destination.repository.full_name`;
/**
 * How long who a token acts as (`GET /user`) is trusted, and how long a token whose user, or a
 * workspace whose list of that user's PRs, could not be read goes the per-repository way only.
 */
const TOKEN_USER_TTL_MS = 60 * 60_000;
/**
 * How long a PR may be told unmoved by its absence from a user's list: a PR can drop off that list
 * without a word (its repository renamed, moved to another workspace or no longer readable), so its
 * repository's list (which answers 404 then) or its own read looks again after this.
 */
const USER_LIST_RECHECK_MS = 15 * 60_000;
/**
 * How long one read of a repository's moved PRs serves the `fetchPulls` calls of a round (a tick
 * claims up to hundreds of rows, asked 50 a call): a later round asks again.
 */
const LIST_ROUND_MS = 5_000;
/** Entries kept at most of what full reads saw (`#seen`); past it, the oldest are forgotten. */
const SEEN_ENTRIES = 20_000;

/**
 * Whether a comment's author or a reviewer belongs to the repository, Bitbucket Cloud cannot say
 * cheaply (feedback's `trusted` is null): a comment and a participant carry no role in the
 * repository, and the reads that tell a person's permission need admin rights — "Get an explicit
 * user permission for a repository" (`GET /repositories/{ws}/{repo}/permissions-config/users/{id}`)
 * wants `repository:admin` and shows only explicit grants, "List repository permissions for a
 * workspace" wants a workspace administrator, and "List repository permissions for a user"
 * (`/user/permissions/repositories`) tells only the token's own. docs/bitbucket.md, "Feedback".
 */
const BITBUCKET_TRUST_UNKNOWN = null;
/**
 * Pages of a PR's build statuses read at most, newest first, where the head commit's own list
 * cannot be read: the PR's list holds those of its earlier commits too, so it grows with every push.
 */
const STATUS_PAGES = 5;

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

/**
 * A build status's `state` → a check outcome ("Commit statuses": `SUCCESSFUL`, `FAILED`,
 * `INPROGRESS`, `STOPPED`): successful passed, failed failed, in progress pending. `STOPPED` is a
 * build stopped before it finished — Pipelines' "Stopped", and what the Jenkins Bitbucket Branch
 * Source plugin reports for a build that did not run when told not to report it as `FAILED` — so
 * skipped: it neither passed nor failed. A state Bitbucket may add later is pending, never passed.
 */
export function checkOutcome(state: string): CheckOutcome {
  switch (state.toUpperCase()) {
    case 'SUCCESSFUL':
      return 'passed';
    case 'FAILED':
      return 'failed';
    case 'STOPPED':
      return 'skipped';
    default:
      return 'pending';
  }
}

/** A PR's file conflicts, as far as gitsync reads them: whether there is any, and the first's kind. */
export interface Conflicts {
  conflicted: boolean;
  /** The first conflict's `scenario` ("File Conflict": `content`, `delete_modify`, `rename`…). */
  scenario: string | null;
}

/**
 * Whether a PR can be merged, from what Bitbucket tells (docs/bitbucket.md, "Mergeability"). Merged
 * and declined PRs: null. A draft: `draft`. File conflicts ("Get file conflicts for a pull
 * request"): `conflicting`, with the first conflict's `scenario` as the reason. `mergeable: false`
 * ("a boolean flag indicating whether the pull request passes all merge checks": required
 * approvals, builds, tasks…): `blocked`. `clean` when `mergeable` is true, or when Bitbucket leaves
 * it out and the conflicts were read and there are none. Bitbucket has no "not computed yet" answer
 * (it computes conflicts when asked), so never `unknown`; null when it told nothing.
 */
export function mergeStateOf(
  pr: Pick<BbPull, 'state' | 'draft' | 'mergeable'>,
  conflicts: Conflicts | null | undefined,
): Pick<PrFields, 'merge_state' | 'merge_state_reason'> {
  const none = { merge_state: null, merge_state_reason: null };
  if (mapState(pr.state) !== 'open') return none;
  if (pr.draft) return { merge_state: 'draft', merge_state_reason: null };
  if (conflicts?.conflicted) return { merge_state: 'conflicting', merge_state_reason: conflicts.scenario };
  if (pr.mergeable === false) return { merge_state: 'blocked', merge_state_reason: null };
  if (pr.mergeable === true || conflicts) return { merge_state: 'clean', merge_state_reason: null };
  return none;
}

/**
 * Whether Bitbucket says the merge waits for approvals (`awaiting_approval`, SPEC §6.2
 * `needs_approval`): `mergeable: true` ("passes all merge checks", the required approvals among
 * them) → false; `mergeable: false` does not say which check fails, and without `mergeable`
 * nothing is said → null (readiness then asks for a standing approval). Open PRs only.
 */
export function awaitingApproval(pr: Pick<BbPull, 'state' | 'mergeable'>): boolean | null {
  return mapState(pr.state) === 'open' && pr.mergeable === true ? false : null;
}

/** Whether two hashes name one commit: Bitbucket abbreviates some (to 12 hex digits), never below 7. */
export function sameCommit(a: string, b: string): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  return short.length >= 7 && long.toLowerCase().startsWith(short.toLowerCase());
}

/** The commit a build status is on: the hash ending its `links.commit.href` (`…/commit/{hash}`). */
const statusCommit = (s: BbStatus) =>
  /\/commit\/([0-9a-f]{7,40})\/?(?:[?#]|$)/i.exec(s.links?.commit?.href ?? '')?.[1] ?? null;

/** One build status as a check: its `name` (else its `key`) and link. */
const toCheck = (s: BbStatus): CheckResult => ({
  name: s.name || s.key,
  url: s.url || null,
  outcome: checkOutcome(s.state),
});

/**
 * Whether a comment opens a thread that is not resolved. A thread on Bitbucket is a top-level
 * comment on the diff: only those can be resolved — "Resolve a comment thread" answers 403 "if the
 * provided comment is not a top-level comment, or if the comment is not on the diff" (Bitbucket
 * Cloud OpenAPI description, `POST …/comments/{comment_id}/resolve`) — so a general comment is
 * never a thread, as on GitHub (review threads) and GitLab (resolvable discussions). It is open
 * while it has no `resolution` ("Comment Resolution"). Deleted comments stay listed with
 * `deleted: true`, and drafts (`pending`) are unpublished: neither is a thread.
 */
const opensThread = (c: BbComment) => !!c.inline && !c.parent && !c.resolution && !c.deleted && !c.pending;

/**
 * The parts of each comment `opensThread` reads, and `next` ("Partial responses": `fields` keeps
 * only what it names, the page's `next` included — without it, paging stops after the first page,
 * as GitLab's Bitbucket Cloud importer found, gitlab-org/gitlab MR 157158). `resolution` whole: its
 * presence is what counts, not any one of its fields.
 */
const THREAD_FIELDS = [
  'next',
  'values.id',
  'values.deleted',
  'values.pending',
  'values.parent.id',
  'values.inline.path',
  'values.resolution',
].join(',');

/**
 * What the PR answer shows that moves with its threads, with which they were counted
 * (`PullReadsCache`): its `comment_count` ("The number of comments for a specific pull request").
 * A comment added moves it. Resolving or reopening a thread adds no comment, and nothing in the
 * description says it moves `updated_on` or anything else in the PR answer: those are seen through
 * the `pullrequest:comment_resolved` / `comment_reopened` webhooks, or within the hour.
 */
const threadsStamp = (pr: BbPull) => String(pr.comment_count ?? '');

type Sizes = Pick<PrFields, 'additions' | 'deletions' | 'changed_files' | 'commits'>;
type Checks = Pick<PrFields, 'checks_state' | 'checks'>;

/**
 * What the PR answer shows that moves with activity on it, with which its head's checks were read
 * (`PullReadsCache`): its update time, comment and task counts, its merge checks verdict (`mergeable`
 * covers required builds), and the source commit as the answer gives it.
 */
const checksStamp = (pr: BbPull) =>
  [pr.updated_on, pr.comment_count, pr.task_count, pr.mergeable, pr.source.commit?.hash].join('|');

/** What can change only when the PR's source or destination commit moves. */
interface CommitFacts {
  sizes: Sizes;
  /** The source commit's full hash (the PR answer abbreviates it): the newest of the PR's commits. */
  head: string | null;
  /** Read only for open PRs that are not drafts; undefined until then, null when unreadable. */
  conflicts?: Conflicts | null;
}

/**
 * What the last full read of a PR (per token) saw, for `fetchPulls` to tell from its repository's
 * list of moved PRs that nothing moved since.
 */
interface Seen {
  /** `updated_on` as Bitbucket gave it. */
  updatedOn: string;
  /** The author's `uuid`, when the answer named one. */
  author: string | null;
  state: string;
  comments: number | null;
  /** Bitbucket's time (ms) up to which the PR is known not to have moved since that read. */
  through: number;
  /** When that read was made (this provider's clock). */
  readAt: number;
  /** When its repository's list or its own read last showed it (this provider's clock; USER_LIST_RECHECK_MS). */
  coveredAt: number;
  /** The head its checks and threads were kept for, and the stamps they were kept with. */
  head: string | null;
  checksStamp: string;
  threadsStamp: string;
  /** The PR's source repository (`workspace/slug`), where its head's statuses are read. */
  source: string | null;
  /** What it showed (JSON), for a refresh that re-reads only the statuses or the comments. */
  fields: string;
}

/** One read of a list of moved PRs (`#readMoved`): a repository's, or a user's in a workspace. */
interface MovedRound {
  /** The PRs it showed, by `MovedList.keyOf`. */
  moved: Map<string, BbPullMove>;
  /** Bitbucket's time (its first page's `Date`); null when it gave none. */
  answeredAt: number | null;
  /**
   * Bitbucket's time at or below which the PRs it did not show were last updated: the oldest update
   * on the pages read (newest first), or −∞ when read to its end.
   */
  floor: number;
  /** An item did not say which PR it is (`MovedList.itemKey`): the round tells nothing. */
  unreadable: boolean;
}

/** A list of moved PRs to read: where, and how its items and the asked PRs are told apart. */
interface MovedList {
  /** Per (token, list): what shares a round. */
  key: string;
  /** The list's path, without its query. */
  path: string;
  fields: string;
  /** An asked PR's key among the list's items. */
  keyOf: (pull: PullRef) => string;
  /** An item's key; null when the item does not say enough to tell (the round is then not used). */
  itemKey: (item: BbPullMove) => string | null;
  /** Pages read at most. */
  maxPages: number;
  /**
   * Whether to read it to its end (within `maxPages`), not only until the asked PRs are told: a
   * user's list serves the other calls of the round too, whose PRs are elsewhere on it.
   */
  toEnd: boolean;
  /** The step its `since` is rounded down to, so that calls whose PRs were told at about the same time share it. */
  sinceStep: number;
}

type Known = { pull: PullRef; seen: Seen };

const pathOf = (repo: RepoRef) => `${repo.owner}/${repo.name}`;
const apiPath = (repo: RepoRef) =>
  `/repositories/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}`;
const samePath = (a: string | null | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();

/** A BBQL string literal: double quotes, with `"` and `\` escaped ("Filter and sort API objects"). */
const bbqlString = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/** Bitbucket Cloud (`https://bitbucket.org`, API `https://api.bitbucket.org/2.0`). */
export class BitbucketProvider implements Provider {
  readonly client: BitbucketClient;
  /**
   * Bitbucket reads one PR at a time, but one list per repository tells which PRs moved
   * (`fetchPulls`); below two PRs a single read costs the same.
   */
  readonly capabilities: ProviderCapabilities = {
    pullsPerBatch: PULLS_PER_BATCH,
    listsPerRepository: true,
    branchesPerBatch: 0,
    minBatch: 2,
  };
  readonly webhooks: ProviderWebhooks = bitbucketWebhooks(
    this,
    (commit) => this.#checks.forget((_, head) => sameCommit(head, commit)),
    (url) => this.#threads.forget((pull) => pull === url.toLowerCase()),
  );
  readonly #clock: ProviderDeps['clock'];
  readonly #repos = new Map<string, { info: BbRepository | null; until: number }>();
  /**
   * Sizes, commit counts, the full head hash and the conflicts per (token, PR, source commit,
   * destination commit): they change only when one of the two commits does.
   */
  readonly #facts = new Map<string, CommitFacts>();
  /**
   * The commit count and full head hash last read per (token, PR, source commit): once the source
   * branch is deleted (merged with "Close source branch") Bitbucket lists no commits any more,
   * while the source commit — and so what was counted — is the same.
   */
  readonly #counted = new Map<string, { commits: number; head: string | null }>();
  /**
   * An open PR's head checks per (token, PR), read again when the head or `checksStamp` moves,
   * while a build runs, until they have read the same for ten minutes, and at least hourly: a
   * build finishing changes nothing in the PR answer (docs/bitbucket.md, "What it costs").
   */
  readonly #checks = new PullReadsCache<Checks>({
    maxAgeMs: READS_MAX_AGE_MS,
    settleMs: CHECKS_SETTLE_MS,
    settled: (c) => c.checks_state !== 'pending',
  });

  /**
   * An open PR's count of unresolved threads per (token, PR), read again when the head or
   * `threadsStamp` moves, when a `pullrequest:comment_*` webhook for the PR reaches this replica,
   * and at least hourly: resolving a thread changes nothing the PR answer is known to show
   * (docs/bitbucket.md, "Comments and threads"). Kept at once: a count, unlike a build, does not
   * move by itself after it was read.
   */
  readonly #threads = new PullReadsCache<number>({
    maxAgeMs: READS_MAX_AGE_MS,
    settleMs: 0,
    settled: () => true,
  });

  /** What the last full read of each (token, PR) saw (`Seen`). */
  readonly #seen = new Map<string, Seen>();
  /**
   * Per token: the `uuid` of the user it acts as (`GET /user`), null when Bitbucket would not say;
   * and until when that is trusted.
   */
  readonly #tokenUsers = new Map<string, { uuid: Promise<string | null>; until: number }>();
  /** Per (token, workspace): until when its list of the token user's PRs is not asked again (it failed). */
  readonly #noUserList = new Map<string, number>();
  /** Per (token, list): the read of its moved PRs this round, shared by the calls of a tick. */
  readonly #rounds = new Map<string, { since: number; at: number; read: Promise<MovedRound | null> }>();

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
   * Many PRs, with one list read per repository instead of one PR read each (docs/bitbucket.md,
   * "Many PRs at once"). A PR is answered PULL_UNCHANGED when all of these hold; else it is read in
   * full, as `fetchPull` reads it:
   * - no signal asked for it (`fresh`);
   * - this provider read it in full less than an hour ago, and what the caller shows is no older
   *   than that read (`shownSince`);
   * - it is settled: merged or declined, or open with its head's checks and its threads kept
   *   (`#checks`, `#threads`: finished builds that stood ten minutes, a count read this hour);
   * - a list of PRs moved since shows it has not moved since that read: the token user's list in
   *   its workspace for that user's own PRs where it saves repositories' lists (`#viaUserLists`),
   *   else, or where that list cannot tell, its repository's (`#unmoved`).
   * One the list shows unchanged but not settled has only its statuses or comments read again
   * (`#rereadKept`). A PR Bitbucket does not show is an entry of its own (NotFoundError); any other
   * failure fails them all.
   */
  async fetchPulls(
    asked: readonly PullRef[],
    call: CallOptions,
  ): Promise<Map<string, PrFields | Error | typeof PULL_UNCHANGED>> {
    this.client.gate(call);
    const out = new Map<string, PrFields | Error | typeof PULL_UNCHANGED>();
    const full: PullRef[] = [];
    const kept: Known[] = [];
    const known: Known[] = [];
    for (const pull of asked) {
      const seen = pull.fresh ? undefined : this.#known(pull, call);
      if (seen) known.push({ pull, seen });
      else full.push(pull);
    }
    const { byUser, perRepository } = await this.#viaUserLists(known, call);
    const unmovedOnes = (items: readonly Known[], unmoved: Set<PullRef>) => {
      for (const item of items) {
        if (!unmoved.has(item.pull)) full.push(item.pull);
        else if (this.#settled(item.pull, item.seen, call)) out.set(pullKey(item.pull), PULL_UNCHANGED);
        else kept.push(item);
      }
    };
    await eachAtMost(byUser, READS_AT_ONCE, async (group) => {
      const told = await this.#unmovedOfUser(group.workspace, group.user, group.items, call);
      if (!told) {
        perRepository.push(...group.items);
        return;
      }
      perRepository.push(...told.unsure);
      unmovedOnes(
        group.items.filter((i) => !told.unsure.includes(i)),
        told.unmoved,
      );
    });
    await eachAtMost(byRepository(perRepository), READS_AT_ONCE, async (group) => {
      unmovedOnes(group.items, await this.#unmoved(group.repo, group.items, call));
    });
    await eachAtMost(kept, READS_AT_ONCE, async ({ pull, seen }) => {
      const fields = await this.#rereadKept(pull, seen, call);
      if (fields) out.set(pullKey(pull), fields);
      else full.push(pull);
    });
    await eachAtMost(full, READS_AT_ONCE, async (pull) => {
      try {
        out.set(pullKey(pull), await this.#read(pull, call));
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        out.set(pullKey(pull), error);
      }
    });
    return out;
  }

  /**
   * A PR the list shows unchanged whose checks or threads may not stand in (a build running or
   * settling, an hour since they were read, a webhook): only those are read again — its statuses,
   * its comments — and shown with the rest of what its last full read saw. Its checks reading
   * other than before: undefined, for a full read (Bitbucket's `mergeable` covers builds).
   */
  async #rereadKept(pull: PullRef, seen: Seen, call: CallOptions): Promise<PrFields | undefined> {
    const before = JSON.parse(seen.fields) as PrFields;
    const [checks, threads] = await Promise.all([
      seen.head ? this.#checksOf(pull, seen.source, seen.head, seen.checksStamp, call, false) : null,
      this.#threadsOf(pull, seen.head, seen.threadsStamp, call, false),
    ]);
    const same = (a: Checks | null, b: Checks) =>
      a !== null &&
      a.checks_state === b.checks_state &&
      JSON.stringify(a.checks) === JSON.stringify(b.checks);
    if (!same(checks, before)) return undefined;
    const fields: PrFields = { ...before, unresolved_threads: threads };
    seen.fields = JSON.stringify(fields);
    return fields;
  }

  /** What the last full read of a PR saw, if its repository's list may tell whether it moved since. */
  #known(pull: PullRef, call: CallOptions): Seen | undefined {
    const seen = this.#seen.get(PullReadsCache.key(call.token, this.buildPullUrl(pull)));
    if (!seen || this.#clock.now().getTime() - seen.readAt >= READS_MAX_AGE_MS) return undefined;
    // What the caller shows must be no older than that read (another chat's refresh may have
    // read the PR since this one's): else "unchanged" would keep it old.
    if (!pull.shownSince || pull.shownSince.getTime() < seen.readAt) return undefined;
    return seen;
  }

  /**
   * Whether an unmoved PR stands as read: merged or declined, or open with its head's checks and
   * its threads kept — a build finishing or a thread resolved, which the list does not show, would
   * not be read on a full read either.
   */
  #settled(pull: PullRef, seen: Seen, call: CallOptions): boolean {
    if (mapState(seen.state) !== 'open') return true;
    const key = PullReadsCache.key(call.token, this.buildPullUrl(pull));
    const now = this.#clock.now().getTime();
    return (
      this.#checks.get(key, seen.head, seen.checksStamp, now) !== undefined &&
      this.#threads.get(key, seen.head, seen.threadsStamp, now) !== undefined
    );
  }

  /**
   * Which asked PRs one list of the token user's PRs per workspace may tell moved or unmoved
   * (docs/bitbucket.md, "Many PRs at once"): those whose last full read showed them authored by the
   * token's user (`GET /user`, once an hour per token), in workspaces where they fill two or more
   * repositories no other asked PR has listed anyway — one list per workspace instead of one per
   * repository. The rest, and all of them when the token's user is not known, go per repository.
   */
  async #viaUserLists(
    known: readonly Known[],
    call: CallOptions,
  ): Promise<{ byUser: { workspace: string; user: string; items: Known[] }[]; perRepository: Known[] }> {
    const perRepository: Known[] = [];
    // Below two repositories, one list of a user's PRs would cost what one repository's list does.
    const worth =
      known.some((k) => k.seen.author) && new Set(known.map((k) => repoKey(k.pull.repo))).size >= 2;
    const user = worth ? await this.#tokenUser(call) : null;
    const now = this.#clock.now().getTime();
    // The user's own PRs, each shown by its repository's list or its own read within
    // USER_LIST_RECHECK_MS (its absence from the user's list says nothing after that).
    const mine = (k: Known) =>
      !!user &&
      k.seen.author?.toLowerCase() === user.toLowerCase() &&
      now - k.seen.coveredAt < USER_LIST_RECHECK_MS;
    const listedAnyway = new Set(known.filter((k) => !mine(k)).map((k) => repoKey(k.pull.repo)));
    const workspaces = new Map<string, Known[]>();
    for (const k of known) {
      if (!mine(k) || listedAnyway.has(repoKey(k.pull.repo))) perRepository.push(k);
      else {
        const ws = k.pull.repo.owner.toLowerCase();
        const group = workspaces.get(ws) ?? [];
        group.push(k);
        workspaces.set(ws, group);
      }
    }
    const byUser: { workspace: string; user: string; items: Known[] }[] = [];
    for (const [workspace, items] of workspaces) {
      const resting = (this.#noUserList.get(`${tokenFingerprint(call.token)} ${workspace}`) ?? 0) > now;
      if (user && !resting && new Set(items.map((i) => repoKey(i.pull.repo))).size >= 2)
        byUser.push({ workspace, user, items });
      else perRepository.push(...items);
    }
    return { byUser, perRepository };
  }

  /**
   * The `uuid` of the user the token acts as ("Get current user", `GET /user`), read once an hour
   * per token; null when Bitbucket will not say (an access token it refuses there: 401, 403, 404),
   * and then not asked again for an hour. Other failures (limits, outages) are thrown.
   */
  async #tokenUser(call: CallOptions): Promise<string | null> {
    const fingerprint = tokenFingerprint(call.token);
    const now = this.#clock.now().getTime();
    const cached = this.#tokenUsers.get(fingerprint);
    if (cached && cached.until > now) return cached.uuid;
    const uuid = this.client.get('/user', accountSchema, call).then(
      (account) => account.uuid ?? null,
      (error) => {
        if (error instanceof AuthError || error instanceof NotFoundError) return null;
        this.#tokenUsers.delete(fingerprint);
        throw error;
      },
    );
    if (this.#tokenUsers.size > 10_000) this.#tokenUsers.clear();
    this.#tokenUsers.set(fingerprint, { uuid, until: now + TOKEN_USER_TTL_MS });
    return uuid;
  }

  /**
   * What one list of `user`'s PRs in a workspace tells of these PRs, all theirs and in that
   * workspace: "List workspace pull requests for a user"
   * (`GET /workspaces/{workspace}/pullrequests/{selected_user}`: "all workspace pull requests
   * authored by the specified user", OPEN only unless `state` is repeated, with filtering and
   * sorting), asked as a repository's list is (`#unmoved`), each item with its repository.
   * `unsure`: PRs it could not tell of within MOVED_PAGES pages, for their repositories' lists.
   * undefined when the list could not be read (404, 401, 403: not asked again for an hour) or an
   * item did not name its repository: all go per repository.
   */
  async #unmovedOfUser(
    workspace: string,
    user: string,
    items: readonly Known[],
    call: CallOptions,
  ): Promise<{ unmoved: Set<PullRef>; unsure: Known[] } | undefined> {
    const list: MovedList = {
      key: `${tokenFingerprint(call.token)} user ${workspace} ${user.toLowerCase()}`,
      path: `/workspaces/${encodeURIComponent(workspace)}/pullrequests/${encodeURIComponent(user)}`,
      fields: USER_MOVED_FIELDS,
      keyOf: (pull) => `${repoKey(pull.repo)}#${pull.number}`,
      itemKey: (item) => {
        const repo = item.destination?.repository?.full_name;
        return repo ? `${repo.toLowerCase()}#${item.id}` : null;
      },
      // Never more pages than the repositories' lists it stands for, less one (USER_PAGES at most).
      maxPages: Math.min(USER_PAGES, Math.max(1, new Set(items.map((i) => pathOf(i.pull.repo))).size - 1)),
      toEnd: true,
      sinceStep: 60_000,
    };
    let round: MovedRound | null;
    try {
      round = await this.#movedRound(list, items, call);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      round = null;
    }
    if (!round || round.unreadable) {
      const key = `${tokenFingerprint(call.token)} ${workspace}`;
      if (this.#noUserList.size > 10_000) this.#noUserList.clear();
      this.#noUserList.set(key, this.#clock.now().getTime() + TOKEN_USER_TTL_MS);
      return undefined;
    }
    const unsure = items.filter(
      ({ pull, seen }) => !round.moved.has(list.keyOf(pull)) && seen.through < round.floor,
    );
    return { unmoved: this.#unmovedOn(round, list, items), unsure };
  }

  /**
   * Which of a repository's PRs have not moved since their last full read, from one list: its PRs
   * in every state updated after the earliest time they are all known unchanged through
   * (`GET …/pullrequests?state=…&q=updated_on > "…"&sort=-updated_on&fields=…&pagelen=50`,
   * "Filter and sort API objects", "Partial responses"; 50 is the list's largest page). A quiet
   * repository answers an empty page. Bitbucket moves a PR's `updated_on` when the PR itself
   * changes — its title, state, reviewers, verdicts, a comment, a push — not when a build of its
   * head reports (a status lives on the commit). A PR on the list is unchanged when its
   * `updated_on`, state and comment count are those of the read; one not on it, when the list was
   * read to its end, or far enough (newest first) to pass the time it is known unchanged through.
   * Every time here is Bitbucket's own (`updated_on`, and the `Date` of its answers), never this
   * provider's clock. A repository Bitbucket does not show: none (each PR's own read will say).
   */
  async #unmoved(repo: RepoRef, items: readonly Known[], call: CallOptions): Promise<Set<PullRef>> {
    const list: MovedList = {
      key: `${tokenFingerprint(call.token)} ${repoKey(repo)}`,
      path: `${apiPath(repo)}/pullrequests`,
      fields: MOVED_FIELDS,
      keyOf: (pull) => String(pull.number),
      itemKey: (item) => String(item.id),
      maxPages: MOVED_PAGES,
      toEnd: false,
      sinceStep: 1,
    };
    const round = await this.#movedRound(list, items, call);
    const unmoved = round ? this.#unmovedOn(round, list, items) : new Set<PullRef>();
    const now = this.#clock.now().getTime();
    for (const { pull, seen } of items) if (unmoved.has(pull)) seen.coveredAt = now;
    return unmoved;
  }

  /** The PRs a round shows unmoved (see `#unmoved`); each is then known unchanged through its answer. */
  #unmovedOn(round: MovedRound, list: MovedList, items: readonly Known[]): Set<PullRef> {
    const out = new Set<PullRef>();
    if (round.unreadable) return out;
    for (const { pull, seen } of items) {
      const item = round.moved.get(list.keyOf(pull));
      const same = item
        ? item.updated_on === seen.updatedOn &&
          item.state === seen.state &&
          (item.comment_count ?? null) === seen.comments
        : seen.through >= round.floor;
      if (!same) continue;
      out.add(pull);
      seen.through = unchangedThrough(seen.through, round.answeredAt);
    }
    return out;
  }

  /**
   * The round of a list of moved PRs that serves these PRs: the one read this round (the calls of
   * one tick share it, LIST_ROUND_MS) if it starts no later than the time each is known unchanged
   * through and was asked after each was last read in full, else a new one, which the next calls
   * share. null when Bitbucket does not show the list (404).
   */
  async #movedRound(list: MovedList, items: readonly Known[], call: CallOptions): Promise<MovedRound | null> {
    const now = this.#clock.now().getTime();
    const shared = this.#rounds.get(list.key);
    // It serves PRs it starts no later than the time they are known unchanged through, and that
    // were last read in full before it was asked (so that Bitbucket answered it after that read).
    if (
      shared &&
      now - shared.at < LIST_ROUND_MS &&
      items.every(({ seen }) => shared.since <= seen.through && seen.readAt < shared.at)
    ) {
      const read = await shared.read.catch(() => null);
      if (read) return read;
    }
    const since = Math.floor(Math.min(...items.map((i) => i.seen.through)) / list.sinceStep) * list.sinceStep;
    const round: { since: number; at: number; read: Promise<MovedRound | null> } = {
      since,
      at: now,
      read: this.#readMoved(list, since, items, call),
    };
    if (this.#rounds.size > 10_000) this.#rounds.clear();
    this.#rounds.set(list.key, round);
    return round.read;
  }

  /**
   * Reads a list of PRs moved since `since` (see `#unmoved`): newest first, page after page while
   * one of `items` is neither on the pages read nor known unchanged through the oldest update time
   * they reached, at most MOVED_PAGES.
   */
  async #readMoved(
    list: MovedList,
    since: number,
    items: readonly Known[],
    call: CallOptions,
  ): Promise<MovedRound | null> {
    const query = [
      ...ALL_STATES.map((s) => `state=${s}`),
      `q=${encodeURIComponent(`updated_on > ${bbqlString(new Date(since).toISOString())}`)}`,
      'sort=-updated_on',
      `fields=${list.fields}`,
      `pagelen=${LIST_PAGELEN}`,
    ].join('&');
    const round: MovedRound = {
      moved: new Map(),
      answeredAt: null,
      floor: Number.POSITIVE_INFINITY,
      unreadable: false,
    };
    let next: string | null | undefined = `${list.path}?${query}`;
    let previous = Number.POSITIVE_INFINITY;
    const unsettled = () =>
      items.some(({ pull, seen }) => !round.moved.has(list.keyOf(pull)) && seen.through < round.floor);
    for (let pages = 0; next && pages < list.maxPages && (list.toEnd || unsettled()); pages++) {
      const answer: { date?: number | null } = {};
      let page: z.infer<typeof pullMovesSchema>;
      try {
        page = await this.client.get(next, pullMovesSchema, call, answer);
      } catch (error) {
        if (error instanceof NotFoundError) return null;
        throw error;
      }
      if (pages === 0) round.answeredAt = answer.date ?? null;
      for (const v of page.values) {
        const key = list.itemKey(v);
        // A list that did not filter (`q`) or sort as asked cannot tell what is missing from it.
        const updated = Date.parse(v.updated_on ?? '');
        // (`updated_on` has microseconds, `since` milliseconds: an update in its millisecond is listed.)
        if (key === null || !(updated >= since) || updated > previous) round.unreadable = true;
        else if (!round.moved.has(key)) round.moved.set(key, v);
        previous = updated;
      }
      const last = Date.parse(page.values.at(-1)?.updated_on ?? '');
      if (!Number.isNaN(last)) round.floor = Math.min(round.floor, last);
      next = page.next;
      if (!next) round.floor = Number.NEGATIVE_INFINITY;
    }
    return round;
  }

  /** Remembers what a full read saw (`Seen`); a PR without a readable update time is not kept. */
  #remember(
    pull: PullRef,
    pr: BbPull,
    head: string | null,
    answeredAt: number | null,
    fields: PrFields,
    call: CallOptions,
  ) {
    const key = PullReadsCache.key(call.token, this.buildPullUrl(pull));
    this.#seen.delete(key);
    const updated = Date.parse(pr.updated_on ?? '');
    if (!pr.updated_on || Number.isNaN(updated)) return;
    this.#seen.set(key, {
      updatedOn: pr.updated_on,
      author: pr.author?.uuid ?? null,
      state: pr.state,
      comments: pr.comment_count ?? null,
      through: unchangedThrough(updated, answeredAt),
      readAt: this.#clock.now().getTime(),
      coveredAt: this.#clock.now().getTime(),
      head,
      checksStamp: checksStamp(pr),
      threadsStamp: threadsStamp(pr),
      source: pr.source.repository?.full_name ?? null,
      fields: JSON.stringify(fields),
    });
    if (this.#seen.size > SEEN_ENTRIES) this.#seen.delete(this.#seen.keys().next().value!);
  }

  /**
   * The PR of a branch: the PRs of the origin's repository in every state whose source branch is
   * `branch` and whose source repository is the origin's (a PR from a fork lists in its
   * destination); an open one first, else the one with the highest ID. None there and the origin is
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
    // No open one: the newest PR of the branch, the one with the highest ID (IDs grow with each PR
    // of a repository) — not the most recently updated, which a late comment on an old PR would be.
    const pick =
      mine.find((p) => mapState(p.state) === 'open') ??
      mine.reduce<(typeof mine)[number] | undefined>(
        (best, p) => (!best || p.id > best.id ? p : best),
        undefined,
      );
    return pick ? { repo: where, number: pick.id } : null;
  }

  /**
   * A PR read in full. Its head's build statuses and its unresolved threads are read for open PRs
   * only, and kept a while (`#checks`, `#threads`): a build finishing or a thread resolved changes
   * nothing in the PR itself, so nothing cheaper tells.
   */
  async #read(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const answer: { date?: number | null } = {};
    const pr = await this.client.get(
      `${apiPath(pull.repo)}/pullrequests/${pull.number}`,
      pullSchema,
      call,
      answer,
    );
    const facts = await this.#factsOf(pull, pr, call);
    const head = facts.head ?? pr.source.commit?.hash ?? null;
    const open = mapState(pr.state) === 'open';
    // A signal asked for this read: nothing kept stands in for the statuses and the comments.
    const fresh = pull.fresh === true;
    const [checks, threads] = await Promise.all([
      open && head
        ? this.#checksOf(pull, pr.source.repository?.full_name, head, checksStamp(pr), call, fresh)
        : null,
      open ? this.#threadsOf(pull, head, threadsStamp(pr), call, fresh) : null,
    ]);
    const fields = this.#toFields(pull, pr, facts, head, checks, threads);
    this.#remember(pull, pr, head, answer.date ?? null, fields, call);
    return fields;
  }

  /**
   * The PR's unresolved threads: the kept count while it may stand in, else every page of its
   * comments (`GET …/pullrequests/{id}/comments`, "List comments on a pull request": "both
   * global, inline comments and replies", oldest first), 100 a page ("Pagination": the maximum),
   * with only the fields `opensThread` reads. Filtered here, not with `q`: which comment fields
   * BBQL filters on, and how it treats a `resolution` that is absent, is not documented. null when
   * Bitbucket answers 404, or past `MAX_PAGES` pages (10,000 comments): not told.
   */
  async #threadsOf(
    pull: PullRef,
    head: string | null,
    stamp: string,
    call: CallOptions,
    fresh: boolean,
  ): Promise<number | null> {
    const key = PullReadsCache.key(call.token, this.buildPullUrl(pull));
    const kept = fresh ? undefined : this.#threads.get(key, head, stamp, this.#clock.now().getTime());
    if (kept !== undefined) return kept;
    const comments = await this.#walk(
      `${apiPath(pull.repo)}/pullrequests/${pull.number}/comments?fields=${THREAD_FIELDS}&pagelen=${PAGELEN_100}`,
      commentsPageSchema,
      call,
    );
    if (!comments) return null;
    const count = comments.filter(opensThread).length;
    this.#threads.set(key, head, stamp, count, this.#clock.now().getTime());
    return count;
  }

  /** The head's checks: kept ones while they may stand in, else its statuses read (null: 404). */
  async #checksOf(
    pull: PullRef,
    source: string | null | undefined,
    head: string,
    stamp: string,
    call: CallOptions,
    fresh: boolean,
  ): Promise<Checks | null> {
    const key = PullReadsCache.key(call.token, this.buildPullUrl(pull));
    const kept = fresh ? undefined : this.#checks.get(key, head, stamp, this.#clock.now().getTime());
    if (kept) return kept;
    const statuses = await this.#headStatuses(pull, source, head, call);
    if (!statuses) return null;
    const checks = summarizeChecks(statuses.items.map(toCheck));
    this.#checks.set(key, head, stamp, checks, this.#clock.now().getTime());
    return checks;
  }

  /**
   * Feedback for an agent: the head commit's failed builds with their `description`, the threads
   * on the diff not resolved yet (one page of 100 comments), and who requests changes. Reads the
   * PR (conditionally), its statuses and its comments: three requests.
   */
  async fetchFeedback(pull: PullRef, call: CallOptions): Promise<PullFeedback> {
    this.client.gate(call);
    const base = `${apiPath(pull.repo)}/pullrequests/${pull.number}`;
    const pr = await this.client.get(base, pullSchema, call);
    // The full hash when a refresh read it already; the abbreviated one matches the statuses too.
    const key = this.#factsKey(pull, pr, call);
    const head = (key ? this.#facts.get(key)?.head : null) ?? pr.source.commit?.hash ?? null;
    const [statuses, comments] = await Promise.all([
      head ? this.#headStatuses(pull, pr.source.repository?.full_name, head, call) : null,
      this.#pages(`${base}/comments?pagelen=${PAGELEN_100}`, commentsPageSchema, call, 1),
    ]);
    const failing_checks = (statuses?.items ?? [])
      .filter((s) => checkOutcome(s.state) === 'failed')
      .map((s) => ({ name: s.name || s.key, url: s.url || null, summary: s.description || null }));
    // The threads `opensThread` counts on a refresh, as the agent reads them.
    const unresolved_threads = (comments?.items ?? []).filter(opensThread).map((c) => ({
      path: c.inline!.path,
      // `to` is the line in the new version; a comment on a removed line has only `from`.
      line: c.inline!.to ?? c.inline!.from ?? null,
      author: c.user?.nickname ?? c.user?.display_name ?? null,
      // Bitbucket cannot say cheaply whether the author belongs: see BITBUCKET_TRUST_UNKNOWN.
      author_association: null,
      trusted: BITBUCKET_TRUST_UNKNOWN,
      body: c.content?.raw ?? '',
      url: c.links?.html?.href ?? null,
    }));
    const changes_requested_by = [
      ...new Set(
        (pr.participants ?? [])
          .filter((p) => p.state?.toLowerCase() === 'changes_requested')
          .map((p) => p.user?.nickname ?? p.user?.display_name)
          .filter((name): name is string => !!name),
      ),
    ];
    return {
      failing_checks,
      unresolved_threads,
      changes_requested_by: changes_requested_by.map((name) => ({ name, trusted: BITBUCKET_TRUST_UNKNOWN })),
      truncated: (statuses?.more ?? false) || (comments?.more ?? false),
    };
  }

  /** The key of a PR's `CommitFacts`; null when the answer names no source or destination commit. */
  #factsKey(pull: PullRef, pr: BbPull, call: CallOptions): string | null {
    const source = pr.source.commit?.hash;
    const destination = pr.destination.commit?.hash;
    return source && destination
      ? `${tokenFingerprint(call.token)} ${pathOf(pull.repo)}#${pull.number} ${source} ${destination}`
      : null;
  }

  /**
   * What changes only when the PR's source or destination commit moves, read once per pair:
   * additions, deletions and changed files from the PR's diffstat — a 302 to the repository
   * diffstat of the PR's commits, paginated: every page summed ("Pullrequests": "List changes in
   * a pull request"; "diffstat": `lines_added`, `lines_removed`, one entry per file); the commits
   * counted over every page of `…/commits`, whose first entry (newest first) is the head with its
   * full hash; and, for an open PR that is not a draft, its file conflicts. A PR whose commits
   * Bitbucket no longer has (a deleted fork) answers 404 there: those are null, not made up.
   */
  async #factsOf(pull: PullRef, pr: BbPull, call: CallOptions): Promise<CommitFacts> {
    const key = this.#factsKey(pull, pr, call);
    const base = `${apiPath(pull.repo)}/pullrequests/${pull.number}`;
    let facts = key ? this.#facts.get(key) : undefined;
    if (!facts) {
      const sizes: Sizes = { additions: null, deletions: null, changed_files: null, commits: null };
      const diffstat = await this.#walk(`${base}/diffstat`, diffstatPageSchema, call).catch((error) => {
        // A diff too large to compute in time (555): not told; the same diff would time out again.
        if (error instanceof ComputeTimeoutError) return null;
        throw error;
      });
      if (diffstat) {
        sizes.additions = diffstat.reduce((n, f) => n + (f.lines_added ?? 0), 0);
        sizes.deletions = diffstat.reduce((n, f) => n + (f.lines_removed ?? 0), 0);
        sizes.changed_files = diffstat.length;
      }
      const commits = await this.#walk(`${base}/commits?pagelen=${LIST_PAGELEN}`, commitsPageSchema, call);
      const source = pr.source.commit?.hash;
      const countedKey = source
        ? `${tokenFingerprint(call.token)} ${pathOf(pull.repo)}#${pull.number} ${source}`
        : null;
      let head: string | null = null;
      if (commits && commits.length > 0) {
        sizes.commits = commits.length;
        const newest = commits[0]?.hash;
        head = newest && source && sameCommit(newest, source) ? newest : null;
        if (countedKey) {
          if (this.#counted.size > 20_000) this.#counted.clear();
          this.#counted.set(countedKey, { commits: commits.length, head });
        }
      } else if (commits) {
        // Empty: "This list will be empty if the source branch no longer exists" ("List commits
        // on a pull request"). A PR has at least one commit, so this is not zero: what was
        // counted at this source commit stands, else not told.
        const counted = countedKey ? this.#counted.get(countedKey) : undefined;
        sizes.commits = counted?.commits ?? null;
        head = counted?.head ?? null;
      }
      facts = { sizes, head };
      if (key) {
        if (this.#facts.size > 20_000) this.#facts.clear();
        this.#facts.set(key, facts);
      }
    }
    if (facts.conflicts === undefined && mapState(pr.state) === 'open' && !pr.draft)
      facts.conflicts = await this.#conflictsOf(base, call);
    return facts;
  }

  /**
   * The PR's file conflicts: `…/pullrequests/{id}/conflicts`, a 302 to the repository's file
   * conflicts of the PR's commits ("Get file conflicts for a pull request"; "Get file conflicts
   * for a commit spec": one entry per conflicting file). The first page says whether there is
   * any. null when Bitbucket answers 404 (commits it no longer has).
   */
  async #conflictsOf(base: string, call: CallOptions): Promise<Conflicts | null> {
    const read = await this.#pages(`${base}/conflicts`, conflictsPageSchema, call, 1);
    if (!read) return null;
    return { conflicted: read.items.length > 0, scenario: read.items[0]?.scenario ?? null };
  }

  /**
   * The build statuses of the head commit, however many there are. Bitbucket keeps one status per
   * (commit, `key`), and its merge check reads those of the last commit ("Merge check fails when
   * commit build statuses are created via the API"). Read from the commit's own list in the PR's
   * source repository — where CI posts a PR's statuses, a fork's included (the Jenkins Bitbucket
   * Branch Source plugin posts to the PR's source repository) — every page
   * (`GET /repositories/{ws}/{repo}/commit/{commit}/statuses`, "List commit statuses for a
   * commit"). Not `…/pullrequests/{id}/statuses`, which lists the statuses of every commit the PR
   * ever had, oldest first ("Defaults to `created_on`"), so a long-lived PR's head is pages deep.
   * Only when the source repository is gone or not shown to this token (404) is that list read,
   * newest first (`sort=-created_on`, "Filter and sort API objects"), up to `STATUS_PAGES` pages,
   * keeping the statuses whose `links.commit` names the head. `more` when pages were left unread.
   */
  async #headStatuses(
    pull: PullRef,
    source: string | null | undefined,
    head: string,
    call: CallOptions,
  ): Promise<{ items: BbStatus[]; more: boolean } | null> {
    const at = source?.indexOf('/') ?? -1;
    if (source && at > 0) {
      const where = { owner: source.slice(0, at), name: source.slice(at + 1) };
      const own = await this.#pages(
        `${apiPath(where)}/commit/${encodeURIComponent(head)}/statuses?pagelen=${PAGELEN_100}`,
        statusesPageSchema,
        call,
        MAX_PAGES,
      );
      if (own) return own;
    }
    // Newest first, the walk ends with the first page holding an earlier commit's status: the
    // head's builds start once it is pushed, after those of the commits before it.
    const onHead = (s: BbStatus) => {
      const commit = statusCommit(s);
      return commit !== null && sameCommit(commit, head);
    };
    const read = await this.#pages(
      `${apiPath(pull.repo)}/pullrequests/${pull.number}/statuses?sort=-created_on&pagelen=${PAGELEN_100}`,
      statusesPageSchema,
      call,
      STATUS_PAGES,
      (page) => !page.every(onHead),
    );
    if (!read) return null;
    return { items: read.items.filter(onHead), more: read.more };
  }

  /** Every item of a paginated resource (following `next`); null when Bitbucket answers 404 or past `MAX_PAGES`. */
  async #walk<T>(
    path: string,
    schema: z.ZodType<{ values: T[]; next?: string | null | undefined }>,
    call: CallOptions,
  ): Promise<T[] | null> {
    const read = await this.#pages(path, schema, call, MAX_PAGES);
    return read && !read.more ? read.items : null;
  }

  /**
   * The items of up to `maxPages` pages of a paginated resource (following `next`), and whether
   * more were left; null when Bitbucket answers 404. `enough`: a page after which the rest is not
   * wanted (not counted as more left).
   */
  async #pages<T>(
    path: string,
    schema: z.ZodType<{ values: T[]; next?: string | null | undefined }>,
    call: CallOptions,
    maxPages: number,
    enough?: (page: T[]) => boolean,
  ): Promise<{ items: T[]; more: boolean } | null> {
    const items: T[] = [];
    let next: string | null | undefined = path;
    for (let pages = 0; next; pages++) {
      if (pages >= maxPages) return { items, more: true };
      let page: { values: T[]; next?: string | null | undefined };
      try {
        page = await this.client.get(next, schema, call);
      } catch (error) {
        if (error instanceof NotFoundError) return null;
        throw error;
      }
      items.push(...page.values);
      next = enough?.(page.values) ? null : page.next;
    }
    return { items, more: false };
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
  #toFields(
    pull: PullRef,
    pr: BbPull,
    facts: CommitFacts,
    head: string | null,
    checks: Checks | null,
    threads: number | null,
  ): PrFields {
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
      ...facts.sizes,
      pr_number: pr.id,
      author_login: pr.author?.nickname ?? null,
      author_avatar_url: pr.author?.links?.avatar?.href ?? null,
      base_branch: pr.destination.branch.name,
      head_branch: pr.source.branch.name,
      requested_reviewers: sortRequestedReviewers([...asked.values()]),
      // The full hash when the commits list gave it, else the 12 digits the PR answer gives.
      head_sha: head,
      // Read for open PRs only; null for merged and declined ones (not asked, so not told).
      ...(checks ?? NO_CHECKS),
      ...mergeStateOf(pr, facts.conflicts),
      awaiting_approval: awaitingApproval(pr),
      // Counted from the comments of open PRs (`#threadsOf`); null for merged and declined ones.
      unresolved_threads: threads,
      comments: pr.comment_count ?? null,
    };
  }
}

export function createBitbucketProvider(config: ProviderConfig, deps: ProviderDeps): BitbucketProvider {
  return new BitbucketProvider(config, { clock: deps.clock });
}
