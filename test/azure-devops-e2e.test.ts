import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzureDevOpsEmulator, startAzureDevOpsEmulator } from '../emulator/azure-devops/server.ts';
import { deliver, HookPayloads } from '../emulator/azure-devops/webhooks.ts';
import { FakeClock } from '../src/core/clock.ts';
import { AzureDevOpsProvider } from '../src/providers/azure-devops/azure-devops-provider.ts';
import type { Runtime } from '../src/runtime.ts';
import { type HostService, startHostService } from './helpers/host-service.ts';
import { SseClient } from './helpers/sse.ts';

const ADMIN = 'azure-devops-e2e-admin-key-0123';
const TOKEN = 'azdoe2eownerpat0123456789abcdefghijklmnopqrstuvwxyz01';
const SECRET = 'azure devops e2e service hook password';
const WEB = 'https://dev.azure.com';

/**
 * Azure DevOps through the whole service: the provider configured for `https://dev.azure.com`
 * reading from the emulator as its `api_url` (so every real origin form is exercised), the
 * service wired as `gitsync serve` wires it, over real HTTP.
 */
describe('Azure DevOps end to end', () => {
  let az: AzureDevOpsEmulator;
  let svc: HostService;
  let runtime: Runtime;
  let base: string;
  const owner = randomUUID();
  /** The provider's clock (what it keeps is timed by it); the service runs on a clock of its own. */
  const hostClock = new FakeClock(new Date());
  const REPO = 'fabrikam/Fiber Web/portal';
  const canonical = `${WEB}/fabrikam/Fiber%20Web/_git/portal`;

  beforeAll(async () => {
    az = await startAzureDevOpsEmulator({ webUrl: WEB, mergeOnRead: true });
    az.addToken(TOKEN, 'agent@fabrikam.com');
    az.model.createRepo(REPO, { visibility: 'private' });
    svc = await startHostService({
      adminKey: ADMIN,
      clock: new FakeClock(new Date()),
      provider: new AzureDevOpsProvider(
        { id: 'ado', type: 'azure-devops', web_url: WEB, api_url: az.url, webhook_secret: SECRET },
        { clock: hostClock },
      ),
    });
    ({ runtime, base } = svc);
    await api('PUT', `/api/v1/owners/${owner}/tokens/ado`, { token: TOKEN });
  });
  afterAll(async () => {
    await svc?.close();
    await az?.close();
  });

  const api = (method: string, path: string, body?: unknown) => svc.api(method, path, body);
  const chatReporting = (origin: string, branch: string, by = owner) => svc.chatReporting(by, origin, branch);
  const ref = (chat: string) => svc.diffStatus(chat);

  it('a chat reporting each origin form shows its PR with every field Azure DevOps has after one tick', async () => {
    const forms = [
      `${WEB}/fabrikam/Fiber%20Web/_git/portal`,
      'https://fabrikam@dev.azure.com/fabrikam/Fiber%20Web/_git/portal',
      'git@ssh.dev.azure.com:v3/fabrikam/Fiber%20Web/portal',
      'https://fabrikam.visualstudio.com/Fiber%20Web/_git/portal',
      'https://fabrikam.visualstudio.com/DefaultCollection/Fiber%20Web/_git/portal',
    ];
    const team = az.model.group('[Fiber Web]\\Web Team');
    const cases: { pr: { id: number }; chat: string; branch: string; i: number }[] = [];
    for (const [i, origin] of forms.entries()) {
      const branch = `feature/form-${i}`;
      const pr = az.model.openPull(REPO, {
        source_branch: branch,
        title: `Form ${i}`,
        author: 'agent@fabrikam.com',
        files: 3 + i,
        commits: 2,
      });
      az.model.vote(pr, 'lee@fabrikam.com', 10);
      az.model.vote(pr, 'kim@fabrikam.com', -10);
      az.model.addReviewer(pr, team);
      az.model.addReviewer(pr, 'ann@fabrikam.com');
      cases.push({ pr, chat: await chatReporting(origin, branch), branch, i });
    }
    const stream = await SseClient.open(`${base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    try {
      await runtime.engine.tick();
      for (const { pr, chat, branch, i } of cases) {
        expect(await ref(chat)).toMatchObject({
          git_remote_origin: canonical,
          provider_id: 'ado',
          url: `${canonical}/pullrequest/${pr.id}`,
          pull_request_state: 'open',
          pull_request_title: `Form ${i}`,
          pull_request_draft: false,
          additions: null,
          deletions: null,
          changed_files: 3 + i,
          commits: 2,
          pr_number: pr.id,
          author_login: 'agent@fabrikam.com',
          author_avatar_url: null,
          base_branch: 'main',
          head_branch: branch,
          // Lee approves, Kim rejects: changes requested, not approved; the group is no person.
          changes_requested: true,
          approved: false,
          reviewer_count: 2,
          requested_reviewers: [
            { kind: 'user', name: 'ann@fabrikam.com' },
            { kind: 'team', name: '[Fiber Web]\\Web Team' },
          ],
          head_sha: az.model.head(az.model.pull(REPO, pr.id)),
          // No branch policy, so no checks; the test merge is still being computed.
          checks_state: 'none',
          checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
          merge_state: 'unknown',
          merge_state_reason: 'queued',
          // Only the votes' system threads: nothing people wrote.
          unresolved_threads: 0,
          comments: 0,
          last_error: null,
        });
      }
      await stream.waitFor(
        (e) =>
          e.event === 'diff_status_change' &&
          JSON.parse(e.data).changed_diff_status.pr_number === cases[0]!.pr.id,
      );
    } finally {
      await stream.close();
    }
    expect(az.counters.unexpected).toEqual([]);
    expect(az.log.every((l) => l.path.includes('api-version=7.1'))).toBe(true);
  });

  it('finds a fork’s PR in its parent, and PRs completed or abandoned before the first look', async () => {
    az.model.createRepo('fabrikam/Sandbox/portal', { fork_of: REPO });
    az.model.push('fabrikam/Sandbox/portal', 'fork-fix');
    const forked = az.model.openPull(REPO, {
      source_branch: 'fork-fix',
      source_repo: 'fabrikam/Sandbox/portal',
      title: 'From a fork',
    });
    const done = az.model.openPull(REPO, { source_branch: 'done-early', title: 'Done' });
    az.model.complete(done);
    const dropped = az.model.openPull(REPO, { source_branch: 'dropped', title: 'Dropped' });
    az.model.abandon(dropped);
    const forkChat = await chatReporting('git@ssh.dev.azure.com:v3/fabrikam/Sandbox/portal', 'fork-fix');
    const doneChat = await chatReporting(canonical, 'done-early');
    const droppedChat = await chatReporting(canonical, 'dropped');
    await runtime.engine.tick();
    expect(await ref(forkChat)).toMatchObject({
      git_remote_origin: `${WEB}/fabrikam/Sandbox/_git/portal`,
      url: `${canonical}/pullrequest/${forked.id}`,
      pull_request_title: 'From a fork',
    });
    expect(await ref(doneChat)).toMatchObject({ pr_number: done.id, pull_request_state: 'merged' });
    expect(await ref(droppedChat)).toMatchObject({ pr_number: dropped.id, pull_request_state: 'closed' });
  });

  it('a PAT Azure DevOps answers with its 203 sign-in page: token_rejected', async () => {
    const other = randomUUID();
    await api('PUT', `/api/v1/owners/${other}/tokens/ado`, {
      token: 'azdoexpiredpat0123456789abcdefghijklmnopqrstuvwxyz',
    });
    az.model.openPull(REPO, { source_branch: 'signin' });
    const chat = await chatReporting(canonical, 'signin', other);
    az.resetCounters();
    const answer = await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(answer.status).toBe(422);
    expect(answer.json.error.code).toBe('token_rejected');
    expect(az.log.some((l) => l.status === 203)).toBe(true);
    expect((await ref(chat)).last_error).toMatch(/rejected the token/);
  });

  it('a 429 pauses the token until Retry-After; the ref shows paused_until', async () => {
    const paused = randomUUID();
    const pat = 'azdopausedpat0123456789abcdefghijklmnopqrstuvwxyz012';
    az.addToken(pat, 'paused@fabrikam.com');
    await api('PUT', `/api/v1/owners/${paused}/tokens/ado`, { token: pat });
    az.model.openPull(REPO, { source_branch: 'limited' });
    const chat = await chatReporting(canonical, 'limited', paused);
    az.addFaults({ kind: 'rate_limit', reset_in_s: 120, times: 1, match: 'refs%2Fheads%2Flimited' });
    await runtime.engine.tick();
    const status = await ref(chat);
    const waitS = (new Date(status.paused_until).getTime() - Date.now()) / 1000;
    expect(waitS).toBeGreaterThan(100);
    expect(waitS).toBeLessThanOrEqual(121);
    expect(status.pr_number).toBeNull();
  });

  it('service hooks: Basic credentials with the secret, the pushed branch due, a redelivered event a duplicate', async () => {
    const pr = az.model.openPull(REPO, { source_branch: 'hooked' });
    const chat = await chatReporting(canonical, 'hooked');
    await runtime.engine.tick();
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeGreaterThan(Date.now());
    const hooks = new HookPayloads(az);
    const url = `${base}/api/v1/webhooks/ado`;
    az.model.pushToPull(pr, { files: 2 });
    const push = hooks.push(az.model.repo(REPO), 'hooked');
    expect((await deliver(url, push, 'wrong password')).status).toBe(401);
    expect((await deliver(url, push, null)).status).toBe(401);
    const first = await deliver(url, push, SECRET, { user: 'anything' });
    expect(first.status).toBe(202);
    expect(JSON.parse(first.body)).toEqual({ status: 'accepted' });
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(Date.now());
    const again = await deliver(url, push, SECRET, { user: 'someone else' });
    expect(JSON.parse(again.body)).toEqual({ status: 'duplicate' });
    // A PR event names the PR's source branch (and the PR by URL).
    await runtime.engine.tick();
    const updated = await deliver(url, hooks.pullRequest('git.pullrequest.updated', pr), SECRET);
    expect(JSON.parse(updated.body)).toEqual({ status: 'accepted' });
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ pr_number: pr.id, changed_files: 2 });
  });

  it('CI, mergeability and open threads; a push shows the new head pending; feedback lists what to act on', async () => {
    const CI = 'fabrikam/Fiber Web/checked';
    const origin = `${WEB}/fabrikam/Fiber%20Web/_git/checked`;
    az.model.createRepo(CI, { visibility: 'private' });
    const build = az.model.addPolicy(CI, 'build', { settings: { displayName: 'CI' } });
    az.model.addPolicy(CI, 'minimumReviewers', { settings: { minimumApproverCount: 1 } });
    const pr = az.model.openPull(CI, { source_branch: 'feature/ci', author: 'agent@fabrikam.com' });
    const chat = await chatReporting(origin, 'feature/ci');
    await runtime.engine.tick();
    const first = az.model.head(pr);
    expect(await ref(chat)).toMatchObject({
      pr_number: pr.id,
      head_sha: first,
      checks_state: 'pending',
      checks: { passed: 0, failed: 0, pending: 1, skipped: 0, failing: [] },
      merge_state: 'unknown',
      unresolved_threads: 0,
      comments: 0,
    });
    const refresh = async () => {
      const answer = await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
      expect(answer.status).toBe(200);
      return answer.json.diff_status;
    };

    az.model.build(pr, build, 'succeeded');
    az.model.vote(pr, 'ann@fabrikam.com', 10);
    const thread = az.model.comment(pr, {
      author: 'kim@fabrikam.com',
      content: 'Handle the empty list',
      path: '/src/list.ts',
      line: 42,
    });
    expect(await refresh()).toMatchObject({
      head_sha: first,
      checks_state: 'passing',
      checks: { passed: 1, failed: 0, pending: 0 },
      merge_state: 'clean',
      merge_state_reason: 'succeeded',
      unresolved_threads: 1,
      comments: 1,
    });

    // A force-push: the green build was the replaced commit's and must not show.
    az.model.pushToPull(pr);
    const second = az.model.head(pr);
    expect(await refresh()).toMatchObject({
      head_sha: second,
      checks_state: 'pending',
      checks: { passed: 0, failed: 0, pending: 1 },
      merge_state: 'unknown',
    });

    const failed = az.model.build(pr, build, 'failed', { errors: ['list.test.ts: 1 failed'] });
    az.model.vote(pr, 'kim@fabrikam.com', -10);
    const buildUrl = `${WEB}/fabrikam/Fiber%20Web/_build/results?buildId=${failed.id}`;
    expect(await refresh()).toMatchObject({
      checks_state: 'failing',
      checks: { passed: 0, failed: 1, pending: 0, failing: [{ name: 'CI', url: buildUrl }] },
      merge_state: 'blocked',
      // A rejection holds the minimum-reviewers policy too ("Allow completion even if some
      // reviewers vote to wait or reject" is off).
      merge_state_reason: 'Build, Minimum number of reviewers',
      changes_requested: true,
    });

    const feedback = await api('GET', `/api/v1/chats/${chat}/feedback`);
    expect(feedback.status).toBe(200);
    expect(feedback.json.refs).toEqual([
      expect.objectContaining({
        git_remote_origin: origin,
        git_branch: 'feature/ci',
        failing_checks: [{ name: 'CI', url: buildUrl, summary: 'list.test.ts: 1 failed' }],
        unresolved_threads: [
          {
            path: '/src/list.ts',
            line: 42,
            author: 'kim@fabrikam.com',
            author_association: null,
            trusted: null,
            body: 'Handle the empty list',
            url: `${origin}/pullrequest/${pr.id}?discussionId=${thread.id}`,
          },
        ],
        changes_requested_by: [{ name: 'kim@fabrikam.com', trusted: null }],
        truncated: false,
      }),
    ]);
    expect(az.counters.unexpected).toEqual([]);
  });

  it('kept thread counts: a comment shows at "refresh now", and once its "commented on" service hook arrives', async () => {
    const pr = az.model.openPull(REPO, { source_branch: 'talk' });
    const chat = await chatReporting(canonical, 'talk');
    await runtime.engine.tick();
    const refresh = async () => (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json;
    expect((await refresh()).diff_status).toMatchObject({ merge_state: 'clean', comments: 0 });
    // Later, a comment: it changes nothing in the PR, but "refresh now" is a signal: nothing kept
    // answers it, the threads are read.
    hostClock.advance(10 * 60_000);
    az.model.comment(pr, { author: 'kim@fabrikam.com', content: 'Why a new list?' });
    expect((await refresh()).diff_status).toMatchObject({ unresolved_threads: 1, comments: 1 });
    // Another one: its service hook makes the ref due, and the threads are read again.
    hostClock.advance(10 * 60_000);
    az.model.comment(pr, { author: 'kim@fabrikam.com', content: 'And a new map?' });
    const hook = await deliver(
      `${base}/api/v1/webhooks/ado`,
      new HookPayloads(az).pullRequestComment(pr, 'And a new map?', 'kim@fabrikam.com'),
      SECRET,
    );
    expect(JSON.parse(hook.body)).toEqual({ status: 'accepted' });
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ unresolved_threads: 2, comments: 2 });
    expect(az.counters.unexpected).toEqual([]);
  });

  it('without any branch policy: a status Jenkins posts is the check, one approval approves; merged with its branch deleted, still shown', async () => {
    const pr = az.model.openPull(REPO, { source_branch: 'jenkins', author: 'agent@fabrikam.com' });
    const chat = await chatReporting(canonical, 'jenkins');
    az.model.postPullStatus(pr, {
      genre: 'jenkins',
      name: 'pr-build',
      state: 'failed',
      iteration: 'head',
      target_url: 'https://jenkins.fabrikam.com/job/portal/7',
      description: '3 tests failed',
    });
    az.model.vote(pr, 'ann@fabrikam.com', 5);
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      checks_state: 'failing',
      checks: {
        failed: 1,
        failing: [{ name: 'jenkins/pr-build', url: 'https://jenkins.fabrikam.com/job/portal/7' }],
      },
      approved: true,
    });
    const feedback = await api('GET', `/api/v1/chats/${chat}/feedback`);
    expect(feedback.json.refs[0].failing_checks).toEqual([
      {
        name: 'jenkins/pr-build',
        url: 'https://jenkins.fabrikam.com/job/portal/7',
        summary: '3 tests failed',
      },
    ]);
    az.model.complete(pr, { delete_source_branch: true });
    const answer = await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(answer.json.diff_status).toMatchObject({
      pr_number: pr.id,
      pull_request_state: 'merged',
      head_branch: 'jenkins',
    });
    expect(az.counters.unexpected).toEqual([]);
  });
});
