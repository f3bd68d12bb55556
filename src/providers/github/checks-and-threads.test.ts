import { parse } from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { graphqlCost } from '../../../emulator/github/graphql.ts';
import { type GitHubEmulator, startGitHubEmulator } from '../../../emulator/github/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { readinessOf } from '../../core/readiness.ts';
import type { DiffStatus, PrFields } from '../../core/types.ts';
import { withHttpUrls } from '../../core/url.ts';
import { refFeedback } from '../../engine/feedback.ts';
import { pullKey } from '../types.ts';
import { GitHubProvider } from './github-provider.ts';
import {
  buildDetailsQuery,
  buildFeedbackQuery,
  buildPullsQuery,
  CONNECTIONS_PER_PULL,
  DETAIL_CONNECTIONS,
  githubTrust,
  MAX_PULLS_PER_QUERY,
} from './graphql.ts';

/**
 * Checks, mergeability, review threads and comments on GitHub: through the batch (GraphQL) and the
 * single (REST) path alike, always for the PR's current head commit, against the emulator.
 */
describe('GitHub checks, mergeability and threads', () => {
  let gh: GitHubEmulator;
  let provider: GitHubProvider;
  const clock = new FakeClock('2026-05-01T10:00:00Z');
  const call = { token: 'ghp_checks_token' };
  const repo = { owner: 'acme', name: 'app' };
  const pull = { repo, number: 1 };

  beforeEach(async () => {
    gh = await startGitHubEmulator({ now: () => clock.now() });
    gh.model.mergeComputeMs = 1000;
    gh.addToken(call.token, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    provider = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
      // Field mapping and details caching: every batch read goes to GraphQL (the PR-list shortcut
      // is tested in quiet-pulls.test.ts).
      { clock, requestTimeoutMs: 2000, listFirst: false },
    );
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await gh.close();
  });

  /** The PR through both paths; they must agree on every field. */
  const both = async (): Promise<PrFields> => {
    const rest = await provider.fetchPull(pull, call);
    const graphql = (await provider.fetchPulls([pull, { repo, number: 99 }], call)).get(pullKey(pull));
    expect(graphql).toEqual(rest);
    return rest;
  };
  /** Mergeability is computed once asked, a moment later. */
  const computed = async () => {
    await provider.fetchPull(pull, call);
    clock.advance(gh.model.mergeComputeMs);
  };

  it('failing, pending and passing checks of the head commit: runs and statuses combined, failing names with links', async () => {
    const pr = gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'build', conclusion: 'success' });
    gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'lint', conclusion: 'skipped' });
    gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'test', status: 'in_progress' });
    gh.model.addStatus({ sha: pr.head_sha, context: 'ci/legacy', state: 'success' });
    expect(await both()).toMatchObject({
      head_sha: pr.head_sha,
      checks_state: 'pending',
      checks: { passed: 2, failed: 0, pending: 1, skipped: 1, failing: [] },
    });
    const test = gh.model.checksOf(pr.head_sha).runs.find((r) => r.name === 'test')!;
    gh.model.updateCheckRun(test.id, { conclusion: 'timed_out' });
    gh.model.addStatus({
      sha: pr.head_sha,
      context: 'deploy/preview',
      state: 'error',
      target_url: 'https://ci.example/deploy/7',
    });
    gh.model.addCheckRun({
      head_sha: pr.head_sha,
      name: 'e2e',
      conclusion: 'failure',
      details_url: 'https://ci.example/e2e/3',
    });
    expect(await both()).toMatchObject({
      checks_state: 'failing',
      checks: {
        passed: 2,
        failed: 3,
        pending: 0,
        skipped: 1,
        failing: [
          { name: 'deploy/preview', url: 'https://ci.example/deploy/7' },
          { name: 'e2e', url: 'https://ci.example/e2e/3' },
          // No details page: the check run's own page on GitHub.
          { name: 'test', url: `${gh.webUrl}/acme/app/runs/${test.id}` },
        ],
      },
    });
    // A re-run that passes replaces the failed run of that name; a newer status replaces the older.
    gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'test', conclusion: 'success' });
    gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'e2e', conclusion: 'success' });
    gh.model.addStatus({ sha: pr.head_sha, context: 'deploy/preview', state: 'success' });
    expect(await both()).toMatchObject({
      checks_state: 'passing',
      checks: { passed: 5, failed: 0, pending: 0, skipped: 1, failing: [] },
    });
  });

  it('a force-push: the new head shows its own checks, never the green ones of the replaced commit', async () => {
    const pr = gh.model.openPull('acme/app', { head: 'feature' });
    const old = pr.head_sha;
    gh.model.addCheckRun({ head_sha: old, name: 'build', conclusion: 'success' });
    expect(await both()).toMatchObject({ head_sha: old, checks_state: 'passing' });
    const pushed = gh.model.push('acme/app', 'feature');
    expect(pushed).not.toBe(old);
    expect(await both()).toMatchObject({
      head_sha: pushed,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
    });
    gh.model.addCheckRun({ head_sha: pushed, name: 'build', status: 'queued' });
    expect(await both()).toMatchObject({ head_sha: pushed, checks_state: 'pending' });
  });

  it('awaiting_approval: a required review holds the merge on both paths; GitHub letting it merge does not', async () => {
    gh.model.configureRepo('acme/app', { required_approvals: 1 });
    gh.model.openPull('acme/app', { head: 'feature' });
    // Not computed yet, no reviews: REST asks the decision too, so both paths say the same.
    expect(await both()).toMatchObject({ merge_state: 'unknown', awaiting_approval: true });
    clock.advance(gh.model.mergeComputeMs);
    const blocked = await both();
    expect(blocked).toMatchObject({ merge_state: 'blocked', awaiting_approval: true });
    expect(readinessOf({ ...blocked, refreshed_at: clock.now() }).blockers).toEqual([
      { kind: 'needs_approval', detail: 'the host requires approval' },
    ]);
    gh.model.review('acme/app', 1, { login: 'acme', state: 'APPROVED' });
    const approved = await both();
    expect(approved).toMatchObject({ merge_state: 'clean', approved: true, awaiting_approval: false });
    expect(readinessOf({ ...approved, refreshed_at: clock.now() })).toEqual({ ready: true, blockers: [] });
  });

  it('awaiting_approval: a repository requiring no review holds nothing for want of one', async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    await computed();
    const pr = await both();
    expect(pr).toMatchObject({ merge_state: 'clean', approved: false, awaiting_approval: false });
    expect(readinessOf({ ...pr, refreshed_at: clock.now() }).ready).toBe(true);
  });

  it('mergeability is computed lazily: unknown first, then the real state; conflicts, behind, blocked, draft', async () => {
    gh.model.configureRepo('acme/app', { required_approvals: 1 });
    gh.model.openPull('acme/app', { head: 'feature' });
    expect(await both()).toMatchObject({ merge_state: 'unknown', merge_state_reason: 'UNKNOWN' });
    clock.advance(gh.model.mergeComputeMs);
    expect(await both()).toMatchObject({ merge_state: 'blocked', merge_state_reason: 'BLOCKED' });
    gh.model.review('acme/app', 1, { login: 'acme', state: 'APPROVED' });
    expect(await both()).toMatchObject({ merge_state: 'clean', merge_state_reason: 'CLEAN' });
    // A push starts the computation again: "unknown", never the stale "clean".
    gh.model.push('acme/app', 'feature');
    gh.model.updatePull('acme/app', 1, { conflicting: true });
    expect(await both()).toMatchObject({ merge_state: 'unknown' });
    clock.advance(gh.model.mergeComputeMs);
    expect(await both()).toMatchObject({ merge_state: 'conflicting', merge_state_reason: 'DIRTY' });
    gh.model.updatePull('acme/app', 1, { conflicting: false, behind: true });
    await computed();
    expect(await both()).toMatchObject({ merge_state: 'behind', merge_state_reason: 'BEHIND' });
    gh.model.updatePull('acme/app', 1, { behind: false, draft: true });
    await computed();
    expect(await both()).toMatchObject({ merge_state: 'draft' });
    // Failing checks leave it mergeable (GitHub: UNSTABLE); the checks say the rest.
    gh.model.updatePull('acme/app', 1, { draft: false });
    gh.model.addCheckRun({
      head_sha: gh.model.pull('acme/app', 1).head_sha,
      name: 'ci',
      conclusion: 'failure',
    });
    await computed();
    expect(await both()).toMatchObject({ merge_state: 'clean', merge_state_reason: 'UNSTABLE' });
    gh.model.merge('acme/app', 1);
    expect(await both()).toMatchObject({
      pull_request_state: 'merged',
      merge_state: null,
      merge_state_reason: null,
    });
  });

  it('unresolved review threads and comments are counted; a resolution shows once the details are read again', async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    expect(await both()).toMatchObject({ unresolved_threads: 0, comments: 0 });
    const a = gh.model.reviewComment('acme/app', 1, {
      login: 'alice',
      body: 'why?',
      path: 'src/a.ts',
      line: 3,
    });
    const first = a.comments[0]!.id;
    gh.model.reviewComment('acme/app', 1, { login: 'agent', body: 'because', in_reply_to: first });
    gh.model.reviewComment('acme/app', 1, { login: 'bob', body: 'typo', path: 'README.md', line: 1 });
    gh.model.comment('acme/app', 1, { login: 'carol', body: 'LGTM overall' });
    expect(await both()).toMatchObject({ unresolved_threads: 2, comments: 4 });
    // Resolving moves neither `updated_at` nor the comment count: the cached details stand until
    // they are an hour old.
    gh.model.resolveThread('acme/app', 1, a.id);
    expect((await provider.fetchPulls([pull], call)).get(pullKey(pull))).toMatchObject({
      unresolved_threads: 2,
    });
    clock.advance(3_600_000);
    expect(await both()).toMatchObject({ unresolved_threads: 1, comments: 4 });
  });

  it('an unchanged PR is read without its details: the same connections as before, one point per 49', async () => {
    for (let i = 0; i < MAX_PULLS_PER_QUERY; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    const pulls = Array.from({ length: MAX_PULLS_PER_QUERY }, (_, i) => ({ repo, number: i + 1 }));
    await provider.fetchPulls(pulls, call);
    clock.advance(gh.model.mergeComputeMs);
    await provider.fetchPulls(pulls, call);
    const before = gh.graphqlPoints;
    const queries = gh.count('graphql', 200);
    for (let round = 0; round < 10; round++) {
      clock.advance(120_000);
      await provider.fetchPulls(pulls, call);
    }
    // Ten rounds of 49 unchanged PRs: one query of one point each.
    expect(gh.count('graphql', 200) - queries).toBe(10);
    expect(gh.graphqlPoints - before).toBe(10);
  });

  it('queries stay within one point: lean 49, with details 29, details alone 74', () => {
    const pulls = (n: number) => Array.from({ length: n }, (_, i) => ({ repo, number: i + 1 }));
    const cost = (q: { query: string; variables: Record<string, unknown> }) =>
      graphqlCost(parse(q.query), q.variables);
    expect(cost(buildPullsQuery(pulls(MAX_PULLS_PER_QUERY))).requests).toBe(
      MAX_PULLS_PER_QUERY * CONNECTIONS_PER_PULL,
    );
    const full = Math.floor(149 / (CONNECTIONS_PER_PULL + DETAIL_CONNECTIONS));
    expect(cost(buildPullsQuery(pulls(full), () => true)).cost).toBe(1);
    expect(cost(buildPullsQuery(pulls(full + 1), () => true)).cost).toBe(2);
    expect(cost(buildDetailsQuery(pulls(74))).cost).toBe(1);
    expect(cost(buildFeedbackQuery(pull)).cost).toBe(1);
  });

  it('feedback: failing checks with their text, unresolved threads by their first comment, who requests changes', async () => {
    const pr = gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.addCheckRun({
      head_sha: pr.head_sha,
      name: 'test',
      conclusion: 'failure',
      details_url: 'https://ci.example/test/1',
      title: '2 tests failed',
      summary: 'test_parse: expected 3, got 4',
    });
    gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'build', conclusion: 'success' });
    gh.model.addStatus({
      sha: pr.head_sha,
      context: 'coverage',
      state: 'failure',
      description: 'coverage fell 2%',
    });
    const thread = gh.model.reviewComment('acme/app', 1, {
      login: 'alice',
      body: 'Please handle the empty case.',
      path: 'src/parse.ts',
      line: 12,
    });
    gh.model.reviewComment('acme/app', 1, { login: 'bob', body: 'done?', path: 'src/b.ts', line: 1 });
    gh.model.resolveThread('acme/app', 1, gh.model.pull('acme/app', 1).threads[1]!.id);
    gh.model.review('acme/app', 1, { login: 'alice', state: 'CHANGES_REQUESTED' });
    gh.model.review('acme/app', 1, { login: 'bob', state: 'CHANGES_REQUESTED' });
    gh.model.review('acme/app', 1, { login: 'bob', state: 'APPROVED' });
    gh.model.review('acme/app', 1, { login: 'dependabot[bot]', state: 'CHANGES_REQUESTED' });
    gh.model.setAssociation('acme/app', 'alice', 'MEMBER');
    const feedback = await provider.fetchFeedback(pull, call);
    expect(feedback).toEqual({
      failing_checks: [
        {
          name: 'test',
          url: 'https://ci.example/test/1',
          summary: '2 tests failed\n\ntest_parse: expected 3, got 4',
        },
        { name: 'coverage', url: null, summary: 'coverage fell 2%' },
      ],
      unresolved_threads: [
        {
          path: 'src/parse.ts',
          line: 12,
          author: 'alice',
          author_association: 'MEMBER',
          trusted: true,
          body: 'Please handle the empty case.',
          url: `${gh.webUrl}/acme/app/pull/1#discussion_r${thread.comments[0]!.id}`,
        },
      ],
      changes_requested_by: [
        { name: 'alice', trusted: true },
        { name: 'dependabot[bot]', trusted: false },
      ],
      truncated: false,
    });
  });

  it('hostile links from the host (a status target_url, a check run details_url) are served as null', async () => {
    const pr = gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.addStatus({
      sha: pr.head_sha,
      context: 'evil',
      state: 'failure',
      target_url: 'javascript:alert(1)',
    });
    gh.model.addCheckRun({
      head_sha: pr.head_sha,
      name: 'sneaky',
      conclusion: 'failure',
      details_url: 'data:text/html,<script>alert(1)</script>',
    });
    gh.model.reviewComment('acme/app', 1, { login: 'acme', body: 'x', path: 'a.ts', line: 1 });
    const read = await provider.fetchFeedback(pull, call);
    const ref = {
      git_remote_origin: 'https://github.com/acme/app',
      git_branch: 'feature',
      url: 'javascript:void(0)',
    };
    const served = refFeedback(ref as DiffStatus, read).feedback;
    expect(served.url).toBeNull();
    expect(served.failing_checks.map((c) => [c.name, c.url])).toEqual(
      expect.arrayContaining([
        ['evil', null],
        ['sneaky', null],
      ]),
    );
    // A refresh stores none of them either (engine/outcomes.ts), nor serves one stored before.
    const fields = await provider.fetchPull(pull, call);
    const stored = withHttpUrls(fields);
    expect(stored.checks?.failing.every((c) => c.url === null)).toBe(true);
  });

  it("feedback: each author's authorAssociation and whether it shows they belong (OWNER, MEMBER, COLLABORATOR do)", async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    // [login, association set on the host (undefined: what GitHub derives), served word, trusted]
    const table: [string, string | undefined, string, boolean | null][] = [
      ['acme', undefined, 'OWNER', true],
      ['mia', 'MEMBER', 'MEMBER', true],
      ['cole', 'COLLABORATOR', 'COLLABORATOR', true],
      ['cora', 'CONTRIBUTOR', 'CONTRIBUTOR', false],
      ['fred', 'FIRST_TIME_CONTRIBUTOR', 'FIRST_TIME_CONTRIBUTOR', false],
      ['finn', 'FIRST_TIMER', 'FIRST_TIMER', false],
      ['manny', 'MANNEQUIN', 'MANNEQUIN', false],
      ['pat', undefined, 'NONE', false],
    ];
    for (const [login, set] of table) {
      if (set) gh.model.setAssociation('acme/app', login, set);
      gh.model.reviewComment('acme/app', 1, { login, body: `from ${login}`, path: 'a.ts', line: 1 });
      gh.model.review('acme/app', 1, { login, state: 'CHANGES_REQUESTED' });
    }
    const feedback = await provider.fetchFeedback(pull, call);
    expect(feedback.unresolved_threads.map((t) => [t.author, t.author_association, t.trusted])).toEqual(
      table.map(([login, , word, trusted]) => [login, word, trusted]),
    );
    expect(feedback.changes_requested_by).toEqual(table.map(([name, , , trusted]) => ({ name, trusted })));
    // A word GitHub may add to the enum later: not known to belong, nor known not to.
    expect(githubTrust('MAINTAINER_OF_SORTS')).toBeNull();
    expect(githubTrust(null)).toBeNull();
  });
});
