import { createHash } from 'node:crypto';
import { EmulatorError } from '../http.ts';

export { EmulatorError };

/**
 * The state the GitLab emulator serves: users, projects (nested groups, forks, visibility), merge
 * requests with reviewers, approvals, commits, lazily prepared diff statistics, lazily computed
 * mergeability, discussions (threads a reviewer resolves), and CI pipelines with their jobs per
 * commit.
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
 * `detailed_merge_status` values (merge_requests.md, "Merge status", which lists more with each
 * release: `commits_status`, `merge_time`, `locked_paths`… and, on older servers, `blocked_status`,
 * `external_status_checks`); GraphQL's `DetailedMergeStatus` enum has the same names upper-cased but
 * for five it renames (`graphqlDetailedMergeStatus` in `graphql.ts`).
 * The emulator derives the first ten from the MR (`detailedMergeStatus`); tests force the others.
 */
export const DETAILED_MERGE_STATUSES = [
  'unchecked',
  'checking',
  'preparing',
  'not_open',
  'draft_status',
  'conflict',
  'need_rebase',
  'discussions_not_resolved',
  'requested_changes',
  'not_approved',
  'ci_must_pass',
  'ci_still_running',
  'mergeable',
  'approvals_syncing',
  'blocked_status',
  'merge_request_blocked',
  'commits_status',
  'external_status_checks',
  'status_checks_must_pass',
  'jira_association_missing',
  'security_policy_violations',
  'merge_time',
  'locked_paths',
  'locked_lfs_files',
  'title_regex',
] as const;
export type DetailedMergeStatus = (typeof DETAILED_MERGE_STATUSES)[number];

/**
 * Pipeline and job statuses, the same words for both (REST `status` in "Pipelines API" and "Jobs
 * API"; GraphQL enums `PipelineStatusEnum` and `CiJobStatus`, upper-cased).
 */
export const CI_STATUSES = [
  'created',
  'waiting_for_resource',
  'preparing',
  'waiting_for_callback',
  'pending',
  'running',
  'success',
  'failed',
  'canceling',
  'canceled',
  'skipped',
  'manual',
  'scheduled',
] as const;
export type CiStatus = (typeof CI_STATUSES)[number];

/**
 * Why a job failed (REST `failure_reason`), with the message GitLab shows for it (GraphQL
 * `CiJob.failureMessage`; the job page's callout).
 */
export const FAILURE_MESSAGES = {
  unknown_failure: 'There is an unknown failure, please try again',
  script_failure: 'There has been a script failure. Check the job log for more information',
  api_failure: 'There has been an API failure, please try again',
  stuck_or_timeout_failure:
    'There has been a timeout failure or the job got stuck. Check your timeout limits or try again',
  runner_system_failure: 'There has been a runner system failure, please try again',
  job_execution_timeout: 'The script exceeded the maximum execution time set for the job',
} as const;
export type FailureReason = keyof typeof FAILURE_MESSAGES;

/**
 * How a project merges (project setting `merge_method`): with `rebase_merge` (semi-linear) and
 * `ff` (fast-forward) a source branch behind its target must be rebased first (`need_rebase`).
 */
export type MergeMethod = 'merge' | 'rebase_merge' | 'ff';

/**
 * GitLab's `merge_status` state machine (`app/models/merge_request.rb`, `state_machine
 * :merge_status`): a push marks an MR `unchecked` (`mark_as_unchecked`) — but one that could not be
 * merged (`cannot_be_merged`, or `cannot_be_merged_rechecking`) moves to `cannot_be_merged_recheck`
 * instead, and keeps answering `detailedMergeStatus: CONFLICT` (the conflict check,
 * `app/services/merge_requests/mergeability/check_conflict_status_service.rb`, asks
 * `can_be_merged?`, false in that state) until a recheck runs. GitLab computes it only when asked
 * (a single-MR REST read, or a list with `with_merge_status_recheck` by a token that may update the
 * project's MRs — `recheck_mergeability_of` in `lib/api/merge_requests.rb`), in a background job:
 * `checking` / `cannot_be_merged_rechecking` until that job ran, a moment later. Reading
 * `detailedMergeStatus` through GraphQL does not ask.
 */
export type Mergeability =
  | 'unchecked'
  | 'checking'
  | 'cannot_be_merged_recheck'
  | 'cannot_be_merged_rechecking'
  | 'checked';

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
  /**
   * Members (lower-case) with the Reporter role only: they read the project's MRs but may not
   * update them (`update_merge_request` needs Developer), so GitLab ignores their recheck requests.
   */
  reporters: Set<string>;
  /**
   * Access levels set one by one (lower-case username → `Gitlab::Access` level: 10 Guest, 15
   * Planner, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner); see `accessLevel`.
   */
  access_levels: Map<string, number>;
  /** Approvals every MR needs (a project approval rule; Premium and up). */
  approvals_required: number;
  tier: Tier;
  merge_method: MergeMethod;
  /** "Pipelines must succeed" (project setting `only_allow_merge_if_pipeline_succeeds`). */
  only_allow_merge_if_pipeline_succeeds: boolean;
  /** "All threads must be resolved" (`only_allow_merge_if_all_discussions_are_resolved`). */
  only_allow_merge_if_all_discussions_are_resolved: boolean;
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

/** One job of a pipeline; a retried job stays, marked `retried`, beside its new attempt. */
export interface GlJob {
  id: number;
  name: string;
  stage: string;
  status: CiStatus;
  allow_failure: boolean;
  failure_reason: FailureReason | null;
  retried: boolean;
  created_at: Date;
}

/** A pipeline of one commit (`sha`) of a project's branch (`ref`). */
export interface GlPipeline {
  id: number;
  iid: number;
  project_id: number;
  sha: string;
  ref: string;
  source: string;
  /** A status forced by the test (a pipeline without jobs: a YAML error); null: derived from the jobs. */
  forced_status: CiStatus | null;
  jobs: GlJob[];
  created_at: Date;
  updated_at: Date;
}

/** A diff note's place (REST `position`; text notes only). */
export interface NotePosition {
  new_path: string;
  old_path: string;
  new_line: number | null;
  old_line: number | null;
}

export interface GlNote {
  id: number;
  /** `DiffNote` (on a line), `DiscussionNote` (a thread), null (a plain comment or a system note). */
  type: 'DiffNote' | 'DiscussionNote' | null;
  body: string;
  author: string;
  system: boolean;
  resolvable: boolean;
  resolved: boolean;
  resolved_by: string | null;
  resolved_at: Date | null;
  position: NotePosition | null;
  created_at: Date;
}

/** A discussion: a thread of notes, or a single comment (`individual_note`). */
export interface GlDiscussion {
  id: string;
  individual_note: boolean;
  notes: GlNote[];
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
  mergeability: Mergeability;
  /** The source branch conflicts with the target (found when mergeability is computed). */
  conflicts: boolean;
  /** The target branch moved since the source branched off (matters for `rebase_merge` and `ff`). */
  behind: boolean;
  /** The pipeline GitLab last made the MR's head pipeline (it may be of a commit since replaced). */
  head_pipeline_id: number | null;
  discussions: GlDiscussion[];
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

/** A job as a test declares it. */
export interface JobInput {
  name: string;
  stage?: string | undefined;
  status?: CiStatus | undefined;
  allow_failure?: boolean | undefined;
  failure_reason?: FailureReason | undefined;
}

/**
 * GitLab moves a deleted user's contributions to a system-wide "Ghost User" (GitLab docs, "Delete
 * users": "records are associated with a system-wide user called Ghost User"). Its REST username
 * is `ghost`.
 */
export const GHOST: GlUser = { id: 1, username: 'ghost', name: 'Ghost User', avatar_url: null, bot: false };

const sha = (seed: string) => createHash('sha1').update(seed).digest('hex');

/** Statuses of a pipeline still on its way (`ci_still_running` while the head pipeline is in one). */
const ACTIVE_STATUSES: ReadonlySet<CiStatus> = new Set([
  'created',
  'waiting_for_resource',
  'preparing',
  'waiting_for_callback',
  'pending',
  'running',
  'canceling',
  'scheduled',
]);

export class GitLabModel {
  readonly users = new Map<string, GlUser>();
  readonly projects = new Map<number, GlProject>();
  readonly mergeRequests = new Map<number, GlMergeRequest[]>();
  /** Old path (lower-case) → project id, for projects moved or renamed (the API answers 301). */
  readonly redirects = new Map<string, number>();
  readonly pipelines = new Map<number, GlPipeline>();
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
    reporters?: readonly string[] | undefined;
    forked_from?: string | undefined;
    default_branch?: string | undefined;
    approvals_required?: number | undefined;
    tier?: Tier | undefined;
    merge_method?: MergeMethod | undefined;
    only_allow_merge_if_pipeline_succeeds?: boolean | undefined;
    only_allow_merge_if_all_discussions_are_resolved?: boolean | undefined;
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
      members: new Set([...(input.members ?? []), ...(input.reporters ?? [])].map((m) => m.toLowerCase())),
      reporters: new Set((input.reporters ?? []).map((m) => m.toLowerCase())),
      access_levels: new Map(),
      approvals_required: input.approvals_required ?? 0,
      tier: input.tier ?? 'free',
      merge_method: input.merge_method ?? 'merge',
      only_allow_merge_if_pipeline_succeeds: input.only_allow_merge_if_pipeline_succeeds ?? false,
      only_allow_merge_if_all_discussions_are_resolved:
        input.only_allow_merge_if_all_discussions_are_resolved ?? false,
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

  /**
   * Whether a user may update the project's merge requests (`update_merge_request`: Developer and
   * up; a Reporter, or a fork's owner who is no member here, may not).
   */
  canUpdateMergeRequests(project: GlProject, username: string | null): boolean {
    if (username === null) return false;
    const u = username.toLowerCase();
    return project.members.has(u) && !project.reporters.has(u);
  }

  /**
   * A user's access level in a project as `GET /projects/:id/members/all` shows it: a level set
   * with `setAccessLevel`, else 20 (Reporter) for a reporter, 30 (Developer) for another member;
   * null for someone who is no member (members/all does not list them).
   */
  accessLevel(project: GlProject, username: string): number | null {
    const u = username.toLowerCase();
    const set = project.access_levels.get(u);
    if (set !== undefined) return set;
    if (project.reporters.has(u)) return 20;
    return project.members.has(u) ? 30 : null;
  }

  /**
   * Makes a user a member at a level (null: no member any more). Below Developer (30) they may not
   * update merge requests, like a reporter.
   */
  setAccessLevel(path: string, username: string, level: number | null): void {
    const project = this.project(path);
    const u = username.toLowerCase();
    this.user(username);
    project.access_levels.delete(u);
    project.members.delete(u);
    project.reporters.delete(u);
    if (level === null) return;
    project.access_levels.set(u, level);
    project.members.add(u);
    if (level < 30) project.reporters.add(u);
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
      reporters?: string[] | undefined;
      merge_method?: MergeMethod | undefined;
      only_allow_merge_if_pipeline_succeeds?: boolean | undefined;
      only_allow_merge_if_all_discussions_are_resolved?: boolean | undefined;
    },
  ): GlProject {
    const project = this.project(path);
    if (patch.approvals_required !== undefined) project.approvals_required = patch.approvals_required;
    if (patch.tier !== undefined) project.tier = patch.tier;
    if (patch.merge_method !== undefined) project.merge_method = patch.merge_method;
    if (patch.only_allow_merge_if_pipeline_succeeds !== undefined)
      project.only_allow_merge_if_pipeline_succeeds = patch.only_allow_merge_if_pipeline_succeeds;
    if (patch.only_allow_merge_if_all_discussions_are_resolved !== undefined)
      project.only_allow_merge_if_all_discussions_are_resolved =
        patch.only_allow_merge_if_all_discussions_are_resolved;
    if (patch.members) for (const m of patch.members) project.members.add(m.toLowerCase());
    for (const m of patch.reporters ?? []) {
      project.members.add(m.toLowerCase());
      project.reporters.add(m.toLowerCase());
    }
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
   * GitLab marks the mergeability of those MRs, and of open MRs targeting the branch (now behind
   * it), `unchecked` (merge_requests.md, "Single merge request response notes").
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
        this.#markUnchecked(mr);
        if (!input.keepDiff) mr.diff = null;
      }
    }
    for (const mr of this.mergeRequests.get(project.id) ?? []) {
      if (mr.state !== 'opened' || mr.target_branch !== branch) continue;
      mr.behind = true;
      this.#markUnchecked(mr);
    }
    return head;
  }

  /**
   * A branch deleted (a push removing it, or "delete source branch" after a merge). The MRs keep
   * their `source_branch`, a column of their own; open MRs from it are closed, as GitLab's
   * `MergeRequests::RefreshService#close_upon_missing_source_branch_ref`
   * (app/services/merge_requests/refresh_service.rb) does. A merged MR stays as it was.
   */
  deleteBranch(path: string, branch: string): void {
    const project = this.project(path);
    if (!project.branches.delete(branch)) throw new EmulatorError(404, '404 Branch Not Found');
    for (const list of this.mergeRequests.values())
      for (const mr of list)
        if (mr.state === 'opened' && mr.source_project_id === project.id && mr.source_branch === branch)
          this.close(this.project(mr.project_id).path, mr.iid);
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
      mergeability: 'checked',
      conflicts: false,
      behind: false,
      head_pipeline_id: null,
      discussions: [],
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
   * `detailed_merge_status` (merge_requests.md, "Merge status"): not open → `not_open`; a forced
   * check (`merge_request_blocked`, `checking`, …) wins; a diff never prepared → `preparing`;
   * mergeability not computed since the last push → `unchecked` (or `checking` once asked); then
   * the first check that fails, in the order GitLab runs them: draft, conflicts, rebase needed,
   * open threads, requested changes, missing approvals, and the pipeline where it must succeed
   * (`ci_still_running` while it runs, `ci_must_pass` otherwise); else `mergeable`.
   */
  detailedMergeStatus(mr: GlMergeRequest): DetailedMergeStatus {
    if (mr.state !== 'opened' && mr.state !== 'locked') return 'not_open';
    if (mr.merge_check) return mr.merge_check;
    if (mr.prepared_at === null) return 'preparing';
    // `DetailedMergeStatusService#execute`: checking (`checking`, `cannot_be_merged_rechecking`),
    // then unchecked; `cannot_be_merged_recheck` is neither, so the checks run on the stale answer.
    if (mr.mergeability === 'checking' || mr.mergeability === 'cannot_be_merged_rechecking')
      return 'checking';
    if (mr.mergeability === 'unchecked') return 'unchecked';
    const project = this.project(mr.project_id);
    if (mr.draft) return 'draft_status';
    if (mr.conflicts || mr.mergeability === 'cannot_be_merged_recheck') return 'conflict';
    if (mr.behind && project.merge_method !== 'merge') return 'need_rebase';
    if (project.only_allow_merge_if_all_discussions_are_resolved && this.unresolvedDiscussions(mr).length > 0)
      return 'discussions_not_resolved';
    if (mr.reviewers.some((r) => r.state === 'requested_changes')) return 'requested_changes';
    if (this.approvalsLeft(mr) > 0) return 'not_approved';
    if (project.only_allow_merge_if_pipeline_succeeds) {
      const pipeline = this.diffHeadPipeline(mr);
      const status = pipeline ? this.pipelineStatus(pipeline) : null;
      if (status !== 'success')
        return status !== null && ACTIVE_STATUSES.has(status) ? 'ci_still_running' : 'ci_must_pass';
    }
    return 'mergeable';
  }

  /**
   * Asks GitLab to compute an MR's mergeability (a single-MR read does; so does a list read with
   * `with_merge_status_recheck`): an `unchecked` MR turns `checking` until the background job ran.
   */
  requestMergeCheck(mr: GlMergeRequest): void {
    if (mr.state !== 'opened' && mr.state !== 'locked') return;
    // `mark_as_checking`: unchecked → checking, cannot_be_merged_recheck → cannot_be_merged_rechecking.
    if (mr.mergeability === 'unchecked') mr.mergeability = 'checking';
    else if (mr.mergeability === 'cannot_be_merged_recheck') mr.mergeability = 'cannot_be_merged_rechecking';
  }

  /** The background checks asked for have run (the server calls this before each request). */
  settleMergeChecks(): void {
    for (const list of this.mergeRequests.values())
      for (const mr of list)
        if (mr.mergeability === 'checking' || mr.mergeability === 'cannot_be_merged_rechecking')
          mr.mergeability = 'checked';
  }

  /**
   * `mark_as_unchecked` (`app/models/merge_request.rb`): an MR that could be merged (or was being
   * checked) becomes `unchecked`; one that could not (`cannot_be_merged`, or
   * `cannot_be_merged_rechecking`) becomes `cannot_be_merged_recheck`.
   */
  #markUnchecked(mr: GlMergeRequest): void {
    const couldNotMerge =
      (mr.mergeability === 'checked' && mr.conflicts) ||
      mr.mergeability === 'cannot_be_merged_recheck' ||
      mr.mergeability === 'cannot_be_merged_rechecking';
    mr.mergeability = couldNotMerge ? 'cannot_be_merged_recheck' : 'unchecked';
  }

  /**
   * What a push to the branches would leave: the source conflicting with the target, or behind it.
   * Mergeability is computed again (`unchecked` until asked).
   */
  setGitState(
    path: string,
    iid: number,
    state: { conflicts?: boolean | undefined; behind?: boolean | undefined },
  ): GlMergeRequest {
    const mr = this.mergeRequest(path, iid);
    // Computed again from what it was: one that could not be merged waits in `cannot_be_merged_recheck`.
    this.#markUnchecked(mr);
    if (state.conflicts !== undefined) mr.conflicts = state.conflicts;
    if (state.behind !== undefined) mr.behind = state.behind;
    mr.updated_at = this.now();
    return mr;
  }

  /**
   * The deprecated `merge_status` derived from the detailed one: it only ever said whether Git can
   * merge the branches, so conflicts are `cannot_be_merged` and everything else that blocks (a
   * rebase needed, approvals, CI) is `can_be_merged` (merge_requests.md, "Merge status").
   */
  mergeStatus(
    mr: GlMergeRequest,
  ): 'unchecked' | 'checking' | 'can_be_merged' | 'cannot_be_merged' | 'cannot_be_merged_recheck' {
    const detailed = this.detailedMergeStatus(mr);
    // `public_merge_status` (`app/models/merge_request.rb`): `preparing` and
    // `cannot_be_merged_rechecking` are shown as `checking`.
    if (detailed === 'preparing') return 'checking';
    if (mr.mergeability === 'cannot_be_merged_recheck' && mr.state !== 'merged' && mr.state !== 'closed')
      return 'cannot_be_merged_recheck';
    if (detailed === 'unchecked') return 'unchecked';
    if (detailed === 'checking') return 'checking';
    if (detailed === 'conflict' || (mr.conflicts && detailed !== 'not_open')) return 'cannot_be_merged';
    return 'can_be_merged';
  }

  headSha(mr: GlMergeRequest): string {
    return mr.commits.at(-1)?.id ?? sha(`${mr.id}:empty`);
  }

  // ---- pipelines -------------------------------------------------------------------------------

  /**
   * A pipeline for a commit of `ref` (default: the branch's head). GitLab makes it the head
   * pipeline of each open MR whose source is that branch and whose head is that commit
   * (`UpdateHeadPipelineForMergeRequestWorker`); an MR whose head moved on keeps its old one.
   */
  createPipeline(
    path: string,
    input: {
      ref: string;
      sha?: string | undefined;
      status?: CiStatus | undefined;
      source?: string | undefined;
      jobs?: readonly JobInput[] | undefined;
    },
  ): GlPipeline {
    const project = this.project(path);
    const commit = input.sha ?? project.branches.get(input.ref);
    if (!commit) throw new EmulatorError(400, `no branch ${input.ref}`);
    const now = this.now();
    const pipeline: GlPipeline = {
      id: this.#nextId(),
      iid: [...this.pipelines.values()].filter((p) => p.project_id === project.id).length + 1,
      project_id: project.id,
      sha: commit,
      ref: input.ref,
      source: input.source ?? 'push',
      forced_status: input.status ?? null,
      jobs: [],
      created_at: now,
      updated_at: now,
    };
    for (const job of input.jobs ?? []) this.#addJob(pipeline, job);
    this.pipelines.set(pipeline.id, pipeline);
    for (const list of this.mergeRequests.values())
      for (const mr of list)
        if (
          mr.state === 'opened' &&
          mr.source_project_id === project.id &&
          mr.source_branch === input.ref &&
          this.headSha(mr) === commit
        )
          mr.head_pipeline_id = pipeline.id;
    return pipeline;
  }

  #addJob(pipeline: GlPipeline, input: JobInput): GlJob {
    const job: GlJob = {
      id: this.#nextId(),
      name: input.name,
      stage: input.stage ?? 'test',
      status: input.status ?? 'pending',
      allow_failure: input.allow_failure ?? false,
      failure_reason: input.failure_reason ?? (input.status === 'failed' ? 'script_failure' : null),
      retried: false,
      created_at: this.now(),
    };
    pipeline.jobs.push(job);
    return job;
  }

  pipeline(id: number): GlPipeline {
    const p = this.pipelines.get(id);
    if (!p) throw new EmulatorError(404, '404 Not found');
    return p;
  }

  /** The latest attempt of a job by name (a runner moving it: running, success, failed…). */
  updateJob(
    pipelineId: number,
    name: string,
    patch: { status: CiStatus; failure_reason?: FailureReason | undefined },
  ): GlJob {
    const pipeline = this.pipeline(pipelineId);
    const job = pipeline.jobs.find((j) => j.name === name && !j.retried);
    if (!job) throw new EmulatorError(404, '404 Not found');
    job.status = patch.status;
    job.failure_reason = patch.status === 'failed' ? (patch.failure_reason ?? 'script_failure') : null;
    pipeline.forced_status = null;
    pipeline.updated_at = this.now();
    return job;
  }

  /** A retry: the old attempt stays, marked retried; a new one is pending ("Retry a job", jobs.md). */
  retryJob(pipelineId: number, name: string): GlJob {
    const pipeline = this.pipeline(pipelineId);
    const old = pipeline.jobs.find((j) => j.name === name && !j.retried);
    if (!old) throw new EmulatorError(404, '404 Not found');
    old.retried = true;
    pipeline.forced_status = null;
    pipeline.updated_at = this.now();
    return this.#addJob(pipeline, { name, stage: old.stage, allow_failure: old.allow_failure });
  }

  /**
   * A pipeline's status from its latest jobs, after GitLab's composite status: a job allowed to
   * fail that failed counts as a success (the pipeline "passed with warnings"), so does a manual
   * job allowed to fail (optional); running beats everything, then a blocking manual job, then
   * failures. A pipeline without jobs keeps what it was created with.
   */
  pipelineStatus(pipeline: GlPipeline): CiStatus {
    if (pipeline.forced_status) return pipeline.forced_status;
    const statuses = pipeline.jobs
      .filter((j) => !j.retried)
      .map((j) =>
        j.allow_failure && (j.status === 'failed' || j.status === 'canceled' || j.status === 'manual')
          ? 'success'
          : j.status,
      );
    if (statuses.length === 0) return 'created';
    const only = (...allowed: CiStatus[]) => statuses.every((s) => allowed.includes(s));
    const any = (...wanted: CiStatus[]) => statuses.some((s) => wanted.includes(s));
    if (only('skipped')) return 'skipped';
    if (only('success', 'skipped')) return 'success';
    if (only('created')) return 'created';
    if (only('canceled', 'success', 'skipped')) return 'canceled';
    if (only('pending', 'created', 'skipped')) return 'pending';
    if (any('running', 'pending', 'preparing', 'waiting_for_resource', 'waiting_for_callback', 'canceling'))
      return 'running';
    if (any('manual')) return 'manual';
    if (any('scheduled')) return 'scheduled';
    if (any('created')) return 'running';
    return 'failed';
  }

  /**
   * The head pipeline only while it is of the MR's current head (GitLab's `diff_head_pipeline`,
   * what GraphQL's `MergeRequest.headPipeline` answers); null after a push until a pipeline of the
   * new head exists.
   */
  diffHeadPipeline(mr: GlMergeRequest): GlPipeline | null {
    const pipeline = mr.head_pipeline_id === null ? undefined : this.pipelines.get(mr.head_pipeline_id);
    return pipeline && pipeline.sha === this.headSha(mr) ? pipeline : null;
  }

  // ---- discussions -----------------------------------------------------------------------------

  #note(
    author: string,
    body: string,
    kind: { type: GlNote['type']; resolvable: boolean; system?: boolean; position?: NotePosition | null },
  ): GlNote {
    this.user(author);
    return {
      id: this.#nextId(),
      type: kind.type,
      body,
      author,
      system: kind.system ?? false,
      resolvable: kind.resolvable,
      resolved: false,
      resolved_by: null,
      resolved_at: null,
      position: kind.position ?? null,
      created_at: this.now(),
    };
  }

  #discussion(mr: GlMergeRequest, individual: boolean, note: GlNote): GlDiscussion {
    const discussion: GlDiscussion = {
      id: sha(`discussion:${mr.id}:${note.id}`),
      individual_note: individual,
      notes: [note],
    };
    mr.discussions.push(discussion);
    if (!note.system) mr.user_notes_count++;
    mr.updated_at = this.now();
    return discussion;
  }

  /** A plain comment: its own discussion, not resolvable (`individual_note: true`). */
  comment(path: string, iid: number, input: { author: string; body: string }): GlDiscussion {
    const mr = this.mergeRequest(path, iid);
    return this.#discussion(
      mr,
      true,
      this.#note(input.author, input.body, { type: null, resolvable: false }),
    );
  }

  /** A note GitLab writes itself ("added 1 commit"): not a user note, not resolvable. */
  systemNote(path: string, iid: number, body: string): GlDiscussion {
    const mr = this.mergeRequest(path, iid);
    return this.#discussion(
      mr,
      true,
      this.#note(mr.author, body, { type: null, resolvable: false, system: true }),
    );
  }

  /** A thread a reviewer opens, on a line of the diff (`DiffNote`) or on the MR (`DiscussionNote`). */
  startThread(
    path: string,
    iid: number,
    input: { author: string; body: string; file?: string | undefined; line?: number | undefined },
  ): GlDiscussion {
    const mr = this.mergeRequest(path, iid);
    const position: NotePosition | null = input.file
      ? { new_path: input.file, old_path: input.file, new_line: input.line ?? null, old_line: null }
      : null;
    const note = this.#note(input.author, input.body, {
      type: position ? 'DiffNote' : 'DiscussionNote',
      resolvable: true,
      position,
    });
    return this.#discussion(mr, false, note);
  }

  reply(path: string, iid: number, discussionId: string, input: { author: string; body: string }): GlNote {
    const mr = this.mergeRequest(path, iid);
    const discussion = this.#findDiscussion(mr, discussionId);
    const first = discussion.notes[0]!;
    const note = this.#note(input.author, input.body, {
      type: first.type ?? 'DiscussionNote',
      resolvable: first.resolvable,
      position: first.position,
    });
    note.resolved = first.resolved;
    discussion.notes.push(note);
    discussion.individual_note = false;
    mr.user_notes_count++;
    mr.updated_at = this.now();
    return note;
  }

  /** Resolving a thread resolves every resolvable note of it ("Resolve a merge request thread"). */
  resolveThread(
    path: string,
    iid: number,
    discussionId: string,
    resolved: boolean,
    by = 'agent',
  ): GlDiscussion {
    const mr = this.mergeRequest(path, iid);
    const discussion = this.#findDiscussion(mr, discussionId);
    const now = this.now();
    for (const note of discussion.notes) {
      if (!note.resolvable) continue;
      note.resolved = resolved;
      note.resolved_by = resolved ? by : null;
      note.resolved_at = resolved ? now : null;
    }
    mr.updated_at = now;
    return discussion;
  }

  #findDiscussion(mr: GlMergeRequest, id: string): GlDiscussion {
    const discussion = mr.discussions.find((d) => d.id === id);
    if (!discussion) throw new EmulatorError(404, '404 Not found');
    return discussion;
  }

  /** Threads with a resolvable note, and those of them resolved (GraphQL's discussion counts). */
  resolvableDiscussions(mr: GlMergeRequest): GlDiscussion[] {
    return mr.discussions.filter((d) => d.notes.some((n) => n.resolvable));
  }

  unresolvedDiscussions(mr: GlMergeRequest): GlDiscussion[] {
    return this.resolvableDiscussions(mr).filter((d) => d.notes.some((n) => n.resolvable && !n.resolved));
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
