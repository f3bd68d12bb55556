import { createHmac, randomUUID } from 'node:crypto';
import type { GtPull, GtRepo } from './model.ts';
import type { GiteaEmulator } from './server.ts';

/**
 * Fine event types (`X-Gitea-Event-Type`) and the coarse name each is sent as in `X-Gitea-Event`
 * (Gitea, `HookEventType.Event()`): PR changes are `pull_request`, reviews
 * `pull_request_approved` / `pull_request_rejected` / `pull_request_comment`, PR comments
 * `issue_comment`.
 */
export const HOOK_EVENTS = {
  push: 'push',
  pull_request: 'pull_request',
  pull_request_sync: 'pull_request',
  pull_request_review_request: 'pull_request',
  pull_request_review_approved: 'pull_request_approved',
  pull_request_review_rejected: 'pull_request_rejected',
  pull_request_review_comment: 'pull_request_comment',
  pull_request_comment: 'issue_comment',
  // Gitea 1.23+ (`HookEventStatus`); `Event()` has no case for it, so `X-Gitea-Event` is empty
  // and only `X-Gitea-Event-Type` names it (modules/webhook/type.go). Forgejo has no such event.
  status: '',
  // Gitea 1.24+ and Forgejo (`HookEventWorkflowJob`); Forgejo's `Event()` names it, Gitea's not.
  workflow_job: 'workflow_job',
} as const;
export type HookEventType = keyof typeof HOOK_EVENTS;

export interface Delivery {
  status: number;
  body: string;
  delivery: string;
}

/**
 * Delivers one webhook as Gitea or Forgejo sends it (Gitea docs, "Webhooks"; Forgejo docs,
 * "Webhooks"): a POST of the JSON body with the event and delivery id under every product's
 * name, and the hex HMAC-SHA256 of the body with the secret in `X-Gitea-Signature` (Forgejo also
 * `X-Forgejo-Signature`) and `X-Hub-Signature-256: sha256=…`. `secret` null sends no signature.
 */
export async function deliver(
  url: string,
  event: HookEventType,
  payload: unknown,
  secret: string | null,
  kind: 'gitea' | 'forgejo',
  options: { delivery?: string; signWith?: string } = {},
): Promise<Delivery> {
  const body = JSON.stringify(payload);
  const delivery = options.delivery ?? randomUUID();
  const coarse = HOOK_EVENTS[event];
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Go-http-client/1.1',
    'x-github-delivery': delivery,
    'x-github-event': coarse,
    'x-github-event-type': event,
    'x-gogs-delivery': delivery,
    'x-gogs-event': coarse,
    'x-gogs-event-type': event,
    'x-gitea-delivery': delivery,
    'x-gitea-event': coarse,
    'x-gitea-event-type': event,
  };
  if (kind === 'forgejo') {
    headers['x-forgejo-delivery'] = delivery;
    headers['x-forgejo-event'] = coarse;
    headers['x-forgejo-event-type'] = event;
  }
  if (secret !== null) {
    const signature = createHmac('sha256', options.signWith ?? secret)
      .update(body)
      .digest('hex');
    headers['x-gitea-signature'] = signature;
    headers['x-gogs-signature'] = signature;
    headers['x-hub-signature-256'] = `sha256=${signature}`;
    if (kind === 'forgejo') headers['x-forgejo-signature'] = signature;
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text(), delivery };
}

/** Payloads built from the emulator's model (Gitea's `PullRequestPayload`, `PushPayload`, `IssueCommentPayload`). */
export class HookPayloads {
  constructor(readonly emulator: GiteaEmulator) {}

  #repo(repo: GtRepo) {
    return this.emulator.model.renderRepo(repo, this.emulator.render);
  }

  #sender(login: string) {
    return this.emulator.model.renderUser(login, this.emulator.render);
  }

  pullRequest(pull: GtPull, action: string, by: string) {
    return {
      action,
      number: pull.number,
      pull_request: this.emulator.model.renderPull(pull, this.emulator.render, false),
      requested_reviewer: null,
      repository: this.#repo(pull.repo),
      sender: this.#sender(by),
      commit_id: '',
    };
  }

  /** A review event (`pull_request_review_approved` …): the PR payload with the review's type and text. */
  review(pull: GtPull, type: 'pull_request_review_approved' | 'pull_request_review_rejected', by: string) {
    return {
      ...this.pullRequest(pull, 'reviewed', by),
      review: { type, content: '' },
    };
  }

  push(repo: GtRepo, branch: string, before: string, after: string, by: string) {
    const full = `${repo.owner}/${repo.name}`;
    return {
      ref: `refs/heads/${branch}`,
      before,
      after,
      compare_url: `${this.emulator.webUrl}/${full}/compare/${before}...${after}`,
      commits: [],
      total_commits: 0,
      head_commit: null,
      repository: this.#repo(repo),
      pusher: this.#sender(by),
      sender: this.#sender(by),
    };
  }

  /**
   * A commit status was posted (Gitea's `CommitStatusPayload`, modules/structs/hook.go, as
   * services/webhook/notifier.go `CreateCommitStatus` fills it): the commit by `sha`, the
   * repository the status was posted to, and no branch.
   */
  status(repo: GtRepo, commit: string, by: string) {
    const latest = this.emulator.model.latestStatuses(repo, commit)[0];
    const full = `${repo.owner}/${repo.name}`;
    return {
      commit: {
        id: commit,
        message: 'change\n',
        url: `${this.emulator.webUrl}/${full}/commit/${commit}`,
        author: { name: by, email: `${by}@noreply.localhost`, username: by },
        committer: { name: by, email: `${by}@noreply.localhost`, username: by },
        verification: null,
        timestamp: new Date(0).toISOString(),
        added: null,
        removed: null,
        modified: null,
      },
      context: latest?.context ?? '',
      created_at: (latest?.created_at ?? new Date(0)).toISOString(),
      description: latest?.description ?? '',
      id: latest?.id ?? 0,
      repository: this.#repo(repo),
      sender: this.#sender(by),
      sha: commit,
      state: latest?.state ?? 'pending',
      target_url: latest?.target_url ?? '',
      updated_at: (latest?.created_at ?? new Date(0)).toISOString(),
    };
  }

  issueComment(pull: GtPull, by: string, withPull = true) {
    return {
      action: 'created',
      issue: { id: pull.id, number: pull.number, title: pull.title, state: pull.state },
      ...(withPull
        ? { pull_request: this.emulator.model.renderPull(pull, this.emulator.render, false) }
        : {}),
      comment: { id: 1, body: 'looks good', user: this.#sender(by) },
      repository: this.#repo(pull.repo),
      sender: this.#sender(by),
      is_pull: true,
    };
  }
}
