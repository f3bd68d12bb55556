import { createHash } from 'node:crypto';
import { EmulatorError } from '../http.ts';

export { EmulatorError };

/**
 * The state the GitLab emulator serves: users, projects (nested groups, forks, visibility), merge
 * requests with reviewers, approvals, commits and lazily prepared diff statistics.
 *
 * Vocabulary follows GitLab's own (REST `doc/api/merge_requests.md`, GraphQL reference
 * `doc/api/graphql/reference/_index.md`): `opened | closed | merged | locked` states, `iid` per
 * project, reviewer states, `detailed_merge_status`.
 */

export type Visibility = 'private' | 'internal' | 'public';

/**
 * `locked` is GitLab's short-lived state while a merge is in progress ("when searching by `locked`
 * it will mostly return no results as it is a short-lived, transitional state" — merge_requests.md).
 */
export type MrState = 'opened' | 'closed' | 'merged' | 'locked';

/** A reviewer's state (REST `reviewers[].state`; GraphQL `MergeRequestReviewState`, upper-cased). */
export const REVIEW_STATES = [
  'unreviewed',
  'reviewed',
  'requested_changes',
  'approved',
  'unapproved',
  'review_started',
] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];

/**
 * `detailed_merge_status` values (merge_requests.md, "Merge status"); GraphQL's
 * `DetailedMergeStatus` enum has the same names upper-cased. A subset the emulator can produce.
 */
export const DETAILED_MERGE_STATUSES = [
  'approvals_syncing',
  'checking',
  'unchecked',
  'preparing',
  'ci_must_pass',
  'ci_still_running',
  'conflict',
  'discussions_not_resolved',
  'draft_status',
  'mergeable',
  'need_rebase',
  'not_approved',
  'not_open',
  'requested_changes',
  'blocked_status',
] as const;
export type DetailedMergeStatus = (typeof DETAILED_MERGE_STATUSES)[number];

/** Sign-in tiers: which rules decide the approvals answer's `approved` (see `GitLabModel.approved`). */
export type Tier = 'free' | 'premium';

export interface GlUser {
  id: number;
  username: string;
  name: string;
  /** GitLab answers `avatar_url: null` for users without an uploaded avatar on some instances. */
  avatar_url: string | null;
  /** Project/group access tokens act as bot users (`project_{id}_bot_…`); GraphQL `User.bot`. */
  bot: boolean;
}

export interface GlProject {
  id: number;
  path_with_namespace: string;
  /** The namespace part, e.g. `group/sub` of `group/sub/repo`. */
  namespace: string;
  path: string;
  forked_from_id: number | null;
  visibility: Visibility;
  /** Who may see merge requests (project features): everyone who sees the project, members, nobody. */
  merge_requests_access_level: 'enabled' | 'private' | 'disabled';
  default_branch: string;
  /** Usernames (lower-case) with at least Reporter access: they see a private project. */
  members: Set<string>;
  /** Approvals every MR needs (a project approval rule; Premium and up). */
  approvals_required: number;
  tier: Tier;
  created_at: Date;
  last_activity_at: Date;
  branches: Map<string, string>;
}

export interface GlCommit {
  id: string;
  title: string;
  message: string;
  author_name: string;
  author_email: string;
  created_at: Date;
}

export interface GlReviewer {
  username: string;
  state: ReviewState;
  created_at: Date;
}

export interface GlApproval {
  username: string;
  approved_at: Date;
}

/** Diff statistics once GitLab has prepared the MR's diff; `null` on the MR while it is preparing. */
export interface DiffStats {
  additions: number;
  deletions: number;
  file_count: number;
}

export interface GlMergeRequest {
  id: number;
  iid: number;
  /** Always the target project ("`project_id` will always equal `target_project_id`"). */
  project_id: number;
  source_project_id: number;
  source_branch: string;
  target_branch: string;
  title: string;
  description: string;
  state: MrState;
  draft: boolean;
  author: string;
  reviewers: GlReviewer[];
  approvals: GlApproval[];
  /** Oldest first; REST lists them newest first. */
  commits: GlCommit[];
  /** `null` while GitLab is still preparing the diff (GraphQL `diffStatsSummary: null`). */
  diff: DiffStats | null;
  /**
   * A mergeability check forced by the test (`checking`, `unchecked`, `conflict`…); `null` lets
   * the emulator derive `detailed_merge_status` from the MR.
   */
  merge_check: DetailedMergeStatus | null;
  created_at: Date;
  updated_at: Date;
  merged_at: Date | null;
  merged_by: string | null;
  closed_at: Date | null;
  closed_by: string | null;
  prepared_at: Date | null;
  base_sha: string;
  user_notes_count: number;
}

export interface OpenMergeRequestInput {
  source_branch: string;
  /** Path of the fork the MR comes from; default: the target project itself. */
  source_project?: string | undefined;
  target_branch?: string | undefined;
  title?: string | undefined;
  description?: string | undefined;
  draft?: boolean | undefined;
  author?: string | undefined;
  additions?: number | undefined;
  deletions?: number | undefined;
  file_count?: number | undefined;
  /** Commits on the source branch the MR starts with (default 1). */
  commits?: number | undefined;
  /** false: the diff is not prepared yet (diff statistics null, status `preparing`). */
  prepared?: boolean | undefined;
}

export type MergeRequestPatch = Partial<
  Pick<
    GlMergeRequest,
    'title' | 'description' | 'draft' | 'target_branch' | 'merge_check' | 'user_notes_count'
  >
>;

/**
 * GitLab moves a deleted user's contributions to a system-wide "Ghost User" (GitLab docs, "Delete
 * users": "records are associated with a system-wide user called Ghost User"). Its REST username
 * is `ghost`.
 */
export const GHOST: GlUser = { id: 1, username: 'ghost', name: 'Ghost User', avatar_url: null, bot: false };

const sha = (seed: string) => createHash('sha1').update(seed).digest('hex');

export class GitLabModel {
  readonly users = new Map<string, GlUser>();
  readonly projects = new Map<number, GlProject>();
  readonly mergeRequests = new Map<number, GlMergeRequest[]>();
  /** Old path (lower-case) → project id, for projects moved or renamed (the API answers 301). */
  readonly redirects = new Map<string, number>();
  /** Deleted usernames (lower-case): shown as the Ghost User. */
  readonly deletedUsers = new Set<string>();
  #ids = 100;

  constructor(readonly now: () => Date = () => new Date()) {}

  #nextId(): number {
    return ++this.#ids;
  }

  // ---- users -----------------------------------------------------------------------------------

  createUser(
    username: string,
    input: {
      name?: string | undefined;
      avatar_url?: string | null | undefined;
      bot?: boolean | undefined;
    } = {},
  ): GlUser {
    const key = username.toLowerCase();
    const existing = this.users.get(key);
    if (existing) {
      if (input.name !== undefined) existing.name = input.name;
      if (input.avatar_url !== undefined) existing.avatar_url = input.avatar_url;
      if (input.bot !== undefined) existing.bot = input.bot;
      return existing;
    }
    const user: GlUser = {
      id: this.#nextId(),
      username,
      name: input.name ?? username,
      // `undefined` → the server fills in its own avatar address when rendering.
      avatar_url: input.avatar_url === undefined ? '' : input.avatar_url,
      bot: input.bot ?? false,
    };
    this.users.set(key, user);
    return user;
  }

  /** The user as GitLab shows them now: the Ghost User once deleted. */
  user(username: string): GlUser {
    if (this.deletedUsers.has(username.toLowerCase())) return GHOST;
    return this.users.get(username.toLowerCase()) ?? this.createUser(username);
  }

  deleteUser(username: string): void {
    this.deletedUsers.add(username.toLowerCase());
  }

  // ---- projects --------------------------------------------------------------------------------

  createProject(input: {
    path: string;
    visibility?: Visibility | undefined;
    merge_requests_access_level?: GlProject['merge_requests_access_level'] | undefined;
    members?: readonly string[] | undefined;
    forked_from?: string | undefined;
    default_branch?: string | undefined;
    approvals_required?: number | undefined;
    tier?: Tier | undefined;
  }): GlProject {
    const parts = input.path.split('/').filter(Boolean);
    if (parts.length < 2) throw new EmulatorError(400, 'a project path needs a namespace: group/repo');
    if (this.findProject(input.path)) throw new EmulatorError(400, `project ${input.path} exists`);
    const fork = input.forked_from ? this.project(input.forked_from) : null;
    const now = this.now();
    const defaultBranch = input.default_branch ?? 'main';
    const project: GlProject = {
      id: this.#nextId(),
      path_with_namespace: parts.join('/'),
      namespace: parts.slice(0, -1).join('/'),
      path: parts.at(-1)!,
      forked_from_id: fork?.id ?? null,
      visibility: input.visibility ?? 'private',
      merge_requests_access_level: input.merge_requests_access_level ?? 'enabled',
      default_branch: defaultBranch,
      members: new Set((input.members ?? []).map((m) => m.toLowerCase())),
      approvals_required: input.approvals_required ?? 0,
      tier: input.tier ?? 'free',
      created_at: now,
      last_activity_at: now,
      branches: new Map([[defaultBranch, sha(`${input.path}:${defaultBranch}:0`)]]),
    };
    for (const m of project.members) this.user(m);
    this.projects.set(project.id, project);
    this.mergeRequests.set(project.id, []);
    return project;
  }

  findProject(idOrPath: string | number): GlProject | undefined {
    const key = String(idOrPath);
    if (/^\d+$/.test(key)) return this.projects.get(Number(key));
    const lower = key.toLowerCase();
    for (const p of this.projects.values()) if (p.path_with_namespace.toLowerCase() === lower) return p;
    return undefined;
  }

  project(idOrPath: string | number): GlProject {
    const p = this.findProject(idOrPath);
    if (!p) throw new EmulatorError(404, '404 Project Not Found');
    return p;
  }

  /**
   * Whether a user sees a project: public ones everybody, internal ones every signed-in user,
   * private ones only members (GitLab docs, "Project and group visibility").
   */
  canSee(project: GlProject, username: string | null): boolean {
    if (project.visibility === 'public') return true;
    if (username === null) return false;
    if (project.visibility === 'internal') return true;
    return project.members.has(username.toLowerCase());
  }

  /** Moves a project to a new path; the old path answers 301 (REST docs, "Redirects"). */
  moveProject(path: string, newPath: string): GlProject {
    const project = this.project(path);
    if (this.findProject(newPath)) throw new EmulatorError(400, `project ${newPath} exists`);
    const parts = newPath.split('/').filter(Boolean);
    this.redirects.set(project.path_with_namespace.toLowerCase(), project.id);
    project.path_with_namespace = parts.join('/');
    project.namespace = parts.slice(0, -1).join('/');
    project.path = parts.at(-1)!;
    return project;
  }

  setVisibility(path: string, visibility: Visibility): GlProject {
    const project = this.project(path);
    project.visibility = visibility;
    return project;
  }

  configureProject(
    path: string,
    patch: {
      approvals_required?: number | undefined;
      tier?: Tier | undefined;
      members?: string[] | undefined;
    },
  ): GlProject {
    const project = this.project(path);
    if (patch.approvals_required !== undefined) project.approvals_required = patch.approvals_required;
    if (patch.tier !== undefined) project.tier = patch.tier;
    if (patch.members) for (const m of patch.members) project.members.add(m.toLowerCase());
    return project;
  }

  // ---- merge requests --------------------------------------------------------------------------

  #commit(project: GlProject, branch: string, author: string, n: number): GlCommit {
    const now = this.now();
    const id = sha(`${project.id}:${branch}:${now.getTime()}:${this.#nextId()}:${n}`);
    const user = this.user(author);
    return {
      id,
      title: `Change ${n} on ${branch}`,
      message: `Change ${n} on ${branch}\n`,
      author_name: user.name,
      author_email: `${user.username}@example.com`,
      created_at: now,
    };
  }

  /**
   * A push of `count` commits: moves the branch and adds the commits to every open MR whose source
   * it is. The MR's diff must be prepared again: statistics go back to `null` until `prepareDiff`.
   */
  push(
    path: string,
    branch: string,
    input: { count?: number | undefined; author?: string | undefined; keepDiff?: boolean | undefined } = {},
  ): string {
    const project = this.project(path);
    const now = this.now();
    const commits = Array.from({ length: input.count ?? 1 }, (_, i) =>
      this.#commit(project, branch, input.author ?? 'agent', i + 1),
    );
    const head = commits.at(-1)?.id ?? project.branches.get(branch) ?? sha(`${path}:${branch}`);
    project.branches.set(branch, head);
    project.last_activity_at = now;
    for (const list of this.mergeRequests.values()) {
      for (const mr of list) {
        if (mr.state !== 'opened' || mr.source_project_id !== project.id || mr.source_branch !== branch)
          continue;
        mr.commits.push(...commits);
        mr.updated_at = now;
        if (!input.keepDiff) mr.diff = null;
      }
    }
    return head;
  }

  openMergeRequest(targetPath: string, input: OpenMergeRequestInput): GlMergeRequest {
    const target = this.project(targetPath);
    const source = input.source_project ? this.project(input.source_project) : target;
    if (source.id !== target.id && source.forked_from_id !== target.id)
      throw new EmulatorError(
        400,
        `${source.path_with_namespace} is not a fork of ${target.path_with_namespace}`,
      );
    const author = input.author ?? 'agent';
    this.user(author);
    const list = this.mergeRequests.get(target.id)!;
    const now = this.now();
    const commits = Array.from({ length: input.commits ?? 1 }, (_, i) =>
      this.#commit(source, input.source_branch, author, i + 1),
    );
    if (commits.length > 0) source.branches.set(input.source_branch, commits.at(-1)!.id);
    const targetBranch = input.target_branch ?? target.default_branch;
    const prepared = input.prepared ?? true;
    const mr: GlMergeRequest = {
      id: this.#nextId(),
      iid: list.length + 1,
      project_id: target.id,
      source_project_id: source.id,
      source_branch: input.source_branch,
      target_branch: targetBranch,
      title: input.title ?? `Changes from ${input.source_branch}`,
      description: input.description ?? '',
      state: 'opened',
      draft: input.draft ?? false,
      author,
      reviewers: [],
      approvals: [],
      commits,
      diff: prepared
        ? {
            additions: input.additions ?? 0,
            deletions: input.deletions ?? 0,
            file_count: input.file_count ?? 0,
          }
        : null,
      merge_check: null,
      created_at: now,
      updated_at: now,
      merged_at: null,
      merged_by: null,
      closed_at: null,
      closed_by: null,
      prepared_at: prepared ? now : null,
      base_sha: target.branches.get(targetBranch) ?? sha(`${targetPath}:${targetBranch}`),
      user_notes_count: 0,
    };
    list.push(mr);
    return mr;
  }

  mergeRequest(path: string | number, iid: number): GlMergeRequest {
    const project = this.project(path);
    const mr = this.mergeRequests.get(project.id)?.find((m) => m.iid === iid);
    if (!mr) throw new EmulatorError(404, '404 Not found');
    return mr;
  }

  updateMergeRequest(path: string, iid: number, patch: MergeRequestPatch): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    Object.assign(mr, patch, { updated_at: this.now() });
    return mr;
  }

  /**
   * GitLab prepares an MR's diff asynchronously after creation and after each push; until then the
   * statistics are unknown. `null` puts the MR back into that state.
   */
  setDiffStats(path: string, iid: number, stats: DiffStats | null): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    mr.diff = stats ? { ...stats } : null;
    if (stats && !mr.prepared_at) mr.prepared_at = this.now();
    return mr;
  }

  requestReview(path: string, iid: number, username: string): GlReviewer {
    const mr = this.mergeRequest(path, iid);
    this.user(username);
    let reviewer = mr.reviewers.find((r) => r.username.toLowerCase() === username.toLowerCase());
    if (!reviewer) {
      reviewer = { username, state: 'unreviewed', created_at: this.now() };
      mr.reviewers.push(reviewer);
    } else reviewer.state = 'unreviewed';
    mr.updated_at = this.now();
    return reviewer;
  }

  /** A reviewer's verdict; `approved` also adds their approval, `requested_changes` removes it. */
  review(path: string, iid: number, username: string, state: ReviewState): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    const reviewer = this.requestReview(path, iid, username);
    reviewer.state = state;
    if (state === 'approved') this.approve(path, iid, username);
    if (state === 'requested_changes' || state === 'unapproved') this.#dropApproval(mr, username);
    mr.updated_at = this.now();
    return mr;
  }

  approve(path: string, iid: number, username: string): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    this.user(username);
    if (!mr.approvals.some((a) => a.username.toLowerCase() === username.toLowerCase()))
      mr.approvals.push({ username, approved_at: this.now() });
    const reviewer = mr.reviewers.find((r) => r.username.toLowerCase() === username.toLowerCase());
    if (reviewer) reviewer.state = 'approved';
    mr.updated_at = this.now();
    return mr;
  }

  unapprove(path: string, iid: number, username: string): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    this.#dropApproval(mr, username);
    const reviewer = mr.reviewers.find((r) => r.username.toLowerCase() === username.toLowerCase());
    if (reviewer) reviewer.state = 'unapproved';
    mr.updated_at = this.now();
    return mr;
  }

  #dropApproval(mr: GlMergeRequest, username: string): void {
    mr.approvals = mr.approvals.filter((a) => a.username.toLowerCase() !== username.toLowerCase());
  }

  /** A merge in progress: the MR is `locked` until `merge` completes it. */
  lock(path: string, iid: number): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    if (mr.state !== 'opened') throw new EmulatorError(405, '405 Method Not Allowed');
    mr.state = 'locked';
    mr.updated_at = this.now();
    return mr;
  }

  merge(path: string, iid: number, by?: string): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    if (mr.state !== 'opened' && mr.state !== 'locked')
      throw new EmulatorError(405, '405 Method Not Allowed');
    const now = this.now();
    Object.assign(mr, { state: 'merged', merged_at: now, merged_by: by ?? mr.author, updated_at: now });
    return mr;
  }

  close(path: string, iid: number, by?: string): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    const now = this.now();
    Object.assign(mr, { state: 'closed', closed_at: now, closed_by: by ?? mr.author, updated_at: now });
    return mr;
  }

  reopen(path: string, iid: number): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    if (mr.state === 'merged') throw new EmulatorError(405, '405 Method Not Allowed');
    Object.assign(mr, { state: 'opened', closed_at: null, closed_by: null, updated_at: this.now() });
    return mr;
  }

  // ---- what GitLab computes --------------------------------------------------------------------

  /** Approvals still missing (`approvals_left`): the project's required approvals minus those given. */
  approvalsLeft(mr: GlMergeRequest): number {
    const project = this.project(mr.project_id);
    if (project.tier === 'free') return 0;
    return Math.max(0, project.approvals_required - mr.approvals.length);
  }

  /**
   * The approvals answer's `approved`, as GitLab computes it. Premium and up: every approval rule
   * is satisfied — so an MR with no rule (0 required) is `approved: true` before anybody approves.
   * Free has no approval rules; there `approved` says whether someone has approved (merge request
   * approvals docs: "In GitLab Free, approvals are optional").
   */
  approved(mr: GlMergeRequest): boolean {
    const project = this.project(mr.project_id);
    if (project.tier === 'free') return mr.approvals.length > 0;
    return this.approvalsLeft(mr) === 0;
  }

  /**
   * `detailed_merge_status` (merge_requests.md, "Merge status"): a forced check (`checking`,
   * `unchecked`, …) wins; otherwise not open → `not_open`; a diff never prepared → `preparing`,
   * one being prepared again after a push → `checking`; then draft, requested changes, missing
   * approvals, else `mergeable`.
   */
  detailedMergeStatus(mr: GlMergeRequest): DetailedMergeStatus {
    if (mr.state !== 'opened' && mr.state !== 'locked') return 'not_open';
    if (mr.merge_check) return mr.merge_check;
    if (mr.diff === null) return mr.prepared_at === null ? 'preparing' : 'checking';
    if (mr.draft) return 'draft_status';
    if (mr.reviewers.some((r) => r.state === 'requested_changes')) return 'requested_changes';
    if (this.approvalsLeft(mr) > 0) return 'not_approved';
    return 'mergeable';
  }

  /** The deprecated `merge_status` derived from the detailed one. */
  mergeStatus(
    mr: GlMergeRequest,
  ): 'unchecked' | 'checking' | 'can_be_merged' | 'cannot_be_merged' | 'preparing' {
    const detailed = this.detailedMergeStatus(mr);
    if (detailed === 'preparing') return 'preparing';
    if (detailed === 'unchecked') return 'unchecked';
    if (detailed === 'checking') return 'checking';
    if (detailed === 'conflict' || detailed === 'need_rebase') return 'cannot_be_merged';
    return 'can_be_merged';
  }

  headSha(mr: GlMergeRequest): string {
    return mr.commits.at(-1)?.id ?? sha(`${mr.id}:empty`);
  }

  /**
   * `GET /projects/:id/merge_requests` semantics: `state` (default all), branch filters,
   * `order_by` created_at/updated_at (default created_at), `sort` asc/desc (default desc).
   */
  listMergeRequests(
    project: GlProject,
    query: {
      state: MrState | 'all';
      source_branch?: string | undefined;
      target_branch?: string | undefined;
      iids?: number[] | undefined;
      order_by: 'created_at' | 'updated_at' | 'merged_at' | 'title';
      sort: 'asc' | 'desc';
    },
  ): GlMergeRequest[] {
    let list = [...(this.mergeRequests.get(project.id) ?? [])];
    if (query.state !== 'all') list = list.filter((m) => m.state === query.state);
    if (query.source_branch !== undefined) list = list.filter((m) => m.source_branch === query.source_branch);
    if (query.target_branch !== undefined) list = list.filter((m) => m.target_branch === query.target_branch);
    if (query.iids && query.iids.length > 0) list = list.filter((m) => query.iids!.includes(m.iid));
    const key = query.order_by;
    const order = (a: GlMergeRequest, b: GlMergeRequest) =>
      key === 'title' ? a.title.localeCompare(b.title) : (a[key]?.getTime() ?? 0) - (b[key]?.getTime() ?? 0);
    list.sort((a, b) => order(a, b) || a.id - b.id);
    if (query.sort === 'desc') list.reverse();
    return list;
  }

  /**
   * The title as GitLab shows it: a draft MR's title carries the `Draft:` prefix, which is what
   * makes it a draft (GitLab docs, "Draft merge requests").
   */
  displayTitle(mr: GlMergeRequest): string {
    return mr.draft && !/^(draft:|\[draft\]|\(draft\))/i.test(mr.title) ? `Draft: ${mr.title}` : mr.title;
  }
}
