import { z } from 'zod';
import { NotFoundError, UnavailableError } from '../../core/errors.ts';
import { tokenFingerprint } from '../../core/fingerprint.ts';
import { type PrFields, type PrState, sortRequestedReviewers } from '../../core/types.ts';
import { summarizeChecks } from '../checks.ts';
import { hostNotFound } from '../host-errors.ts';
import { hostPullUrl, isOnHost, matchRepoOnHost, matchWebPath, pullNumber } from '../origin-match.ts';
import {
  branchKey,
  type CallOptions,
  type Provider,
  type ProviderCapabilities,
  type ProviderConfig,
  type ProviderDeps,
  type ProviderWebhooks,
  type PullFeedback,
  type PullRef,
  pullKey,
  type RepoRef,
} from '../types.ts';
import {
  ComplexityError,
  GitLabClient,
  type GitLabClientOptions,
  type GraphqlError,
  QueryTooLargeError,
} from './client.ts';
import {
  aliasedCandidates,
  aliasedFeedback,
  aliasedPulls,
  BRANCH_CHARS_PER_LIST,
  BRANCHES_PER_LIST,
  type CandidateNode,
  candidatesQuery,
  feedbackQuery,
  type JobNode,
  MAX_PAGE,
  MAX_QUERY_SIZE,
  type PullNode,
  pullsQuery,
} from './graphql.ts';
import { accessLevelName, gitlabTrust, MemberLevels } from './members.ts';
import {
  awaitingApproval,
  jobOutcome,
  mergeState,
  PIPELINE_CHECK,
  pipelineChecks,
  pipelineOutcome,
  unresolvedThreads,
} from './mr-status.ts';
import { gitlabWebhooks } from './webhooks.ts';

/** A path segment GitLab allows in a group or project path (GitLab docs, "Reserved project and group names"). */
const SEGMENT = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/;
/** How long what a project says of itself (its fork parent, its visibility) is trusted. */
const PROJECT_TTL_MS = 10 * 60_000;
/**
 * An MR GitLab keeps unchecked at the same head commit is asked to recheck again only after this
 * (GitLab's check runs in a background job, seconds after the request).
 */
const RECHECK_EVERY_MS = 5 * 60_000;
/**
 * Asks GitLab ignored at one head commit before gitsync stops asking until the head moves: GitLab
 * silently ignores a recheck from a token that may not update the target project's MRs (a
 * Reporter, a fork's token; `recheck_mergeability_of` in `lib/api/merge_requests.rb`).
 */
const RECHECK_ASKS = 2;
/** `merge_state_reason` of an MR whose recheck GitLab ignored `RECHECK_ASKS` times. */
export const RECHECK_IGNORED =
  'unchecked: GitLab ignored 2 recheck requests at this commit (the token may not update the target project’s merge requests: a Reporter, or a fork’s token); it stays unknown until the head moves or someone opens the MR in GitLab';
/** The query kinds whose batch sizes are learned apart: they weigh differently. */
type QueryKind = 'pulls' | 'candidates';
/**
 * Projects read per pulls query at first: one project's MRs (up to 100) score 65 of GitLab's 250
 * points (`emulator/gitlab/graphql.ts` `queryComplexity`, GitLab's rules), so three fit.
 */
const PULLS_PROJECTS_PER_QUERY = 3;
/** Candidate lists per query at first: about 22 points each (up to 50 branches a list). */
const CANDIDATE_LISTS_PER_QUERY = 10;

/**
 * Whether GitLab has not computed an open MR's mergeability since the last push: `unchecked`, or
 * `cannot_be_merged_recheck` (an MR that could not be merged, whose `detailedMergeStatus` keeps
 * saying `CONFLICT` until a recheck; `app/models/merge_request.rb`, `mark_as_unchecked`).
 */
function needsRecheck(node: PullNode): boolean {
  return (
    node.detailedMergeStatus?.toLowerCase() === 'unchecked' ||
    node.mergeStatusEnum?.toLowerCase() === 'cannot_be_merged_recheck'
  );
}

/**
 * GitLab's state → ours: `opened` and `locked` (a merge in progress) are open, `merged` merged,
 * `closed` closed (GitLab docs, "Merge requests API": `state`).
 */
function mapState(state: string): PrState {
  const s = state.toLowerCase();
  if (s === 'merged') return 'merged';
  if (s === 'closed') return 'closed';
  return 'open';
}

const projectSchema = z.object({
  id: z.number(),
  path_with_namespace: z.string(),
  visibility: z.string().nullish(),
  merge_requests_access_level: z.string().nullish(),
  forked_from_project: z.object({ path_with_namespace: z.string() }).nullish(),
});
type ProjectInfo = z.infer<typeof projectSchema>;

/** `GET …/merge_requests/:iid/discussions` (GitLab docs, "Discussions API"): the fields read. */
const discussionsSchema = z.array(
  z.object({
    notes: z
      .array(
        z.object({
          id: z.number(),
          body: z.string().nullish(),
          system: z.boolean().nullish(),
          resolvable: z.boolean().nullish(),
          /** Only on notes that can be resolved. */
          resolved: z.boolean().nullish(),
          author: z.object({ id: z.number().int().nullish(), username: z.string() }).nullish(),
          /** Only on diff notes. */
          position: z
            .object({
              new_path: z.string().nullish(),
              old_path: z.string().nullish(),
              new_line: z.number().int().nullish(),
              old_line: z.number().int().nullish(),
            })
            .nullish(),
        }),
      )
      .nullish(),
  }),
);

const pathOf = (repo: RepoRef) => `${repo.owner}/${repo.name}`;
const samePath = (a: string | undefined | null, b: string) => a?.toLowerCase() === b.toLowerCase();

/** gitlab.com and self-managed GitLab (nested groups, instances under a path such as `/gitlab`). */
export class GitLabProvider implements Provider {
  readonly client: GitLabClient;
  readonly capabilities: ProviderCapabilities = {
    // GraphQL reads the MRs of a project as one list (`iids:`) and the candidates of a project's
    // branches as one list (`sourceBranches:`), several projects per query, as many as GitLab's
    // complexity limit (250 points for a signed-in token, `GitlabSchema`) and size limit (10,000
    // characters) allow: learned per query kind from GitLab's refusals. A single MR is one query
    // too, so batching pays from one row on.
    pullsPerBatch: MAX_PAGE,
    branchesPerBatch: MAX_PAGE,
    minBatch: 1,
  };
  readonly webhooks: ProviderWebhooks = gitlabWebhooks(this);
  readonly #projects = new Map<string, { info: ProjectInfo | null; until: number }>();
  /**
   * MR → the head commit a mergeability recheck was asked for, how many times, and until when the
   * last request stands; `ignored` once GitLab ignored `RECHECK_ASKS` of them.
   */
  readonly #rechecked = new Map<string, { sha: string; asks: number; until: number; ignored: boolean }>();
  /**
   * Parts per query of each kind — project lists for both: a project's `mergeRequests(iids:)`
   * costs the same for one MR as for 100 (`iids` take away the per-node multiplier,
   * `Resolvers::BaseResolver.complexity_multiplier`), a list of candidates the same for one branch
   * as for 50 — learned: what fits GitLab's 250 points by GitLab's rules at first
   * (`PULLS_PROJECTS_PER_QUERY`, `CANDIDATE_LISTS_PER_QUERY`), sized down from what GitLab says
   * when it finds a query too complex (each kind weighs differently, so each learns its own).
   */
  readonly #perQuery: Record<QueryKind, number> = {
    pulls: PULLS_PROJECTS_PER_QUERY,
    candidates: CANDIDATE_LISTS_PER_QUERY,
  };
  readonly #clock: ProviderDeps['clock'];
  /** Access levels of thread authors and reviewers, for feedback (members.ts). */
  readonly #members: MemberLevels;

  constructor(
    readonly config: ProviderConfig,
    options: GitLabClientOptions,
  ) {
    this.client = new GitLabClient(config.api_url, options);
    this.#clock = options.clock;
    this.#members = new MemberLevels(this.client);
  }

  matches(origin: string): boolean {
    return isOnHost(origin, this.config.web_url);
  }

  parseOrigin(origin: string): RepoRef | null {
    const repo = matchRepoOnHost(origin, this.config.web_url, true);
    if (!repo) return null;
    const segments = [...repo.owner.split('/'), repo.name];
    return segments.every((s) => SEGMENT.test(s)) && !segments.includes('-') ? repo : null;
  }

  repoUrl(repo: RepoRef): string {
    return `${this.config.web_url}/${pathOf(repo)}`;
  }

  /** `web_url/group/sub/repo/-/merge_requests/N`, with any trailing path (`/diffs`), query or fragment ignored. */
  parsePullUrl(url: string): PullRef | null {
    const m = matchWebPath(url, this.config.web_url, /^\/(.+)\/([^/]+)\/-\/merge_requests\/(\d+)(?:\/.*)?$/);
    const number = m ? pullNumber(m[3]!) : null;
    if (!m || number === null) return null;
    const repo = { owner: m[1]!, name: m[2]! };
    if (![...repo.owner.split('/'), repo.name].every((s) => SEGMENT.test(s))) return null;
    return { repo, number };
  }

  buildPullUrl(pull: PullRef): string {
    return `${this.config.web_url}/${pathOf(pull.repo)}/-/merge_requests/${pull.number}`;
  }

  async fetchPull(pull: PullRef, call: CallOptions): Promise<PrFields> {
    const got = (await this.fetchPulls([pull], call)).get(pullKey(pull));
    if (!got || got instanceof Error) throw got ?? hostNotFound(`gitlab: no merge request ${pullKey(pull)}`);
    return got;
  }

  async findPullForBranch(repo: RepoRef, branch: string, call: CallOptions): Promise<PrFields | null> {
    const got = (await this.findPullsForBranches([{ repo, branch }], call)).get(branchKey(repo, branch));
    if (got instanceof Error) throw got;
    return got ?? null;
  }

  /**
   * Many MRs in one GraphQL query (an alias per project and per MR); split if too complex. Every
   * call reads each MR, its head pipeline and its threads from GitLab — nothing read before
   * answers for an MR — so a fresh read (PullRef.fresh) reads as any other; it only asks for a
   * mergeability recheck again where GitLab ignored the earlier ones (#askRecheck).
   */
  async fetchPulls(pulls: readonly PullRef[], call: CallOptions): Promise<Map<string, PrFields | Error>> {
    const out = new Map<string, PrFields | Error>();
    // A project's MRs in lists of at most one page (100) each: one alias per list.
    const lists = new Map<string, number>();
    const count = new Map<string, number>();
    const work = pulls.map((pull) => {
      const project = pathOf(pull.repo);
      const key = project.toLowerCase();
      const n = count.get(key) ?? 0;
      count.set(key, n + 1);
      const group = `${key}\u0000${Math.floor(n / MAX_PAGE)}`;
      if (!lists.has(group)) lists.set(group, lists.size);
      return { project, group, item: pull };
    });
    // As many projects' lists per query as GitLab's limits allow: learned, since it refuses a
    // query too complex.
    const ordered = [...work.keys()].sort((a, b) => lists.get(work[a]!.group)! - lists.get(work[b]!.group)!);
    const answers: (PullNode | null | Error)[] = new Array(pulls.length).fill(null);
    for (let i = 0; i < ordered.length; ) {
      const first = lists.get(work[ordered[i]!]!.group)!;
      let j = i;
      while (j < ordered.length && lists.get(work[ordered[j]!]!.group)! < first + this.#perQuery.pulls) j++;
      const part = await this.#aliased(
        'pulls',
        ordered.slice(i, j).map((k) => work[k]!),
        (projects) =>
          pullsQuery(projects.map((p) => ({ path: p.path, iids: p.items.map((pull) => pull.number) }))),
        aliasedPulls,
        (project, pull) => project?.mergeRequests?.nodes.find((n) => n?.iid === pull.number) ?? null,
        call,
      );
      part.forEach((answer, k) => {
        answers[ordered[i + k]!] = answer;
      });
      i = j;
    }
    const unchecked: { pull: PullRef; node: PullNode }[] = [];
    pulls.forEach((pull, i) => {
      const node = answers[i];
      if (node instanceof Error) out.set(pullKey(pull), node);
      else if (!node) out.set(pullKey(pull), hostNotFound(`gitlab: no merge request ${pullKey(pull)}`));
      else {
        if (mapState(node.state) === 'open' && needsRecheck(node)) unchecked.push({ pull, node });
        // Checked since: the next `unchecked` (a push to either branch) is asked about again.
        else this.#rechecked.delete(pullKey(pull));
      }
    });
    await this.#askRecheck(unchecked, call);
    pulls.forEach((pull, i) => {
      const node = answers[i];
      if (!node || node instanceof Error) return;
      const fields = this.#toFields(node, pull);
      const asked = this.#rechecked.get(pullKey(pull));
      if (asked?.ignored && asked.sha === (node.diffHeadSha ?? '') && fields.merge_state === 'unknown')
        fields.merge_state_reason = RECHECK_IGNORED;
      out.set(pullKey(pull), fields);
    });
    return out;
  }

  /**
   * The feedback of one MR: the head pipeline's failed jobs and who requests changes in one
   * GraphQL query, the open threads from the first page (100) of its discussions (REST: GraphQL's
   * discussion counts say how many, not which).
   */
  async fetchFeedback(pull: PullRef, call: CallOptions): Promise<PullFeedback> {
    const path = pathOf(pull.repo);
    const [answer, discussions] = await Promise.all([
      this.client.graphql(feedbackQuery(path, pull.number), aliasedFeedback, call),
      this.client.getPage(
        `/projects/${encodeURIComponent(path)}/merge_requests/${pull.number}/discussions?per_page=${MAX_PAGE}`,
        discussionsSchema,
        call,
      ),
    ]);
    const failed = errorAt(answer.errors, 'p0', 0);
    if (failed) throw failed;
    const node = answer.data.p0?.m0;
    if (!node) throw hostNotFound(`gitlab: no merge request ${pullKey(pull)}`);
    const mrUrl = hostPullUrl(this, node.webUrl ?? null, pull);
    const pipeline = node.headPipeline ?? null;
    const jobs = (pipeline?.jobs?.nodes ?? []).filter(
      (j): j is JobNode => j !== null && jobOutcome(j.status, j.allowFailure ?? false) === 'failed',
    );
    const failing_checks: PullFeedback['failing_checks'] = jobs.map((j) => ({
      name: j.name ?? 'job',
      url: this.#absolute(j.webPath ?? null),
      summary: jobSummary(j),
    }));
    // A failed pipeline whose failure no job shows (a YAML error fails it before any job exists).
    if (pipeline && pipelineOutcome(pipeline.status) === 'failed' && failing_checks.length === 0)
      failing_checks.push({
        name: PIPELINE_CHECK,
        url: this.#absolute(pipeline.path ?? null),
        summary: null,
      });
    // Whether each author and reviewer belongs: their access levels, one request (members.ts).
    const reviewers = (node.reviewers?.nodes ?? []).filter((r) => r !== null);
    const reviewerId = (gid: string | null | undefined) =>
      Number(/\/User\/(\d+)$/.exec(gid ?? '')?.[1] ?? Number.NaN);
    const people = [
      ...discussions.items.flatMap((d) => (d.notes ?? []).map((n) => n.author?.id)),
      ...reviewers.map((r) => reviewerId(r.id)),
    ].filter((id): id is number => typeof id === 'number' && Number.isSafeInteger(id));
    const levels = await this.#members.levels(path, people, call);
    const standing = (id: number | null | undefined) => (typeof id === 'number' ? levels.get(id) : undefined);
    const unresolved: PullFeedback['unresolved_threads'] = [];
    for (const discussion of discussions.items) {
      const notes = (discussion.notes ?? []).filter((n) => !n.system);
      if (!notes.some((n) => n.resolvable && n.resolved !== true)) continue;
      const first = notes[0]!;
      unresolved.push({
        path: first.position?.new_path ?? first.position?.old_path ?? null,
        line: first.position?.new_line ?? first.position?.old_line ?? null,
        author: first.author?.username ?? null,
        author_association: accessLevelName(standing(first.author?.id) ?? null),
        trusted: gitlabTrust(standing(first.author?.id)),
        body: first.body ?? '',
        // GitLab's note anchors on the MR page.
        url: `${mrUrl}#note_${first.id}`,
      });
    }
    return {
      failing_checks,
      unresolved_threads: unresolved,
      changes_requested_by: reviewers
        .filter((r) => r.mergeRequestInteraction?.reviewState?.toUpperCase() === 'REQUESTED_CHANGES')
        .map((r) => ({ name: r.username, trusted: gitlabTrust(standing(reviewerId(r.id))) })),
      truncated:
        discussions.more ||
        pipeline?.jobs?.pageInfo?.hasNextPage === true ||
        node.reviewers?.pageInfo?.hasNextPage === true,
    };
  }

  /**
   * GitLab computes an MR's mergeability only when asked, and reading it through GraphQL does not
   * ask: after a push it stays `unchecked` until someone opens the MR. So for open MRs found
   * unchecked, gitsync asks for a recheck — one REST list per project with
   * `with_merge_status_recheck=true` (GitLab docs, "Merge requests API", "Merge requests list
   * response notes") — and the next refresh (soon: `merge_state` is "unknown") reads the answer.
   * Best effort: a failure here leaves the refresh as read.
   */
  async #askRecheck(items: readonly { pull: PullRef; node: PullNode }[], call: CallOptions): Promise<void> {
    const now = this.#clock.now().getTime();
    const byProject = new Map<string, number[]>();
    for (const { pull, node } of items) {
      const key = pullKey(pull);
      const sha = node.diffHeadSha ?? '';
      const asked = this.#rechecked.get(key);
      let asks = 1;
      if (asked && asked.sha === sha) {
        // Still unchecked at the same head: the last request stands until `until`, then it was
        // ignored; after `RECHECK_ASKS` ignored requests, stop until the head moves — or until a
        // signal asks for the MR (fresh): then GitLab is asked once more.
        if (asked.until > now || (asked.ignored && !pull.fresh)) continue;
        if (asked.asks >= RECHECK_ASKS && !pull.fresh) {
          asked.ignored = true;
          continue;
        }
        asks = asked.asks + 1;
      }
      if (this.#rechecked.size > 10_000) this.#rechecked.clear();
      this.#rechecked.set(key, { sha, asks, until: now + RECHECK_EVERY_MS, ignored: false });
      const path = pathOf(pull.repo);
      byProject.set(path, [...(byProject.get(path) ?? []), pull.number]);
    }
    await Promise.all(
      [...byProject].map(async ([path, iids]) => {
        for (let i = 0; i < iids.length; i += MAX_PAGE) {
          const query = iids
            .slice(i, i + MAX_PAGE)
            .map((iid) => `iids[]=${iid}`)
            .join('&');
          await this.client
            .get(
              `/projects/${encodeURIComponent(path)}/merge_requests?${query}&with_merge_status_recheck=true&per_page=${MAX_PAGE}`,
              z.array(z.unknown()),
              call,
            )
            .catch(() => undefined);
        }
      }),
    );
  }

  /**
   * The MR of each (project, branch): candidates of any state in the project (one query for all),
   * those whose source is the origin's project chosen (an open one first, else the newest: the
   * highest iid); for a fork without one there, the same in the project it was forked from (MRs of a
   * fork live in the upstream project, GitLab docs "Merge requests from forks"). The chosen MRs are
   * then read in one more query.
   */
  async findPullsForBranches(
    items: readonly { repo: RepoRef; branch: string }[],
    call: CallOptions,
  ): Promise<Map<string, PrFields | null | Error>> {
    const out = new Map<string, PrFields | null | Error>();
    const chosen = new Map<string, PullRef>();
    const own = await this.#candidates(
      items.map((item) => ({ ...item, where: item.repo })),
      call,
    );
    const upstream: { repo: RepoRef; branch: string; where: RepoRef }[] = [];
    for (const item of items) {
      const key = branchKey(item.repo, item.branch);
      const found = own.get(key);
      if (found instanceof Error) out.set(key, found);
      else if (found) chosen.set(key, found);
      else {
        const project = await this.#project(item.repo, call).catch((error: Error) => error);
        if (project instanceof Error) out.set(key, project);
        else if (project?.forked_from_project) {
          const [owner, name] = splitPath(project.forked_from_project.path_with_namespace);
          upstream.push({ ...item, where: { owner, name } });
        } else out.set(key, null);
      }
    }
    if (upstream.length > 0) {
      const theirs = await this.#candidates(upstream, call);
      for (const item of upstream) {
        const key = branchKey(item.repo, item.branch);
        const found = theirs.get(key);
        if (found instanceof Error) out.set(key, found);
        else if (found) chosen.set(key, found);
        else out.set(key, null);
      }
    }
    if (chosen.size > 0) {
      const read = await this.fetchPulls(
        [...new Map([...chosen.values()].map((p) => [pullKey(p), p])).values()],
        call,
      );
      for (const [key, pull] of chosen) out.set(key, read.get(pullKey(pull)) ?? hostNotFound('missing'));
    }
    return out;
  }

  /**
   * Whether GitLab says the project and its merge requests are public: `visibility` public and
   * `merge_requests_access_level` enabled (a public project may keep its MRs to members, or have
   * none). A project it does not show, or an answer without either field, is not.
   */
  async isRepoPublic(repo: RepoRef, call: CallOptions): Promise<boolean> {
    const project = await this.#project(repo, call);
    return project?.visibility === 'public' && project.merge_requests_access_level === 'enabled';
  }

  /** Candidates of `branch` in project `where` whose source project is `repo`, keyed by (repo, branch). */
  async #candidates(
    items: readonly { repo: RepoRef; branch: string; where: RepoRef }[],
    call: CallOptions,
  ): Promise<Map<string, PullRef | Error>> {
    const out = new Map<string, PullRef | Error>();
    type Answer = { nodes: CandidateNode[]; complete: boolean };
    /** Lists of branches by project, at most BRANCHES_PER_LIST (or BRANCH_CHARS_PER_LIST) each. */
    const ask = async (indexes: readonly number[], perList: number): Promise<(Answer | null | Error)[]> => {
      const work: { project: string; group: string; item: number }[] = [];
      const open = new Map<string, { group: string; n: number; chars: number }>();
      let lists = 0;
      for (const i of indexes) {
        const project = pathOf(items[i]!.where);
        const key = project.toLowerCase();
        const chars = items[i]!.branch.length + 4;
        let list = open.get(key);
        if (!list || list.n >= perList || list.chars + chars > BRANCH_CHARS_PER_LIST) {
          list = { group: String(lists++), n: 0, chars: 0 };
          open.set(key, list);
        }
        list.n++;
        list.chars += chars;
        work.push({ project, group: list.group, item: i });
      }
      work.sort((a, b) => Number(a.group) - Number(b.group));
      const answers: (Answer | null | Error)[] = new Array(items.length).fill(null);
      for (let i = 0; i < work.length; ) {
        const first = Number(work[i]!.group);
        let j = i;
        while (j < work.length && Number(work[j]!.group) < first + this.#perQuery.candidates) j++;
        const part = await this.#aliased(
          'candidates',
          work.slice(i, j),
          (projects) =>
            candidatesQuery(
              projects.map((p) => ({ path: p.path, branches: p.items.map((k) => items[k]!.branch) })),
            ),
          aliasedCandidates,
          (project, k) => {
            const list = project?.mergeRequests;
            if (!list) return null;
            const nodes = list.nodes.filter(
              (n): n is CandidateNode => n !== null && n.sourceBranch === items[k]!.branch,
            );
            return { nodes, complete: list.pageInfo?.hasNextPage !== true };
          },
          call,
        );
        part.forEach((answer, k) => {
          answers[work[i + k]!.item] = answer;
        });
        i = j;
      }
      return answers;
    };
    const answers = await ask([...items.keys()], BRANCHES_PER_LIST);
    // A full page may have cut some branch's MRs: those branches again, one to a list (a branch
    // with more than a page of MRs keeps its newest ones).
    const cut = [...items.keys()].filter((i) => {
      const a = answers[i];
      return a !== null && a !== undefined && !(a instanceof Error) && !a.complete;
    });
    if (cut.length > 0) {
      const again = await ask(cut, 1);
      for (const i of cut) answers[i] = again[i] ?? null;
    }
    for (const [i, item] of items.entries()) {
      const key = branchKey(item.repo, item.branch);
      const answer = answers[i];
      if (answer instanceof Error) {
        out.set(key, answer);
        continue;
      }
      const nodes = answer?.nodes ?? [];
      const mine = nodes.filter((n) => samePath(n.sourceProject?.fullPath, pathOf(item.repo)));
      // Open first; else the newest — the highest iid, not the latest update (a comment on an old
      // merged MR must not take the branch back to it).
      const pick =
        mine.find((n) => mapState(n.state) === 'open') ?? [...mine].sort((a, b) => b.iid - a.iid)[0];
      if (pick) out.set(key, { repo: item.where, number: pick.iid });
    }
    return out;
  }

  /**
   * Asks one aliased query for all `work` (grouped by project, or by `group` where given: `p{i}`,
   * and within it `m{j}` or `b{j}` per item) and returns each item's answer in order, or the error
   * GitLab reported for its project or item. A query longer than GitLab takes is split before it
   * is sent; one GitLab finds too complex, or too large (422), is asked again in parts sized by
   * what GitLab said — and that size is kept for the next queries of this kind. Parts are whole
   * groups where the work has groups (a group's cost does not grow with its items), else items.
   */
  async #aliased<I, P, R>(
    kind: QueryKind,
    work: readonly { project: string; group: string | null; item: I }[],
    build: (projects: { path: string; items: I[] }[]) => string,
    schema: z.ZodType<Record<string, P | null>>,
    pick: (project: P | null, item: I, index: number) => R | null,
    call: CallOptions,
  ): Promise<(R | null | Error)[]> {
    if (work.length === 0) return [];
    const projects: { path: string; items: I[]; at: number[] }[] = [];
    const byPath = new Map<string, { path: string; items: I[]; at: number[] }>();
    work.forEach((w, i) => {
      const key = w.group ?? w.project.toLowerCase();
      let project = byPath.get(key);
      if (!project) {
        project = { path: w.project, items: [], at: [] };
        byPath.set(key, project);
        projects.push(project);
      }
      project.items.push(w.item);
      project.at.push(i);
    });
    const query = build(projects);
    const byGroup = work.some((w) => w.group !== null);
    const units = byGroup ? projects.length : work.length;
    /** Asks again in parts of `size` units (groups or items), answers back in `work`'s order. */
    const split = async (size: number) => {
      const out: (R | null | Error)[] = new Array(work.length).fill(null);
      const parts: number[][] = [];
      if (byGroup)
        for (let i = 0; i < projects.length; i += size)
          parts.push(projects.slice(i, i + size).flatMap((p) => p.at));
      else for (let i = 0; i < work.length; i += size) parts.push([...work.keys()].slice(i, i + size));
      for (const part of parts) {
        const answers = await this.#aliased(
          kind,
          part.map((k) => work[k]!),
          build,
          schema,
          pick,
          call,
        );
        answers.forEach((a, k) => {
          out[part[k]!] = a;
        });
      }
      return out;
    };
    // GitLab counts a query's characters (`GraphqlController::MAX_QUERY_SIZE`): split before sending.
    if (query.length > MAX_QUERY_SIZE && units > 1)
      return split(Math.max(1, Math.floor((units * MAX_QUERY_SIZE) / query.length)));
    let answer: { data: Record<string, P | null>; errors: GraphqlError[] };
    try {
      answer = await this.client.graphql(query, schema, call);
    } catch (error) {
      if (!(error instanceof ComplexityError) || units === 1) throw error;
      // "Query has complexity of N, which exceeds max complexity of M": a part of
      // units × M / N fits (the cost is per unit); without figures, halves.
      const size =
        error.score && error.limit && !(error instanceof QueryTooLargeError)
          ? Math.max(1, Math.min(units - 1, Math.floor((units * error.limit) / error.score)))
          : Math.ceil(units / 2);
      this.#perQuery[kind] = Math.max(1, Math.min(this.#perQuery[kind], size));
      return split(size);
    }
    const out: (R | null | Error)[] = new Array(work.length).fill(null);
    projects.forEach((project, i) => {
      const answers = answer.data[`p${i}`] ?? null;
      project.items.forEach((item, j) => {
        out[project.at[j]!] = errorAt(answer.errors, `p${i}`, j) ?? pick(answers, item, j);
      });
    });
    return out;
  }

  /** What the project says of itself, cached; null when GitLab does not show it (404). */
  async #project(repo: RepoRef, call: CallOptions): Promise<ProjectInfo | null> {
    // Per token: what a project shows (or whether it shows itself at all) depends on who asks.
    const key = `${pathOf(repo).toLowerCase()} ${tokenFingerprint(call.token)}`;
    const now = this.#clock.now().getTime();
    const cached = this.#projects.get(key);
    if (cached && cached.until > now) return cached.info;
    let info: ProjectInfo | null;
    try {
      info = await this.client.get(`/projects/${encodeURIComponent(pathOf(repo))}`, projectSchema, call);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      info = null;
    }
    if (this.#projects.size > 10_000) this.#projects.clear();
    this.#projects.set(key, { info, until: now + PROJECT_TTL_MS });
    return info;
  }

  /** One MR as gitsync shows it (docs/gitlab.md, "What maps to what"). */
  #toFields(node: PullNode, pull: PullRef): PrFields {
    const reviewers = (node.reviewers?.nodes ?? []).filter((r) => r !== null);
    const stateOf = (r: (typeof reviewers)[number]) =>
      (r.mergeRequestInteraction?.reviewState ?? '').toUpperCase();
    const requested = reviewers
      .filter((r) => stateOf(r) === 'REQUESTED_CHANGES')
      .map((r) => r.username.toLowerCase());
    const approvers = [
      ...(node.approvedBy?.nodes ?? []).filter((u) => u !== null).map((u) => u.username.toLowerCase()),
      ...reviewers.filter((r) => stateOf(r) === 'APPROVED').map((r) => r.username.toLowerCase()),
    ];
    const changesRequested = requested.length > 0;
    // GitLab answers zeros for statistics (and commits) it has not computed yet: while the MR is
    // unprepared, zeros are unknown, shown as null. Statistics on an MR without `preparedAt` (older
    // than the field) are real.
    const unprepared = !node.preparedAt;
    const summary = node.diffStatsSummary ?? null;
    const empty = !summary || (summary.additions === 0 && summary.deletions === 0 && summary.fileCount === 0);
    const stats = unprepared && empty ? null : summary;
    const state = mapState(node.state);
    return {
      url: hostPullUrl(this, node.webUrl, pull),
      pull_request_state: state,
      pull_request_title: node.title,
      pull_request_draft: node.draft,
      changes_requested: changesRequested,
      // GitLab's verdict (its approval rules) only together with an approver: GitLab answers
      // `approved: true` where no approval is required ("Returns true if no required approvals
      // are configured", `MergeRequestType.approved`; `ApprovalState#approved?` is true for no
      // rules). Without a verdict, a standing approval and no request for changes.
      approved: approvers.length > 0 && (node.approved ?? !changesRequested),
      reviewer_count: new Set([...approvers, ...requested]).size,
      additions: stats?.additions ?? null,
      deletions: stats?.deletions ?? null,
      changed_files: stats?.fileCount ?? null,
      commits: unprepared && !node.commitCount ? null : (node.commitCount ?? null),
      pr_number: node.iid,
      author_login: node.author?.username ?? null,
      author_avatar_url: this.#absolute(node.author?.avatarUrl ?? null),
      base_branch: node.targetBranch,
      head_branch: node.sourceBranch,
      // Asked to review and not done yet: reviewers in `UNREVIEWED`, or `REVIEW_STARTED` (a review
      // begun but not submitted — GitHub, too, keeps a request open while a review is pending)
      // (GitLab docs, GraphQL API reference, enum `MergeRequestReviewState`; re-requesting a review
      // puts a reviewer back there). People only: GitLab has no team reviewers. Reviewers past
      // the first 20 (PEOPLE_PER_PULL) are not read.
      requested_reviewers: sortRequestedReviewers(
        reviewers
          .filter((r) => stateOf(r) === 'UNREVIEWED' || stateOf(r) === 'REVIEW_STARTED')
          .map((r) => ({ kind: 'user' as const, name: r.username })),
      ),
      head_sha: node.diffHeadSha ?? null,
      // The head pipeline's jobs; GitLab answers no head pipeline until one ran on the current head.
      ...summarizeChecks(pipelineChecks(node.headPipeline, (path) => this.#absolute(path))),
      merge_state: mergeState(node.detailedMergeStatus, node.draft, state, node.mergeStatusEnum),
      // GitLab's word; `cannot_be_merged_recheck` where its `CONFLICT` is stale.
      merge_state_reason:
        state !== 'open'
          ? null
          : node.mergeStatusEnum?.toLowerCase() === 'cannot_be_merged_recheck'
            ? 'cannot_be_merged_recheck'
            : (node.detailedMergeStatus?.toLowerCase() ?? null),
      awaiting_approval: state === 'open' ? awaitingApproval(node.detailedMergeStatus, node.approved) : null,
      unresolved_threads: unresolvedThreads(node.resolvableDiscussionsCount, node.resolvedDiscussionsCount),
      // Comments by people, not GitLab's system notes ("added 1 commit").
      comments: node.userNotesCount ?? null,
    };
  }

  /**
   * GitLab gives uploaded avatars, job and pipeline pages as paths on the instance (`/uploads/…`,
   * `/group/repo/-/jobs/1`), under its relative URL root where it has one.
   */
  #absolute(url: string | null): string | null {
    if (!url) return null;
    if (/^https?:\/\//i.test(url)) return url;
    return url.startsWith('/') ? `${new URL(this.config.web_url).origin}${url}` : null;
  }
}

/** What GitLab says of a failed job: its stage and its failure message ("There has been a script failure…"). */
function jobSummary(job: JobNode): string | null {
  const why = job.failureMessage ?? (job.status?.toLowerCase() === 'canceled' ? 'canceled' : null);
  const stage = job.stage?.name ? `stage ${job.stage.name}` : null;
  return [stage, why].filter((s) => s !== null).join(': ') || null;
}

function splitPath(path: string): [string, string] {
  const at = path.lastIndexOf('/');
  return [path.slice(0, at), path.slice(at + 1)];
}

/**
 * The error GitLab reported for a project alias or one item in it (by `path`), as a typed error.
 * An error below the alias that names no item (a field of `mergeRequests.nodes[k]`) leaves every
 * item of that project incomplete. Only a message that says so is "not found" (a project GitLab
 * does not show is a null, not an error); anything else is an incomplete answer: the ref keeps
 * its state and retries, instead of being looked up again as if its MR were gone.
 */
function errorAt(errors: readonly GraphqlError[], alias: string, item: number): Error | null {
  const mine = errors.filter((e) => {
    if (e.path?.[0] !== alias) return false;
    const next = e.path[1];
    return (
      next === undefined || next === `m${item}` || next === `b${item}` || !/^[mb]\d+$/.test(String(next))
    );
  });
  if (mine.length === 0) return null;
  const message = `gitlab: ${mine
    .map((e) => e.message)
    .join('; ')
    .slice(0, 300)}`;
  if (mine.every((e) => /not found|does not exist/i.test(e.message))) return hostNotFound(message);
  return new UnavailableError(`${message} (an incomplete answer)`);
}

export function createGitLabProvider(config: ProviderConfig, deps: ProviderDeps): GitLabProvider {
  return new GitLabProvider(config, { clock: deps.clock });
}
