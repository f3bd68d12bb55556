import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BitbucketEmulator, startBitbucketEmulator } from '../emulator/bitbucket/server.ts';
import { deliver, HookPayloads } from '../emulator/bitbucket/webhooks.ts';
import { FakeClock } from '../src/core/clock.ts';
import { BitbucketProvider } from '../src/providers/bitbucket/bitbucket-provider.ts';
import type { Runtime } from '../src/runtime.ts';
import { type HostService, startHostService } from './helpers/host-service.ts';
import { SseClient } from './helpers/sse.ts';

const ADMIN = 'bitbucket-e2e-admin-key-0123';
/** A workspace access token, sent as Bearer. */
const TOKEN = 'ATCTT3xFfGN0-e2e-owner-token';
const SECRET = 'bitbucket e2e webhook secret';
const WEB = 'https://bitbucket.org';

/**
 * Bitbucket Cloud through the whole service: the real provider with `web_url` bitbucket.org and
 * its API pointed at the emulator, the service wired as `gitsync serve` wires it, over real HTTP.
 */
describe('Bitbucket end to end', () => {
  let bb: BitbucketEmulator;
  let svc: HostService;
  let runtime: Runtime;
  let base: string;
  const clock = new FakeClock(new Date());
  const owner = randomUUID();
  const repo = 'acme/api';

  beforeAll(async () => {
    bb = await startBitbucketEmulator({ diffstatPagelen: 3 });
    bb.addAccessToken(TOKEN, { workspace: 'acme', user: 'acme-bot' });
    bb.model.createRepo({ full_name: repo, is_private: true });
    svc = await startHostService({
      adminKey: ADMIN,
      clock,
      provider: new BitbucketProvider(
        { id: 'bb', type: 'bitbucket', web_url: WEB, api_url: bb.apiUrl, webhook_secret: SECRET },
        { clock },
      ),
    });
    ({ runtime, base } = svc);
    await api('PUT', `/api/v1/owners/${owner}/tokens/bb`, { token: TOKEN });
  });
  afterAll(async () => {
    await svc?.close();
    await bb?.close();
  });

  const api = (method: string, path: string, body?: unknown) => svc.api(method, path, body);
  const chatReporting = (origin: string, branch: string) => svc.chatReporting(owner, origin, branch);
  const ref = (chat: string) => svc.diffStatus(chat);

  it('a chat reporting a Bitbucket origin shows its PR with every field after one tick', async () => {
    const pr = bb.model.openPull(repo, {
      source_branch: 'feature/login',
      title: 'Login page',
      author: 'agent',
      commits: 14,
      // Seven files over three diffstat pages (three per page here).
      files: Array.from({ length: 7 }, (_, i) => ({
        path: `src/f${i}.ts`,
        lines_added: 10 + i,
        lines_removed: i,
      })),
    });
    bb.model.addReviewers(repo, pr.id, ['lee', 'kim', 'Ann']);
    bb.model.verdict(repo, pr.id, 'lee', 'changes_requested');
    bb.model.verdict(repo, pr.id, 'kim', 'approved');
    const chat = await chatReporting(`https://agent@bitbucket.org/${repo}.git`, 'feature/login');
    const stream = await SseClient.open(`${base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    try {
      await runtime.engine.tick();
      expect(await ref(chat)).toMatchObject({
        git_remote_origin: `${WEB}/${repo}`,
        provider_id: 'bb',
        url: `${WEB}/${repo}/pull-requests/${pr.id}`,
        pull_request_state: 'open',
        pull_request_title: 'Login page',
        pull_request_draft: false,
        additions: 7 * 10 + 21,
        deletions: 21,
        changed_files: 7,
        commits: 14,
        pr_number: pr.id,
        author_login: 'agent',
        author_avatar_url: `${WEB}/account/agent/avatar/`,
        base_branch: 'main',
        head_branch: 'feature/login',
        changes_requested: true,
        approved: false,
        reviewer_count: 2,
        requested_reviewers: [{ kind: 'user', name: 'Ann' }],
        last_error: null,
      });
      expect(bb.count('repository_diffstat')).toBe(3);
      const change = await stream.waitFor(
        (e) => e.event === 'diff_status_change' && JSON.parse(e.data).changed_diff_status.pr_number === pr.id,
      );
      expect(JSON.parse(change.data).chat.id).toBe(chat);
      // Lee withdraws the request for changes and approves: approved, still two verdicts.
      bb.model.verdict(repo, pr.id, 'lee', 'approved');
      const after = await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
      expect(after.json.diff_status).toMatchObject({
        approved: true,
        changes_requested: false,
        reviewer_count: 2,
      });
    } finally {
      await stream.close();
    }
  });

  it('checks of the head only (a force-push hides the old green builds), mergeability, comments, feedback', async () => {
    const pr = bb.model.openPull(repo, { source_branch: 'ci/checks', commits: 2, title: 'CI' });
    const old = bb.model.head(repo, pr.id);
    bb.model.setStatus(old, { key: 'build', state: 'SUCCESSFUL', name: 'Build' });
    bb.model.setStatus(old, {
      key: 'tests',
      state: 'FAILED',
      name: 'Tests',
      url: 'https://ci.example.com/t/9',
    });
    const thread = bb.model.comment(repo, pr.id, 'kim', {
      body: 'Please rename',
      inline: { path: 'src/x.ts', to: 5 },
    });
    bb.model.comment(repo, pr.id, 'lee', { body: 'LGTM otherwise' });
    bb.model.verdict(repo, pr.id, 'lee', 'changes_requested');
    const chat = await chatReporting(`${WEB}/${repo}`, 'ci/checks');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      head_sha: old,
      checks_state: 'failing',
      checks: {
        passed: 1,
        failed: 1,
        pending: 0,
        skipped: 0,
        failing: [{ name: 'Tests', url: 'https://ci.example.com/t/9' }],
      },
      merge_state: 'clean',
      merge_state_reason: null,
      // Kim's comment on the diff is a thread; Lee's general comment is not.
      unresolved_threads: 1,
      comments: 2,
    });
    const feedback = await api('GET', `/api/v1/chats/${chat}/feedback`);
    expect(feedback.status).toBe(200);
    expect(feedback.json.refs).toMatchObject([
      {
        git_branch: 'ci/checks',
        failing_checks: [{ name: 'Tests', url: 'https://ci.example.com/t/9', summary: null }],
        unresolved_threads: [
          {
            path: 'src/x.ts',
            line: 5,
            author: 'kim',
            author_association: null,
            trusted: null,
            body: 'Please rename',
            url: `${WEB}/${repo}/pull-requests/${pr.id}/_/diff#comment-${thread.id}`,
          },
        ],
        changes_requested_by: [{ name: 'lee', trusted: null }],
        truncated: false,
      },
    ]);
    // A force-push: the old commit's builds stay in Bitbucket but no longer count.
    const tip = bb.model.forcePush(repo, 'ci/checks');
    let after = (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json.diff_status;
    expect(after).toMatchObject({
      head_sha: tip,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
    });
    bb.model.setStatus(tip, { key: 'build', state: 'INPROGRESS', refname: 'ci/checks' });
    after = (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json.diff_status;
    expect(after).toMatchObject({ checks_state: 'pending', checks: { pending: 1 } });
    expect((await api('GET', `/api/v1/chats/${chat}/feedback`)).json.refs[0].failing_checks).toEqual([]);
    // The main branch moves and now conflicts with the PR.
    bb.model.setConflicts(repo, pr.id, [{ path: 'src/x.ts' }]);
    bb.model.push(repo, 'main');
    after = (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json.diff_status;
    expect(after).toMatchObject({ merge_state: 'conflicting', merge_state_reason: 'content' });
    // A build-status webhook with the branch as `refname` marks the ref due at once.
    await runtime.engine.tick();
    const hook = await deliver(
      `${base}/api/v1/webhooks/bb`,
      'repo:commit_status_updated',
      new HookPayloads(bb).commitStatus(bb.model.repo(repo), tip, 'build', 'ci-bot'),
      SECRET,
    );
    expect(JSON.parse(hook.body)).toEqual({ status: 'accepted' });
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(clock.now().getTime());
    expect(bb.counters.unexpected).toEqual([]);
  });

  it('readiness: ready with no open thread; a thread blocks; resolved, ready again on refresh now; reopened, blocked once its webhook arrives', async () => {
    const pr = bb.model.openPull(repo, { source_branch: 'ready/go', title: 'Ready' });
    const head = bb.model.head(repo, pr.id);
    bb.model.setStatus(head, { key: 'build', state: 'SUCCESSFUL', refname: 'ready/go' });
    bb.model.verdict(repo, pr.id, 'kim', 'approved');
    bb.model.comment(repo, pr.id, 'lee', { body: 'Nice work' });
    const chat = await chatReporting(`${WEB}/${repo}`, 'ready/go');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      checks_state: 'passing',
      merge_state: 'clean',
      awaiting_approval: false,
      unresolved_threads: 0,
      ready: true,
      blockers: [],
    });
    // A comment on the diff: a thread, counted at the next refresh (the PR's comment count moved).
    const thread = bb.model.comment(repo, pr.id, 'kim', {
      body: 'Rename this',
      inline: { path: 'a.ts', to: 3 },
    });
    let after = (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json.diff_status;
    expect(after).toMatchObject({
      unresolved_threads: 1,
      ready: false,
      blockers: [{ kind: 'unresolved_threads', detail: '1 unresolved' }],
    });
    // Resolved: nothing in the PR moves, but "refresh now" is a signal: nothing kept stands in,
    // the threads are counted again at once.
    bb.model.resolve(repo, pr.id, thread.id, 'agent');
    after = (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json.diff_status;
    expect(after).toMatchObject({ unresolved_threads: 0, ready: true, blockers: [] });
    // Reopened: the `pullrequest:comment_reopened` webhook marks the ref due, and its refresh
    // counts the threads again.
    bb.model.reopen(repo, pr.id, thread.id);
    const hook = await deliver(
      `${base}/api/v1/webhooks/bb`,
      'pullrequest:comment_reopened',
      new HookPayloads(bb).pullRequestComment(bb.model.pull(repo, pr.id), thread.id, 'agent'),
      SECRET,
    );
    expect(JSON.parse(hook.body)).toEqual({ status: 'accepted' });
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(clock.now().getTime());
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ unresolved_threads: 1, ready: false });
    expect(bb.counters.unexpected).toEqual([]);
  });

  it('finds the PR of a fork in its parent, from the fork’s scp-like origin', async () => {
    bb.model.createRepo({ full_name: 'acme/api-fork', is_private: true, fork_of: repo });
    const pr = bb.model.openPull(repo, {
      source_branch: 'fix-typo',
      source_repo: 'acme/api-fork',
      title: 'Typo',
    });
    const chat = await chatReporting('git@bitbucket.org:acme/api-fork.git', 'fix-typo');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      git_remote_origin: `${WEB}/acme/api-fork`,
      url: `${WEB}/${repo}/pull-requests/${pr.id}`,
      pull_request_title: 'Typo',
    });
  });

  it('a PR merged, or declined, before the first look is found and shown so', async () => {
    const merged = bb.model.openPull(repo, { source_branch: 'done-early' });
    bb.model.merge(repo, merged.id);
    const declined = bb.model.openPull(repo, { source_branch: 'abandoned' });
    bb.model.decline(repo, declined.id);
    const a = await chatReporting(`${WEB}/${repo}`, 'done-early');
    const b = await chatReporting(`${WEB}/${repo}`, 'abandoned');
    await runtime.engine.tick();
    expect(await ref(a)).toMatchObject({ pr_number: merged.id, pull_request_state: 'merged' });
    expect(await ref(b)).toMatchObject({ pr_number: declined.id, pull_request_state: 'closed' });
  });

  it('a 429 without a reset time pauses the token for at least 60 s', async () => {
    const pr = bb.model.openPull(repo, { source_branch: 'limited' });
    const chat = await chatReporting(`${WEB}/${repo}`, 'limited');
    bb.addFaults({ kind: 'rate_limit', times: 1 });
    await runtime.engine.tick();
    const status = await ref(chat);
    expect(status.pr_number).toBeNull();
    expect(status.last_error).toMatch(/rate limited/);
    const pausedS = (new Date(status.paused_until).getTime() - clock.now().getTime()) / 1000;
    expect(pausedS).toBeGreaterThanOrEqual(60);
    clock.advance(pausedS * 1000 + 1000);
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ pr_number: pr.id, paused_until: null, last_error: null });
  });

  it('webhooks: X-Hub-Signature checked, the right ref marked due, a redelivery is a duplicate', async () => {
    const pr = bb.model.openPull(repo, { source_branch: 'hooked' });
    const chat = await chatReporting(`${WEB}/${repo}`, 'hooked');
    const other = await chatReporting(`${WEB}/${repo}`, 'not-hooked');
    await runtime.engine.tick();
    const staleOf = async (c: string) => new Date((await ref(c)).stale_at).getTime();
    const otherStale = await staleOf(other);
    expect(await staleOf(chat)).toBeGreaterThan(clock.now().getTime());
    const payload = new HookPayloads(bb).pullRequest(pr, 'kim');
    const url = `${base}/api/v1/webhooks/bb`;
    expect((await deliver(url, 'pullrequest:approved', payload, 'wrong secret')).status).toBe(401);
    expect((await deliver(url, 'pullrequest:approved', payload, null)).status).toBe(401);
    const first = await deliver(url, 'pullrequest:approved', payload, SECRET);
    expect(first.status).toBe(202);
    expect(JSON.parse(first.body)).toEqual({ status: 'accepted' });
    expect(await staleOf(chat)).toBeLessThanOrEqual(clock.now().getTime());
    expect(await staleOf(other)).toBe(otherStale);
    const retry = await deliver(url, 'pullrequest:approved', payload, SECRET, {
      requestUuid: first.requestUuid,
      attempt: 2,
    });
    expect(retry.status).toBe(200);
    expect(JSON.parse(retry.body)).toEqual({ status: 'duplicate' });
    // A push to the branch marks it due too.
    await runtime.engine.tick();
    bb.model.push(repo, 'not-hooked');
    const push = await deliver(
      url,
      'repo:push',
      new HookPayloads(bb).push(bb.model.repo(repo), 'not-hooked', 'kim'),
      SECRET,
    );
    expect(JSON.parse(push.body)).toEqual({ status: 'accepted' });
    expect(await staleOf(other)).toBeLessThanOrEqual(clock.now().getTime());
    expect(bb.counters.unexpected).toEqual([]);
  });

  it('kept checks: a build re-run on the same commit shows once its status webhook arrives', async () => {
    const pr = bb.model.openPull(repo, { source_branch: 'ci/kept' });
    const head = bb.model.head(repo, pr.id);
    bb.model.setStatus(head, { key: 'build', state: 'FAILED', name: 'Build', refname: 'ci/kept' });
    const chat = await chatReporting(`${WEB}/${repo}`, 'ci/kept');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ checks_state: 'failing' });
    // Ten minutes on the checks have settled; a re-run changes nothing in the PR, so the next
    // refresh shows the checks kept…
    clock.advance(10 * 60_000);
    bb.model.setStatus(head, { key: 'build', state: 'INPROGRESS', name: 'Build', refname: 'ci/kept' });
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ checks_state: 'failing' });
    // …until its build-status webhook arrives: the ref is due, and the commit's statuses read again.
    const hook = await deliver(
      `${base}/api/v1/webhooks/bb`,
      'repo:commit_status_updated',
      new HookPayloads(bb).commitStatus(bb.model.repo(repo), head, 'build', 'ci-bot'),
      SECRET,
    );
    expect(JSON.parse(hook.body)).toEqual({ status: 'accepted' });
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ checks_state: 'pending', checks: { pending: 1 } });
    expect(bb.counters.unexpected).toEqual([]);
  });
});
