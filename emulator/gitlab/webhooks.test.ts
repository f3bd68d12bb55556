import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitLabEmulator, startGitLabEmulator } from './server.ts';
import { deliver, HookPayloads } from './webhooks.ts';

/** Webhook deliveries as GitLab sends them, received by a real HTTP server on 127.0.0.1. */
describe('GitLab webhook helper', () => {
  let gl: GitLabEmulator;
  let received: { headers: IncomingHttpHeaders; body: string }[];
  let receiver: ReturnType<typeof createServer>;
  let url: string;

  beforeEach(async () => {
    gl = await startGitLabEmulator({ relativeUrlRoot: '/gitlab' });
    gl.model.createProject({ path: 'group/sub/repo', visibility: 'internal' });
    received = [];
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => receiver.close(() => r()));
    await gl.close();
  });

  it('delivers a Merge Request Hook with the token, event UUID and idempotency key; a retry keeps the key', async () => {
    const mr = gl.model.openMergeRequest('group/sub/repo', { source_branch: 'feature', author: 'alice' });
    const payloads = new HookPayloads(gl.renderer);
    const first = await deliver(url, 'merge_request', payloads.mergeRequest(mr, 'open', 'alice'), 's3cret');
    await deliver(url, 'merge_request', payloads.mergeRequest(mr, 'open', 'alice'), 's3cret', {
      idempotencyKey: first.idempotencyKey,
    });
    expect(first.status).toBe(202);
    const [a, b] = received;
    expect(a!.headers).toMatchObject({
      'x-gitlab-event': 'Merge Request Hook',
      'x-gitlab-token': 's3cret',
      'x-gitlab-event-uuid': first.eventUuid,
      'idempotency-key': first.idempotencyKey,
      'content-type': 'application/json',
    });
    expect(b!.headers['idempotency-key']).toBe(first.idempotencyKey);
    expect(b!.headers['x-gitlab-event-uuid']).not.toBe(first.eventUuid);
    const body = JSON.parse(a!.body);
    expect(body).toMatchObject({
      object_kind: 'merge_request',
      project: { path_with_namespace: 'group/sub/repo', web_url: `${gl.webUrl}/group/sub/repo` },
      object_attributes: {
        iid: 1,
        source_branch: 'feature',
        state: 'opened',
        action: 'open',
        url: `${gl.webUrl}/group/sub/repo/-/merge_requests/1`,
      },
    });
  });

  it('builds Push Hook and Note Hook payloads, and sends no token header without a secret', async () => {
    const mr = gl.model.openMergeRequest('group/sub/repo', { source_branch: 'feature' });
    const project = gl.model.project('group/sub/repo');
    const payloads = new HookPayloads(gl.renderer);
    const commits = Array.from({ length: 25 }, (_, i) => ({
      id: `${i}`.padStart(40, '0'),
      title: `c${i}`,
      message: `c${i}\n`,
      author_name: 'A',
      author_email: 'a@example.com',
      created_at: new Date(),
    }));
    await deliver(
      url,
      'push',
      payloads.push(project, 'feature', '0'.repeat(40), commits.at(-1)!.id, 'alice', commits),
      null,
    );
    await deliver(url, 'note', payloads.note(mr, { id: 7, body: 'Looks good', author: 'bob' }), 'x');
    const [push, note] = received;
    expect(push!.headers['x-gitlab-event']).toBe('Push Hook');
    expect(push!.headers['x-gitlab-token']).toBeUndefined();
    const pushBody = JSON.parse(push!.body);
    expect(pushBody).toMatchObject({
      object_kind: 'push',
      ref: 'refs/heads/feature',
      total_commits_count: 25,
      project: { path_with_namespace: 'group/sub/repo' },
    });
    // Only the newest 20 commits travel in the payload.
    expect(pushBody.commits).toHaveLength(20);
    expect(note!.headers['x-gitlab-event']).toBe('Note Hook');
    expect(JSON.parse(note!.body)).toMatchObject({
      object_kind: 'note',
      object_attributes: { noteable_type: 'MergeRequest', note: 'Looks good' },
      merge_request: { iid: 1, source_branch: 'feature' },
    });
  });
});
