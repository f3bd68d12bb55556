import { createHash, randomUUID } from 'node:crypto';
import type { AzBuild, AzPolicy, AzPull, AzRepo } from './model.ts';
import type { AzureDevOpsEmulator } from './server.ts';

/**
 * Service hook deliveries of the Web Hooks consumer, shaped as the "Service hooks events" page
 * shows them (Build completed, Code pushed, Pull request created / updated / merge commit
 * created): an envelope
 * `{subscriptionId, notificationId, id, eventType, publisherId: "tfs", message, detailedMessage,
 * resource, resourceVersion, resourceContainers, createdDate}`.
 */

export type PullRequestEventType =
  | 'git.pullrequest.created'
  | 'git.pullrequest.updated'
  | 'git.pullrequest.merged';

export interface ServiceHookEvent {
  id: string;
  eventType: string;
  [key: string]: unknown;
}

export interface Delivery {
  status: number;
  body: string;
}

/**
 * Posts one event as the Web Hooks consumer does: JSON, and the subscription's basic
 * authentication as `Authorization: Basic base64(user:password)` — the password is the secret
 * (`null`: no credentials at all). Sending the same event object again is a redelivery.
 */
export async function deliver(
  url: string,
  payload: ServiceHookEvent,
  secret: string | null,
  options: { user?: string; signal?: AbortSignal } = {},
): Promise<Delivery> {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (secret !== null)
    headers.authorization = `Basic ${Buffer.from(`${options.user ?? 'azure-devops'}:${secret}`).toString('base64')}`;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify(payload),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { status: res.status, body: await res.text() };
}

/** Builds service hook events from the emulator's model and renderer. */
export class HookPayloads {
  constructor(readonly emulator: AzureDevOpsEmulator) {}

  #envelope(eventType: string, text: string, resource: unknown, repo: AzRepo): ServiceHookEvent {
    return {
      subscriptionId: '00000000-0000-4000-8000-000000000001',
      notificationId: 1,
      id: randomUUID(),
      eventType,
      publisherId: 'tfs',
      message: { text, html: text, markdown: text },
      detailedMessage: { text, html: text, markdown: text },
      resource,
      resourceVersion: '1.0',
      resourceContainers: {
        collection: { id: '00000000-0000-4000-8000-0000000000c0' },
        account: { id: '00000000-0000-4000-8000-0000000000a0' },
        project: { id: repo.project.id },
      },
      createdDate: new Date().toISOString(),
    };
  }

  /** A pull request event; the resource is the PR as the REST API renders it. */
  pullRequest(eventType: PullRequestEventType, pull: AzPull): ServiceHookEvent {
    return this.#envelope(
      eventType,
      `${pull.createdBy.displayName} ${eventType === 'git.pullrequest.created' ? 'created' : 'updated'} pull request ${pull.id}`,
      this.emulator.pull(pull),
      pull.repo,
    );
  }

  /**
   * `ms.vss-code.git-pullrequest-comment-event` ("Pull request commented on"): the comment, and the
   * PR under `pullRequest`, as the REST API renders it.
   */
  pullRequestComment(pull: AzPull, content: string, author = 'agent@example.com'): ServiceHookEvent {
    return this.#envelope(
      'ms.vss-code.git-pullrequest-comment-event',
      `${author} has commented on a pull request`,
      {
        comment: {
          id: 1,
          parentCommentId: 0,
          content,
          commentType: 'text',
          author: { displayName: author, uniqueName: author },
        },
        pullRequest: this.emulator.pull(pull),
      },
      pull.repo,
    );
  }

  /** A push of `branch` (its current head) to `repo`. */
  push(repo: AzRepo, branch: string, pushedBy = 'agent@example.com'): ServiceHookEvent {
    const head = repo.branches.get(branch) ?? '0'.repeat(40);
    const rendered = this.emulator.repository(repo);
    return this.#envelope(
      'git.push',
      `${pushedBy} pushed updates to branch ${branch} of repository ${repo.name}.`,
      {
        commits: [{ commitId: head, comment: 'A change' }],
        refUpdates: [{ name: `refs/heads/${branch}`, oldObjectId: '0'.repeat(40), newObjectId: head }],
        repository: {
          id: rendered.id,
          name: rendered.name,
          url: rendered.url,
          project: rendered.project,
          defaultBranch: rendered.defaultBranch,
          remoteUrl: rendered.remoteUrl,
        },
        pushedBy: { displayName: pushedBy, uniqueName: pushedBy },
        pushId: 1,
        date: new Date().toISOString(),
      },
      repo,
    );
  }

  /**
   * `build.complete` ("Build completed") of a build validation build on `pull`: the resource is the
   * build as "Builds - Get" renders it — a PR build builds `refs/pull/{id}/merge`, its
   * `sourceVersion` is the test merge of its source and target commits, and `triggerInfo` names
   * the PR and its source commit (`pr.sourceSha`); the repository is `TfsGit` with its clone
   * address as `url`.
   */
  buildCompleted(
    pull: AzPull,
    policy: AzPolicy,
    build: AzBuild,
    result: 'succeeded' | 'failed',
  ): ServiceHookEvent {
    const repo = pull.repo;
    const api = new URL(this.emulator.repository(repo).url);
    const base = `${api.origin}/${encodeURIComponent(repo.org)}/${repo.project.id}/_apis/build`;
    const definitionId = Number(policy.settings.buildDefinitionId ?? 100 + policy.id);
    const name = String(policy.settings.displayName ?? `build-${policy.id}`);
    const merge = createHash('sha1').update(`${build.sourceCommit}:${build.targetCommit}`).digest('hex');
    const number = `${build.startedDate.toISOString().slice(0, 10).replaceAll('-', '')}.${build.id}`;
    const text = `Build ${number} ${result}`;
    return this.#envelope(
      'build.complete',
      text,
      {
        id: build.id,
        buildNumber: number,
        status: 'completed',
        result,
        queueTime: build.startedDate.toISOString(),
        startTime: build.startedDate.toISOString(),
        finishTime: new Date().toISOString(),
        url: `${base}/Builds/${build.id}`,
        definition: { id: definitionId, name, url: `${base}/Definitions/${definitionId}`, type: 'build' },
        project: this.emulator.project(repo.project),
        uri: `vstfs:///Build/Build/${build.id}`,
        sourceBranch: `refs/pull/${pull.id}/merge`,
        sourceVersion: merge,
        reason: 'pullRequest',
        triggerInfo: {
          'pr.number': String(pull.id),
          'pr.sourceBranch': pull.sourceRefName,
          'pr.sourceSha': build.sourceCommit,
          'pr.isFork': String(pull.sourceRepo !== pull.repo),
        },
        repository: {
          id: repo.id,
          type: 'TfsGit',
          name: repo.name,
          url: this.emulator.repoWebUrl(repo),
          clean: null,
          checkoutSubmodules: false,
        },
      },
      repo,
    );
  }
}
