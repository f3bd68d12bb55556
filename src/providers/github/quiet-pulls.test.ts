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

  /** A round of refreshes, a TTL after the last. */
  const round = async (n: number) => {
    clock.advance(120_000);
    gh.resetCounters();
    const points = gh.graphqlPoints;
    const answers = await provider.fetchPulls(pulls(n), call);
    return { answers, points: gh.graphqlPoints - points };
  };
  const unchanged = (answers: Map<string, unknown>) =>
    [...answers].filter(([, v]) => v === PULL_UNCHANGED).map(([k]) => k);

  it('settled PRs that did not move cost one conditional list request (free) and no read', async () => {
    for (let i = 0; i < 10; i++) gh.model.openPull('acme/app', { head: `b${i}` });
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
    await round(2);
    await round(2);
    // Within the round the list is a snapshot: a change just after it shows in the next round.
    gh.model.updatePull('acme/app', 1, { title: 'first' });
    expect((await provider.fetchPulls(pulls(2), call)).get(pullKey({ repo, number: 1 }))).toBe(
      PULL_UNCHANGED,
    );
    clock.advance(5_000);
    expect((await provider.fetchPulls(pulls(2), call)).get(pullKey({ repo, number: 1 }))).toMatchObject({
      pull_request_title: 'first',
    });
    // PR 1 was read in full after this round's list: a change now is not hidden by that list.
    gh.model.updatePull('acme/app', 1, { title: 'second' });
    clock.advance(1);
    expect((await provider.fetchPulls(pulls(2), call)).get(pullKey({ repo, number: 1 }))).toMatchObject({
      pull_request_title: 'second',
    });
  });

  it('running checks do not move the list: a PR with checks running is read every round', async () => {
    const pr = gh.model.openPull('acme/app', { head: 'ci' });
    gh.model.openPull('acme/app', { head: 'other' });
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
    const asked = [
      { repo, number: 1 },
      { repo, number: 150 },
    ];
    await provider.fetchPulls(asked, call);
    clock.advance(120_000);
    await provider.fetchPulls(asked, call);
    clock.advance(120_000);
    gh.resetCounters();
    let answers = await provider.fetchPulls(asked, call);
    expect([...answers.values()]).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    // Two pages (of three), both unchanged: free.
    expect(gh.count('list_pulls', 304)).toBe(2);
    expect(gh.counters.total).toBe(2);
    // A change to PR 150 changes its page alone…
    gh.model.updatePull('acme/app', 150, { title: 'moved' });
    clock.advance(120_000);
    gh.resetCounters();
    answers = await provider.fetchPulls(asked, call);
    expect(answers.get(pullKey(asked[0]!))).toBe(PULL_UNCHANGED);
    expect(answers.get(pullKey(asked[1]!))).toMatchObject({ pull_request_title: 'moved' });
    expect(gh.count('list_pulls', 304)).toBe(1);
    expect(gh.count('list_pulls', 200)).toBe(1);
    // …but a push anywhere in the repository changes every page (each PR shows its base
    // repository, and that its `pushed_at`): the pages cost a unit each, the PRs are still not read.
    gh.model.push('acme/app', 'elsewhere');
    clock.advance(120_000);
    gh.resetCounters();
    answers = await provider.fetchPulls(asked, call);
    expect([...answers.values()]).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    expect(gh.count('list_pulls', 200)).toBe(2);
    expect(gh.count('graphql')).toBe(0);
  });

  it('a PR beyond the pages read (a thousand older open PRs) is read as before', async () => {
    for (let i = 0; i < 1001; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    const late = { repo, number: 1001 };
    await provider.fetchPulls([late], call);
    clock.advance(120_000);
    const answers = await provider.fetchPulls([late], call);
    expect(answers.get(pullKey(late))).toMatchObject({ pr_number: 1001 });
  });
});
