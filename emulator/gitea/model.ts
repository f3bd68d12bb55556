import { createHash } from 'node:crypto';
import { EmulatorError } from '../http.ts';

export { EmulatorError };

/**
 * The state of an emulated Gitea/Forgejo instance: users, repositories (forks, visibility,
 * members), commit statuses per commit, and pull requests with their state, draft flag, sizes,
 * commits, comments, reviews with their code comments, and a conflict check that runs after each
 * push. It renders objects in the API's shapes (Gitea API swagger: `User`, `Repository`,
 * `PullRequest`, `PRBranchInfo`, `PullReview`, `PullReviewComment`, `CommitStatus`,
 * `CombinedStatus`, `Commit`).
 */

export const REVIEW_STATES = ['APPROVED', 'PENDING', 'COMMENT', 'REQUEST_CHANGES', 'REQUEST_REVIEW'] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];

/** `CommitStatusState` (Gitea `modules/commitstatus`; `skipped` since Gitea 1.24). */
export const STATUS_STATES = ['pending', 'success', 'error', 'failure', 'warning', 'skipped'] as const;
export type StatusState = (typeof STATUS_STATES)[number];

export interface GtUser {
  id: number;
  login: string;
  /** `limited`: seen by signed-in users only; `private`: by members only (organizations). */
  visibility: 'public' | 'limited' | 'private';
}

export interface GtRepo {
  id: number;
  owner: string;
  name: string;
  private: boolean;
  internal: boolean;
  /** `owner/name` of the repository this one was forked from. */
  parent: string | null;
  /** Logins that may read a private or internal repository (besides anyone for public ones). */
  members: Set<string>;
  /**
   * Permissions set one by one (lower-case login → Gitea's access mode name: `read`, `write`,
   * `admin`); see `permission`.
   */
  permissions: Map<string, string>;
  default_branch: string;
  /** Branch → head sha. */
  branches: Map<string, string>;
  /** Commit sha → every status posted to it, oldest first (the latest per context counts). */
  statuses: Map<string, GtStatus[]>;
  pulls: GtPull[];
  /** Issues and PRs share one index in Gitea. */
  nextIndex: number;
}

export interface GtStatus {
  id: number;
  context: string;
  state: StatusState;
  target_url: string;
  description: string;
  creator: string | null;
  created_at: Date;
}

/** A code comment of a review; Gitea's `line` is negative on the old side of the diff. */
export interface GtReviewComment {
  id: number;
  login: string;
  body: string;
  path: string;
  line: number;
  /** Who resolved the conversation this comment opens (set on its first comment only). */
  resolver: string | null;
  created_at: Date;
}

export interface GtReview {
  id: number;
  login: string | null;
  team: string | null;
  state: ReviewState;
  dismissed: boolean;
  stale: boolean;
  commit_id: string;
  submitted_at: Date;
  comments: GtReviewComment[];
}

export interface GtPull {
  id: number;
  number: number;
  repo: GtRepo;
  title: string;
  state: 'open' | 'closed';
  merged: boolean;
  merged_at: Date | null;
  draft: boolean;
  author: string;
  base: string;
  head: string;
  /** The head's repository; null once that fork is deleted. */
  head_repo: GtRepo | null;
  head_repo_id: number;
  head_sha: string;
  merge_base: string;
  additions: number;
  deletions: number;
  changed_files: number;
  commits: number;
  /** Comments on the conversation (the issue's comments, not code comments). */
  comments: number;
  reviews: GtReview[];
  /** Whether the head conflicts with the base (what the conflict check finds). */
  conflicting: boolean;
  /**
   * Gitea's conflict check (`PullRequestStatusChecking`): started by a push to the head or the
   * base and by opening the PR, it runs in the background; here it ends once a read saw it, or,
   * with a checking lag (`GiteaModel.checkLagMs`), that long after it started.
   */
  checking: boolean;
  /** When the running conflict check started (for the checking lag). */
  checking_since: Date;
  created_at: Date;
  updated_at: Date;
}

export interface RenderOptions {
  webUrl: string;
  apiUrl: string;
  /** Leave out what older servers lack: `draft`, sizes, `requested_reviewers_teams`. */
  legacy: boolean;
  /** Leave the sizes out of list items only. */
  sizesInLists: boolean;
}

const sha = (seed: string) => createHash('sha1').update(seed).digest('hex');

/**
 * A time as Gitea renders an issue's: its `*_unix` columns hold whole seconds
 * (`timeutil.TimeStamp`), so `created_at`, `updated_at`, `closed_at` and `merged_at` never carry
 * a fraction.
 */
export const unixTime = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString();

export class GiteaModel {
  readonly users = new Map<string, GtUser>();
  readonly repos = new Map<string, GtRepo>();
  /**
   * How long Gitea's conflict check takes, by `now()`: null ends it at the first read that saw
   * it. Gitea checks in a queue (`services/pull/check.go`, `AddToTaskQueue`) that can lag minutes
   * behind on a busy instance (go-gitea/gitea#17204, #22578); `mergeable` is false all the while.
   */
  checkLagMs: number | null = null;
  #ids = 0;
  #clockMs: number;

  constructor(readonly now: () => Date = () => new Date()) {
    this.#clockMs = now().getTime();
  }

  /**
   * The instance's time: the latest it stamped, or now if later (what its `Date` header says; the
   * stamps run ahead of `now` when many writes come within a second, see `#tick`).
   */
  get time(): Date {
    return new Date(Math.max(this.#clockMs, this.now().getTime()));
  }

  /** A strictly increasing time, so "most recently updated" is never a tie. */
  #tick(): Date {
    this.#clockMs = Math.max(this.#clockMs + 1000, this.now().getTime());
    return new Date(this.#clockMs);
  }

  user(login: string): GtUser {
    const key = login.toLowerCase();
    let u = this.users.get(key);
    if (!u) {
      u = { id: ++this.#ids, login, visibility: 'public' };
      this.users.set(key, u);
    }
    return u;
  }

  createRepo(spec: {
    full_name: string;
    private?: boolean;
    internal?: boolean;
    fork_of?: string;
    members?: string[];
    default_branch?: string;
  }): GtRepo {
    const [owner, name] = spec.full_name.split('/');
    if (!owner || !name) throw new EmulatorError(422, `bad repository name ${spec.full_name}`);
    if (this.repos.has(spec.full_name.toLowerCase())) throw new EmulatorError(409, 'repository exists');
    const parent = spec.fork_of ? this.repo(spec.fork_of) : null;
    this.user(owner);
    const repo: GtRepo = {
      id: ++this.#ids,
      owner,
      name,
      private: spec.private ?? false,
      internal: spec.internal ?? false,
      parent: parent ? `${parent.owner}/${parent.name}` : null,
      members: new Set([owner, ...(spec.members ?? [])].map((m) => m.toLowerCase())),
      permissions: new Map(),
      default_branch: spec.default_branch ?? 'main',
      branches: new Map([[spec.default_branch ?? 'main', sha(`${spec.full_name}:main`)]]),
      statuses: new Map(),
      pulls: [],
      nextIndex: 1,
    };
    for (const m of spec.members ?? []) this.user(m);
    this.repos.set(spec.full_name.toLowerCase(), repo);
    return repo;
  }

  repo(fullName: string): GtRepo {
    const repo = this.repos.get(fullName.toLowerCase());
    if (!repo) throw new EmulatorError(404, `no repository ${fullName}`);
    return repo;
  }

  deleteRepo(fullName: string): void {
    const repo = this.repo(fullName);
    this.repos.delete(fullName.toLowerCase());
    for (const other of this.repos.values())
      for (const pull of other.pulls) if (pull.head_repo === repo) pull.head_repo = null;
  }

  /** Site administrators (lower-case logins): they may ask anyone's permission anywhere. */
  readonly siteAdmins = new Set<string>();

  /**
   * A user's permission in a repository as `GET …/collaborators/{user}/permission` names it
   * (`models/perm/access_mode.go`): `owner` for the owner, a permission set with `setPermission`,
   * `write` for another member, `read` for anyone else on a repository they may read, else `none`.
   */
  permission(repo: GtRepo, login: string): string {
    const who = login.toLowerCase();
    if (who === repo.owner.toLowerCase()) return 'owner';
    const set = repo.permissions.get(who);
    if (set) return set;
    if (repo.members.has(who)) return 'write';
    return this.canRead(repo, login) ? 'read' : 'none';
  }

  /** Makes `login` a collaborator with `permission` (`read`, `write`, `admin`). */
  setPermission(fullName: string, login: string, permission: string): void {
    const repo = this.repo(fullName);
    this.user(login);
    repo.members.add(login.toLowerCase());
    repo.permissions.set(login.toLowerCase(), permission);
  }

  /** Whether `login` (null: anonymous) may read the repository. */
  canRead(repo: GtRepo, login: string | null): boolean {
    if (!repo.private && !repo.internal) return true;
    if (login === null) return false;
    if (!repo.private && repo.internal) return true;
    return repo.members.has(login.toLowerCase());
  }

  /**
   * Creates or moves a branch to a new commit (a force-push too: the old commit keeps its
   * statuses). Open PRs with that head get the new sha, and they and the open PRs into that branch
   * are checked for conflicts again (Gitea's `AddTestPullRequestTask`).
   */
  push(fullName: string, branch: string): string {
    const repo = this.repo(fullName);
    const head = sha(`${fullName}:${branch}:${++this.#ids}`);
    repo.branches.set(branch, head);
    for (const other of this.repos.values())
      for (const pull of other.pulls) {
        if (pull.state !== 'open') continue;
        if (pull.head_repo === repo && pull.head === branch) {
          pull.head_sha = head;
          pull.commits++;
          this.#startCheck(pull);
          pull.updated_at = this.#tick();
          // Reviews of an older head become stale (Gitea marks them so).
          for (const r of pull.reviews) if (r.commit_id !== head) r.stale = true;
        } else if (pull.repo === repo && pull.base === branch) this.#startCheck(pull);
      }
    return head;
  }

  /**
   * Posts a status to a commit (`POST /repos/{o}/{r}/statuses/{sha}`); a later status of the same
   * context replaces it in the combined status.
   */
  setStatus(
    fullName: string,
    commit: string,
    spec: {
      context: string;
      state: StatusState;
      target_url?: string;
      description?: string;
      creator?: string;
    },
  ): GtStatus {
    const repo = this.repo(fullName);
    const status: GtStatus = {
      id: ++this.#ids,
      context: spec.context,
      state: spec.state,
      target_url: spec.target_url ?? '',
      description: spec.description ?? '',
      creator: spec.creator ?? null,
      created_at: this.#tick(),
    };
    repo.statuses.set(commit, [...(repo.statuses.get(commit) ?? []), status]);
    return status;
  }

  /** The latest status per context of a commit, newest first (Gitea's `GetLatestCommitStatus`). */
  latestStatuses(repo: GtRepo, commit: string): GtStatus[] {
    const latest = new Map<string, GtStatus>();
    for (const s of repo.statuses.get(commit) ?? []) latest.set(s.context, s);
    return [...latest.values()].sort((a, b) => b.id - a.id);
  }

  /** Makes the head conflict with the base (or not); Gitea finds out by checking again. */
  setConflicting(fullName: string, number: number, conflicting: boolean): GtPull {
    const pull = this.pull(fullName, number);
    pull.conflicting = conflicting;
    this.#startCheck(pull);
    return pull;
  }

  #startCheck(pull: GtPull): void {
    pull.checking = true;
    pull.checking_since = this.now();
  }

  /** Whether the conflict check is still running (`mergeable` false meanwhile). */
  isChecking(pull: GtPull): boolean {
    if (!pull.checking) return false;
    if (this.checkLagMs !== null && this.now().getTime() - pull.checking_since.getTime() >= this.checkLagMs)
      pull.checking = false;
    return pull.checking;
  }

  /** A read saw the PR: without a checking lag, a conflict check in progress finishes behind it. */
  observe(pull: GtPull): void {
    if (this.checkLagMs === null) pull.checking = false;
  }

  openPull(
    fullName: string,
    spec: {
      head: string;
      /** `owner/name` of a fork holding the head; default the repository itself. */
      head_repo?: string;
      base?: string;
      title?: string;
      author?: string;
      draft?: boolean;
      additions?: number;
      deletions?: number;
      changed_files?: number;
      commits?: number;
    },
  ): GtPull {
    const repo = this.repo(fullName);
    const headRepo = spec.head_repo ? this.repo(spec.head_repo) : repo;
    if (!headRepo.branches.has(spec.head)) this.push(`${headRepo.owner}/${headRepo.name}`, spec.head);
    const at = this.#tick();
    const pull: GtPull = {
      id: ++this.#ids,
      number: repo.nextIndex++,
      repo,
      title: spec.title ?? `Change ${spec.head}`,
      state: 'open',
      merged: false,
      merged_at: null,
      draft: spec.draft ?? false,
      author: this.user(spec.author ?? headRepo.owner).login,
      base: spec.base ?? repo.default_branch,
      head: spec.head,
      head_repo: headRepo,
      head_repo_id: headRepo.id,
      head_sha: headRepo.branches.get(spec.head)!,
      merge_base: repo.branches.get(spec.base ?? repo.default_branch) ?? sha('base'),
      additions: spec.additions ?? 1,
      deletions: spec.deletions ?? 0,
      changed_files: spec.changed_files ?? 1,
      commits: spec.commits ?? 1,
      comments: 0,
      reviews: [],
      conflicting: false,
      // A new PR is checked for conflicts in the background (Gitea's `NewPullRequest`).
      checking: true,
      checking_since: this.now(),
      created_at: at,
      updated_at: at,
    };
    repo.pulls.push(pull);
    return pull;
  }

  pull(fullName: string, number: number): GtPull {
    const pull = this.repo(fullName).pulls.find((p) => p.number === number);
    if (!pull) throw new EmulatorError(404, `no pull ${fullName}#${number}`);
    return pull;
  }

  update(
    fullName: string,
    number: number,
    change: Partial<
      Pick<GtPull, 'title' | 'draft' | 'additions' | 'deletions' | 'changed_files' | 'commits'>
    >,
  ): GtPull {
    const pull = this.pull(fullName, number);
    Object.assign(pull, change);
    pull.updated_at = this.#tick();
    return pull;
  }

  /**
   * Merges the PR; with `delete_branch`, deletes its head branch afterwards, as the merge form's
   * "Delete branch" box and the API's `delete_branch_after_merge` do (`MergePullRequestOption`).
   * The PR's head commit stays readable at `refs/pull/{n}/head` in the base repository.
   */
  merge(fullName: string, number: number, options: { delete_branch?: boolean } = {}): GtPull {
    const pull = this.pull(fullName, number);
    pull.state = 'closed';
    pull.merged = true;
    pull.merged_at = this.#tick();
    pull.updated_at = pull.merged_at;
    if (options.delete_branch && pull.head_repo)
      this.deleteBranch(`${pull.head_repo.owner}/${pull.head_repo.name}`, pull.head);
    return pull;
  }

  /**
   * Deletes a branch (`DELETE /repos/{o}/{r}/branches/{branch}`). Gitea closes the unmerged PRs
   * whose head or base it was (`services/pull/pull.go`, `CloseBranchPulls`); their head commits
   * stay at `refs/pull/{n}/head`.
   */
  deleteBranch(fullName: string, branch: string): void {
    const repo = this.repo(fullName);
    if (!repo.branches.delete(branch)) throw new EmulatorError(404, `no branch ${branch}`);
    for (const other of this.repos.values())
      for (const pull of other.pulls) {
        if (pull.merged || pull.state !== 'open') continue;
        if (
          (pull.head_repo === repo && pull.head === branch) ||
          (pull.repo === repo && pull.base === branch)
        ) {
          pull.state = 'closed';
          pull.updated_at = this.#tick();
        }
      }
  }

  close(fullName: string, number: number): GtPull {
    const pull = this.pull(fullName, number);
    pull.state = 'closed';
    pull.updated_at = this.#tick();
    return pull;
  }

  reopen(fullName: string, number: number): GtPull {
    const pull = this.pull(fullName, number);
    if (pull.merged) throw new EmulatorError(409, 'a merged pull request cannot be reopened');
    pull.state = 'open';
    pull.updated_at = this.#tick();
    return pull;
  }

  /** Asks a person (a `REQUEST_REVIEW` entry, as Gitea records a request) or a team (`org/team`). */
  requestReview(fullName: string, number: number, who: { login?: string; team?: string }): GtReview {
    if (who.login) this.user(who.login);
    return this.#addReview(fullName, number, who.login ?? null, who.team ?? null, 'REQUEST_REVIEW');
  }

  /** A review, with code comments each opening a conversation (`line` < 0: the old side). */
  review(
    fullName: string,
    number: number,
    login: string,
    state: Exclude<ReviewState, 'REQUEST_REVIEW'>,
    comments: { path: string; line: number; body: string }[] = [],
  ): GtReview {
    this.user(login);
    const review = this.#addReview(fullName, number, login, null, state);
    for (const c of comments)
      review.comments.push({
        id: ++this.#ids,
        login: review.login!,
        body: c.body,
        path: c.path,
        line: c.line,
        resolver: null,
        created_at: review.submitted_at,
      });
    return review;
  }

  /** A reply in the conversation of `commentId`: Gitea files it under that comment's review. */
  reply(fullName: string, number: number, commentId: number, login: string, body: string): GtReviewComment {
    const { review, comment } = this.#codeComment(fullName, number, commentId);
    const reply: GtReviewComment = {
      id: ++this.#ids,
      login: this.user(login).login,
      body,
      path: comment.path,
      line: comment.line,
      resolver: null,
      created_at: this.#tick(),
    };
    review.comments.push(reply);
    // A code comment moves the PR's `updated_unix` (`updateCommentInfos`, models/issues/comment.go).
    this.pull(fullName, number).updated_at = reply.created_at;
    return reply;
  }

  /**
   * Resolves (`by` a login) or unresolves (null) the conversation `commentId` opens: Gitea marks
   * its first comment (`MarkConversation`; the UI sends that comment's id).
   */
  resolveConversation(fullName: string, number: number, commentId: number, by: string | null): void {
    this.#codeComment(fullName, number, commentId).comment.resolver = by ? this.user(by).login : null;
  }

  /** A comment on the PR's conversation (an issue comment, counted in `comments`). */
  comment(fullName: string, number: number): GtPull {
    const pull = this.pull(fullName, number);
    pull.comments++;
    pull.updated_at = this.#tick();
    return pull;
  }

  #codeComment(fullName: string, number: number, commentId: number) {
    for (const review of this.pull(fullName, number).reviews) {
      const comment = review.comments.find((c) => c.id === commentId);
      if (comment) return { review, comment };
    }
    throw new EmulatorError(404, 'no comment');
  }

  dismiss(fullName: string, number: number, reviewId: number): void {
    const review = this.pull(fullName, number).reviews.find((r) => r.id === reviewId);
    if (!review) throw new EmulatorError(404, 'no review');
    review.dismissed = true;
    // Gitea records the dismissal as a comment on the PR (`CommentTypeDismissReview`), which
    // moves its `updated_unix`.
    this.pull(fullName, number).updated_at = this.#tick();
  }

  #addReview(
    fullName: string,
    number: number,
    login: string | null,
    team: string | null,
    state: ReviewState,
  ): GtReview {
    const pull = this.pull(fullName, number);
    const review: GtReview = {
      id: ++this.#ids,
      login: login ? this.user(login).login : null,
      team,
      state,
      dismissed: false,
      stale: false,
      commit_id: pull.head_sha,
      submitted_at: this.#tick(),
      comments: [],
    };
    if (team) {
      // A team's request ends when one of its members reviews; the emulator keeps it until asked otherwise.
      pull.reviews = pull.reviews.filter((r) => !(r.team === team && r.state === 'REQUEST_REVIEW'));
    }
    pull.reviews.push(review);
    pull.updated_at = review.submitted_at;
    return review;
  }

  /** People asked whose latest entry is still the request (Gitea's `requested_reviewers`). */
  requestedUsers(pull: GtPull): string[] {
    const latest = new Map<string, GtReview>();
    for (const r of pull.reviews) if (r.login && r.state !== 'PENDING') latest.set(r.login.toLowerCase(), r);
    return [...latest.values()].filter((r) => r.state === 'REQUEST_REVIEW').map((r) => r.login!);
  }

  requestedTeams(pull: GtPull): string[] {
    return pull.reviews.filter((r) => r.team && r.state === 'REQUEST_REVIEW').map((r) => r.team!);
  }

  // ---- rendering ---------------------------------------------------------------------------------

  renderUser(login: string, o: RenderOptions) {
    const u = this.user(login);
    return {
      id: u.id,
      login: u.login,
      login_name: '',
      full_name: '',
      email: `${u.login.toLowerCase()}@noreply.localhost`,
      avatar_url: `${o.webUrl}/avatars/${sha(u.login.toLowerCase()).slice(0, 32)}`,
      html_url: `${o.webUrl}/${u.login}`,
      language: '',
      is_admin: false,
      restricted: false,
      active: true,
      prohibit_login: false,
      visibility: u.visibility,
    };
  }

  renderRepo(repo: GtRepo, o: RenderOptions, depth = 0): Record<string, unknown> {
    const full = `${repo.owner}/${repo.name}`;
    const parent = repo.parent ? this.repos.get(repo.parent.toLowerCase()) : undefined;
    return {
      id: repo.id,
      owner: this.renderUser(repo.owner, o),
      name: repo.name,
      full_name: full,
      description: '',
      empty: false,
      private: repo.private,
      fork: repo.parent !== null,
      template: false,
      // The swagger's `parent` is a whole Repository; one level is enough here.
      parent: parent && depth === 0 ? this.renderRepo(parent, o, 1) : null,
      mirror: false,
      size: 0,
      html_url: `${o.webUrl}/${full}`,
      url: `${o.apiUrl}/repos/${full}`,
      ssh_url: `git@${new URL(o.webUrl).hostname}:${full}.git`,
      clone_url: `${o.webUrl}/${full}.git`,
      default_branch: repo.default_branch,
      archived: false,
      internal: repo.internal,
      created_at: new Date(0).toISOString(),
      updated_at: new Date(0).toISOString(),
    };
  }

  /**
   * A PR as Gitea's `ToAPIPullRequest` renders it (services/convert/pull.go, the same in Forgejo):
   * `base` and `head` are `PRBranchInfo`s whose `label` is the bare branch name (no `owner:`
   * prefix, forks included). The head's `ref` is the branch only while the branch exists in the
   * head repository; once it is deleted (merged with "delete branch", or deleted by hand) `ref`
   * is `refs/pull/{n}/head` and `sha` that ref's commit. A deleted head repository leaves
   * `repo` null and `repo_id` -1.
   */
  renderPull(pull: GtPull, o: RenderOptions, inList: boolean): Record<string, unknown> {
    const full = `${pull.repo.owner}/${pull.repo.name}`;
    const baseSha = pull.repo.branches.get(pull.base);
    const base = {
      label: pull.base,
      ref: pull.base,
      // Gitea leaves `sha` empty when the base branch is gone.
      sha: baseSha ?? '',
      repo_id: pull.repo.id,
      repo: this.renderRepo(pull.repo, o, 1),
    };
    const headExists = pull.head_repo?.branches.has(pull.head) ?? false;
    const head = {
      label: pull.head,
      ref: headExists ? pull.head : `refs/pull/${pull.number}/head`,
      sha: headExists ? pull.head_repo!.branches.get(pull.head)! : pull.head_sha,
      repo_id: pull.head_repo ? pull.head_repo.id : -1,
      repo: pull.head_repo ? this.renderRepo(pull.head_repo, o, 1) : null,
    };
    const body: Record<string, unknown> = {
      id: pull.id,
      url: `${o.webUrl}/${full}/pulls/${pull.number}`,
      number: pull.number,
      user: this.renderUser(pull.author, o),
      title: pull.title,
      body: '',
      labels: [],
      milestone: null,
      assignee: null,
      assignees: null,
      requested_reviewers: this.requestedUsers(pull).map((l) => this.renderUser(l, o)),
      state: pull.state,
      is_locked: false,
      comments: pull.comments,
      html_url: `${o.webUrl}/${full}/pulls/${pull.number}`,
      diff_url: `${o.webUrl}/${full}/pulls/${pull.number}.diff`,
      patch_url: `${o.webUrl}/${full}/pulls/${pull.number}.patch`,
      // Gitea's `PullRequest.Mergeable`: false while the conflict check runs, on a conflict, and
      // for a work-in-progress PR.
      mergeable: pull.state === 'open' && !this.isChecking(pull) && !pull.conflicting && !pull.draft,
      merged: pull.merged,
      merged_at: pull.merged_at ? unixTime(pull.merged_at) : null,
      merge_commit_sha: pull.merged ? sha(`merge ${pull.id}`) : null,
      merged_by: null,
      allow_maintainer_edit: false,
      // `base.sha` is the base branch's head now, not the merge base.
      base,
      head,
      merge_base: pull.merge_base,
      due_date: null,
      created_at: unixTime(pull.created_at),
      updated_at: unixTime(pull.updated_at),
      closed_at: pull.state === 'closed' ? unixTime(pull.updated_at) : null,
      pin_order: 0,
    };
    if (!o.legacy) {
      body.draft = pull.draft;
      // Gitea 1.22+: code comments, `omitempty` (absent when there are none).
      const reviewComments = pull.reviews
        .filter((r) => r.state !== 'PENDING')
        .reduce((n, r) => n + r.comments.length, 0);
      if (reviewComments > 0) body.review_comments = reviewComments;
      body.requested_reviewers_teams = this.requestedTeams(pull).map((t) => {
        const [org, name] = t.split('/');
        return { id: 0, name, organization: { username: org }, permission: 'read' };
      });
      if (!inList || o.sizesInLists) {
        body.additions = pull.additions;
        body.deletions = pull.deletions;
        body.changed_files = pull.changed_files;
      }
    }
    return body;
  }

  /**
   * A PR as an issue, as `GET /repos/issues/search` answers it (`ToAPIIssue`, services/convert/
   * issue.go; `Issue`, modules/structs/issue.go): the issue's number, state and times, a
   * `pull_request` block (`PullRequestMeta`: `merged`, `merged_at`, `draft`, `html_url`) and the
   * repository (`RepositoryMeta`).
   */
  renderPullIssue(pull: GtPull, o: RenderOptions): Record<string, unknown> {
    const full = `${pull.repo.owner}/${pull.repo.name}`;
    return {
      id: pull.id,
      url: `${o.apiUrl}/repos/${full}/issues/${pull.number}`,
      html_url: `${o.webUrl}/${full}/pulls/${pull.number}`,
      number: pull.number,
      user: this.renderUser(pull.author, o),
      original_author: '',
      original_author_id: 0,
      title: pull.title,
      body: '',
      ref: '',
      assets: [],
      labels: [],
      milestone: null,
      assignee: null,
      assignees: null,
      state: pull.state,
      is_locked: false,
      comments: pull.comments,
      created_at: unixTime(pull.created_at),
      updated_at: unixTime(pull.updated_at),
      closed_at: pull.state === 'closed' ? unixTime(pull.updated_at) : null,
      due_date: null,
      pull_request: {
        merged: pull.merged,
        merged_at: pull.merged_at ? unixTime(pull.merged_at) : null,
        ...(o.legacy ? {} : { draft: pull.draft }),
        html_url: `${o.webUrl}/${full}/pulls/${pull.number}`,
      },
      repository: { id: pull.repo.id, name: pull.repo.name, owner: pull.repo.owner, full_name: full },
      pin_order: 0,
    };
  }

  renderReview(pull: GtPull, review: GtReview, o: RenderOptions) {
    const full = `${pull.repo.owner}/${pull.repo.name}`;
    const [org, name] = review.team ? review.team.split('/') : [];
    return {
      id: review.id,
      user: review.login ? this.renderUser(review.login, o) : null,
      team: review.team ? { id: 0, name, organization: { username: org } } : null,
      state: review.state,
      body: '',
      commit_id: review.commit_id,
      stale: review.stale,
      official: review.state === 'APPROVED' || review.state === 'REQUEST_CHANGES',
      dismissed: review.dismissed,
      comments_count: review.comments.length,
      submitted_at: review.submitted_at.toISOString(),
      updated_at: review.submitted_at.toISOString(),
      html_url: `${o.webUrl}/${full}/pulls/${pull.number}#issuecomment-${review.id}`,
      pull_request_url: `${o.webUrl}/${full}/pulls/${pull.number}`,
    };
  }

  renderReviewComment(pull: GtPull, review: GtReview, c: GtReviewComment, o: RenderOptions) {
    const full = `${pull.repo.owner}/${pull.repo.name}`;
    return {
      id: c.id,
      body: c.body,
      user: this.renderUser(c.login, o),
      resolver: c.resolver ? this.renderUser(c.resolver, o) : null,
      pull_request_review_id: review.id,
      created_at: c.created_at.toISOString(),
      updated_at: c.created_at.toISOString(),
      path: c.path,
      commit_id: review.commit_id,
      original_commit_id: review.commit_id,
      diff_hunk: '',
      // `position` is the new-side line, `original_position` the old side's; the other is 0.
      position: Math.max(c.line, 0),
      original_position: Math.max(-c.line, 0),
      html_url: `${o.webUrl}/${full}/pulls/${pull.number}#issuecomment-${c.id}`,
      pull_request_url: `${o.webUrl}/${full}/pulls/${pull.number}`,
    };
  }

  /** One `CommitStatus`; its state is under `status` (Gitea's JSON name), not `state`. */
  renderStatus(repo: GtRepo, commit: string, s: GtStatus, o: RenderOptions) {
    return {
      id: s.id,
      status: s.state,
      target_url: s.target_url,
      description: s.description,
      url: `${o.apiUrl}/repos/${repo.owner}/${repo.name}/statuses/${commit}`,
      context: s.context,
      creator: s.creator ? this.renderUser(s.creator, o) : null,
      created_at: s.created_at.toISOString(),
      updated_at: s.created_at.toISOString(),
    };
  }

  renderCommit(pull: GtPull, i: number, o: RenderOptions) {
    const full = `${pull.repo.owner}/${pull.repo.name}`;
    const id = sha(`${pull.id}:${pull.head_sha}:${i}`);
    return {
      url: `${o.apiUrl}/repos/${full}/git/commits/${id}`,
      sha: id,
      html_url: `${o.webUrl}/${full}/commit/${id}`,
      commit: { message: `commit ${i + 1}`, tree: { sha: sha(`tree ${id}`) } },
      parents: [],
    };
  }
}
