import { createHash } from 'node:crypto';
import { EmulatorError } from '../http.ts';

export { EmulatorError };

/** The code-host state the GitHub emulator serves: repositories, branches, pull requests, reviews. */

export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED';

export interface EmuRepo {
  id: number;
  owner: string;
  name: string;
  /** Full name of the parent when this repository is a fork. */
  fork_of: string | null;
  default_branch: string;
  /** Private repositories are seen only by their owner and collaborators; others get 404, as on GitHub. */
  private: boolean;
  /** Logins (lower-case) besides the owner whose tokens may see the repository while it is private. */
  collaborators: Set<string>;
  /**
   * How people stand in the repository where set (lower-case login → GitHub's
   * `CommentAuthorAssociation`: `MEMBER`, `CONTRIBUTOR`, `FIRST_TIME_CONTRIBUTOR`, `NONE`…); see
   * `association`.
   */
  associations: Map<string, string>;
  /**
   * Approvals a PR needs (branch protection "Require approvals"); 0: reviews are not required and
   * GraphQL's `reviewDecision` is null.
   */
  required_approvals: number;
  /** An organization policy refusing this token: SAML SSO enforcement or an IP allow list. */
  restriction: 'saml' | 'ip_allow_list' | null;
  created_at: Date;
  updated_at: Date;
  pushed_at: Date;
  branches: Map<string, string>;
}

export interface EmuReview {
  id: number;
  login: string;
  state: ReviewState;
  body: string;
  commit_id: string;
  submitted_at: Date;
}

/** A check run's progress and result (GitHub REST docs, "Check runs": `status`, `conclusion`). */
export const CHECK_RUN_STATUSES = [
  'queued',
  'in_progress',
  'completed',
  'waiting',
  'requested',
  'pending',
] as const;
export type CheckRunStatus = (typeof CHECK_RUN_STATUSES)[number];
export const CHECK_RUN_CONCLUSIONS = [
  'success',
  'failure',
  'neutral',
  'cancelled',
  'skipped',
  'timed_out',
  'action_required',
  'stale',
  'startup_failure',
] as const;
export type CheckRunConclusion = (typeof CHECK_RUN_CONCLUSIONS)[number];

export interface EmuCheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: CheckRunStatus;
  conclusion: CheckRunConclusion | null;
  details_url: string | null;
  title: string | null;
  summary: string | null;
}

/** A commit status (GitHub REST docs, "Commit statuses"): the latest per `context` counts. */
export interface EmuStatus {
  id: number;
  sha: string;
  context: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  target_url: string | null;
  description: string | null;
}

export interface EmuComment {
  id: number;
  login: string;
  body: string;
  created_at: Date;
}

/** A review thread: comments on a line of a file, resolvable as a whole. */
export interface EmuThread {
  id: number;
  path: string;
  line: number | null;
  resolved: boolean;
  comments: EmuComment[];
}

export interface EmuPull {
  id: number;
  number: number;
  base_repo: string;
  head_repo: string;
  head_ref: string;
  /** The head repository (a fork) was deleted: REST shows `head.repo: null`, GraphQL null owner. */
  head_repo_deleted: boolean;
  head_sha: string;
  base_ref: string;
  base_sha: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  draft: boolean;
  merged: boolean;
  merged_at: Date | null;
  merged_by: string | null;
  closed_at: Date | null;
  created_at: Date;
  updated_at: Date;
  author: string;
  additions: number;
  deletions: number;
  changed_files: number;
  commits: number;
  reviews: EmuReview[];
  /** Logins asked to review who have not reviewed since, in the order asked. */
  requested_reviewers: string[];
  /** Slugs of teams (of the base repository's owner) asked to review, in the order asked. */
  requested_teams: string[];
  /** Conversation comments (REST `comments`, the issue's). */
  comments: EmuComment[];
  /** Review threads (REST `review_comments` counts their comments). */
  threads: EmuThread[];
  /** The head does not merge cleanly into the base. */
  conflicting: boolean;
  /** The base moved on and the repository requires branches to be up to date before merging. */
  behind: boolean;
  /**
   * Mergeability is computed in the background: what it was last computed for (head, base and
   * the flags above) and when that computation finishes; until then GitHub answers "unknown".
   */
  merge_computed_for: string | null;
  merge_ready_at: number;
}

export interface OpenPullInput {
  /** `branch` (same repository) or `owner:branch` (a fork of it owned by `owner`). */
  head: string;
  base?: string | undefined;
  title?: string | undefined;
  body?: string | undefined;
  draft?: boolean | undefined;
  author?: string | undefined;
  additions?: number | undefined;
  deletions?: number | undefined;
  changed_files?: number | undefined;
  commits?: number | undefined;
}

export type PullPatch = Partial<
  Pick<
    EmuPull,
    | 'title'
    | 'body'
    | 'draft'
    | 'additions'
    | 'deletions'
    | 'changed_files'
    | 'commits'
    | 'base_ref'
    | 'head_ref'
    | 'conflicting'
    | 'behind'
  >
>;

const sha = (seed: string) => createHash('sha1').update(seed).digest('hex');

export class GitHubModel {
  readonly repos = new Map<string, EmuRepo>();
  readonly pulls = new Map<string, EmuPull[]>();
  readonly userIds = new Map<string, number>();
  /** Old full name (lower-case) → new full name, for repositories renamed or transferred. */
  readonly renames = new Map<string, string>();
  /** Deleted accounts (lower-case): REST shows them as `ghost`, GraphQL as a null author. */
  readonly deletedUsers = new Set<string>();
  /** Check runs and commit statuses by commit SHA: a PR shows those of its head commit only. */
  readonly checkRuns = new Map<string, EmuCheckRun[]>();
  readonly statuses = new Map<string, EmuStatus[]>();
  /**
   * How long GitHub takes to compute a PR's mergeability once asked: the first read after a push
   * answers "unknown" and starts the job (REST docs, "Get a pull request"). 0 (the default, so
   * that tests comparing reads are not timing-dependent): known at once; set it to see "unknown".
   */
  mergeComputeMs = 0;
  #ids = 1000;

  /** Private repositories visible to a login that is not a person (a GitHub App installation's tokens). */
  readonly grants = new Map<string, (repo: EmuRepo) => boolean>();

  constructor(readonly now: () => Date = () => new Date()) {}

  #nextId(): number {
    return ++this.#ids;
  }

  userId(login: string): number {
    const key = login.toLowerCase();
    let id = this.userIds.get(key);
    if (id === undefined) {
      id = this.#nextId();
      this.userIds.set(key, id);
    }
    return id;
  }

  repo(fullName: string): EmuRepo {
    const repo = this.repos.get(fullName.toLowerCase());
    if (!repo) throw new EmulatorError(404, `no repository ${fullName}`);
    return repo;
  }

  createRepo(input: {
    owner: string;
    name: string;
    fork_of?: string | undefined;
    default_branch?: string | undefined;
    private?: boolean | undefined;
    collaborators?: readonly string[] | undefined;
    required_approvals?: number | undefined;
    restriction?: 'saml' | 'ip_allow_list' | null | undefined;
  }): EmuRepo {
    const full = `${input.owner}/${input.name}`;
    if (this.repos.has(full.toLowerCase())) throw new EmulatorError(422, `repository ${full} exists`);
    if (input.fork_of) this.repo(input.fork_of);
    const now = this.now();
    const defaultBranch = input.default_branch ?? 'main';
    const repo: EmuRepo = {
      id: this.#nextId(),
      owner: input.owner,
      name: input.name,
      fork_of: input.fork_of ?? null,
      default_branch: defaultBranch,
      private: input.private ?? false,
      collaborators: new Set((input.collaborators ?? []).map((login) => login.toLowerCase())),
      associations: new Map(),
      required_approvals: input.required_approvals ?? 0,
      restriction: input.restriction ?? null,
      created_at: now,
      updated_at: now,
      pushed_at: now,
      branches: new Map([[defaultBranch, sha(`${full}:${defaultBranch}:0`)]]),
    };
    this.userId(input.owner);
    this.repos.set(full.toLowerCase(), repo);
    this.pulls.set(full.toLowerCase(), []);
    return repo;
  }

  /** Makes a repository private or public. */
  setPrivate(fullName: string, isPrivate: boolean): EmuRepo {
    const repo = this.repo(fullName);
    repo.private = isPrivate;
    repo.updated_at = this.now();
    return repo;
  }

  /**
   * Whether a token signed in as `login` sees the repository: every token sees a public one; a
   * private one only its owner and collaborators (GitHub answers 404 to the rest).
   */
  canSee(repo: EmuRepo, login: string | null): boolean {
    if (!repo.private) return true;
    // A token that is not a person's (a GitHub App installation's) sees what it was granted.
    const grant = login === null ? undefined : this.grants.get(login);
    if (grant) return grant(repo);
    const who = login?.toLowerCase();
    return who !== undefined && (who === repo.owner.toLowerCase() || repo.collaborators.has(who));
  }

  /** Changes a repository's settings: required approvals, an organization access restriction. */
  configureRepo(
    fullName: string,
    patch: {
      required_approvals?: number | undefined;
      restriction?: 'saml' | 'ip_allow_list' | null | undefined;
    },
  ): EmuRepo {
    const repo = this.repo(fullName);
    if (patch.required_approvals !== undefined) repo.required_approvals = patch.required_approvals;
    if (patch.restriction !== undefined) repo.restriction = patch.restriction;
    return repo;
  }

  /**
   * A person's `CommentAuthorAssociation` in a repository, as GitHub serves it on their comments
   * and reviews: what `setAssociation` set, else `OWNER` for the owner, `COLLABORATOR` for one
   * invited, `NONE` for a passer-by.
   */
  association(fullName: string, login: string): string {
    const repo = this.repo(fullName);
    const who = login.toLowerCase();
    return (
      repo.associations.get(who) ??
      (who === repo.owner.toLowerCase() ? 'OWNER' : repo.collaborators.has(who) ? 'COLLABORATOR' : 'NONE')
    );
  }

  /** Sets how a person stands in a repository (any `CommentAuthorAssociation` word, even a hostile one). */
  setAssociation(fullName: string, login: string, association: string): void {
    this.repo(fullName).associations.set(login.toLowerCase(), association);
  }

  /** Deletes an account: its PRs and reviews stay, shown as GitHub's `ghost` user. */
  deleteUser(login: string): void {
    this.deletedUsers.add(login.toLowerCase());
  }

  /**
   * Deletes a repository. PRs opened from it (a fork) into another repository stay, with their
   * head repository gone (REST `head.repo: null`).
   */
  deleteRepo(fullName: string): void {
    const repo = this.repo(fullName);
    const full = `${repo.owner}/${repo.name}`.toLowerCase();
    this.repos.delete(full);
    this.pulls.delete(full);
    for (const list of this.pulls.values())
      for (const p of list) if (p.head_repo.toLowerCase() === full) p.head_repo_deleted = true;
  }

  /**
   * GraphQL's `reviewDecision`: null unless the repository requires reviews; else
   * CHANGES_REQUESTED when a reviewer with write access requests changes, APPROVED once enough of
   * them approve, REVIEW_REQUIRED otherwise. Reviews by people without write access do not count
   * (GitHub docs, "About protected branches": "Require pull request reviews before merging").
   */
  reviewDecision(pull: EmuPull): 'APPROVED' | 'CHANGES_REQUESTED' | 'REVIEW_REQUIRED' | null {
    const repo = this.repo(pull.base_repo);
    if (repo.required_approvals === 0) return null;
    const latest = new Map<string, ReviewState>();
    for (const r of [...pull.reviews].sort((a, b) => a.id - b.id)) {
      const who = r.login.toLowerCase();
      if (who !== repo.owner.toLowerCase() && !repo.collaborators.has(who)) continue;
      if (r.state === 'COMMENTED') continue;
      latest.set(who, r.state);
    }
    const states = [...latest.values()];
    if (states.includes('CHANGES_REQUESTED')) return 'CHANGES_REQUESTED';
    return states.filter((s) => s === 'APPROVED').length >= repo.required_approvals
      ? 'APPROVED'
      : 'REVIEW_REQUIRED';
  }

  /** Renames a repository; requests to the old name are redirected, as GitHub does. */
  renameRepo(fullName: string, newName: string): EmuRepo {
    const repo = this.repo(fullName);
    const newFull = `${repo.owner}/${newName}`;
    if (this.repos.has(newFull.toLowerCase())) throw new EmulatorError(422, `repository ${newFull} exists`);
    const pulls = this.pulls.get(fullName.toLowerCase()) ?? [];
    this.repos.delete(fullName.toLowerCase());
    this.pulls.delete(fullName.toLowerCase());
    repo.name = newName;
    this.repos.set(newFull.toLowerCase(), repo);
    this.pulls.set(newFull.toLowerCase(), pulls);
    for (const list of this.pulls.values()) {
      for (const p of list) {
        if (p.base_repo.toLowerCase() === fullName.toLowerCase()) p.base_repo = newFull;
        if (p.head_repo.toLowerCase() === fullName.toLowerCase()) p.head_repo = newFull;
      }
    }
    this.renames.set(fullName.toLowerCase(), newFull);
    return repo;
  }

  /** A push: moves the branch, and adds a commit to any open PR whose head it is. */
  push(fullName: string, branch: string, commitSha?: string): string {
    const repo = this.repo(fullName);
    const now = this.now();
    const next = commitSha ?? sha(`${fullName}:${branch}:${now.getTime()}:${this.#nextId()}`);
    repo.branches.set(branch, next);
    repo.pushed_at = now;
    for (const list of this.pulls.values()) {
      for (const pull of list) {
        if (
          pull.state === 'open' &&
          pull.head_repo.toLowerCase() === fullName.toLowerCase() &&
          pull.head_ref === branch
        ) {
          pull.head_sha = next;
          pull.commits += 1;
          pull.updated_at = now;
        }
      }
    }
    return next;
  }

  /**
   * Deletes a branch (`DELETE /repos/{o}/{r}/git/refs/heads/{branch}`, or "Delete branch" after a
   * merge). Its PRs keep their head branch's name and last commit — GraphQL `headRefName` and
   * `headRefOid` "even if the ref has been deleted" (GraphQL reference, PullRequest), REST
   * `head.ref` / `head.sha` likewise — and an open PR whose head it was is closed (GitHub closes
   * "the dependent pull requests", docs.mergify.com, delete_head_branch `force`). The default branch
   * cannot be deleted (422).
   */
  deleteBranch(fullName: string, branch: string): void {
    const repo = this.repo(fullName);
    if (branch === repo.default_branch) throw new EmulatorError(422, 'Cannot delete the default branch');
    if (!repo.branches.delete(branch)) throw new EmulatorError(422, 'Reference does not exist');
    const full = `${repo.owner}/${repo.name}`.toLowerCase();
    for (const list of this.pulls.values())
      for (const pull of list)
        if (pull.state === 'open' && pull.head_repo.toLowerCase() === full && pull.head_ref === branch)
          this.close(pull.base_repo, pull.number);
  }

  openPull(baseFullName: string, input: OpenPullInput): EmuPull {
    const base = this.repo(baseFullName);
    const [headOwner, headRef] = input.head.includes(':')
      ? input.head.split(':', 2)
      : [base.owner, input.head];
    const headRepo =
      headOwner!.toLowerCase() === base.owner.toLowerCase() ? base : this.#forkOf(base, headOwner!);
    const headFull = `${headRepo.owner}/${headRepo.name}`;
    if (!headRepo.branches.has(headRef!)) this.push(headFull, headRef!);
    const baseRef = input.base ?? base.default_branch;
    const list = this.pulls.get(baseFullName.toLowerCase())!;
    const now = this.now();
    const pull: EmuPull = {
      id: this.#nextId(),
      number: list.length + 1,
      base_repo: `${base.owner}/${base.name}`,
      head_repo: headFull,
      head_ref: headRef!,
      head_repo_deleted: false,
      head_sha: headRepo.branches.get(headRef!)!,
      base_ref: baseRef,
      base_sha: base.branches.get(baseRef) ?? sha(`${baseFullName}:${baseRef}`),
      title: input.title ?? `Changes from ${headRef}`,
      body: input.body ?? '',
      state: 'open',
      draft: input.draft ?? false,
      merged: false,
      merged_at: null,
      merged_by: null,
      closed_at: null,
      created_at: now,
      updated_at: now,
      author: input.author ?? headRepo.owner,
      additions: input.additions ?? 0,
      deletions: input.deletions ?? 0,
      changed_files: input.changed_files ?? 0,
      commits: input.commits ?? 1,
      reviews: [],
      requested_reviewers: [],
      requested_teams: [],
      comments: [],
      threads: [],
      conflicting: false,
      behind: false,
      merge_computed_for: null,
      merge_ready_at: 0,
    };
    this.userId(pull.author);
    list.push(pull);
    return pull;
  }

  #forkOf(base: EmuRepo, owner: string): EmuRepo {
    const fork = [...this.repos.values()].find(
      (r) =>
        r.owner.toLowerCase() === owner.toLowerCase() &&
        r.fork_of?.toLowerCase() === `${base.owner}/${base.name}`.toLowerCase(),
    );
    if (!fork) throw new EmulatorError(422, `${owner} has no fork of ${base.owner}/${base.name}`);
    return fork;
  }

  pull(fullName: string, number: number): EmuPull {
    this.repo(fullName);
    const pull = this.pulls.get(fullName.toLowerCase())?.find((p) => p.number === number);
    if (!pull) throw new EmulatorError(404, `no pull request ${fullName}#${number}`);
    return pull;
  }

  updatePull(fullName: string, number: number, patch: PullPatch): EmuPull {
    const pull = this.pull(fullName, number);
    Object.assign(pull, patch, { updated_at: this.now() });
    return pull;
  }

  review(
    fullName: string,
    number: number,
    input: { login: string; state: ReviewState; body?: string | undefined },
  ): EmuReview {
    const pull = this.pull(fullName, number);
    const review: EmuReview = {
      id: this.#nextId(),
      login: input.login,
      state: input.state,
      body: input.body ?? '',
      commit_id: pull.head_sha,
      submitted_at: this.now(),
    };
    this.userId(input.login);
    pull.reviews.push(review);
    // "Once a requested reviewer submits a review, they are no longer considered a requested
    // reviewer" (GitHub REST docs, "Get all requested reviewers for a pull request"). A team's
    // request stays: the emulator knows no team members.
    pull.requested_reviewers = pull.requested_reviewers.filter(
      (login) => login.toLowerCase() !== input.login.toLowerCase(),
    );
    pull.updated_at = review.submitted_at;
    return review;
  }

  /**
   * `POST /repos/{o}/{r}/pulls/{n}/requested_reviewers` (GitHub REST docs, "Request reviewers for
   * a pull request"): people by login and teams by slug, each asked once; the author cannot be
   * asked (422, GitHub's words).
   */
  requestReviewers(
    fullName: string,
    number: number,
    input: { reviewers?: readonly string[] | undefined; team_reviewers?: readonly string[] | undefined },
  ): EmuPull {
    const pull = this.pull(fullName, number);
    const reviewers = input.reviewers ?? [];
    if (reviewers.some((login) => login.toLowerCase() === pull.author.toLowerCase()))
      throw new EmulatorError(422, 'Review cannot be requested from pull request author.');
    const add = (list: string[], names: readonly string[]) => {
      for (const name of names)
        if (!list.some((n) => n.toLowerCase() === name.toLowerCase())) list.push(name);
    };
    for (const login of reviewers) this.userId(login);
    add(pull.requested_reviewers, reviewers);
    add(pull.requested_teams, input.team_reviewers ?? []);
    pull.updated_at = this.now();
    return pull;
  }

  /** `DELETE /repos/{o}/{r}/pulls/{n}/requested_reviewers` ("Remove requested reviewers from a pull request"). */
  removeRequestedReviewers(
    fullName: string,
    number: number,
    input: { reviewers?: readonly string[] | undefined; team_reviewers?: readonly string[] | undefined },
  ): EmuPull {
    const pull = this.pull(fullName, number);
    const drop = (list: string[], names: readonly string[]) =>
      list.filter((n) => !names.some((name) => name.toLowerCase() === n.toLowerCase()));
    pull.requested_reviewers = drop(pull.requested_reviewers, input.reviewers ?? []);
    pull.requested_teams = drop(pull.requested_teams, input.team_reviewers ?? []);
    pull.updated_at = this.now();
    return pull;
  }

  /** A stable id for a team of an organization (teams exist only as review requests here). */
  teamId(org: string, slug: string): number {
    return this.userId(`team:${org}/${slug}`);
  }

  dismissReview(fullName: string, number: number, reviewId: number): EmuReview {
    const pull = this.pull(fullName, number);
    const review = pull.reviews.find((r) => r.id === reviewId);
    if (!review) throw new EmulatorError(404, `no review ${reviewId}`);
    review.state = 'DISMISSED';
    pull.updated_at = this.now();
    return review;
  }

  setReady(fullName: string, number: number): EmuPull {
    return this.updatePull(fullName, number, { draft: false });
  }

  merge(fullName: string, number: number, by?: string): EmuPull {
    const pull = this.pull(fullName, number);
    if (pull.state !== 'open') throw new EmulatorError(405, 'pull request is not open');
    const now = this.now();
    Object.assign(pull, {
      state: 'closed',
      merged: true,
      merged_at: now,
      closed_at: now,
      updated_at: now,
      merged_by: by ?? pull.author,
    });
    return pull;
  }

  close(fullName: string, number: number): EmuPull {
    const pull = this.pull(fullName, number);
    const now = this.now();
    Object.assign(pull, { state: 'closed', closed_at: now, updated_at: now });
    return pull;
  }

  reopen(fullName: string, number: number): EmuPull {
    const pull = this.pull(fullName, number);
    if (pull.merged) throw new EmulatorError(422, 'a merged pull request cannot be reopened');
    Object.assign(pull, { state: 'open', closed_at: null, updated_at: this.now() });
    return pull;
  }

  // ---- checks, mergeability, conversation ----------------------------------------------------

  /** `POST /repos/{o}/{r}/check-runs` and its update: a check run on a commit (a re-run is a new one). */
  addCheckRun(input: {
    head_sha: string;
    name: string;
    status?: CheckRunStatus | undefined;
    conclusion?: CheckRunConclusion | null | undefined;
    details_url?: string | null | undefined;
    title?: string | null | undefined;
    summary?: string | null | undefined;
  }): EmuCheckRun {
    const run: EmuCheckRun = {
      id: this.#nextId(),
      name: input.name,
      head_sha: input.head_sha,
      status: input.conclusion ? 'completed' : (input.status ?? 'queued'),
      conclusion: input.conclusion ?? null,
      details_url: input.details_url ?? null,
      title: input.title ?? null,
      summary: input.summary ?? null,
    };
    const list = this.checkRuns.get(run.head_sha) ?? [];
    list.push(run);
    this.checkRuns.set(run.head_sha, list);
    return run;
  }

  updateCheckRun(
    id: number,
    patch: { status?: CheckRunStatus; conclusion?: CheckRunConclusion | null },
  ): EmuCheckRun {
    const run = [...this.checkRuns.values()].flat().find((r) => r.id === id);
    if (!run) throw new EmulatorError(404, `no check run ${id}`);
    if (patch.status) run.status = patch.status;
    if (patch.conclusion !== undefined) {
      run.conclusion = patch.conclusion;
      if (patch.conclusion) run.status = 'completed';
    }
    return run;
  }

  /** `POST /repos/{o}/{r}/statuses/{sha}`: a new status for a context replaces the older one. */
  addStatus(input: Omit<EmuStatus, 'id' | 'target_url' | 'description'> & Partial<EmuStatus>): EmuStatus {
    const status: EmuStatus = {
      id: this.#nextId(),
      sha: input.sha,
      context: input.context,
      state: input.state,
      target_url: input.target_url ?? null,
      description: input.description ?? null,
    };
    const list = this.statuses.get(status.sha) ?? [];
    list.push(status);
    this.statuses.set(status.sha, list);
    return status;
  }

  /**
   * What a commit's checks show: the latest check run of each name (REST "List check runs for a
   * Git reference", `filter=latest`) and the latest status of each context ("Get the combined
   * status for a specific reference").
   */
  checksOf(sha: string): { runs: EmuCheckRun[]; statuses: EmuStatus[] } {
    const latest = <T extends { id: number }>(list: T[], key: (x: T) => string) => {
      const by = new Map<string, T>();
      for (const x of [...list].sort((a, b) => a.id - b.id)) by.set(key(x), x);
      return [...by.values()];
    };
    return {
      runs: latest(this.checkRuns.get(sha) ?? [], (r) => r.name),
      statuses: latest(this.statuses.get(sha) ?? [], (s) => s.context),
    };
  }

  /**
   * GraphQL `StatusCheckRollup.state` of a commit: FAILURE/ERROR when anything failed, PENDING
   * while anything runs, SUCCESS otherwise (neutral and skipped runs count as passing); null
   * without any check or status.
   */
  rollupState(sha: string): 'ERROR' | 'FAILURE' | 'PENDING' | 'SUCCESS' | null {
    const { runs, statuses } = this.checksOf(sha);
    if (runs.length === 0 && statuses.length === 0) return null;
    const failed = new Set([
      'failure',
      'cancelled',
      'timed_out',
      'action_required',
      'startup_failure',
      'stale',
    ]);
    if (statuses.some((s) => s.state === 'error')) return 'ERROR';
    if (
      statuses.some((s) => s.state === 'failure') ||
      runs.some((r) => r.conclusion && failed.has(r.conclusion))
    )
      return 'FAILURE';
    if (statuses.some((s) => s.state === 'pending') || runs.some((r) => r.status !== 'completed'))
      return 'PENDING';
    return 'SUCCESS';
  }

  /**
   * GraphQL `mergeable` (REST `mergeable`: true, false or null). GitHub computes it in the
   * background: the first read after the head or base moved answers UNKNOWN (REST null) and starts
   * the job; reads after it finished have the answer (REST docs, "Get a pull request": "If the
   * value is null, then GitHub has started a background job to compute the mergeability").
   */
  mergeable(pull: EmuPull): 'MERGEABLE' | 'CONFLICTING' | 'UNKNOWN' {
    if (pull.state !== 'open') return 'UNKNOWN';
    const input = `${pull.head_sha}:${pull.base_sha}:${pull.base_ref}:${pull.conflicting}:${pull.behind}`;
    const now = this.now().getTime();
    if (pull.merge_computed_for !== input) {
      pull.merge_computed_for = input;
      pull.merge_ready_at = now + this.mergeComputeMs;
      if (this.mergeComputeMs > 0) return 'UNKNOWN';
    }
    if (now < pull.merge_ready_at) return 'UNKNOWN';
    return pull.conflicting ? 'CONFLICTING' : 'MERGEABLE';
  }

  /**
   * GraphQL `mergeStateStatus` (REST `mergeable_state`, lower-case): UNKNOWN until computed, DRAFT
   * for a draft, DIRTY on conflicts, BEHIND when the base moved on and must be merged in, BLOCKED
   * when required reviews are missing, UNSTABLE with failing or running checks, else CLEAN
   * (GraphQL reference, "MergeStateStatus").
   */
  mergeStateStatus(
    pull: EmuPull,
  ): 'BEHIND' | 'BLOCKED' | 'CLEAN' | 'DIRTY' | 'DRAFT' | 'UNKNOWN' | 'UNSTABLE' {
    const mergeable = this.mergeable(pull);
    if (mergeable === 'UNKNOWN') return 'UNKNOWN';
    if (pull.draft) return 'DRAFT';
    if (mergeable === 'CONFLICTING') return 'DIRTY';
    if (pull.behind) return 'BEHIND';
    const decision = this.reviewDecision(pull);
    if (decision === 'REVIEW_REQUIRED' || decision === 'CHANGES_REQUESTED') return 'BLOCKED';
    const rollup = this.rollupState(pull.head_sha);
    return rollup === null || rollup === 'SUCCESS' ? 'CLEAN' : 'UNSTABLE';
  }

  /** A conversation comment on the PR (`POST /repos/{o}/{r}/issues/{n}/comments`); it updates the PR. */
  comment(fullName: string, number: number, input: { login: string; body: string }): EmuComment {
    const pull = this.pull(fullName, number);
    const comment = { id: this.#nextId(), login: input.login, body: input.body, created_at: this.now() };
    this.userId(input.login);
    pull.comments.push(comment);
    pull.updated_at = comment.created_at;
    return comment;
  }

  /** A review comment on a line, starting a thread (`POST /repos/{o}/{r}/pulls/{n}/comments`), or a reply in one. */
  reviewComment(
    fullName: string,
    number: number,
    input: { login: string; body: string; path?: string; line?: number | null; in_reply_to?: number },
  ): EmuThread {
    const pull = this.pull(fullName, number);
    const comment = { id: this.#nextId(), login: input.login, body: input.body, created_at: this.now() };
    this.userId(input.login);
    let thread = pull.threads.find((t) => t.comments.some((c) => c.id === input.in_reply_to));
    if (!thread) {
      thread = {
        id: this.#nextId(),
        path: input.path ?? 'README.md',
        line: input.line ?? null,
        resolved: false,
        comments: [],
      };
      pull.threads.push(thread);
    }
    thread.comments.push(comment);
    pull.updated_at = comment.created_at;
    return thread;
  }

  /**
   * GraphQL `resolveReviewThread` / `unresolveReviewThread`. The PR's `updated_at` does not move:
   * readers that watch it alone miss a resolution.
   */
  resolveThread(fullName: string, number: number, threadId: number, resolved = true): EmuThread {
    const thread = this.pull(fullName, number).threads.find((t) => t.id === threadId);
    if (!thread) throw new EmulatorError(404, `no review thread ${threadId}`);
    thread.resolved = resolved;
    return thread;
  }

  /** `GET /repos/{o}/{r}/pulls` semantics: state filter, `head=owner:ref`, sort and direction. */
  listPulls(
    fullName: string,
    query: {
      state: 'open' | 'closed' | 'all';
      head?: string | undefined;
      sort: 'created' | 'updated';
      direction: 'asc' | 'desc';
    },
  ): EmuPull[] {
    this.repo(fullName);
    let list = [...(this.pulls.get(fullName.toLowerCase()) ?? [])];
    if (query.state !== 'all') list = list.filter((p) => p.state === query.state);
    if (query.head) {
      const [owner, ref] = query.head.includes(':') ? query.head.split(':', 2) : [query.head, undefined];
      list = list.filter(
        (p) =>
          !p.head_repo_deleted &&
          p.head_repo.split('/')[0]!.toLowerCase() === owner!.toLowerCase() &&
          (ref === undefined || p.head_ref === ref),
      );
    }
    const key = query.sort === 'updated' ? 'updated_at' : 'created_at';
    list.sort((a, b) => a[key].getTime() - b[key].getTime() || a.number - b.number);
    if (query.direction === 'desc') list.reverse();
    return list;
  }
}
