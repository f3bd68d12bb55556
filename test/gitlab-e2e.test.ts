import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitLabEmulator, startGitLabEmulator } from '../emulator/gitlab/server.ts';
import { deliver, HookPayloads } from '../emulator/gitlab/webhooks.ts';
import { FakeClock } from '../src/core/clock.ts';
import { RateLimitedError } from '../src/core/errors.ts';
import { GitLabProvider } from '../src/providers/gitlab/gitlab-provider.ts';
import type { Runtime } from '../src/runtime.ts';
import { type HostService, startHostService } from './helpers/host-service.ts';
import { SseClient } from './helpers/sse.ts';

const ADMIN = 'gitlab-e2e-admin-key-0123';
const TOKEN = 'glpat-e2e-owner-token';
const SECRET = 'gitlab e2e webhook token';

/**
 * GitLab through the whole service: a self-managed instance under `/gitlab` with nested groups,
 * the real provider, the service wired as `gitsync serve` wires it, over real HTTP.
 */
describe('GitLab end to end', () => {
  let gl: GitLabEmulator;
  let svc: HostService;
  let runtime: Runtime;
  let base: string;
  const owner = randomUUID();
  const project = 'platform/backend/api';

  beforeAll(async () => {
    gl = await startGitLabEmulator({ relativeUrlRoot: '/gitlab' });
    gl.addToken(TOKEN, 'agent');
    gl.model.createProject({ path: project, visibility: 'private', members: ['agent', 'lee', 'kim'] });
    svc = await startHostService({
      adminKey: ADMIN,
      clock: new FakeClock(new Date()),
      provider: new GitLabProvider(
        { id: 'corp', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl, webhook_secret: SECRET },
        { clock: new FakeClock(new Date()) },
      ),
    });
    ({ runtime, base } = svc);
    await api('PUT', `/api/v1/owners/${owner}/tokens/corp`, { token: TOKEN });
  });
  afterAll(async () => {
    await svc?.close();
    await gl?.close();
  });

  const api = (method: string, path: string, body?: unknown) => svc.api(method, path, body);
  const chatReporting = (origin: string, branch: string) => svc.chatReporting(owner, origin, branch);
  const ref = (chat: string) => svc.diffStatus(chat);

  it('a chat pushing to a nested project on a prefixed instance shows its MR with every field in one tick', async () => {
    gl.model.push(project, 'feature/login');
    const mr = gl.model.openMergeRequest(project, {
      source_branch: 'feature/login',
      title: 'Login page',
      author: 'agent',
      additions: 42,
      deletions: 7,
      file_count: 3,
      commits: 4,
    });
    gl.model.requestReview(project, mr.iid, 'lee');
    gl.model.review(project, mr.iid, 'lee', 'requested_changes');
    gl.model.approve(project, mr.iid, 'kim');
    // The SSH remote of an instance under a path carries no prefix.
    const host = new URL(gl.webUrl).hostname;
    const chat = await chatReporting(`git@${host}:${project}.git`, 'feature/login');
    const stream = await SseClient.open(`${base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    try {
      await runtime.engine.tick();
      const status = await ref(chat);
      expect(status).toMatchObject({
        git_remote_origin: `${gl.webUrl}/${project}`,
        provider_id: 'corp',
        url: `${gl.webUrl}/${project}/-/merge_requests/${mr.iid}`,
        pull_request_state: 'open',
        pull_request_title: 'Login page',
        pull_request_draft: false,
        additions: 42,
        deletions: 7,
        changed_files: 3,
        commits: 4,
        pr_number: mr.iid,
        author_login: 'agent',
        base_branch: 'main',
        head_branch: 'feature/login',
        changes_requested: true,
        reviewer_count: 2,
        last_error: null,
      });
      const change = await stream.waitFor(
        (e) =>
          e.event === 'diff_status_change' && JSON.parse(e.data).changed_diff_status.pr_number === mr.iid,
      );
      expect(JSON.parse(change.data).chat.id).toBe(chat);
    } finally {
      await stream.close();
    }
  });

  it('requested reviewers: those asked who have not reviewed, in the API and its events', async () => {
    gl.model.push(project, 'asking');
    const mr = gl.model.openMergeRequest(project, { source_branch: 'asking', author: 'agent' });
    gl.model.requestReview(project, mr.iid, 'lee');
    gl.model.requestReview(project, mr.iid, 'kim');
    gl.model.requestReview(project, mr.iid, 'Ann');
    gl.model.review(project, mr.iid, 'lee', 'reviewed');
    const chat = await chatReporting(`${gl.webUrl}/${project}.git`, 'asking');
    const stream = await SseClient.open(`${base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    try {
      await runtime.engine.tick();
      const asked = [
        { kind: 'user', name: 'Ann' },
        { kind: 'user', name: 'kim' },
      ];
      expect((await ref(chat)).requested_reviewers).toEqual(asked);
      // The report's own event (no MR yet) may still be on its way: wait for the one with the MR.
      const change = await stream.waitFor(
        (e) =>
          e.event === 'diff_status_change' &&
          JSON.parse(e.data).chat.id === chat &&
          JSON.parse(e.data).changed_diff_status.pr_number === mr.iid,
      );
      expect(JSON.parse(change.data).changed_diff_status.requested_reviewers).toEqual(asked);
      // Kim approves (reviewed); Lee is asked again (back to unreviewed).
      gl.model.review(project, mr.iid, 'kim', 'approved');
      gl.model.requestReview(project, mr.iid, 'lee');
      const after = await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
      expect(after.json.diff_status.requested_reviewers).toEqual([
        { kind: 'user', name: 'Ann' },
        { kind: 'user', name: 'lee' },
      ]);
    } finally {
      await stream.close();
    }
  });

  it('sizes are null while GitLab prepares the diff (it answers zeros); locked reads as open; merged as merged', async () => {
    gl.model.push(project, 'big-change');
    const mr = gl.model.openMergeRequest(project, { source_branch: 'big-change', prepared: false });
    const chat = await chatReporting(`${gl.webUrl}/${project}.git`, 'big-change');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      additions: null,
      deletions: null,
      changed_files: null,
      commits: null,
      pr_number: mr.iid,
    });
    gl.model.setDiffStats(project, mr.iid, { additions: 1200, deletions: 30, file_count: 1001 });
    gl.model.lock(project, mr.iid);
    await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(await ref(chat)).toMatchObject({
      pull_request_state: 'open',
      changed_files: 1001,
      additions: 1200,
    });
    gl.model.merge(project, mr.iid);
    const after = await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(after.json).toMatchObject({ outcome: 'updated', diff_status: { pull_request_state: 'merged' } });
  });

  it('checks of the current head only, mergeability computed lazily, open threads and comments', async () => {
    gl.model.push(project, 'ci/green');
    const mr = gl.model.openMergeRequest(project, { source_branch: 'ci/green', title: 'Green' });
    const first = gl.model.createPipeline(project, {
      ref: 'ci/green',
      jobs: [
        { name: 'lint', stage: 'check', status: 'success' },
        { name: 'unit', stage: 'test', status: 'success' },
      ],
    });
    const thread = gl.model.startThread(project, mr.iid, {
      author: 'lee',
      body: 'Why?',
      file: 'a.ts',
      line: 1,
    });
    gl.model.comment(project, mr.iid, { author: 'kim', body: 'Nice' });
    const chat = await chatReporting(`${gl.webUrl}/${project}`, 'ci/green');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      head_sha: first.sha,
      checks_state: 'passing',
      checks: { passed: 2, failed: 0, pending: 0, skipped: 0, failing: [] },
      merge_state: 'clean',
      merge_state_reason: 'mergeable',
      unresolved_threads: 1,
      comments: 2,
    });
    // A force-push: the old commit's pipeline stays GitLab's head pipeline of the MR for now, but
    // it is not of the new head; mergeability is not computed yet.
    const pushed = gl.model.push(project, 'ci/green');
    const refresh = async () =>
      (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json.diff_status;
    expect(await refresh()).toMatchObject({
      head_sha: pushed,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      merge_state: 'unknown',
      merge_state_reason: 'unchecked',
    });
    const second = gl.model.createPipeline(project, {
      ref: 'ci/green',
      jobs: [
        { name: 'lint', stage: 'check', status: 'success' },
        { name: 'unit', stage: 'test', status: 'failed' },
      ],
    });
    gl.model.resolveThread(project, mr.iid, thread.id, true, 'lee');
    const unit = second.jobs.find((j) => j.name === 'unit')!;
    expect(await refresh()).toMatchObject({
      head_sha: pushed,
      checks_state: 'failing',
      checks: {
        passed: 1,
        failed: 1,
        failing: [{ name: 'unit', url: `${gl.webUrl}/${project}/-/jobs/${unit.id}` }],
      },
      merge_state: 'clean',
      unresolved_threads: 0,
    });
  });

  it('feedback: the failed jobs, open threads and requested changes of the MR, read on demand', async () => {
    gl.model.push(project, 'needs-work');
    const mr = gl.model.openMergeRequest(project, { source_branch: 'needs-work' });
    const pipeline = gl.model.createPipeline(project, {
      ref: 'needs-work',
      jobs: [{ name: 'unit', stage: 'test', status: 'failed', failure_reason: 'job_execution_timeout' }],
    });
    const thread = gl.model.startThread(project, mr.iid, {
      author: 'lee',
      body: 'Handle the empty case',
      file: 'src/login.ts',
      line: 7,
    });
    gl.model.review(project, mr.iid, 'lee', 'requested_changes');
    const chat = await chatReporting(`${gl.webUrl}/${project}`, 'needs-work');
    await runtime.engine.tick();
    gl.resetCounters();
    const res = await api('GET', `/api/v1/chats/${chat}/feedback`);
    expect(res.status).toBe(200);
    const mrUrl = `${gl.webUrl}/${project}/-/merge_requests/${mr.iid}`;
    expect(res.json.refs).toEqual([
      {
        git_remote_origin: `${gl.webUrl}/${project}`,
        git_branch: 'needs-work',
        url: mrUrl,
        failing_checks: [
          {
            name: 'unit',
            url: `${gl.webUrl}/${project}/-/jobs/${pipeline.jobs[0]!.id}`,
            summary: 'stage test: The script exceeded the maximum execution time set for the job',
          },
        ],
        unresolved_threads: [
          {
            path: 'src/login.ts',
            line: 7,
            author: 'lee',
            author_association: 'Developer',
            trusted: true,
            body: 'Handle the empty case',
            url: `${mrUrl}#note_${thread.notes[0]!.id}`,
          },
        ],
        changes_requested_by: [{ name: 'lee', trusted: true }],
        truncated: false,
        error: null,
      },
    ]);
    // One GraphQL query, one REST page of discussions and one of the people's access levels.
    expect([
      gl.count('graphql'),
      gl.count('list_discussions'),
      gl.count('list_members_all'),
      gl.counters.total,
    ]).toEqual([1, 1, 1, 3]);
  });

  it('finds the MR of a fork in the upstream project', async () => {
    gl.model.createProject({
      path: 'agent/api',
      visibility: 'private',
      members: ['agent'],
      forked_from: project,
    });
    gl.model.push('agent/api', 'fix-typo');
    const mr = gl.model.openMergeRequest(project, {
      source_branch: 'fix-typo',
      source_project: 'agent/api',
      title: 'Typo',
    });
    const chat = await chatReporting(`${gl.webUrl}/agent/api`, 'fix-typo');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      url: `${gl.webUrl}/${project}/-/merge_requests/${mr.iid}`,
      pull_request_title: 'Typo',
    });
  });

  it('many MRs of one project: one candidates query and one query for all their MRs', async () => {
    const chats: string[] = [];
    for (let i = 0; i < 12; i++) {
      gl.model.push(project, `many-${i}`);
      gl.model.openMergeRequest(project, { source_branch: `many-${i}` });
      chats.push(await chatReporting(`${gl.webUrl}/${project}`, `many-${i}`));
    }
    gl.resetCounters();
    const scored = gl.graphqlComplexity.length;
    await runtime.engine.tick();
    for (const chat of chats) expect((await ref(chat)).pr_number).toBeGreaterThan(0);
    // GitLab scores a project's `mergeRequests(iids:)` the same for one MR as for twelve (its
    // `complexity_for` counts a connection's selections once; `iids` take away the per-node
    // multiplier): the twelve branches' candidates are one query, their MRs one more.
    const scores = gl.graphqlComplexity.slice(scored);
    expect(scores.every((s) => s <= 250)).toBe(true);
    expect(gl.count('graphql')).toBe(2);
    expect(gl.counters.unexpected).toEqual([]);
  });

  it('a 429 pauses the token until GitLab says; without a reset header, at least a minute', async () => {
    const provider = runtime.providers.get('corp') as GitLabProvider;
    const pull = { repo: { owner: 'platform/backend', name: 'api' }, number: 1 };
    gl.addFaults({ kind: 'rate_limit', reset_in_s: 120, times: 1 });
    const limited = await provider.fetchPull(pull, { token: TOKEN }).catch((e) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    const waitS = ((limited as RateLimitedError).resetAt.getTime() - Date.now()) / 1000;
    expect(waitS).toBeGreaterThan(100);
    expect(waitS).toBeLessThanOrEqual(121);
  });

  it('webhooks: X-Gitlab-Token checked, merge request events mark the ref due, redeliveries are duplicates', async () => {
    gl.model.push(project, 'hooked');
    const mr = gl.model.openMergeRequest(project, { source_branch: 'hooked' });
    const chat = await chatReporting(`${gl.webUrl}/${project}`, 'hooked');
    await runtime.engine.tick();
    const payload = new HookPayloads(gl.renderer).mergeRequest(mr, 'update', 'agent');
    const url = `${base}/api/v1/webhooks/corp`;
    expect((await deliver(url, 'merge_request', payload, 'wrong token')).status).toBe(401);
    expect((await deliver(url, 'merge_request', payload, null)).status).toBe(401);
    const first = await deliver(url, 'merge_request', payload, SECRET);
    expect(first.status).toBe(202);
    expect(JSON.parse(first.body)).toMatchObject({ status: 'accepted' });
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(Date.now());
    const retry = await deliver(url, 'merge_request', payload, SECRET, {
      idempotencyKey: first.idempotencyKey,
    });
    expect(JSON.parse(retry.body)).toEqual({ status: 'duplicate' });
  });

  it('webhooks: a pipeline changing status marks its MR’s ref due (branch and merge request pipelines)', async () => {
    gl.model.push(project, 'piped');
    const mr = gl.model.openMergeRequest(project, { source_branch: 'piped' });
    const chat = await chatReporting(`${gl.webUrl}/${project}`, 'piped');
    await runtime.engine.tick();
    const pipeline = gl.model.createPipeline(project, {
      ref: 'piped',
      jobs: [{ name: 'unit', status: 'success' }],
    });
    const payloads = new HookPayloads(gl.renderer);
    const url = `${base}/api/v1/webhooks/corp`;
    for (const payload of [payloads.pipeline(pipeline), payloads.pipeline(pipeline, mr)]) {
      const delivery = await deliver(url, 'pipeline', payload, SECRET);
      expect(JSON.parse(delivery.body)).toMatchObject({ status: 'accepted' });
      expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(Date.now());
      await runtime.engine.tick();
      expect(await ref(chat)).toMatchObject({ checks_state: 'passing', checks: { passed: 1 } });
    }
  });
});
