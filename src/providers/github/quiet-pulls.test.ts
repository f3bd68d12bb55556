import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../../../emulator/github/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { PULL_UNCHANGED, pullKey } from '../types.ts';
import { GitHubProvider } from './github-provider.ts';

/**
 * Quiet PRs cost nothing: a repository's PR list, asked conditionally (free when answered 304),
 * says which settled PRs moved since they were last read; the others are answered
 * PULL_UNCHANGED without a read. What the list cannot show — running checks, mergeability being
 * computed, anything after an hour — is read in full.
 */
describe('GitHub: quiet PRs answered from the repository’s PR list', () => {
  let gh: GitHubEmulator;
  let provider: GitHubProvider;
  const clock = new FakeClock('2026-05-01T10:00:00Z');
  const call = { token: 'ghp_quiet' };
  const repo = { owner: 'acme', name: 'app' };
  const pulls = (n: number) => Array.from({ length: n }, (_, i) => ({ repo, number: i + 1 }));

  beforeEach(async () => {
    gh = await startGitHubEmulator({ now: () => clock.now() });
    gh.addToken(call.token, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    provider = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
      { clock, requestTimeoutMs: 2000 },
    );
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await gh.close();
  });

  /** The PRs asked for, as a caller that shows what was read up to now. */
  const ask = (list: { repo: typeof repo; number: number }[]) =>
    provider.fetchPulls(
      list.map((p) => ({ ...p, shownSince: clock.now() })),
      call,
    );
  /** PRs without checks count as settled once quiet for ten minutes (their CI is not coming). */
  const quiet = () => clock.advance(600_000);
  /** A round of refreshes, a TTL after the last. */
  const round = async (n: number) => {
    clock.advance(120_000);
    gh.resetCounters();
    const points = gh.graphqlPoints;
    const answers = await ask(pulls(n));
    return { answers, points: gh.graphqlPoints - points };
  };
  const unchanged = (answers: Map<string, unknown>) =>
    [...answers].filter(([, v]) => v === PULL_UNCHANGED).map(([k]) => k);

  it('settled PRs that did not move cost one conditional list request (free) and no read', async () => {
    for (let i = 0; i < 10; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    quiet();
    await round(10);
    // The second round asks the list for the first time (its answer is the baseline): 200.
    const second = await round(10);
    expect(unchanged(second.answers)).toHaveLength(10);
    expect(gh.count('list_pulls', 200)).toBe(1);
    const third = await round(10);
    expect(unchanged(third.answers)).toHaveLength(10);
    expect(third.points).toBe(0);
    expect(gh.count('list_pulls', 304)).toBe(1);
    expect(gh.counters.total).toBe(1);
  });

  it('what moves a PR in the list — a title, a review, a push, a merge — is read; the others are not', async () => {
    for (let i = 0; i < 6; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    quiet();
    await round(6);
    await round(6);
    gh.model.updatePull('acme/app', 1, { title: 'renamed' });
    gh.model.review('acme/app', 2, { login: 'alice', state: 'APPROVED' });
    gh.model.push('acme/app', 'b2');
    gh.model.merge('acme/app', 4);
    const { answers } = await round(6);
    expect(gh.count('list_pulls', 200)).toBe(1);
    expect(unchanged(answers).sort()).toEqual([pullKey({ repo, number: 5 }), pullKey({ repo, number: 6 })]);
    expect(answers.get(pullKey({ repo, number: 1 }))).toMatchObject({ pull_request_title: 'renamed' });
    expect(answers.get(pullKey({ repo, number: 2 }))).toMatchObject({ approved: true });
    expect(answers.get(pullKey({ repo, number: 4 }))).toMatchObject({ pull_request_state: 'merged' });
  });

  it('one list answer serves one round (5 s); a PR read in full after it is never answered by it', async () => {
    for (let i = 0; i < 2; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    quiet();
    await round(2);
    await round(2);
    // Within the round the list is a snapshot: a change just after it shows in the next round.
    gh.model.updatePull('acme/app', 1, { title: 'first' });
    expect((await ask(pulls(2))).get(pullKey({ repo, number: 1 }))).toBe(PULL_UNCHANGED);
    clock.advance(5_000);
    expect((await ask(pulls(2))).get(pullKey({ repo, number: 1 }))).toMatchObject({
      pull_request_title: 'first',
    });
    // PR 1 was read in full after this round's list: a change now is not hidden by that list.
    gh.model.updatePull('acme/app', 1, { title: 'second' });
    clock.advance(1);
    expect((await ask(pulls(2))).get(pullKey({ repo, number: 1 }))).toMatchObject({
      pull_request_title: 'second',
    });
  });

  it('a caller showing a read older than the provider’s last one is read in full (two chats, one PR)', async () => {
    gh.model.openPull('acme/app', { head: 'shared' });
    quiet();
    const one = [{ repo, number: 1 }];
    await round(1);
    const chatA = clock.now(); // chat A shows this read
    await round(1);
    gh.model.push('acme/app', 'shared');
    clock.advance(600_000);
    await round(1); // chat B's refresh reads the push
    clock.advance(120_000);
    const forA = await provider.fetchPulls([{ ...one[0]!, shownSince: chatA }], call);
    expect(forA.get(pullKey(one[0]!))).toMatchObject({ head_sha: gh.model.pull('acme/app', 1).head_sha });
    // Without a time, nothing is answered from the list either.
    expect((await provider.fetchPulls(one, call)).get(pullKey(one[0]!))).toMatchObject({ pr_number: 1 });
  });

  it('no checks yet is not settled while the PR is fresh: CI’s first runs move nothing in the list', async () => {
    const pr = gh.model.openPull('acme/app', { head: 'fresh' });
    await round(1);
    await round(1);
    gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'ci', status: 'queued' });
    expect((await round(1)).answers.get(pullKey({ repo, number: 1 }))).toMatchObject({
      checks_state: 'pending',
    });
  });

  it('running checks do not move the list: a PR with checks running is read every round', async () => {
    const pr = gh.model.openPull('acme/app', { head: 'ci' });
    gh.model.openPull('acme/app', { head: 'other' });
    quiet();
    const run = gh.model.addCheckRun({ head_sha: pr.head_sha, name: 'test', status: 'in_progress' });
    await round(2);
    await round(2);
    gh.model.updateCheckRun(run.id, { conclusion: 'failure' });
    const { answers } = await round(2);
    expect(answers.get(pullKey({ repo, number: 1 }))).toMatchObject({ checks_state: 'failing' });
    expect(unchanged(answers)).toEqual([pullKey({ repo, number: 2 })]);
    // Finished now: the next round answers it from the list too.
    expect(unchanged((await round(2)).answers)).toHaveLength(2);
  });

  it('mergeability being computed is read every round; every PR is read in full at least hourly', async () => {
    gh.model.mergeComputeMs = 1000;
    gh.model.openPull('acme/app', { head: 'a' });
    gh.model.openPull('acme/app', { head: 'b' });
    quiet();
    const first = (await round(2)).answers;
    expect(first.get(pullKey({ repo, number: 1 }))).toMatchObject({ merge_state: 'unknown' });
    const second = (await round(2)).answers;
    expect(second.get(pullKey({ repo, number: 1 }))).toMatchObject({ merge_state: 'clean' });
    expect(unchanged((await round(2)).answers)).toHaveLength(2);
    // A check re-run on a settled PR moves nothing in the list: seen within the hour.
    gh.model.addCheckRun({
      head_sha: gh.model.pull('acme/app', 1).head_sha,
      name: 'late',
      conclusion: 'failure',
    });
    clock.advance(3_600_000);
    const late = (await round(2)).answers;
    expect(late.get(pullKey({ repo, number: 1 }))).toMatchObject({ checks_state: 'failing' });
  });

  it('the list is read oldest first, as many pages as hold the PRs asked for; a change costs only its page', async () => {
    for (let i = 0; i < 250; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    quiet();
    const asked = [
      { repo, number: 1 },
      { repo, number: 150 },
    ];
    await ask(asked);
    clock.advance(120_000);
    await ask(asked);
    clock.advance(120_000);
    gh.resetCounters();
    let answers = await ask(asked);
    expect([...answers.values()]).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    // Two pages (of three), both unchanged: free.
    expect(gh.count('list_pulls', 304)).toBe(2);
    expect(gh.counters.total).toBe(2);
    // A change to PR 150 changes its page alone…
    gh.model.updatePull('acme/app', 150, { title: 'moved' });
    clock.advance(120_000);
    gh.resetCounters();
    answers = await ask(asked);
    expect(answers.get(pullKey(asked[0]!))).toBe(PULL_UNCHANGED);
    expect(answers.get(pullKey(asked[1]!))).toMatchObject({ pull_request_title: 'moved' });
    expect(gh.count('list_pulls', 304)).toBe(1);
    expect(gh.count('list_pulls', 200)).toBe(1);
    // (PR 150, changed just now and without checks, is read in full until it has been quiet a while.)
    quiet();
    await ask(asked);
    clock.advance(120_000);
    // …but a push anywhere in the repository changes every page (each PR shows its base
    // repository, and that its `pushed_at`): the pages cost a unit each, the PRs are still not read.
    gh.model.push('acme/app', 'elsewhere');
    clock.advance(120_000);
    gh.resetCounters();
    answers = await ask(asked);
    expect([...answers.values()]).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    expect(gh.count('list_pulls', 200)).toBe(2);
    expect(gh.count('graphql')).toBe(0);
  });

  it('a PR beyond the pages read (a thousand older open PRs) is read as before', async () => {
    for (let i = 0; i < 1001; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    quiet();
    const late = { repo, number: 1001 };
    await ask([late]);
    clock.advance(120_000);
    const answers = await ask([late]);
    expect(answers.get(pullKey(late))).toMatchObject({ pr_number: 1001 });
  });
});
