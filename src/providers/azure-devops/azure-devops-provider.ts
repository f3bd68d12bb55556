import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { AuthError, NotFoundError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { parseRemote } from '../../core/origin.ts';
import {
  type PrFields,
  type PrState,
  type RequestedReviewer,
  sortRequestedReviewers,
} from '../../core/types.ts';
import { byRepository, eachAtMost } from '../batch-reads.ts';
import { NO_CHECKS, summarizeChecks } from '../checks.ts';
import { hostNotFound } from '../host-errors.ts';
import {
  CHECKS_SETTLE_MS,
  PullReadsCache,
  READS_CACHE_ENTRIES,
  READS_MAX_AGE_MS,
} from '../pull-reads-cache.ts';
import {
  type CallOptions,
  type Provider,
  type ProviderCapabilities,
  type ProviderConfig,
  type ProviderDeps,
  PULL_UNCHANGED,
  type PullFeedback,
  type PullRef,
  pullKey,
  type RepoRef,
} from '../types.ts';
import { AzureDevOpsClient, type AzureDevOpsClientOptions, PREVIEW_API_VERSION } from './client.ts';
import {
  azurePullUrl,
  azureRepoUrl,
  hostKind,
  parseAzureOrigin,
  parseAzurePullUrl,
  splitOwner,
} from './origins.ts';
import {
  AZURE_TRUST_UNKNOWN,
  anyInForce,
  awaitingApproval,
  blockingPolicies,
  checkResults,
  countThreads,
  EVALUATIONS_PAGE,
  type Evaluation,
  evaluationList,
  FEEDBACK_THREADS,
  failingChecks,
  mergeStateOf,
  openThreads,
  type PullStatus,
  pullStatusList,
  reviewerVerdict,
  standingStatuses,
  statusResults,
  type Thread,
  threadList,
} from './pull-state.ts';
import { type AzureDevOpsWebhooks, azureDevOpsWebhooks } from './webhooks.ts';

/** How long what a repository or project says of itself (fork parent, visibility) is trusted. */
const REPO_TTL_MS = 10 * 60_000;
/**
 * PRs read per page of a list ("Pull Requests - Get Pull Requests" and "… By Project": `$top`,
 * "the number of pull requests to retrieve", no maximum documented; unset it answers 101).
 */
const PULLS_PAGE = 100;
/**
 * PRs one `fetchPulls` call is asked for: the more of one project in a call, the fewer list
 * reads (one per project and round, `#activeList`).
 */
const PULLS_PER_BATCH = 200;
/**
 * Pages of a project's active PRs (100 a page, newest first) read at most in a round to reach the
 * PRs asked for; those older than the last page read are looked for in their repository's list.
 */
const PROJECT_LIST_PAGES = 10;
/**
 * Pages of a repository's active PRs read at most to reach the PRs asked for that its project's
 * list did not reach; those beyond are read one by one.
 */
const ACTIVE_LIST_PAGES = 5;
/**
 * How long one answer of an active-PR list serves the `fetchPulls` calls of a round (a tick
 * reads its rows in several calls side by side): a new round asks again.
 */
const LIST_ROUND_MS = 5_000;
/** PRs of one `fetchPulls` call read in full side by side. */
const FULL_READS_AT_ONCE = 8;
/** "Pull Request Iteration Changes - Get": `$top` "The default value is 100 and the maximum value is 2000." */
const CHANGES_PAGE = 2000;
/**
 * Commits per page of "Pull Request Commits - Get Pull Request Commits" (`$top`, then the
 * `x-ms-continuationtoken` answer header as `continuationToken` for the next page).
 */
const COMMITS_PAGE = 500;
/** Pages read at most per list, so that a runaway continuation cannot hold a refresh forever. */
const MAX_PAGES = 100;
const SIZE_CACHE_MAX = 10_000;
/**
 * Policy configurations read per page of "Policy Configurations - Get" (`$top`), and pages read
 * at most before a branch is taken to have policies in force.
 */
const CONFIGURATIONS_PAGE = 100;
const CONFIGURATION_PAGES = 5;

/**
 * Azure DevOps' PR status → ours ("Pull Requests - Get Pull Request", `PullRequestStatus`):
 * `active` → open, `completed` → merged, `abandoned` → closed; `notSet` (never stored on a real
 * PR) reads as open.
 */
function mapState(status: string): PrState {
  const s = status.toLowerCase();
  if (s === 'completed') return 'merged';
  if (s === 'abandoned') return 'closed';
  return 'open';
}

/**
 * Reviewer votes ("Pull Requests - Get Pull Request", `IdentityRefWithVote.vote`): 10 approved,
 * 5 approved with suggestions, 0 no vote, -5 waiting for author, -10 rejected.
 */
const APPROVES = (vote: number) => vote >= 5;
const REQUESTS_CHANGES = (vote: number) => vote <= -5;

const identity = z.object({
  id: z.string().nullish(),
  uniqueName: z.string().nullish(),
  displayName: z.string().nullish(),
  /** A group or team ("IdentityRef": `isContainer`): it cannot vote itself, and is not a person. */
  isContainer: z.boolean().nullish(),
});
const reviewer = identity.extend({
  vote: z.number().nullish(),
  hasDeclined: z.boolean().nullish(),
  /** The groups this person's vote counts for ("IdentityRefWithVote": `votedFor`). */
  votedFor: z.array(identity.pick({ id: true })).nullish(),
});
const commitRef = z.object({ commitId: z.string() }).nullish();
const pullSchema = z.object({
  pullRequestId: z.number().int(),
  title: z.string(),
  status: z.string(),
  isDraft: z.boolean().nullish(),
  /** The test merge's result, computed asynchronously after each push (`PullRequestAsyncStatus`). */
  mergeStatus: z.string().nullish(),
  creationDate: z.string().nullish(),
  sourceRefName: z.string(),
  targetRefName: z.string(),
  createdBy: identity.nullish(),
  reviewers: z.array(reviewer).nullish(),
  repository: z
    .object({
      id: z.string(),
      name: z.string(),
      webUrl: z.string().nullish(),
      /** The project id names the PR to the policy engine (`vstfs:///CodeReview/CodeReviewId/{projectId}/{id}`). */
      project: z.object({ id: z.string() }).nullish(),
    })
    .nullish(),
  /** Set on a PR from a fork ("GitPullRequest": `forkSource`, a `GitForkRef`). */
  forkSource: z.object({ repository: z.object({ id: z.string() }).nullish() }).nullish(),
  lastMergeSourceCommit: commitRef,
  lastMergeTargetCommit: commitRef,
});
type AzurePull = z.infer<typeof pullSchema>;
const pullList = z.object({ value: z.array(pullSchema) });
const projectRef = z.object({ name: z.string() }).nullish();
const repositorySchema = z.object({
  id: z.string(),
  name: z.string(),
  isFork: z.boolean().nullish(),
  project: projectRef,
  parentRepository: z.object({ id: z.string(), name: z.string(), project: projectRef }).nullish(),
});
type RepositoryInfo = z.infer<typeof repositorySchema>;
const iterationList = z.object({ value: z.array(z.object({ id: z.number().int() })) });
const changesSchema = z.object({
  changeEntries: z.array(
    z.object({ item: z.object({ isFolder: z.boolean().nullish() }).passthrough().nullish() }).passthrough(),
  ),
  nextSkip: z.number().nullish(),
  nextTop: z.number().nullish(),
});
const commitList = z.object({ value: z.array(z.object({ commitId: z.string() })) });
const projectSchema = z.object({ visibility: z.string().nullish() });
/** "Policy Configurations - Get" (Git, REST 7.1): only whether each is in force is used. */
const configurationList = z.object({
  value: z.array(z.object({ isEnabled: z.boolean().nullish(), isDeleted: z.boolean().nullish() })),
});

/**
 * What an open PR's policy evaluations and posted statuses say: its checks, the blocking policies
 * not fulfilled, and the reviewer policies' verdict (`reviewerVerdict`: null without one).
 */
type Policies = Pick<PrFields, 'checks_state' | 'checks'> & { blocking: string[]; reviewers: boolean | null };
type Sizes = { changed_files: number | null; commits: number | null; lastIteration: number | null };
type ThreadCounts = { unresolved_threads: number; comments: number };

/**
 * What the PR answer shows that moves with activity on it, with which its evaluations and threads
 * were read (`PullReadsCache`; the head, `lastMergeSourceCommit`, is compared apart). Azure DevOps
 * PRs carry no update time and no comment count, so: status, draft, the test merge's status, the
 * target commit, and every reviewer's vote (reviewer policies follow the votes).
 */
function activityStamp(pull: AzurePull): string {
  const vote = (r: NonNullable<AzurePull['reviewers']>[number]) =>
    `${(r.id ?? r.uniqueName ?? r.displayName ?? '').toLowerCase()}:${r.vote ?? 0}:${r.hasDeclined ? 1 : 0}`;
  const votes = (pull.reviewers ?? []).map(vote).sort();
  const target = pull.lastMergeTargetCommit?.commitId;
  return [pull.status, pull.isDraft, pull.mergeStatus, target, ...votes].join('|');
}

/**
 * Everything the PR answer shows that a refresh turns into fields (docs/azure-devops.md, "What
 * maps to what"), hashed: title, status, draft, the test merge's status, source and target
 * branches and commits, author, fork source, and every reviewer with their vote, decline, group
 * flag and the groups they voted for. A list item ("Pull Requests - Get Pull Requests") carries
 * all of it, as the PR read does, so an item showing the digest of the last full read shows a PR
 * nothing has moved in. Azure DevOps PRs carry no update time to compare instead.
 */
function pullDigest(pull: AzurePull): string {
  const reviewers = (pull.reviewers ?? [])
    .map((r) =>
      [
        r.id ?? '',
        r.uniqueName ?? '',
        r.displayName ?? '',
        r.isContainer === true,
        r.vote ?? 0,
        r.hasDeclined === true,
        (r.votedFor ?? []).map((g) => g.id ?? '').sort(),
      ].map((v) => JSON.stringify(v)),
    )
    .map((r) => r.join(','))
    .sort();
  const shown = [
    pull.title,
    pull.status,
    pull.isDraft ?? false,
    pull.mergeStatus ?? null,
    pull.sourceRefName,
    pull.targetRefName,
    pull.lastMergeSourceCommit?.commitId ?? null,
    pull.lastMergeTargetCommit?.commitId ?? null,
    pull.createdBy?.uniqueName ?? null,
    pull.forkSource?.repository?.id ?? null,
    pull.repository?.webUrl ?? null,
    reviewers,
    // Not the description: lists "truncate [it] up to 400 symbols" ("Pull Requests - Get Pull
    // Requests", "… By Project"), and no field shows it.
  ];
  return createHash('sha256').update(JSON.stringify(shown)).digest('base64');
}

/** The pages of one project's or repository's active-PR list read in one round (`#activeList`). */
interface ActiveListRound {
  at: number;
  items: Map<number, AzurePull>;
  /** The lowest id seen: the list is newest first, so every active PR above it was listed. */
  lowest: number;
  pages: number;
  done: boolean;
  /** The read in progress: calls of one round read the list one after another. */
  busy: Promise<void>;
}

const enc = encodeURIComponent;
const stripHeads = (ref: string) => (ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : ref);

/** Azure DevOps Services: organizations, projects, Git repositories and their forks. */
export class AzureDevOpsProvider implements Provider {
  readonly client: AzureDevOpsClient;
  /**
   * Known PRs in batches: a project's list of active PRs shows which of them nothing moved in
   * (`fetchPulls`). `listsPerRepository`: the engine keeps a repository's PRs in one call (what
   * the fallback to a repository's list reads); a project's PRs spread over several calls of a
   * round still cost one read of its list, which those calls share. Branches are looked up one
   * by one.
   */
  readonly capabilities: ProviderCapabilities = {
    pullsPerBatch: PULLS_PER_BATCH,
    listsPerRepository: true,
    branchesPerBatch: 0,
    minBatch: 1,
  };
  readonly webhooks: AzureDevOpsWebhooks = azureDevOpsWebhooks(this, (url) => {
    const pull = url.toLowerCase();
    this.#threads.forget((p) => p === pull);
    this.#policies.forget((p) => p === pull);
  });
  readonly #clock: Clock;
  readonly #repos = new Map<string, { info: RepositoryInfo | null; until: number }>();
  readonly #projects = new Map<string, { visibility: string | null; until: number }>();
  /**
   * Changed files and commits of a PR at a (source commit, target commit): they change only when
   * one of them moves, so an unchanged PR costs one request per refresh, not four or more.
   */
  readonly #sizes = new Map<string, Sizes>();
  /**
   * An open PR's checks and blocking policies per (token, PR), read again when its head or
   * `activityStamp` moves, while a check is pending, until they have read the same for ten
   * minutes, and at least hourly: a build finishing or a status posted changes nothing in the PR.
   */
  readonly #policies = new PullReadsCache<Policies>({
    maxAgeMs: READS_MAX_AGE_MS,
    settleMs: CHECKS_SETTLE_MS,
    settled: (p) => p.checks_state !== 'pending',
  });
  /**
   * An open PR's thread counts per (token, PR), read again when its head or `activityStamp` moves,
   * when a "commented on" service hook reaches this replica, and at least hourly: a comment or a
   * resolved thread changes nothing in the PR.
   */
  readonly #threads = new PullReadsCache<ThreadCounts>({
    maxAgeMs: READS_MAX_AGE_MS,
    settleMs: 0,
    settled: () => true,
  });
  /**
   * Per (token, repository, target branch): whether a policy in force applies to the branch
   * (`#policiesApply`), asked at most hourly and shared by every PR into it — the read itself
   * while it runs, so PRs refreshed side by side ask once.
   */
  readonly #branchPolicies = new Map<string, { applies: Promise<boolean>; until: number }>();
  /**
   * Per (token, PR): the `pullDigest` of the PR answer its last full read turned into fields, and
   * when that answer was read. `fetchPulls` answers PULL_UNCHANGED while the project's list
   * shows the same digest and what was kept beside it (checks, threads) still stands.
   */
  readonly #reads = new Map<string, { digest: string; at: number }>();
  /** Per (project or repository, token): the active-PR list pages read this round (`#activeList`). */
  readonly #lists = new Map<string, ActiveListRound>();

  constructor(
    readonly config: ProviderConfig,
    options: AzureDevOpsClientOptions,
  ) {
    this.client = new AzureDevOpsClient(config.api_url, options);
    this.#clock = options.clock;
  }

  /** Whether the origin's host is this provider's (web, ssh, or an old `{org}.visualstudio.com`), whatever its path. */
  matches(origin: string): boolean {
    const remote = parseRemote(origin);
    return remote !== null && hostKind(remote.host, this.config.web_url) !== null;
  }

  parseOrigin(origin: string): RepoRef | null {
    return parseAzureOrigin(origin, this.config.web_url);
  }

  repoUrl(repo: RepoRef): string {
    return azureRepoUrl(this.config.web_url, repo);
  }

  parsePullUrl(url: string): PullRef | null {
    return parseAzurePullUrl(url, this.config.web_url);
  }

  buildPullUrl(pull: PullRef): string {
    return azurePullUrl(this.config.web_url, pull);
  }

  /** `GET {org}/{project}/_apis/git/repositories/{repo}/pullrequests/{id}` ("Pull Requests - Get Pull Request"). */
  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    this.client.assertNotPaused(call);
    const where = this.#repoPath(pull.repo);
    const readAt = this.#clock.now().getTime();
    const { data } = await this.client.get(`${where}/pullrequests/${pull.number}`, {}, pullSchema, call);
    return this.#toFields(data, pull.repo, where, call, { fresh: pull.fresh === true, readAt });
  }

  /**
   * Many PRs, grouped by project: one read of each project's active PRs (`#activeList`, shared by
   * the calls of a round; "Pull Requests - Get Pull Requests By Project", each item naming its
   * `repository`) shows each PR as a full read would. A PR whose item shows what its last full
   * read saw (`pullDigest`), whose kept checks and threads still stand (settled, within the hour)
   * and whose ref shows that read (`shownSince`) is answered PULL_UNCHANGED; another is made from
   * its item as `fetchPull` makes it from the PR read. A PR older than the project's pages read
   * is looked for in its repository's list of active PRs the same way, as are those of a project
   * whose list answers 404. A PR in neither (completed
   * or abandoned since, listed under another repository, or beyond the pages read) and one a
   * signal asked for (`fresh`: nothing kept may answer) are read one by one.
   */
  async fetchPulls(
    pulls: readonly PullRef[],
    call: CallOptions,
  ): Promise<Map<string, PrFields | Error | typeof PULL_UNCHANGED>> {
    this.client.assertNotPaused(call);
    const out = new Map<string, PrFields | Error | typeof PULL_UNCHANGED>();
    const token = tokenFingerprint(call.token);
    const full: { key: string; read: () => Promise<PrFields> }[] = [];
    const readOne = (pull: PullRef) =>
      full.push({ key: pullKey(pull), read: () => this.fetchPull(pull, call) });
    /** A PR its list shows: unchanged, or made from its item. */
    const fromItem = (pull: PullRef, item: AzurePull, where: string, round: ActiveListRound, now: number) => {
      const seen = this.#reads.get(PullReadsCache.key(call.token, this.buildPullUrl(pull)));
      if (this.#unchanged(item, pull, seen, call, now)) out.set(pullKey(pull), PULL_UNCHANGED);
      else
        full.push({
          key: pullKey(pull),
          read: () => this.#toFields(item, pull.repo, where, call, { fresh: false, readAt: round.at }),
        });
    };
    /** The last full read of any of `asked`: a round begun no later does not serve them. */
    const lastRead = (asked: readonly PullRef[]) =>
      Math.max(
        0,
        ...asked.map(
          (pull) => this.#reads.get(PullReadsCache.key(call.token, this.buildPullUrl(pull)))?.at ?? 0,
        ),
      );
    pulls.filter((pull) => pull.fresh).forEach(readOne);
    const projects = new Map<string, { org: string; project: string; asked: PullRef[] }>();
    for (const pull of pulls) {
      if (pull.fresh) continue;
      const owner = splitOwner(pull.repo);
      if (!owner) {
        out.set(
          pullKey(pull),
          hostNotFound(`azure devops: ${pull.repo.owner}/${pull.repo.name} is not {org}/{project}/{repo}`),
        );
        continue;
      }
      const key = pull.repo.owner.toLowerCase();
      const group = projects.get(key) ?? { ...owner, asked: [] };
      group.asked.push(pull);
      projects.set(key, group);
    }
    // PRs older than the pages of their project's list read this round: their repository's list.
    const beyond: PullRef[] = [];
    await Promise.all(
      [...projects.values()].map(async ({ org, project, asked }) => {
        const path = `/${enc(org)}/${enc(project)}/_apis/git/pullrequests`;
        const now = this.#clock.now().getTime();
        let round: ActiveListRound;
        try {
          round = await this.#activeList(
            `${path.toLowerCase()} ${token}`,
            path,
            asked.map((p) => p.number),
            lastRead(asked),
            PROJECT_LIST_PAGES,
            call,
          );
        } catch (error) {
          // The project is gone or hidden from this token — or the list trips over one PR it may
          // not show (Renovate saw a repository's PR list fail for a token that may not read a
          // PR's source repository, a fork: renovatebot/renovate#32991): each repository's list
          // tells for its own PRs, as before the project's was read.
          if (!(error instanceof NotFoundError)) throw error;
          beyond.push(...asked);
          return;
        }
        for (const pull of asked) {
          const item = round.items.get(pull.number);
          // PR ids are the organization's: an item of another repository is not this ref's PR
          // (a repository renamed since, a wrong ref), which its own read tells.
          const name = item?.repository?.name;
          if (item && name?.toLowerCase() === pull.repo.name.toLowerCase())
            fromItem(pull, item, this.#repoPath(pull.repo), round, now);
          else if (item || round.done || pull.number > round.lowest) readOne(pull);
          else beyond.push(pull);
        }
      }),
    );
    await Promise.all(
      byRepository(beyond.map((pull) => ({ pull }))).map(async ({ repo, items: group }) => {
        const asked = group.map((g) => g.pull);
        const where = this.#repoPath(repo);
        const now = this.#clock.now().getTime();
        let round: ActiveListRound;
        try {
          round = await this.#activeList(
            `${where.toLowerCase()}/pullrequests ${token}`,
            `${where}/pullrequests`,
            asked.map((p) => p.number),
            lastRead(asked),
            ACTIVE_LIST_PAGES,
            call,
          );
        } catch (error) {
          // The repository is gone or hidden from this token: each PR says so, as its read would.
          if (!(error instanceof NotFoundError)) throw error;
          for (const pull of asked) out.set(pullKey(pull), error);
          return;
        }
        for (const pull of asked) {
          const item = round.items.get(pull.number);
          if (item) fromItem(pull, item, where, round, now);
          else readOne(pull);
        }
      }),
    );
    // Read side by side, a few at a time: a PR not found is its own answer; anything else (a
    // rate limit, an outage) fails the call.
    await eachAtMost(full, FULL_READS_AT_ONCE, async ({ key, read }) => {
      try {
        out.set(key, await read());
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        out.set(key, error);
      }
    });
    return out;
  }

  /**
   * Whether a PR's list item shows it as its last full read did (`seen`), with nothing kept
   * beside it stale: the ref shows that read (`shownSince` no older), and for an active PR its
   * kept checks and threads still stand for this head and activity (`PullReadsCache`: settled,
   * read within the hour). A full read would then read nothing but this same PR.
   */
  #unchanged(
    item: AzurePull,
    pull: PullRef,
    seen: { digest: string; at: number } | undefined,
    call: CallOptions,
    now: number,
  ): boolean {
    if (!seen || !pull.shownSince || pull.shownSince.getTime() < seen.at) return false;
    if (seen.digest !== pullDigest(item)) return false;
    if (mapState(item.status) !== 'open') return true;
    const key = PullReadsCache.key(call.token, this.buildPullUrl(pull));
    const head = item.lastMergeSourceCommit?.commitId ?? null;
    const stamp = activityStamp(item);
    return (
      this.#policies.get(key, head, stamp, now) !== undefined &&
      this.#threads.get(key, head, stamp, now) !== undefined
    );
  }

  /**
   * A project's or repository's active PRs as its list shows them this round (`list`: "Pull
   * Requests - Get Pull Requests By Project" or "Pull Requests - Get Pull Requests",
   * `searchCriteria.status=active`, 100 a page by `$top`/`$skip`, newest first by id — the
   * published examples list 22, 21, 1), read page after page until every PR of `wanted` is listed
   * or known not to be active (an id above the lowest listed), at most `maxPages`. Pages read this
   * round (LIST_ROUND_MS) serve every call, and calls wait for one another instead of reading a
   * page twice; a round begun no later than `readAfter` (the last full read of a PR asked about)
   * is not used. A PR completed between two pages shifts the next one: one PR may then go
   * unlisted, and is read on its own — never taken as unchanged.
   */
  async #activeList(
    key: string,
    list: string,
    wanted: readonly number[],
    readAfter: number,
    maxPages: number,
    call: CallOptions,
  ): Promise<ActiveListRound> {
    const now = this.#clock.now().getTime();
    let round = this.#lists.get(key);
    if (!round || now - round.at >= LIST_ROUND_MS || round.at <= readAfter) {
      round = {
        at: now,
        items: new Map(),
        lowest: Number.POSITIVE_INFINITY,
        pages: 0,
        done: false,
        busy: Promise.resolve(),
      };
      // Rounds past their time serve nothing: dropped (oldest first: each is set anew at the end).
      for (const [k, old] of this.#lists) {
        if (now - old.at < LIST_ROUND_MS) break;
        this.#lists.delete(k);
      }
      this.#lists.delete(key);
      this.#lists.set(key, round);
    }
    const r = round;
    const read = r.busy.then(async () => {
      while (!r.done && r.pages < maxPages && wanted.some((n) => !r.items.has(n) && n < r.lowest)) {
        const { data } = await this.client.get(
          list,
          {
            'searchCriteria.status': 'active',
            $top: PULLS_PAGE,
            $skip: r.pages === 0 ? undefined : r.pages * PULLS_PAGE,
          },
          pullList,
          call,
        );
        for (const p of data.value) {
          r.items.set(p.pullRequestId, p);
          r.lowest = Math.min(r.lowest, p.pullRequestId);
        }
        r.pages++;
        if (data.value.length < PULLS_PAGE) r.done = true;
      }
    });
    r.busy = read.catch(() => {});
    await read;
    return r;
  }

  /**
   * What an agent needs to act on an open PR: the PR (its head and reviewers), its policy
   * evaluations (failing build validations and status checks of the head, one page of 100) and
   * its threads (the open ones, by their first comment, at most 100). Those asking for changes
   * are the people whose standing vote is −10 "rejected" or −5 "waiting for author" — both hold
   * the PR back until they change their vote.
   */
  async fetchFeedback(pull: PullRef, call: CallOptions): Promise<PullFeedback> {
    this.client.assertNotPaused(call);
    const where = this.#repoPath(pull.repo);
    const { data } = await this.client.get(`${where}/pullrequests/${pull.number}`, {}, pullSchema, call);
    // Completed or abandoned since the ref was last read: nothing left to act on.
    if (mapState(data.status) !== 'open')
      return { failing_checks: [], unresolved_threads: [], changes_requested_by: [], truncated: false };
    const target = this.#targetOf(data, pull.repo);
    const url = this.buildPullUrl({ repo: target, number: data.pullRequestId });
    const head = data.lastMergeSourceCommit?.commitId ?? null;
    const { evaluations, statuses, threads } = await this.#openState(data, target, where, call);
    const standing = standingStatuses(statuses ?? [], evaluations);
    // Which iteration is the head's matters only for a status posted on an iteration.
    const lastIteration = standing.some((s) => s.iterationId != null)
      ? await this.#lastIteration(data, url, where, call)
      : null;
    const open = openThreads(threads ?? [], url);
    const blockers = (data.reviewers ?? [])
      .filter((r) => r.isContainer !== true && REQUESTS_CHANGES(r.vote ?? 0))
      .map((r) => r.uniqueName ?? r.displayName ?? '')
      .filter((name) => name !== '');
    return {
      failing_checks: failingChecks(
        evaluations ?? [],
        head,
        this.#projectWebUrl(target),
        standing,
        lastIteration,
      ),
      unresolved_threads: open.slice(0, FEEDBACK_THREADS),
      changes_requested_by: [...new Set(blockers)]
        .sort()
        .map((name) => ({ name, trusted: AZURE_TRUST_UNKNOWN })),
      truncated: (evaluations?.length ?? 0) >= EVALUATIONS_PAGE || open.length > FEEDBACK_THREADS,
    };
  }

  /**
   * The PR whose source is `branch` of `repo`: PRs of every status into `repo` from that branch
   * ("Pull Requests - Get Pull Requests": `searchCriteria.status` "Defaults to Active if unset",
   * so `all` is asked), those not from a fork kept. None there and `repo` is a fork ("Repositories
   * - Get Repository": `isFork`, `parentRepository`): PRs into the parent whose source repository
   * is the fork (`searchCriteria.sourceRepositoryId`). An active one first, else the newest
   * by id: PR ids are given in the order PRs are created, within the organization, and the
   * newest is the highest number (SPEC §5) — not the one closed last.
   */
  async findPullForBranch(repo: RepoRef, branch: string, call: CallOptions): Promise<PrFields | null> {
    this.client.assertNotPaused(call);
    const where = this.#repoPath(repo);
    const readAt = this.#clock.now().getTime();
    const own = (await this.#listForBranch(where, branch, undefined, call)).filter((p) => !p.forkSource);
    const mine = pick(own);
    if (mine) return this.#toFields(mine, repo, where, call, { fresh: false, readAt });
    const info = await this.#repository(repo, call);
    const parent = info?.isFork ? info.parentRepository : null;
    if (!info || !parent) return null;
    const owner = splitOwner(repo)!;
    const parentRef: RepoRef = {
      owner: `${owner.org}/${parent.project?.name ?? owner.project}`,
      name: parent.name,
    };
    const parentPath = this.#repoPath(parentRef);
    const theirs = pick(await this.#listForBranch(parentPath, branch, info.id, call));
    return theirs ? this.#toFields(theirs, parentRef, parentPath, call, { fresh: false, readAt }) : null;
  }

  /**
   * Whether the project is public (`GET {org}/_apis/projects/{project}` → `visibility`,
   * "Projects - Get"): visibility is a project's, not a repository's. A project the token cannot
   * see answers 404: not public.
   */
  async isRepoPublic(repo: RepoRef, call: CallOptions): Promise<boolean> {
    const owner = splitOwner(repo);
    if (!owner) return false;
    const key = `${repo.owner.toLowerCase()} ${tokenFingerprint(call.token)}`;
    const now = this.#clock.now().getTime();
    const cached = this.#projects.get(key);
    if (cached && cached.until > now) return cached.visibility === 'public';
    this.client.assertNotPaused(call);
    let visibility: string | null;
    try {
      const { data } = await this.client.get(
        `/${enc(owner.org)}/_apis/projects/${enc(owner.project)}`,
        {},
        projectSchema,
        call,
      );
      visibility = data.visibility?.toLowerCase() ?? null;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      visibility = null;
    }
    if (this.#projects.size > 10_000) this.#projects.clear();
    this.#projects.set(key, { visibility, until: now + REPO_TTL_MS });
    return visibility === 'public';
  }

  /**
   * An open PR's policy evaluations ("Evaluations - List", `GET {org}/{project}/_apis/policy/
   * evaluations?artifactId=vstfs:///CodeReview/CodeReviewId/{projectId}/{pullRequestId}`, one
   * page of 100; null when the PR names no project id), the statuses posted on it ("Pull Request
   * Statuses - List", `GET …/pullRequests/{id}/statuses`: every one, not paged — the operation
   * takes no paging parameter) and its threads ("Pull Request Threads - List", `GET
   * …/pullRequests/{id}/threads`: every thread, not paged), read side by side. The statuses and
   * the evaluations are the PR's checks, read together (`read.checks`). A refresh reads the
   * evaluations only where a policy in force applies to the PR's target branch (`read.policies`
   * `'where-configured'`, `#policiesApply`; elsewhere there are none to read: `[]`); feedback
   * reads them always, and what it finds there tells the refreshes that policies apply.
   */
  async #openState(
    pull: AzurePull,
    target: RepoRef,
    where: string,
    call: CallOptions,
    read: { checks: boolean; threads: boolean; policies: 'always' | 'where-configured' } = {
      checks: true,
      threads: true,
      policies: 'always',
    },
  ): Promise<{ evaluations: Evaluation[] | null; statuses: PullStatus[] | null; threads: Thread[] | null }> {
    const org = splitOwner(target)?.org;
    const projectId = pull.repository?.project?.id;
    const evaluationsOf = async (org: string, projectId: string): Promise<Evaluation[]> => {
      if (read.policies === 'where-configured' && !(await this.#policiesApply(pull, org, projectId, call)))
        return [];
      const { data } = await this.client.get(
        `/${enc(org)}/${enc(projectId)}/_apis/policy/evaluations`,
        {
          artifactId: `vstfs:///CodeReview/CodeReviewId/${projectId}/${pull.pullRequestId}`,
          $top: EVALUATIONS_PAGE,
          'api-version': PREVIEW_API_VERSION,
        },
        evaluationList,
        call,
      );
      if (anyInForce(data.value)) this.#notePoliciesApply(pull, org, call);
      return data.value;
    };
    const [evaluations, statuses, threads] = await Promise.all([
      read.checks && org && projectId ? evaluationsOf(org, projectId) : null,
      read.checks
        ? this.client
            .get(`${where}/pullRequests/${pull.pullRequestId}/statuses`, {}, pullStatusList, call)
            .then((r) => r.data.value)
        : null,
      read.threads
        ? this.client
            .get(`${where}/pullRequests/${pull.pullRequestId}/threads`, {}, threadList, call)
            .then((r) => r.data.value)
        : null,
    ]);
    return { evaluations, statuses, threads };
  }

  /**
   * Whether a branch policy in force applies to the PR's target branch, so that its evaluations
   * are worth reading: "Policy Configurations - Get" (Git, REST 7.1, `GET {org}/{project}/_apis/
   * git/policy/configurations?repositoryId=…&refName=…`) "returns all policy configurations that
   * *apply* to a particular branch in a repository" — the project's cross-repository ones and
   * wildcard branches included — enabled or not. One enabled and not deleted is a policy in force
   * (`inForce` in pull-state.ts: every use of the evaluations keeps only those), so none means no
   * evaluation could change what the PR shows. A path-filtered policy counts: only its
   * evaluation says whether it applies to the PR. Kept per (token, repository, branch) for an
   * hour (`READS_MAX_AGE_MS`, the longest any kept read stands): a policy configured since is
   * seen within the hour, at once on a PR whose feedback is read. A token that may not read the
   * configurations (403) or a project that hides them (404) reads the evaluations, as before.
   */
  #policiesApply(pull: AzurePull, org: string, projectId: string, call: CallOptions): Promise<boolean> {
    const repositoryId = pull.repository?.id;
    if (!repositoryId) return Promise.resolve(true);
    const key = this.#branchKey(pull, org, call);
    const now = this.#clock.now().getTime();
    const kept = this.#branchPolicies.get(key);
    if (kept && kept.until > now) return kept.applies;
    const applies = this.#readPoliciesApply(org, projectId, repositoryId, pull.targetRefName, call);
    const entry = { applies, until: now + READS_MAX_AGE_MS };
    if (this.#branchPolicies.size >= SIZE_CACHE_MAX) this.#branchPolicies.clear();
    this.#branchPolicies.set(key, entry);
    // A failed read (the host unavailable, a rate limit) is asked again on the next refresh.
    applies.catch(() => {
      if (this.#branchPolicies.get(key) === entry) this.#branchPolicies.delete(key);
    });
    return applies;
  }

  async #readPoliciesApply(
    org: string,
    projectId: string,
    repositoryId: string,
    refName: string,
    call: CallOptions,
  ): Promise<boolean> {
    let continuation: string | undefined;
    try {
      for (let page = 0; page < CONFIGURATION_PAGES; page++) {
        const { data, headers } = await this.client.get(
          `/${enc(org)}/${enc(projectId)}/_apis/git/policy/configurations`,
          { repositoryId, refName, $top: CONFIGURATIONS_PAGE, continuationToken: continuation },
          configurationList,
          call,
        );
        if (data.value.some((c) => c.isEnabled !== false && c.isDeleted !== true)) return true;
        // "continuationToken: Pass a policy configuration ID to fetch the next page of results",
        // named by the `x-ms-continuationtoken` answer header.
        continuation = headers.get('x-ms-continuationtoken') || undefined;
        if (!continuation || data.value.length === 0) return false;
      }
      return true;
    } catch (error) {
      if (error instanceof AuthError || error instanceof NotFoundError) return true;
      throw error;
    }
  }

  /** Feedback read evaluations of a policy in force: refreshes of PRs into that branch read them too. */
  #notePoliciesApply(pull: AzurePull, org: string, call: CallOptions): void {
    if (!pull.repository?.id) return;
    const key = this.#branchKey(pull, org, call);
    const until = this.#clock.now().getTime() + READS_MAX_AGE_MS;
    this.#branchPolicies.set(key, { applies: Promise.resolve(true), until });
  }

  #branchKey(pull: AzurePull, org: string, call: CallOptions): string {
    const repositoryId = pull.repository?.id?.toLowerCase() ?? '';
    return `${tokenFingerprint(call.token)} ${org.toLowerCase()} ${repositoryId} ${pull.targetRefName}`;
  }

  /**
   * An open PR's checks, blocking policies and thread counts: the kept ones that may stand in
   * (`#policies`, `#threads`), the others read (side by side when both are).
   */
  async #openSummary(
    pull: AzurePull,
    target: RepoRef,
    url: string,
    where: string,
    call: CallOptions,
    lastIteration: () => Promise<number | null>,
    fresh: boolean,
  ): Promise<{ policies: Policies | null; threads: ThreadCounts | null }> {
    const head = pull.lastMergeSourceCommit?.commitId ?? null;
    const key = PullReadsCache.key(call.token, url);
    const stamp = activityStamp(pull);
    const now = this.#clock.now().getTime();
    // A read a signal asked for uses nothing kept: the checks (every policy evaluation, whatever
    // was known of the branch's policies) and the threads are read.
    let policies = fresh ? null : (this.#policies.get(key, head, stamp, now) ?? null);
    let threads = fresh ? null : (this.#threads.get(key, head, stamp, now) ?? null);
    if (policies && threads) return { policies, threads };
    const read = await this.#openState(pull, target, where, call, {
      checks: policies === null,
      threads: threads === null,
      policies: fresh ? 'always' : 'where-configured',
    });
    const readAt = this.#clock.now().getTime();
    if (read.statuses) {
      const standing = standingStatuses(read.statuses, read.evaluations);
      const iteration = standing.some((s) => s.iterationId != null) ? await lastIteration() : null;
      const evaluations = read.evaluations ?? [];
      policies = {
        ...summarizeChecks([
          ...checkResults(evaluations, head, this.#projectWebUrl(target)),
          ...statusResults(standing, iteration),
        ]),
        blocking: blockingPolicies(evaluations, head),
        reviewers: reviewerVerdict(read.evaluations),
      };
      this.#policies.set(key, head, stamp, policies, readAt);
    }
    if (read.threads) {
      threads = countThreads(read.threads);
      this.#threads.set(key, head, stamp, threads, readAt);
    }
    return { policies, threads };
  }

  /** Remembers what a full read of a PR saw (`#reads`), for `fetchPulls` to compare its list with. */
  #noteRead(key: string, pull: AzurePull, at: number): void {
    this.#reads.delete(key);
    this.#reads.set(key, { digest: pullDigest(pull), at });
    if (this.#reads.size > READS_CACHE_ENTRIES) this.#reads.delete(this.#reads.keys().next().value!);
  }

  /** The repository a PR lives in (its target), from its web address, else the one it was read from. */
  #targetOf(pull: AzurePull, repo: RepoRef): RepoRef {
    return (pull.repository?.webUrl && this.parseOrigin(pull.repository.webUrl)) || repo;
  }

  /** `{web_url}/{org}/{project}`: where the project's pages (its builds) are. */
  #projectWebUrl(repo: RepoRef): string {
    const owner = splitOwner(repo);
    return owner ? `${this.config.web_url}/${enc(owner.org)}/${enc(owner.project)}` : this.config.web_url;
  }

  /** `/{org}/{project}/_apis/git/repositories/{repo}`, names encoded. */
  #repoPath(repo: RepoRef): string {
    const owner = splitOwner(repo);
    if (!owner) throw hostNotFound(`azure devops: ${repo.owner}/${repo.name} is not {org}/{project}/{repo}`);
    return `/${enc(owner.org)}/${enc(owner.project)}/_apis/git/repositories/${enc(repo.name)}`;
  }

  async #listForBranch(
    where: string,
    branch: string,
    sourceRepositoryId: string | undefined,
    call: CallOptions,
  ): Promise<AzurePull[]> {
    const out: AzurePull[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const { data } = await this.client.get(
        `${where}/pullrequests`,
        {
          'searchCriteria.sourceRefName': `refs/heads/${branch}`,
          'searchCriteria.sourceRepositoryId': sourceRepositoryId,
          'searchCriteria.status': 'all',
          $top: PULLS_PAGE,
          $skip: page === 0 ? undefined : page * PULLS_PAGE,
        },
        pullList,
        call,
      );
      out.push(...data.value);
      if (data.value.length < PULLS_PAGE) break;
    }
    return out;
  }

  /** What the repository says of itself (its id, whether it is a fork and of what), cached per token. */
  async #repository(repo: RepoRef, call: CallOptions): Promise<RepositoryInfo | null> {
    const key = `${repo.owner.toLowerCase()}/${repo.name.toLowerCase()} ${tokenFingerprint(call.token)}`;
    const now = this.#clock.now().getTime();
    const cached = this.#repos.get(key);
    if (cached && cached.until > now) return cached.info;
    let info: RepositoryInfo | null;
    try {
      info = (await this.client.get(this.#repoPath(repo), {}, repositorySchema, call)).data;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      info = null;
    }
    if (this.#repos.size > 10_000) this.#repos.clear();
    this.#repos.set(key, { info, until: now + REPO_TTL_MS });
    return info;
  }

  /**
   * Changed files of the PR's last iteration ("Pull Request Iterations - List", then "Pull
   * Request Iteration Changes - Get" compared with the common commit, `$compareTo` 0, paged by
   * `$top`/`$skip` while `nextSkip` is not 0; folders are not files) and its commits ("Pull
   * Request Commits - Get Pull Request Commits", every page). Cached per (source, target) commit.
   */
  async #sizesOf(pull: AzurePull, url: string, where: string, call: CallOptions): Promise<Sizes> {
    const source = pull.lastMergeSourceCommit?.commitId;
    const target = pull.lastMergeTargetCommit?.commitId;
    const key = source && target ? `${url.toLowerCase()} ${source} ${target}` : null;
    const cached = key ? this.#sizes.get(key) : undefined;
    if (cached) return cached;
    const base = `${where}/pullRequests/${pull.pullRequestId}`;
    const iterations = (await this.client.get(`${base}/iterations`, {}, iterationList, call)).data.value;
    const last = iterations.reduce<number | null>((m, it) => (m === null || it.id > m ? it.id : m), null);
    let changed_files: number | null = null;
    if (last !== null) {
      changed_files = 0;
      let skip = 0;
      for (let page = 0; page < MAX_PAGES; page++) {
        const { data } = await this.client.get(
          `${base}/iterations/${last}/changes`,
          { $top: CHANGES_PAGE, $skip: skip === 0 ? undefined : skip },
          changesSchema,
          call,
        );
        changed_files += data.changeEntries.filter((c) => c.item?.isFolder !== true).length;
        if (!data.nextSkip || data.nextSkip <= skip) break;
        skip = data.nextSkip;
      }
    }
    let commits = 0;
    let continuation: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const { data, headers } = await this.client.get(
        `${base}/commits`,
        { $top: COMMITS_PAGE, continuationToken: continuation },
        commitList,
        call,
      );
      commits += data.value.length;
      continuation = headers.get('x-ms-continuationtoken') || undefined;
      if (!continuation || data.value.length === 0) break;
    }
    const sizes: Sizes = { changed_files, commits, lastIteration: last };
    if (key) {
      if (this.#sizes.size >= SIZE_CACHE_MAX) this.#sizes.clear();
      this.#sizes.set(key, sizes);
    }
    return sizes;
  }

  /**
   * The id of the PR's last iteration (its head's): from the sizes kept for its commits, else
   * "Pull Request Iterations - List" (one request; only feedback on a PR whose sizes were not
   * read by this replica needs it).
   */
  async #lastIteration(
    pull: AzurePull,
    url: string,
    where: string,
    call: CallOptions,
  ): Promise<number | null> {
    const source = pull.lastMergeSourceCommit?.commitId;
    const target = pull.lastMergeTargetCommit?.commitId;
    const cached = source && target ? this.#sizes.get(`${url.toLowerCase()} ${source} ${target}`) : undefined;
    if (cached) return cached.lastIteration;
    const { data } = await this.client.get(
      `${where}/pullRequests/${pull.pullRequestId}/iterations`,
      {},
      iterationList,
      call,
    );
    return data.value.reduce<number | null>((m, it) => (m === null || it.id > m ? it.id : m), null);
  }

  /**
   * One PR as gitsync shows it (docs/azure-devops.md, "What maps to what"). Checks, mergeability
   * and threads are read for an open PR only: a completed or abandoned one has none to act on.
   */
  async #toFields(
    pull: AzurePull,
    repo: RepoRef,
    where: string,
    call: CallOptions,
    read: { fresh: boolean; readAt: number },
  ): Promise<PrFields> {
    // The PR lives in its target repository; its web address is `{repository.webUrl}/pullrequest/{id}`,
    // stored in the canonical form of that repository.
    const target = this.#targetOf(pull, repo);
    const url = this.buildPullUrl({ repo: target, number: pull.pullRequestId });
    const reviewers = pull.reviewers ?? [];
    // Groups and teams "can be reviewers … but can not vote directly" ("IdentityRefWithVote"):
    // only people count as reviewers with a verdict (SPEC §5).
    const people = reviewers.filter((r) => r.isContainer !== true);
    const who = (r: (typeof reviewers)[number]) =>
      (r.id ?? r.uniqueName ?? r.displayName ?? '').toLowerCase();
    const approvers = new Set(people.filter((r) => APPROVES(r.vote ?? 0)).map(who));
    const blockers = new Set(people.filter((r) => REQUESTS_CHANGES(r.vote ?? 0)).map(who));
    // A group counts as answered once a member voted for it.
    const answeredGroups = new Set(
      people
        .filter((r) => (r.vote ?? 0) !== 0)
        .flatMap((r) => (r.votedFor ?? []).map((g) => g.id?.toLowerCase())),
    );
    const requested: RequestedReviewer[] = reviewers
      .filter((r) => (r.vote ?? 0) === 0 && r.hasDeclined !== true)
      .filter((r) => !(r.isContainer && answeredGroups.has(r.id?.toLowerCase())))
      .map((r) =>
        r.isContainer
          ? { kind: 'team' as const, name: r.displayName ?? r.uniqueName ?? '' }
          : { kind: 'user' as const, name: r.uniqueName ?? r.displayName ?? '' },
      )
      .filter((r) => r.name !== '');
    const open = mapState(pull.status) === 'open';
    const sizesRead = this.#sizesOf(pull, url, where, call);
    const [sizes, state] = await Promise.all([
      sizesRead,
      open
        ? this.#openSummary(
            pull,
            target,
            url,
            where,
            call,
            () => sizesRead.then((s) => s.lastIteration),
            read.fresh,
          )
        : null,
    ]);
    this.#noteRead(PullReadsCache.key(call.token, url), pull, read.readAt);
    // `lastMergeSourceCommit`: "the commit at the head of the source branch at the time of the
    // last pull request merge" — Azure DevOps starts a new test merge on every push.
    const head = pull.lastMergeSourceCommit?.commitId ?? null;
    const policies = state?.policies ?? null;
    const threads = state?.threads ?? null;
    return {
      url,
      pull_request_state: mapState(pull.status),
      pull_request_title: pull.title,
      pull_request_draft: pull.isDraft ?? false,
      changes_requested: blockers.size > 0,
      // A standing approval and no standing request for changes — and, where a blocking reviewer
      // policy is evaluated on the PR, its evaluation fulfilled (SPEC §5, "What the hosts really
      // do"): one "approved with suggestions" is not the two a policy asks for.
      approved: approvers.size > 0 && blockers.size === 0 && policies?.reviewers !== false,
      reviewer_count: new Set([...approvers, ...blockers]).size,
      // The REST API has no line counts for a PR (only per-file diffs): unknown, not 0.
      additions: null,
      deletions: null,
      changed_files: sizes.changed_files,
      commits: sizes.commits,
      pr_number: pull.pullRequestId,
      author_login: pull.createdBy?.uniqueName ?? null,
      // `imageUrl` / `_links.avatar` need the viewer's own authentication to load: no URL a
      // dashboard could show, so none.
      author_avatar_url: null,
      base_branch: stripHeads(pull.targetRefName),
      head_branch: stripHeads(pull.sourceRefName),
      requested_reviewers: sortRequestedReviewers(requested),
      head_sha: head,
      ...(policies ? { checks_state: policies.checks_state, checks: policies.checks } : NO_CHECKS),
      ...(open
        ? mergeStateOf(pull, policies?.blocking ?? [])
        : { merge_state: null, merge_state_reason: null }),
      awaiting_approval: awaitingApproval(policies),
      unresolved_threads: threads?.unresolved_threads ?? null,
      comments: threads?.comments ?? null,
    };
  }
}

/** An active PR first (the newest of them), else the newest of the others: the highest id either way. */
function pick(pulls: readonly AzurePull[]): AzurePull | undefined {
  const newest = (a: AzurePull, b: AzurePull) => b.pullRequestId - a.pullRequestId;
  const active = pulls.filter((p) => mapState(p.status) === 'open').sort(newest);
  return active[0] ?? [...pulls].sort(newest)[0];
}

export function createAzureDevOpsProvider(config: ProviderConfig, deps: ProviderDeps): AzureDevOpsProvider {
  return new AzureDevOpsProvider(config, { clock: deps.clock });
}
