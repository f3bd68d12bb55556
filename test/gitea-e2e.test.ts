import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, type GiteaEmulator, startGiteaEmulator } from '../emulator/gitea/server.ts';
import { deliver, HookPayloads } from '../emulator/gitea/webhooks.ts';
import { FakeClock } from '../src/core/clock.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { CONFLICT_SETTLE_MS, GiteaProvider } from '../src/providers/gitea/gitea-provider.ts';
import { CHECKS_SETTLE_MS } from '../src/providers/pull-reads-cache.ts';
import type { Runtime } from '../src/runtime.ts';
import { type HostService, startHostService } from './helpers/host-service.ts';
import { SseClient } from './helpers/sse.ts';

const ADMIN = 'gitea-e2e-admin-key-0123';
const TOKEN = 'gitea-e2e-owner-token';
const SECRET = 'gitea e2e webhook secret';

/**
 * Gitea and Forgejo through the whole service: an instance under `/gitea`, the real provider, the
 * service wired as `gitsync serve` wires it, over real HTTP — once per type.
 */
describe.each(['gitea', 'forgejo'] as const)('%s end to end', (kind) => {
  let gt: GiteaEmulator;
  let svc: HostService;
  let runtime: Runtime;
  let base: string;
  const clock = new FakeClock(new Date());
  const owner = randomUUID();
  const repo = 'platform/api';

  beforeAll(async () => {
    gt = await startGiteaEmulator({ subUrl: '/gitea', product: kind });
    gt.addToken(TOKEN, 'agent');
    gt.model.createRepo({ full_name: repo, private: true, members: ['agent', 'lee', 'kim'] });
    svc = await startHostService({
      adminKey: ADMIN,
      clock,
      provider: new GiteaProvider(
        { id: 'corp', type: kind, web_url: gt.webUrl, api_url: gt.apiUrl, webhook_secret: SECRET },
        kind,
        { clock },
      ),
    });
    ({ runtime, base } = svc);
    await api('PUT', `/api/v1/owners/${owner}/tokens/corp`, { token: TOKEN });
  });
  afterAll(async () => {
    await svc?.close();
    expect(gt?.counters.unexpected).toEqual([]);
    await gt?.close();
  });

  const api = (method: string, path: string, body?: unknown) => svc.api(method, path, body);
  const chatReporting = (origin: string, branch: string) => svc.chatReporting(owner, origin, branch);
  const ref = (chat: string) => svc.diffStatus(chat);
  const refresh = async (chat: string) =>
    (await api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).json;

  it('a chat pushing over SSH to an instance under a path shows its PR with every field after one tick', async () => {
    const pull = gt.model.openPull(repo, {
      head: 'feature/login',
      title: 'Login page',
      author: 'agent',
      additions: 42,
      deletions: 7,
      changed_files: 3,
      commits: 4,
    });
    gt.model.requestReview(repo, pull.number, { login: 'lee' });
    gt.model.requestReview(repo, pull.number, { team: 'platform/core' });
    gt.model.review(repo, pull.number, 'kim', 'APPROVED');
    // The SSH remote of an instance under a path carries no prefix.
    const host = new URL(gt.webUrl).hostname;
    const chat = await chatReporting(`git@${host}:${repo}.git`, 'feature/login');
    const stream = await SseClient.open(`${base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    try {
      await runtime.engine.tick();
      expect(await ref(chat)).toMatchObject({
        git_remote_origin: `${gt.webUrl}/${repo}`,
        provider_id: 'corp',
        url: `${gt.webUrl}/${repo}/pulls/${pull.number}`,
        pull_request_state: 'open',
        pull_request_title: 'Login page',
        pull_request_draft: false,
        additions: 42,
        deletions: 7,
        changed_files: 3,
        commits: 4,
        pr_number: pull.number,
        author_login: 'agent',
        author_avatar_url: expect.stringContaining('/gitea/avatars/'),
        base_branch: 'main',
        head_branch: 'feature/login',
        approved: true,
        changes_requested: false,
        reviewer_count: 1,
        requested_reviewers: [
          { kind: 'user', name: 'lee' },
          { kind: 'team', name: 'platform/core' },
        ],
        last_error: null,
      });
      const change = await stream.waitFor(
        (e) =>
          e.event === 'diff_status_change' &&
          JSON.parse(e.data).changed_diff_status.url === `${gt.webUrl}/${repo}/pulls/${pull.number}`,
      );
      expect(JSON.parse(change.data).chat.id).toBe(chat);
      // The token went only to the instance's API, as `Authorization: token`.
      expect(
        gt.log.every((l) => l.token_fingerprint === fingerprint(TOKEN) && l.token_scheme === 'token'),
      ).toBe(true);
    } finally {
      await stream.close();
    }
  });

  it('review verdicts: changes requested, then approved when the same person approves', async () => {
    const pull = gt.model.openPull(repo, { head: 'reviewed', author: 'agent', draft: true });
    gt.model.review(repo, pull.number, 'lee', 'REQUEST_CHANGES');
    gt.model.review(repo, pull.number, 'kim', 'COMMENT');
    const chat = await chatReporting(`${gt.webUrl}/${repo}.git`, 'reviewed');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      pull_request_draft: true,
      changes_requested: true,
      approved: false,
      reviewer_count: 1,
    });
    gt.model.review(repo, pull.number, 'lee', 'APPROVED');
    gt.model.update(repo, pull.number, { draft: false });
    expect((await refresh(chat)).diff_status).toMatchObject({
      pull_request_draft: false,
      changes_requested: false,
      approved: true,
      reviewer_count: 1,
    });
  });

  it('finds a PR merged before the first look', async () => {
    const pull = gt.model.openPull(repo, { head: 'early', title: 'Early' });
    gt.model.merge(repo, pull.number);
    const chat = await chatReporting(`${gt.webUrl}/${repo}`, 'early');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ pull_request_state: 'merged', pr_number: pull.number });
  });

  it('a PR merged with its head branch deleted stays shown with its branch; one merged and deleted before the first look is found', async () => {
    const pull = gt.model.openPull(repo, { head: 'feature/cleanup', title: 'Cleanup' });
    const chat = await chatReporting(`${gt.webUrl}/${repo}`, 'feature/cleanup');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ pull_request_state: 'open', head_branch: 'feature/cleanup' });
    // Gitea now answers `head.ref: refs/pull/N/head`, `head.label: feature/cleanup`.
    gt.model.merge(repo, pull.number, { delete_branch: true });
    expect((await refresh(chat)).diff_status).toMatchObject({
      url: `${gt.webUrl}/${repo}/pulls/${pull.number}`,
      pull_request_state: 'merged',
      head_branch: 'feature/cleanup',
      pr_number: pull.number,
    });
    const gone = gt.model.openPull(repo, { head: 'feature/gone', title: 'Gone' });
    gt.model.merge(repo, gone.number, { delete_branch: true });
    const late = await chatReporting(`${gt.webUrl}/${repo}`, 'feature/gone');
    await runtime.engine.tick();
    expect(await ref(late)).toMatchObject({
      pull_request_state: 'merged',
      pr_number: gone.number,
      head_branch: 'feature/gone',
    });
  });

  it('a signed commit-status delivery makes the refs on that head commit due: a CI re-run shows at once', async () => {
    const pull = gt.model.openPull(repo, { head: 'rerun', author: 'agent' });
    gt.model.setStatus(repo, pull.head_sha, { context: 'build', state: 'failure' });
    const chat = await chatReporting(`${gt.webUrl}/${repo}`, 'rerun');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ head_sha: pull.head_sha, checks_state: 'failing' });
    // The checks have read the same for ten minutes: kept, not read again while nothing moves.
    clock.advance(CHECKS_SETTLE_MS);
    expect((await refresh(chat)).diff_status).toMatchObject({ checks_state: 'failing' });
    // The job is re-run and passes: the PR answer shows nothing of it, so a refresh nothing asked
    // for (the row due again) keeps the checks it has.
    gt.model.setStatus(repo, pull.head_sha, { context: 'build', state: 'success' });
    clock.advance(DEFAULT_WORKER_SETTINGS.fresh_ttl_ms);
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ checks_state: 'failing' });
    const url = `${base}/api/v1/webhooks/corp`;
    const payload = new HookPayloads(gt).status(pull.repo, pull.head_sha, 'ci-bot');
    const delivered = await deliver(url, 'status', payload, SECRET, kind);
    expect(delivered.status).toBe(202);
    expect(JSON.parse(delivered.body)).toMatchObject({ status: 'accepted' });
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(clock.now().getTime());
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      checks_state: 'passing',
      checks: { passed: 1, failed: 0, pending: 0, skipped: 0, failing: [] },
    });
  });

  it('finds the PR of a fork in its parent', async () => {
    gt.model.createRepo({ full_name: 'agent/api', fork_of: repo, private: true, members: ['agent'] });
    const pull = gt.model.openPull(repo, { head: 'fix-typo', head_repo: 'agent/api', title: 'Typo' });
    const chat = await chatReporting(`${gt.webUrl}/agent/api`, 'fix-typo');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      git_remote_origin: `${gt.webUrl}/agent/api`,
      url: `${gt.webUrl}/${repo}/pulls/${pull.number}`,
      pull_request_title: 'Typo',
    });
  });

  it('webhooks: signature checked, a PR event marks the ref due, a redelivery is a duplicate', async () => {
    const pull = gt.model.openPull(repo, { head: 'hooked' });
    const chat = await chatReporting(`${gt.webUrl}/${repo}`, 'hooked');
    await runtime.engine.tick();
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeGreaterThan(clock.now().getTime());
    const payloads = new HookPayloads(gt);
    const url = `${base}/api/v1/webhooks/corp`;
    const payload = payloads.review(pull, 'pull_request_review_approved', 'lee');
    const event = 'pull_request_review_approved';
    expect((await deliver(url, event, payload, SECRET, kind, { signWith: 'wrong' })).status).toBe(401);
    expect((await deliver(url, event, payload, null, kind)).status).toBe(401);
    const first = await deliver(url, event, payload, SECRET, kind);
    expect(first.status).toBe(202);
    expect(JSON.parse(first.body)).toMatchObject({ status: 'accepted' });
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(clock.now().getTime());
    const again = await deliver(url, event, payload, SECRET, kind, { delivery: first.delivery });
    expect(JSON.parse(again.body)).toEqual({ status: 'duplicate' });
    // A push to the branch marks it due as well.
    await runtime.engine.tick();
    const push = payloads.push(pull.repo, 'hooked', 'a', 'b', 'agent');
    const pushed = await deliver(url, 'push', push, SECRET, kind);
    expect(JSON.parse(pushed.body)).toMatchObject({ status: 'accepted' });
    expect(new Date((await ref(chat)).stale_at).getTime()).toBeLessThanOrEqual(clock.now().getTime());
  });

  it('checks, mergeability and conversations: a force-push shows only the new head’s checks; unknown, then the checked answer; feedback on demand', async () => {
    const pull = gt.model.openPull(repo, { head: 'ci-flow', author: 'agent' });
    const first = pull.head_sha;
    gt.model.setStatus(repo, first, {
      context: 'build / test (pull_request)',
      state: 'success',
      target_url: `/gitea/${repo}/actions/runs/1/jobs/0`,
    });
    const chat = await chatReporting(`${gt.webUrl}/${repo}`, 'ci-flow');
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({
      head_sha: first,
      checks_state: 'passing',
      checks: { passed: 1, failed: 0, pending: 0, skipped: 0, failing: [] },
      // Gitea is still checking the new PR for conflicts: asked again soon.
      merge_state: 'unknown',
      unresolved_threads: 0,
      comments: 0,
    });
    clock.advance(15_000);
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ merge_state: 'clean', merge_state_reason: 'mergeable=true' });

    // A force-push that conflicts with the base: the old commit's green check is not shown.
    gt.model.setConflicting(repo, pull.number, true);
    const second = gt.model.push(repo, 'ci-flow');
    expect((await refresh(chat)).diff_status).toMatchObject({
      head_sha: second,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      merge_state: 'unknown',
    });
    gt.model.setStatus(repo, second, {
      context: 'build / test (pull_request)',
      state: 'failure',
      target_url: `/gitea/${repo}/actions/runs/2/jobs/0`,
      description: 'Failing after 3m',
    });
    gt.model.setStatus(repo, second, { context: 'lint', state: 'pending' });
    const review = gt.model.review(repo, pull.number, 'lee', 'REQUEST_CHANGES', [
      { path: 'src/login.ts', line: 12, body: 'handle the empty password' },
      { path: 'src/login.ts', line: 30, body: 'nit: rename' },
    ]);
    gt.model.resolveConversation(repo, pull.number, review.comments[1]!.id, 'lee');
    gt.model.comment(repo, pull.number);
    // `mergeable: false` is a conflict only once it held two minutes on these commits.
    clock.advance(15_000);
    await runtime.engine.tick();
    expect(await ref(chat)).toMatchObject({ merge_state: 'unknown', merge_state_reason: 'checking' });
    clock.advance(CONFLICT_SETTLE_MS);
    await runtime.engine.tick();
    const jobUrl = `${new URL(gt.webUrl).origin}/gitea/${repo}/actions/runs/2/jobs/0`;
    expect(await ref(chat)).toMatchObject({
      head_sha: second,
      checks_state: 'failing',
      checks: {
        passed: 0,
        failed: 1,
        pending: 1,
        skipped: 0,
        failing: [{ name: 'build / test (pull_request)', url: jobUrl }],
      },
      merge_state: 'conflicting',
      merge_state_reason: 'mergeable=false',
      changes_requested: true,
      unresolved_threads: 1,
      comments: 3,
    });

    const feedback = await api('GET', `/api/v1/chats/${chat}/feedback`);
    expect(feedback.status).toBe(200);
    expect(feedback.json.refs).toEqual([
      expect.objectContaining({
        git_branch: 'ci-flow',
        url: `${gt.webUrl}/${repo}/pulls/${pull.number}`,
        failing_checks: [{ name: 'build / test (pull_request)', url: jobUrl, summary: 'Failing after 3m' }],
        unresolved_threads: [
          {
            path: 'src/login.ts',
            line: 12,
            author: 'lee',
            author_association: null,
            trusted: null,
            body: 'handle the empty password',
            url: expect.stringContaining(`/pulls/${pull.number}#issuecomment-`),
          },
        ],
        changes_requested_by: [{ name: 'lee', trusted: null }],
        truncated: false,
      }),
    ]);
  });

  it('a 429 pauses the token until Retry-After, and nothing more goes to the host before then', async () => {
    gt.model.openPull(repo, { head: 'limited' });
    const chat = await chatReporting(`${gt.webUrl}/${repo}`, 'limited');
    gt.addFaults({ kind: 'rate_limit', retry_after_s: 300 });
    await runtime.engine.tick();
    const row = await ref(chat);
    expect(row.last_error).toMatch(/rate limited until/);
    expect(new Date(row.paused_until).getTime()).toBe(clock.now().getTime() + 300_000);
    gt.clearFaults();
    const before = gt.counters.total;
    const other = await chatReporting(`${gt.webUrl}/${repo}`, 'limited');
    await runtime.engine.tick();
    expect(gt.counters.total).toBe(before);
    expect((await ref(other)).paused_until).toBe(row.paused_until);
  });
});
