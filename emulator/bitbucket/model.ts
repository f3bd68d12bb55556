import { createHash, randomUUID } from 'node:crypto';
import { EmulatorError } from '../http.ts';

export { EmulatorError };

/**
 * The state a Bitbucket Cloud emulator serves: workspaces (by their IDs), repositories (private or
 * public, forks with a parent), users, pull requests with their states, draft flag, reviewers,
 * participants' verdicts, commits, per-file diff statistics, file conflicts, merge checks and
 * comments (threads on the diff that can be resolved), and build statuses per commit.
 */

export const PR_STATES = ['OPEN', 'MERGED', 'DECLINED', 'SUPERSEDED'] as const;
export type BbState = (typeof PR_STATES)[number];
export type Verdict = 'approved' | 'changes_requested';

export interface BbUser {
  uuid: string;
  account_id: string;
  nickname: string;
  display_name: string;
}

export interface BbRepo {
  workspace: string;
  slug: string;
  is_private: boolean;
  /** `workspace/slug` of the repository this one was forked from. */
  parent: string | null;
  /** Nicknames of users who may read it when private. */
  members: Set<string>;
  mainbranch: string;
  /** Branch name → commit hashes, oldest first. */
  branches: Map<string, string[]>;
  created_on: Date;
  updated_on: Date;
}

export interface BbParticipant {
  nickname: string;
  role: 'PARTICIPANT' | 'REVIEWER';
  approved: boolean;
  state: Verdict | null;
  participated_on: Date | null;
}

export interface BbFileStat {
  path: string;
  lines_added: number;
  lines_removed: number;
}

/** "Commit statuses": `state` of a build status. */
export const STATUS_STATES = ['SUCCESSFUL', 'FAILED', 'INPROGRESS', 'STOPPED'] as const;
export type BbStatusState = (typeof STATUS_STATES)[number];

/** A build status on a commit: one per `key` ("If the specified key already exists … overwritten"). */
export interface BbStatus {
  key: string;
  state: BbStatusState;
  name: string;
  url: string;
  description: string;
  refname: string | null;
  created_on: Date;
  updated_on: Date;
  /** Creation order, which breaks ties of `created_on` (Bitbucket's times carry microseconds). */
  seq: number;
}

/** "File Conflict": a file that conflicts between the PR's source and destination. */
export interface BbConflict {
  path: string;
  scenario: string;
  message: string;
}

export interface BbComment {
  id: number;
  author: string;
  raw: string;
  /** On the diff (`path` and a line in the new `to` or old `from` version); null: a general comment. */
  inline: { path: string; from: number | null; to: number | null } | null;
  /** The comment this one replies to. */
  parent: number | null;
  deleted: boolean;
  /**
   * An unpublished draft ("Pull Request Comment": `pending`): listed only to its author, not
   * counted in the PR's `comment_count` until published (`publish`).
   */
  pending: boolean;
  /** Set while the thread (a top-level comment on the diff) is resolved. */
  resolution: { by: string; at: Date } | null;
  created_on: Date;
}

export interface BbPull {
  id: number;
  /** The destination repository, `workspace/slug` (where the PR lives). */
  repo: string;
  /** The source repository (a fork, or the destination itself). */
  source_repo: string;
  source_branch: string;
  destination_branch: string;
  title: string;
  description: string;
  state: BbState;
  draft: boolean;
  author: string;
  reviewers: string[];
  participants: BbParticipant[];
  files: BbFileStat[];
  /** Commit hashes on the PR, oldest first. */
  commits: string[];
  /** Every commit the PR's head ever was, oldest first (a force-push replaces `commits`, not this). */
  heads: string[];
  destination_hash: string;
  conflicts: BbConflict[];
  /** Whether a merge check configured for the destination fails (required approvals, tasks…). */
  checks_failing: boolean;
  /** "A boolean flag indicating if merging the pull request closes the source branch" (`pullrequest`). */
  close_source_branch: boolean;
  comments: BbComment[];
  created_on: Date;
  updated_on: Date;
}

const key = (fullName: string) => fullName.toLowerCase();
const hash = (seed: string) => createHash('sha1').update(seed).digest('hex');

export class BitbucketModel {
  readonly users = new Map<string, BbUser>();
  readonly repos = new Map<string, BbRepo>();
  /** Destination repository → its PRs by id. */
  readonly pulls = new Map<string, Map<number, BbPull>>();
  /** Build statuses by full commit hash, then by key. */
  readonly statuses = new Map<string, Map<string, BbStatus>>();
  #seq = 0;
  #commentSeq = 0;
  #statusSeq = 0;

  constructor(readonly now: () => Date = () => new Date()) {}

  /** A user by nickname, created on first mention. */
  user(nickname: string): BbUser {
    let u = this.users.get(nickname.toLowerCase());
    if (!u) {
      const id = randomUUID();
      u = { uuid: `{${id}}`, account_id: `557058:${id}`, nickname, display_name: nickname };
      this.users.set(nickname.toLowerCase(), u);
    }
    return u;
  }

  createRepo(input: {
    full_name: string;
    is_private?: boolean;
    fork_of?: string;
    members?: string[];
    mainbranch?: string;
  }): BbRepo {
    const [workspace, slug, ...rest] = input.full_name.split('/');
    if (!workspace || !slug || rest.length > 0)
      throw new EmulatorError(400, 'full_name must be workspace/slug');
    if (this.repos.has(key(input.full_name))) throw new EmulatorError(400, `${input.full_name} exists`);
    if (input.fork_of) this.repo(input.fork_of);
    const now = this.now();
    const mainbranch = input.mainbranch ?? 'main';
    const repo: BbRepo = {
      workspace: workspace.toLowerCase(),
      slug: slug.toLowerCase(),
      is_private: input.is_private ?? true,
      parent: input.fork_of ? key(input.fork_of) : null,
      members: new Set((input.members ?? []).map((m) => m.toLowerCase())),
      mainbranch,
      branches: new Map([[mainbranch, [hash(`${input.full_name} root`)]]]),
      created_on: now,
      updated_on: now,
    };
    for (const m of input.members ?? []) this.user(m);
    this.repos.set(key(input.full_name), repo);
    return repo;
  }

  repo(fullName: string): BbRepo {
    const repo = this.repos.get(key(fullName));
    if (!repo) throw new EmulatorError(404, `Repository ${fullName} not found`);
    return repo;
  }

  fullName = (repo: BbRepo) => `${repo.workspace}/${repo.slug}`;

  setPrivate(fullName: string, isPrivate: boolean): void {
    this.repo(fullName).is_private = isPrivate;
  }

  /** Pushes `count` new commits to a branch (created from the main branch if new); returns the tip. */
  push(fullName: string, branch: string, count = 1): string {
    const repo = this.repo(fullName);
    const commits = repo.branches.get(branch) ?? [...(repo.branches.get(repo.mainbranch) ?? [])];
    for (let i = 0; i < count; i++)
      commits.push(hash(`${fullName} ${branch} ${++this.#seq} ${randomUUID()}`));
    repo.branches.set(branch, commits);
    repo.updated_on = this.now();
    // Open PRs from this branch gain the commits.
    for (const prs of this.pulls.values())
      for (const pr of prs.values())
        if (pr.state === 'OPEN' && key(pr.source_repo) === key(fullName) && pr.source_branch === branch) {
          pr.commits.push(...commits.slice(-count));
          pr.heads.push(commits.at(-1)!);
          pr.updated_on = this.now();
        }
    return commits.at(-1)!;
  }

  /**
   * Rewrites a branch (`git push --force`): `count` new commits on the main branch's tip replace
   * its own; open PRs from it now hold only those. Statuses of the replaced commits stay where
   * they were. Returns the new tip.
   */
  forcePush(fullName: string, branch: string, count = 1): string {
    const repo = this.repo(fullName);
    const fresh = Array.from({ length: count }, () =>
      hash(`${fullName} ${branch} forced ${++this.#seq} ${randomUUID()}`),
    );
    repo.branches.set(branch, [...(repo.branches.get(repo.mainbranch) ?? []), ...fresh]);
    repo.updated_on = this.now();
    for (const prs of this.pulls.values())
      for (const pr of prs.values())
        if (pr.state === 'OPEN' && key(pr.source_repo) === key(fullName) && pr.source_branch === branch) {
          pr.commits = [...fresh];
          pr.heads.push(fresh.at(-1)!);
          this.#touch(pr);
        }
    return fresh.at(-1)!;
  }

  openPull(
    destination: string,
    input: {
      source_branch: string;
      source_repo?: string;
      destination_branch?: string;
      title?: string;
      description?: string;
      draft?: boolean;
      author?: string;
      /** Commits on the PR (default: one). */
      commits?: number;
      /** Per-file statistics; default one file of +1/−0. */
      files?: BbFileStat[];
      /** Delete the source branch when merged (Bitbucket's "Close source branch"; default false). */
      close_source_branch?: boolean;
    },
  ): BbPull {
    const dest = this.repo(destination);
    const source = this.repo(input.source_repo ?? destination);
    if (source !== dest && key(source.parent ?? '') !== key(this.fullName(dest)))
      throw new EmulatorError(400, 'the source repository is not a fork of the destination');
    const prs = this.pulls.get(key(this.fullName(dest))) ?? new Map<number, BbPull>();
    this.pulls.set(key(this.fullName(dest)), prs);
    const now = this.now();
    const count = input.commits ?? 1;
    const commits = Array.from({ length: count }, () =>
      hash(`${destination} pr ${++this.#seq} ${randomUUID()}`),
    );
    const branch = source.branches.get(input.source_branch) ?? [];
    source.branches.set(input.source_branch, [...branch, ...commits]);
    const pr: BbPull = {
      id: prs.size + 1,
      repo: this.fullName(dest),
      source_repo: this.fullName(source),
      source_branch: input.source_branch,
      destination_branch: input.destination_branch ?? dest.mainbranch,
      title: input.title ?? `Change ${input.source_branch}`,
      description: input.description ?? '',
      state: 'OPEN',
      draft: input.draft ?? false,
      author: this.user(input.author ?? 'agent').nickname,
      reviewers: [],
      participants: [],
      files: input.files ?? [{ path: 'README.md', lines_added: 1, lines_removed: 0 }],
      commits,
      heads: [commits.at(-1)!],
      conflicts: [],
      checks_failing: false,
      close_source_branch: input.close_source_branch ?? false,
      comments: [],
      destination_hash:
        dest.branches.get(input.destination_branch ?? dest.mainbranch)?.at(-1) ?? hash('empty'),
      created_on: now,
      updated_on: now,
    };
    prs.set(pr.id, pr);
    return this.#touch(pr);
  }

  pull(destination: string, id: number): BbPull {
    const pr = this.pulls.get(key(destination))?.get(id);
    if (!pr) throw new EmulatorError(404, `Pull request ${destination}#${id} not found`);
    return pr;
  }

  listPulls(destination: string): BbPull[] {
    this.repo(destination);
    return [...(this.pulls.get(key(destination))?.values() ?? [])];
  }

  #last = 0;
  /** Update times strictly increase, so "most recently updated" is never a tie. */
  #touch(pr: BbPull): BbPull {
    this.#last = Math.max(this.now().getTime(), this.#last + 1, pr.updated_on.getTime() + 1);
    pr.updated_on = new Date(this.#last);
    return pr;
  }

  update(
    destination: string,
    id: number,
    patch: { title?: string; draft?: boolean; files?: BbFileStat[]; destination_branch?: string },
  ): BbPull {
    const pr = this.pull(destination, id);
    if (patch.title !== undefined) pr.title = patch.title;
    if (patch.draft !== undefined) pr.draft = patch.draft;
    if (patch.files !== undefined) {
      pr.files = patch.files;
      // New file statistics come with a new source commit.
      pr.commits.push(hash(`${destination} files ${++this.#seq}`));
      pr.heads.push(pr.commits.at(-1)!);
    }
    if (patch.destination_branch !== undefined) pr.destination_branch = patch.destination_branch;
    return this.#touch(pr);
  }

  setState(destination: string, id: number, state: BbState): BbPull {
    const pr = this.pull(destination, id);
    pr.state = state;
    return this.#touch(pr);
  }

  /**
   * Merges a PR as "Merge a pull request" does (`POST …/pullrequests/{id}/merge`, strategy
   * `merge_commit`): a merge commit lands on the destination branch, so the destination moves;
   * with `close_source_branch` ("Whether the source branch should be deleted. If this is not
   * provided, we fallback to the value used when the pull request was created") the source branch
   * is deleted — the PR keeps its branch name and commits, but "List commits on a pull request"
   * answers an empty list from then on ("This list will be empty if the source branch no longer
   * exists").
   */
  merge(destination: string, id: number, options: { close_source_branch?: boolean } = {}): BbPull {
    const pr = this.pull(destination, id);
    if (pr.state !== 'OPEN') throw new EmulatorError(400, `Pull request ${destination}#${id} is not open`);
    this.push(pr.repo, pr.destination_branch);
    if (options.close_source_branch ?? pr.close_source_branch) {
      pr.close_source_branch = true;
      this.deleteBranch(pr.source_repo, pr.source_branch);
    }
    return this.setState(destination, id, 'MERGED');
  }

  /** Deletes a branch (`git push --delete`); the main branch cannot be. */
  deleteBranch(fullName: string, branch: string): void {
    const repo = this.repo(fullName);
    if (branch === repo.mainbranch) throw new EmulatorError(400, 'the main branch cannot be deleted');
    if (!repo.branches.delete(branch)) throw new EmulatorError(404, `Branch ${branch} not found`);
    repo.updated_on = this.now();
  }

  /** Whether a PR's source branch still exists in its source repository. */
  sourceBranchExists = (pr: BbPull) => this.repo(pr.source_repo).branches.has(pr.source_branch);

  /**
   * A commit of `fullName` by its hash or an abbreviation of at least 7 hex digits: one on its
   * branches or on a PR from or to it (a fork's PR commits are reachable in the destination too).
   * null when none, or when an abbreviation names more than one.
   */
  resolveCommit(fullName: string, spec: string): string | null {
    const repo = this.repo(fullName);
    const s = spec.toLowerCase();
    if (!/^[0-9a-f]{7,40}$/.test(s)) return null;
    const known = new Set<string>();
    for (const commits of repo.branches.values()) for (const c of commits) known.add(c);
    const name = key(this.fullName(repo));
    for (const prs of this.pulls.values())
      for (const pr of prs.values())
        if (key(pr.repo) === name || key(pr.source_repo) === name)
          for (const c of [...pr.commits, ...pr.heads]) known.add(c);
    const found = [...known].filter((c) => c.startsWith(s));
    return found.length === 1 ? found[0]! : null;
  }

  /** Every commit a PR has had (its commits now, and each commit its head ever was). */
  pullCommitsEver = (pr: BbPull) => [...new Set([...pr.heads, ...pr.commits])];
  decline = (destination: string, id: number) => this.setState(destination, id, 'DECLINED');

  #participant(pr: BbPull, nickname: string, role: BbParticipant['role']): BbParticipant {
    this.user(nickname);
    let p = pr.participants.find((x) => x.nickname.toLowerCase() === nickname.toLowerCase());
    if (!p) {
      p = {
        nickname: this.user(nickname).nickname,
        role,
        approved: false,
        state: null,
        participated_on: null,
      };
      pr.participants.push(p);
    }
    if (role === 'REVIEWER') p.role = 'REVIEWER';
    return p;
  }

  /** Adds reviewers (they appear in `reviewers` and as REVIEWER participants). */
  addReviewers(destination: string, id: number, nicknames: string[]): BbPull {
    const pr = this.pull(destination, id);
    for (const n of nicknames) {
      if (n.toLowerCase() === pr.author.toLowerCase())
        throw new EmulatorError(400, 'the author cannot be a reviewer');
      if (!pr.reviewers.some((r) => r.toLowerCase() === n.toLowerCase()))
        pr.reviewers.push(this.user(n).nickname);
      this.#participant(pr, n, 'REVIEWER');
    }
    return this.#touch(pr);
  }

  /** A verdict by `nickname` (null withdraws it), as approving or requesting changes does. */
  verdict(destination: string, id: number, nickname: string, verdict: Verdict | null): BbPull {
    const pr = this.pull(destination, id);
    const p = this.#participant(pr, nickname, 'PARTICIPANT');
    p.state = verdict;
    p.approved = verdict === 'approved';
    p.participated_on = this.now();
    return this.#touch(pr);
  }

  /** A comment (general unless `inline`): the commenter becomes a participant without a verdict. */
  comment(
    destination: string,
    id: number,
    nickname: string,
    input: {
      body?: string;
      inline?: { path: string; from?: number; to?: number };
      parent?: number;
      /** A draft: listed to its author only, until `publish`. */
      pending?: boolean;
    } = {},
  ): BbComment {
    const pr = this.pull(destination, id);
    if (input.parent !== undefined && !pr.comments.some((c) => c.id === input.parent))
      throw new EmulatorError(400, `no comment ${input.parent} to reply to`);
    const p = this.#participant(pr, nickname, 'PARTICIPANT');
    p.participated_on = this.now();
    const comment: BbComment = {
      id: ++this.#commentSeq,
      author: this.user(nickname).nickname,
      raw: input.body ?? 'A comment',
      inline: input.inline
        ? { path: input.inline.path, from: input.inline.from ?? null, to: input.inline.to ?? null }
        : null,
      parent: input.parent ?? null,
      deleted: false,
      pending: input.pending ?? false,
      resolution: null,
      created_on: this.now(),
    };
    pr.comments.push(comment);
    if (!comment.pending) this.#touch(pr);
    return comment;
  }

  /** Publishes a draft comment: from now on listed to everyone and counted. */
  publish(destination: string, id: number, commentId: number): BbComment {
    const c = this.#comment(destination, id, commentId);
    if (!c.pending) throw new EmulatorError(400, `Comment ${commentId} is not a draft`);
    c.pending = false;
    this.#touch(this.pull(destination, id));
    return c;
  }

  #comment(destination: string, id: number, commentId: number): BbComment {
    const found = this.pull(destination, id).comments.find((c) => c.id === commentId && !c.deleted);
    if (!found) throw new EmulatorError(404, `Comment ${commentId} not found`);
    return found;
  }

  /**
   * Resolves a thread, as "Resolve a comment thread" does: only a top-level comment on the diff
   * (403 otherwise), once (409). The PR itself is not touched.
   */
  resolve(destination: string, id: number, commentId: number, nickname: string): BbComment {
    const c = this.#comment(destination, id, commentId);
    if (c.parent !== null || c.inline === null)
      throw new EmulatorError(403, 'Only top-level comments on the diff can be resolved');
    if (c.resolution) throw new EmulatorError(409, 'The comment has already been resolved');
    c.resolution = { by: this.user(nickname).nickname, at: this.now() };
    return c;
  }

  /** Reopens a resolved thread ("Reopen a comment thread"; 404 when it is not resolved). */
  reopen(destination: string, id: number, commentId: number): BbComment {
    const c = this.#comment(destination, id, commentId);
    if (!c.resolution) throw new EmulatorError(404, 'The comment has not been resolved');
    c.resolution = null;
    return c;
  }

  deleteComment(destination: string, id: number, commentId: number): void {
    this.#comment(destination, id, commentId).deleted = true;
  }

  /** The PR's file conflicts with its destination (none by default). */
  setConflicts(destination: string, id: number, conflicts: { path: string; scenario?: string }[]): BbPull {
    const pr = this.pull(destination, id);
    pr.conflicts = conflicts.map((c) => ({
      path: c.path,
      scenario: c.scenario ?? 'content',
      message: 'File modified in both source and destination',
    }));
    return pr;
  }

  /** Whether a merge check configured for the PR's destination fails (approvals, tasks…). */
  setMergeChecks(destination: string, id: number, failing: boolean): BbPull {
    const pr = this.pull(destination, id);
    pr.checks_failing = failing;
    return pr;
  }

  /** The head commit's full hash. */
  head = (destination: string, id: number) => this.pull(destination, id).commits.at(-1)!;

  /**
   * Creates or overwrites (same `key`) a build status on a commit, as "Create a build status for a
   * commit" does. Nothing about the PR changes.
   */
  setStatus(
    commit: string,
    input: {
      key: string;
      state: BbStatusState;
      name?: string;
      url?: string;
      description?: string;
      refname?: string;
    },
  ): BbStatus {
    if (!/^[0-9a-f]{40}$/.test(commit)) throw new EmulatorError(400, 'a full commit hash is needed');
    const byKey = this.statuses.get(commit) ?? new Map<string, BbStatus>();
    this.statuses.set(commit, byKey);
    const now = this.now();
    const before = byKey.get(input.key);
    const status: BbStatus = {
      key: input.key,
      state: input.state,
      name: input.name ?? before?.name ?? input.key,
      url: input.url ?? before?.url ?? `https://ci.example.com/${input.key}`,
      description: input.description ?? '',
      refname: input.refname ?? before?.refname ?? null,
      created_on: before?.created_on ?? now,
      updated_on: now,
      seq: before?.seq ?? ++this.#statusSeq,
    };
    byKey.set(input.key, status);
    return status;
  }

  /** Who may read a repository: anyone when public; members (and the workspace's own tokens) when private. */
  canRead(repo: BbRepo, viewer: { user: string | null; workspace: string | null }): boolean {
    if (!repo.is_private) return true;
    if (viewer.workspace !== null) return viewer.workspace === repo.workspace;
    return (
      viewer.user !== null && (repo.members.has(viewer.user.toLowerCase()) || viewer.user === repo.workspace)
    );
  }
}
