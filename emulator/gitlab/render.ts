import type {
  GitLabModel,
  GlCommit,
  GlDiscussion,
  GlJob,
  GlMergeRequest,
  GlNote,
  GlPipeline,
  GlProject,
  GlUser,
} from './model.ts';
import { GHOST } from './model.ts';

/**
 * Renders model objects as GitLab's REST API v4 does (entities as shown in `doc/api/projects.md`,
 * `doc/api/merge_requests.md`, `doc/api/merge_request_approvals.md`, `doc/api/commits.md`,
 * `doc/api/pipelines.md`, `doc/api/discussions.md`).
 */

/**
 * `changes_count` is a string, capped: "When a merge request has too many changes to display and
 * store, the value is capped at 1000 and returns the string `"1000+"`" (merge_requests.md,
 * "Single merge request response notes"). Sizes must come from the diff statistics instead.
 */
export const CHANGES_COUNT_CAP = 1000;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export class Renderer {
  constructor(
    readonly model: GitLabModel,
    /** e.g. http://127.0.0.1:PORT or http://127.0.0.1:PORT/gitlab — where web_url links point. */
    readonly webUrl: string,
  ) {}

  /** The SSH host of a clone address: an instance under a path keeps no prefix in SSH addresses. */
  get #sshHost(): string {
    return new URL(this.webUrl).hostname;
  }

  avatarUrl(user: GlUser): string | null {
    if (user.avatar_url === null) return null;
    return user.avatar_url || `${this.webUrl}/uploads/-/system/user/avatar/${user.id}/avatar.png`;
  }

  /** The basic user entity (`id, username, name, state, locked, avatar_url, web_url`). */
  user(username: string) {
    const u = this.model.user(username);
    return {
      id: u.id,
      username: u.username,
      name: u.name,
      state: 'active',
      locked: false,
      avatar_url: this.avatarUrl(u),
      web_url: `${this.webUrl}/${u.username}`,
    };
  }

  /** A member entity of `members/all`: the user and its `access_level`. */
  member(username: string, level: number) {
    return {
      ...this.user(username),
      access_level: level,
      created_at: this.model.now().toISOString(),
      expires_at: null,
      membership_state: 'active',
    };
  }

  ghost() {
    return this.user(GHOST.username);
  }

  projectWebUrl(project: GlProject): string {
    return `${this.webUrl}/${project.path_with_namespace}`;
  }

  mergeRequestWebUrl(mr: GlMergeRequest): string {
    return `${this.projectWebUrl(this.model.project(mr.project_id))}/-/merge_requests/${mr.iid}`;
  }

  pipelineWebUrl(pipeline: GlPipeline): string {
    return `${this.projectWebUrl(this.model.project(pipeline.project_id))}/-/pipelines/${pipeline.id}`;
  }

  jobWebUrl(pipeline: GlPipeline, job: GlJob): string {
    return `${this.projectWebUrl(this.model.project(pipeline.project_id))}/-/jobs/${job.id}`;
  }

  /** A path on the instance (GraphQL `webPath`, `path`): the web URL without scheme and host. */
  webPath(url: string): string {
    return new URL(url).pathname;
  }

  /** The pipeline entity (pipelines.md, "Get a single pipeline"), as an MR's `head_pipeline`. */
  pipeline(pipeline: GlPipeline): Record<string, unknown> {
    const status = this.model.pipelineStatus(pipeline);
    return {
      id: pipeline.id,
      iid: pipeline.iid,
      project_id: pipeline.project_id,
      sha: pipeline.sha,
      ref: pipeline.ref,
      status,
      source: pipeline.source,
      created_at: iso(pipeline.created_at),
      updated_at: iso(pipeline.updated_at),
      web_url: this.pipelineWebUrl(pipeline),
      before_sha: '0000000000000000000000000000000000000000',
      tag: false,
      yaml_errors: null,
      started_at: iso(pipeline.created_at),
      finished_at: null,
      committed_at: null,
      duration: null,
      queued_duration: null,
      coverage: null,
      detailed_status: {
        icon: `status_${status}`,
        text: status,
        label: status,
        group: status,
        tooltip: status,
        has_details: true,
        details_path: this.webPath(this.pipelineWebUrl(pipeline)),
        illustration: null,
        favicon: `/assets/ci_favicons/favicon_status_${status}.png`,
      },
    };
  }

  /**
   * A note (notes.md, discussions.md): `resolved`, `resolved_by` and `resolved_at` only on notes
   * that can be resolved; `position` only on diff notes.
   */
  note(mr: GlMergeRequest, note: GlNote): Record<string, unknown> {
    return {
      id: note.id,
      type: note.type,
      body: note.body,
      attachment: null,
      author: this.user(note.author),
      created_at: iso(note.created_at),
      updated_at: iso(note.created_at),
      system: note.system,
      noteable_id: mr.id,
      noteable_type: 'MergeRequest',
      project_id: mr.project_id,
      noteable_iid: mr.iid,
      commit_id: null,
      resolvable: note.resolvable,
      ...(note.resolvable
        ? {
            resolved: note.resolved,
            resolved_by: note.resolved_by === null ? null : this.user(note.resolved_by),
            resolved_at: iso(note.resolved_at),
          }
        : {}),
      ...(note.position
        ? {
            position: {
              base_sha: mr.base_sha,
              start_sha: mr.base_sha,
              head_sha: this.model.headSha(mr),
              old_path: note.position.old_path,
              new_path: note.position.new_path,
              position_type: 'text',
              old_line: note.position.old_line,
              new_line: note.position.new_line,
              line_range: null,
            },
          }
        : {}),
      confidential: false,
      internal: false,
      imported: false,
      imported_from: 'none',
    };
  }

  /** `GET …/merge_requests/:iid/discussions` (discussions.md): `{ id, individual_note, notes }`. */
  discussion(mr: GlMergeRequest, discussion: GlDiscussion): Record<string, unknown> {
    return {
      id: discussion.id,
      individual_note: discussion.individual_note,
      notes: discussion.notes.map((n) => this.note(mr, n)),
    };
  }

  project(project: GlProject, withFork = true): Record<string, unknown> {
    const web = this.projectWebUrl(project);
    const forkedFrom =
      withFork && project.forked_from_id !== null
        ? this.model.findProject(project.forked_from_id)
        : undefined;
    const namespaceName = project.namespace.split('/').at(-1)!;
    return {
      id: project.id,
      description: null,
      name: project.path,
      name_with_namespace: project.path_with_namespace.split('/').join(' / '),
      path: project.path,
      path_with_namespace: project.path_with_namespace,
      created_at: iso(project.created_at),
      default_branch: project.default_branch,
      tag_list: [],
      topics: [],
      ssh_url_to_repo: `git@${this.#sshHost}:${project.path_with_namespace}.git`,
      http_url_to_repo: `${web}.git`,
      web_url: web,
      readme_url: null,
      avatar_url: null,
      forks_count: [...this.model.projects.values()].filter((p) => p.forked_from_id === project.id).length,
      star_count: 0,
      last_activity_at: iso(project.last_activity_at),
      namespace: {
        id: project.id + 1_000_000,
        name: namespaceName,
        path: namespaceName,
        kind: 'group',
        full_path: project.namespace,
        parent_id: null,
        avatar_url: null,
        web_url: `${this.webUrl}/groups/${project.namespace}`,
      },
      visibility: project.visibility,
      merge_requests_access_level: project.merge_requests_access_level,
      archived: false,
      empty_repo: false,
      // GitLab includes `forked_from_project` only for forks.
      ...(forkedFrom ? { forked_from_project: this.project(forkedFrom, false) } : {}),
    };
  }

  /** Fields every merge request entity has, in lists and single reads. */
  mergeRequestBasic(mr: GlMergeRequest): Record<string, unknown> {
    const m = this.model;
    const project = m.project(mr.project_id);
    const userOrNull = (u: string | null) => (u === null ? null : this.user(u));
    return {
      id: mr.id,
      iid: mr.iid,
      project_id: mr.project_id,
      title: m.displayTitle(mr),
      description: mr.description,
      state: mr.state,
      created_at: iso(mr.created_at),
      updated_at: iso(mr.updated_at),
      merged_by: userOrNull(mr.merged_by),
      merge_user: userOrNull(mr.merged_by),
      merged_at: iso(mr.merged_at),
      closed_by: userOrNull(mr.closed_by),
      closed_at: iso(mr.closed_at),
      target_branch: mr.target_branch,
      source_branch: mr.source_branch,
      user_notes_count: mr.user_notes_count,
      upvotes: 0,
      downvotes: 0,
      author: this.user(mr.author),
      assignees: [],
      assignee: null,
      reviewers: mr.reviewers.map((r) => this.user(r.username)),
      source_project_id: mr.source_project_id,
      target_project_id: mr.project_id,
      labels: [],
      draft: mr.draft,
      // Deprecated alias of `draft`, still sent.
      work_in_progress: mr.draft,
      milestone: null,
      merge_when_pipeline_succeeds: false,
      merge_status: m.mergeStatus(mr),
      detailed_merge_status: m.detailedMergeStatus(mr),
      sha: m.headSha(mr),
      merge_commit_sha: null,
      squash_commit_sha: null,
      discussion_locked: null,
      should_remove_source_branch: null,
      force_remove_source_branch: false,
      prepared_at: iso(mr.prepared_at),
      reference: `!${mr.iid}`,
      references: {
        short: `!${mr.iid}`,
        relative: `!${mr.iid}`,
        full: `${project.path_with_namespace}!${mr.iid}`,
      },
      web_url: this.mergeRequestWebUrl(mr),
      time_stats: {
        time_estimate: 0,
        total_time_spent: 0,
        human_time_estimate: null,
        human_total_time_spent: null,
      },
      squash: false,
      squash_on_merge: false,
      task_completion_status: { count: 0, completed_count: 0 },
      // "false unless merge_status is cannot_be_merged" (merge_requests.md, single MR response notes).
      has_conflicts: m.mergeStatus(mr) === 'cannot_be_merged',
      blocking_discussions_resolved: m.unresolvedDiscussions(mr).length === 0,
      // Premium and up show the deprecated `approvals_before_merge` too.
      ...(project.tier === 'premium' ? { approvals_before_merge: null } : {}),
    };
  }

  /**
   * `GET /projects/:id/merge_requests/:iid`: the basic fields plus `changes_count` (a string,
   * `"1000+"` past the cap, `null` before the diff was ever prepared), `diff_refs` (`null` likewise)
   * and the rest of the single-MR entity.
   */
  mergeRequest(mr: GlMergeRequest, viewer: string | null): Record<string, unknown> {
    const project = this.model.project(mr.project_id);
    const files = mr.diff?.file_count;
    const changesCount =
      files === undefined
        ? mr.prepared_at === null
          ? null
          : '0'
        : files > CHANGES_COUNT_CAP
          ? `${CHANGES_COUNT_CAP}+`
          : String(files);
    return {
      ...this.mergeRequestBasic(mr),
      subscribed: false,
      changes_count: changesCount,
      latest_build_started_at: null,
      latest_build_finished_at: null,
      first_deployed_to_production_at: null,
      pipeline: null,
      // GitLab's `head_pipeline` as it is, even of a commit a push replaced (unlike GraphQL's
      // `headPipeline`, which is null then).
      head_pipeline:
        mr.head_pipeline_id === null ? null : this.pipeline(this.model.pipeline(mr.head_pipeline_id)),
      diff_refs:
        mr.prepared_at === null
          ? null
          : { base_sha: mr.base_sha, head_sha: this.model.headSha(mr), start_sha: mr.base_sha },
      merge_error: null,
      rebase_in_progress: false,
      first_contribution: false,
      user: { can_merge: viewer !== null && project.members.has(viewer.toLowerCase()) },
    };
  }

  /**
   * `GET …/merge_requests/:iid/approvals` (merge_request_approvals.md). Answered on every tier;
   * on Free the rule fields are empty and `approvals_required` is 0.
   */
  approvals(mr: GlMergeRequest, viewer: string | null): Record<string, unknown> {
    const m = this.model;
    const project = m.project(mr.project_id);
    const premium = project.tier === 'premium';
    return {
      id: mr.id,
      iid: mr.iid,
      project_id: mr.project_id,
      title: m.displayTitle(mr),
      description: mr.description,
      state: mr.state,
      created_at: iso(mr.created_at),
      updated_at: iso(mr.updated_at),
      merge_status: m.mergeStatus(mr),
      approved: m.approved(mr),
      approvals_required: premium ? project.approvals_required : 0,
      approvals_left: m.approvalsLeft(mr),
      require_password_to_approve: false,
      approved_by: mr.approvals.map((a) => ({
        user: this.user(a.username),
        approved_at: iso(a.approved_at),
      })),
      suggested_approvers: [],
      approvers: [],
      approver_groups: [],
      user_has_approved:
        viewer !== null && mr.approvals.some((a) => a.username.toLowerCase() === viewer.toLowerCase()),
      user_can_approve: viewer !== null && viewer.toLowerCase() !== mr.author.toLowerCase(),
      approval_rules_left: [],
      has_approval_rules: premium && project.approvals_required > 0,
      merge_request_approvers_available: premium,
      multiple_approval_rules_available: premium,
      invalid_approvers_rules: [],
    };
  }

  /** `GET …/merge_requests/:iid/reviewers`: `[{ user, state, created_at }]`. */
  reviewers(mr: GlMergeRequest) {
    return mr.reviewers.map((r) => ({
      user: this.user(r.username),
      state: r.state,
      created_at: iso(r.created_at),
    }));
  }

  commit(project: GlProject, c: GlCommit, parent: string | null) {
    return {
      id: c.id,
      short_id: c.id.slice(0, 8),
      created_at: iso(c.created_at),
      parent_ids: parent ? [parent] : [],
      title: c.title,
      message: c.message,
      author_name: c.author_name,
      author_email: c.author_email,
      authored_date: iso(c.created_at),
      committer_name: c.author_name,
      committer_email: c.author_email,
      committed_date: iso(c.created_at),
      trailers: {},
      extended_trailers: {},
      web_url: `${this.projectWebUrl(project)}/-/commit/${c.id}`,
    };
  }
}
