import { createHmac, randomUUID } from 'node:crypto';
import { type BbPull, type BbRepo, EmulatorError } from './model.ts';
import type { BitbucketEmulator } from './server.ts';

/**
 * Bitbucket Cloud webhook deliveries, with the headers of "Event payloads" ("HTTP headers":
 * `X-Event-Key`, `X-Hook-UUID`, `X-Request-UUID`, `X-Attempt-Number`) and, with a secret, the
 * signature of "Manage webhooks" ("Secure webhooks": `X-Hub-Signature: sha256=<hex HMAC-SHA256 of
 * the body>`).
 */

/**
 * The event keys this helper builds payloads for ("Event payloads": Repository and Pull request
 * events; the comment events are those of the OpenAPI description's `hook_event.event` enum).
 */
export type EventKey =
  | 'repo:push'
  | 'pullrequest:created'
  | 'pullrequest:updated'
  | 'pullrequest:approved'
  | 'pullrequest:unapproved'
  | 'pullrequest:changes_request_created'
  | 'pullrequest:changes_request_removed'
  | 'pullrequest:fulfilled'
  | 'pullrequest:rejected'
  | 'pullrequest:comment_created'
  | 'pullrequest:comment_updated'
  | 'pullrequest:comment_deleted'
  | 'pullrequest:comment_resolved'
  | 'pullrequest:comment_reopened'
  | 'repo:commit_status_created'
  | 'repo:commit_status_updated';

export interface Delivery {
  status: number;
  /** `X-Request-UUID`: kept by the retries of one delivery. */
  requestUuid: string;
  attempt: number;
  body: string;
}

/**
 * Posts one delivery as Bitbucket does. Pass the previous delivery's `requestUuid` (and the next
 * `attempt`) to send a retry: "After the first request, Bitbucket tries to send the payload two
 * more times if the previous attempts fail".
 */
export async function deliver(
  url: string,
  eventKey: EventKey | string,
  payload: unknown,
  secret: string | null,
  options: { requestUuid?: string; attempt?: number; hookUuid?: string; signal?: AbortSignal } = {},
): Promise<Delivery> {
  const body = JSON.stringify(payload);
  const requestUuid = options.requestUuid ?? randomUUID();
  const attempt = options.attempt ?? 1;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'Bitbucket-Webhooks/2.0',
    'x-event-key': eventKey,
    'x-hook-uuid': options.hookUuid ?? '00000000-0000-4000-8000-00000000b0b0',
    'x-request-uuid': requestUuid,
    'x-attempt-number': String(attempt),
  };
  if (secret !== null)
    headers['x-hub-signature'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { status: res.status, requestUuid, attempt, body: await res.text() };
}

/** Payloads built from the emulator's model, with links under its web address. */
export class HookPayloads {
  constructor(readonly bb: BitbucketEmulator) {}

  #actor(nickname: string) {
    const u = this.bb.model.user(nickname);
    return {
      type: 'user',
      display_name: u.display_name,
      uuid: u.uuid,
      account_id: u.account_id,
      nickname: u.nickname,
    };
  }

  /** `pullrequest:*`: `{actor, pullrequest, repository}` (the destination repository). */
  pullRequest(pr: BbPull, actor: string) {
    return {
      actor: this.#actor(actor),
      pullrequest: this.bb.pullRequest(pr),
      repository: this.bb.repository(this.bb.model.repo(pr.repo)),
    };
  }

  /**
   * `pullrequest:comment_*` (created, updated, deleted, resolved, reopened): a pull request event
   * with the comment as "List comments on a pull request" shows it.
   */
  pullRequestComment(pr: BbPull, commentId: number, actor: string) {
    const comment = this.bb.pullRequestComment(pr, commentId);
    return { ...this.pullRequest(pr, actor), comment };
  }

  /**
   * `repo:commit_status_created` / `_updated`: `{actor, repository, commit_status}`, the status as
   * "Commit statuses" shows it (with `refname` when its build system set one).
   */
  commitStatus(repo: BbRepo, commit: string, key: string, actor: string) {
    const s = this.bb.model.statuses.get(commit)?.get(key);
    if (!s) throw new EmulatorError(404, `no status ${key} on ${commit}`);
    const name = this.bb.model.fullName(repo);
    const at = `${this.bb.apiUrl}/repositories/${name}/commit/${commit}`;
    return {
      actor: this.#actor(actor),
      repository: this.bb.repository(repo),
      commit_status: {
        type: 'build',
        key: s.key,
        state: s.state,
        name: s.name,
        url: s.url,
        description: s.description,
        ...(s.refname ? { refname: s.refname } : {}),
        created_on: s.created_on.toISOString(),
        updated_on: s.updated_on.toISOString(),
        commit: { type: 'commit', hash: commit },
        links: { commit: { href: at }, self: { href: `${at}/statuses/build/${s.key}` } },
      },
    };
  }

  /** `repo:push` of one branch moved from `oldHash` (null: created) to its tip (or deleted). */
  push(
    repo: BbRepo,
    branch: string,
    actor: string,
    options: { oldHash?: string | null; deleted?: boolean } = {},
  ) {
    const tip = repo.branches.get(branch)?.at(-1) ?? null;
    const ref = (hash: string | null) =>
      hash ? { type: 'branch', name: branch, target: { type: 'commit', hash } } : null;
    return {
      actor: this.#actor(actor),
      repository: this.bb.repository(repo),
      push: {
        changes: [
          {
            new: options.deleted ? null : ref(tip),
            old: ref(options.oldHash ?? null),
            created: !options.oldHash,
            closed: options.deleted ?? false,
            forced: false,
            truncated: false,
            commits: [],
          },
        ],
      },
    };
  }
}
