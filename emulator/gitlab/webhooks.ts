import { randomUUID } from 'node:crypto';
import type { GitLabModel, GlCommit, GlMergeRequest, GlPipeline, GlProject } from './model.ts';
import type { Renderer } from './render.ts';

/**
 * GitLab webhook deliveries, shaped as the webhook events page shows them
 * (`doc/user/project/integrations/webhook_events.md`: "Push events", "Merge request events",
 * "Comment on a merge request", "Pipeline events") and sent with the headers of `webhooks.md`
 * ("Delivery headers").
 */

/** The `X-Gitlab-Event` header of each kind. */
export const HOOK_EVENTS = {
  merge_request: 'Merge Request Hook',
  push: 'Push Hook',
  note: 'Note Hook',
  pipeline: 'Pipeline Hook',
} as const;
export type HookKind = keyof typeof HOOK_EVENTS;

/** `object_attributes.action` values of merge request events. */
export type MergeRequestAction =
  | 'open'
  | 'close'
  | 'reopen'
  | 'update'
  | 'approved'
  | 'unapproved'
  | 'approval'
  | 'unapproval'
  | 'merge';

export interface Delivery {
  status: number;
  /** `X-Gitlab-Event-UUID`: new for every delivery attempt. */
  eventUuid: string;
  /** `Idempotency-Key`: the same for every retry of one event. */
  idempotencyKey: string;
  body: string;
}

/**
 * Posts one webhook the way GitLab does: JSON body, `X-Gitlab-Event`, `X-Gitlab-Token` (the
 * secret token as configured, in clear — GitLab signs nothing), `X-Gitlab-Event-UUID`,
 * `X-Gitlab-Webhook-UUID`, `X-Gitlab-Instance` and `Idempotency-Key`. Pass the previous
 * delivery's `idempotencyKey` to send a retry of the same event.
 */
export async function deliver(
  url: string,
  kind: HookKind,
  payload: unknown,
  secret: string | null,
  options: { idempotencyKey?: string; instance?: string; webhookUuid?: string; signal?: AbortSignal } = {},
): Promise<Delivery> {
  const eventUuid = randomUUID();
  const idempotencyKey = options.idempotencyKey ?? randomUUID();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitLab/18.0.0',
    'x-gitlab-event': HOOK_EVENTS[kind],
    'x-gitlab-event-uuid': eventUuid,
    'x-gitlab-webhook-uuid': options.webhookUuid ?? '00000000-0000-4000-8000-000000000001',
    'x-gitlab-instance': options.instance ?? 'http://127.0.0.1',
    'idempotency-key': idempotencyKey,
  };
  if (secret !== null) headers['x-gitlab-token'] = secret;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify(payload),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { status: res.status, eventUuid, idempotencyKey, body: await res.text() };
}

/** Builds payloads from the emulator's model, with URLs under the emulator's web address. */
export class HookPayloads {
  constructor(readonly render: Renderer) {}

  get #model(): GitLabModel {
    return this.render.model;
  }

  #userBlock(username: string) {
    const u = this.render.user(username);
    return { id: u.id, name: u.name, username: u.username, avatar_url: u.avatar_url, email: '[REDACTED]' };
  }

  /** The `project` block (also `source` / `target` of a merge request). */
  project(p: GlProject) {
    const web = this.render.projectWebUrl(p);
    const host = new URL(this.render.webUrl).hostname;
    const ssh = `git@${host}:${p.path_with_namespace}.git`;
    return {
      id: p.id,
      name: p.path,
      description: '',
      web_url: web,
      avatar_url: null,
      git_ssh_url: ssh,
      git_http_url: `${web}.git`,
      namespace: p.namespace.split('/').at(-1),
      visibility_level: p.visibility === 'public' ? 20 : p.visibility === 'internal' ? 10 : 0,
      path_with_namespace: p.path_with_namespace,
      default_branch: p.default_branch,
      ci_config_path: '',
      homepage: web,
      url: `${web}.git`,
      ssh_url: ssh,
      http_url: `${web}.git`,
    };
  }

  #repository(p: GlProject) {
    const web = this.render.projectWebUrl(p);
    return { name: p.path, url: `${web}.git`, description: '', homepage: web };
  }

  #lastCommit(mr: GlMergeRequest, p: GlProject) {
    const c = mr.commits.at(-1);
    if (!c) return null;
    return {
      id: c.id,
      message: c.message,
      title: c.title,
      timestamp: c.created_at.toISOString(),
      url: `${this.render.projectWebUrl(p)}/-/commit/${c.id}`,
      author: { name: c.author_name, email: c.author_email },
    };
  }

  #mergeRequestAttributes(mr: GlMergeRequest) {
    const m = this.#model;
    const target = m.project(mr.project_id);
    const source = m.project(mr.source_project_id);
    return {
      id: mr.id,
      iid: mr.iid,
      target_branch: mr.target_branch,
      source_branch: mr.source_branch,
      source_project_id: mr.source_project_id,
      author_id: m.user(mr.author).id,
      assignee_ids: [],
      reviewer_ids: mr.reviewers.map((r) => m.user(r.username).id),
      title: m.displayTitle(mr),
      created_at: mr.created_at.toISOString(),
      updated_at: mr.updated_at.toISOString(),
      milestone_id: null,
      state: mr.state,
      blocking_discussions_resolved: m.unresolvedDiscussions(mr).length === 0,
      work_in_progress: mr.draft,
      draft: mr.draft,
      first_contribution: false,
      merge_status: m.mergeStatus(mr),
      detailed_merge_status: m.detailedMergeStatus(mr),
      target_project_id: mr.project_id,
      description: mr.description,
      prepared_at: mr.prepared_at?.toISOString() ?? null,
      url: this.render.mergeRequestWebUrl(mr),
      source: this.project(source),
      target: this.project(target),
      last_commit: this.#lastCommit(mr, source),
      labels: [],
    };
  }

  /** A Merge Request Hook payload (`object_kind: merge_request`). */
  mergeRequest(mr: GlMergeRequest, action: MergeRequestAction, by: string, changes: object = {}) {
    const target = this.#model.project(mr.project_id);
    return {
      object_kind: 'merge_request',
      event_type: 'merge_request',
      user: this.#userBlock(by),
      project: this.project(target),
      repository: this.#repository(target),
      object_attributes: { ...this.#mergeRequestAttributes(mr), action },
      labels: [],
      changes,
      assignees: [],
      reviewers: mr.reviewers.map((r) => {
        const u = this.render.user(r.username);
        return { id: u.id, name: u.name, username: u.username, avatar_url: u.avatar_url };
      }),
    };
  }

  /**
   * A Push Hook payload (`object_kind: push`) for a branch moved from `before` to `after`. "If you
   * push more than 20 commits at once, the `commits` attribute in the payload contains information
   * about the newest 20 commits only"; `total_commits_count` has the real number.
   */
  push(
    project: GlProject,
    branch: string,
    before: string,
    after: string,
    by: string,
    pushed: readonly GlCommit[] = [],
  ) {
    const u = this.#userBlock(by);
    const web = this.render.projectWebUrl(project);
    const commits = pushed.slice(-20).map((c) => ({
      id: c.id,
      message: c.message,
      title: c.title,
      timestamp: c.created_at.toISOString(),
      url: `${web}/-/commit/${c.id}`,
      author: { name: c.author_name, email: c.author_email },
      added: [],
      modified: [],
      removed: [],
    }));
    return {
      object_kind: 'push',
      event_name: 'push',
      before,
      after,
      ref: `refs/heads/${branch}`,
      ref_protected: branch === project.default_branch,
      checkout_sha: after,
      user_id: u.id,
      user_name: u.name,
      user_username: u.username,
      user_email: u.email,
      user_avatar: u.avatar_url,
      project_id: project.id,
      project: this.project(project),
      repository: this.#repository(project),
      commits,
      total_commits_count: pushed.length,
    };
  }

  /** A Note Hook payload for a comment on a merge request. */
  note(mr: GlMergeRequest, note: { id: number; body: string; author: string }) {
    const m = this.#model;
    const target = m.project(mr.project_id);
    const now = m.now().toISOString();
    return {
      object_kind: 'note',
      event_type: 'note',
      user: this.#userBlock(note.author),
      project_id: target.id,
      project: this.project(target),
      repository: this.#repository(target),
      object_attributes: {
        id: note.id,
        note: note.body,
        noteable_type: 'MergeRequest',
        author_id: m.user(note.author).id,
        created_at: now,
        updated_at: now,
        project_id: target.id,
        attachment: null,
        line_code: null,
        commit_id: '',
        noteable_id: mr.id,
        system: false,
        st_diff: null,
        action: 'create',
        url: `${this.render.mergeRequestWebUrl(mr)}#note_${note.id}`,
      },
      merge_request: this.#mergeRequestAttributes(mr),
    };
  }

  /**
   * A Pipeline Hook payload: sent on each status change of a pipeline. A merge request pipeline
   * carries its MR (`merge_request`, without project objects) and the ref
   * `refs/merge-requests/:iid/head`; a branch pipeline the plain branch name.
   */
  pipeline(pipeline: GlPipeline, mr: GlMergeRequest | null = null, by = 'agent') {
    const m = this.#model;
    const project = m.project(pipeline.project_id);
    return {
      object_kind: 'pipeline',
      object_attributes: {
        id: pipeline.id,
        iid: pipeline.iid,
        ref: mr ? `refs/merge-requests/${mr.iid}/head` : pipeline.ref,
        tag: false,
        sha: pipeline.sha,
        before_sha: pipeline.sha,
        source: mr ? 'merge_request_event' : pipeline.source,
        status: m.pipelineStatus(pipeline),
        stages: [...new Set(pipeline.jobs.map((j) => j.stage))],
        created_at: pipeline.created_at.toISOString(),
        finished_at: null,
        duration: null,
        variables: [],
        url: this.render.pipelineWebUrl(pipeline),
      },
      merge_request: mr
        ? {
            id: mr.id,
            iid: mr.iid,
            title: m.displayTitle(mr),
            source_branch: mr.source_branch,
            source_project_id: mr.source_project_id,
            target_branch: mr.target_branch,
            target_project_id: mr.project_id,
            state: mr.state,
            merge_status: m.mergeStatus(mr),
            detailed_merge_status: m.detailedMergeStatus(mr),
            url: this.render.mergeRequestWebUrl(mr),
          }
        : null,
      user: this.#userBlock(by),
      project: this.project(project),
      builds: pipeline.jobs
        .filter((j) => !j.retried)
        .map((j) => ({
          id: j.id,
          stage: j.stage,
          name: j.name,
          status: j.status,
          allow_failure: j.allow_failure,
          failure_reason: j.failure_reason,
        })),
    };
  }
}
