import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../../../emulator/github/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { PULL_UNCHANGED, type PullRef, pullKey } from '../types.ts';
import { GitHubProvider } from './github-provider.ts';

/**
 * What a signal asks for is read from GitHub (`PullRef.fresh`), a merged PR's branch keeps its
 * newest PR, and more checks than one page hold are all counted, the same through both paths.
 */
describe('GitHub: fresh reads, the PR of a branch, checks beyond one page', () => {
  let gh: GitHubEmulator;
  let provider: GitHubProvider;
  const clock = new FakeClock('2026-05-01T10:00:00Z');
  const call = { token: 'ghp_fresh' };
  const repo = { owner: 'acme', name: 'app' };
  const one: PullRef = { repo, number: 1 };

  const providerWith = (options: { listFirst?: boolean } = {}) =>
    new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
      { clock, requestTimeoutMs: 5000, ...options },
    );
  beforeEach(async () => {
    gh = await startGitHubEmulator({ now: () => clock.now() });
    gh.addToken(call.token, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    provider = providerWith();
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await gh.close();
  });

  /** A refresh as the engine asks it: showing what was read up to now. */
  const refresh = async (pull: PullRef) => {
    clock.advance(120_000);
    return (await provider.fetchPulls([{ ...pull, shownSince: clock.now() }], call)).get(pullKey(pull));
  };
  /** A settled PR (checks finished, mergeability known) whose check `ci` failed on its head. */
  const settledWithFailedCheck = async (names: string[] = ['ci']) => {
    const pull = gh.model.openPull('acme/app', { head: 'feature' });
    for (const name of names) gh.model.addCheckRun({ head_sha: pull.head_sha, name, conclusion: 'failure' });
    await refresh(one);
    await refresh(one);
    return pull;
  };

  it('a check re-run on the same head: the quiet path keeps the old answer, a fresh read shows the new one', async () => {
    const pull = await settledWithFailedCheck();
    expect(await refresh(one)).toBe(PULL_UNCHANGED);
    // The re-run is a new check run on the same commit: neither `updated_at` nor the list moves.
    gh.model.addCheckRun({ head_sha: pull.head_sha, name: 'ci', conclusion: 'success' });
    expect(await refresh(one)).toBe(PULL_UNCHANGED);
    clock.advance(1_000);
    const fresh = await provider.fetchPulls([{ ...one, shownSince: clock.now(), fresh: true }], call);
    expect(fresh.get(pullKey(one))).toMatchObject({
      checks_state: 'passing',
      checks: { passed: 1, failed: 0 },
    });
  });

  it('kept details (rollup state unchanged): a plain read keeps them within the hour, a fresh read does not', async () => {
    provider = providerWith({ listFirst: false });
    const pull = await settledWithFailedCheck(['lint', 'test']);
    expect(await refresh(one)).toMatchObject({ checks: { failed: 2 } });
    // `test` passes on a re-run; `lint` still fails, so the rollup state (the cache's stamp) stays.
    gh.model.addCheckRun({ head_sha: pull.head_sha, name: 'test', conclusion: 'success' });
    expect(await refresh(one)).toMatchObject({ checks_state: 'failing', checks: { failed: 2, passed: 0 } });
    const fresh = await provider.fetchPulls([{ ...one, fresh: true }], call);
    expect(fresh.get(pullKey(one))).toMatchObject({ checks: { failed: 1, passed: 1 } });
    // The fresh read's answer serves the next plain reads.
    expect(await refresh(one)).toMatchObject({ checks: { failed: 1, passed: 1 } });
  });

  it('fetchPull: a resolved review thread shows in a fresh read, and a re-run check in every read', async () => {
    const pull = gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.addCheckRun({ head_sha: pull.head_sha, name: 'ci', conclusion: 'failure' });
    const thread = gh.model.reviewComment('acme/app', 1, { login: 'rev', body: 'why?' });
    expect(await provider.fetchPull(one, call)).toMatchObject({ unresolved_threads: 1 });
    // Resolving moves nothing REST shows: the kept answer stands for a plain read.
    gh.model.resolveThread('acme/app', 1, thread.id);
    gh.model.addCheckRun({ head_sha: pull.head_sha, name: 'ci', conclusion: 'success' });
    clock.advance(60_000);
    expect(await provider.fetchPull(one, call)).toMatchObject({
      unresolved_threads: 1,
      checks_state: 'passing',
    });
    expect(await provider.fetchPull({ ...one, fresh: true }, call)).toMatchObject({ unresolved_threads: 0 });
  });

  it('a branch whose PRs are all merged is the newest one’s, even when an older one was commented on since', async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.merge('acme/app', 1);
    clock.advance(60_000);
    gh.model.push('acme/app', 'feature');
    gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.merge('acme/app', 2);
    clock.advance(60_000);
    gh.model.comment('acme/app', 1, { login: 'rev', body: 'late thanks' });
    // REST (`head=owner:branch`) and GraphQL (`pullRequests(headRefName:)`) choose alike.
    expect(await provider.findPullForBranch(repo, 'feature', call)).toMatchObject({ pr_number: 2 });
    const batch = await provider.findPullsForBranches([{ repo, branch: 'feature' }], call);
    expect([...batch.values()][0]).toMatchObject({ pr_number: 2, pull_request_state: 'merged' });
    // An open PR still wins over any merged one.
    gh.model.push('acme/app', 'feature');
    gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.comment('acme/app', 2, { login: 'rev', body: 'and again' });
    expect(await provider.findPullForBranch(repo, 'feature', call)).toMatchObject({ pr_number: 3 });
  });

  describe('more checks than one page (100) holds', () => {
    const manyChecks = (runs: number, failing: number | null = null) => {
      const pull = gh.model.openPull('acme/app', { head: 'feature' });
      for (let i = 0; i < runs; i++)
        gh.model.addCheckRun({
          head_sha: pull.head_sha,
          name: `job-${String(i).padStart(4, '0')}`,
          conclusion: i === failing ? 'failure' : 'success',
        });
      for (let i = 0; i < 3; i++)
        gh.model.addStatus({ sha: pull.head_sha, context: `status-${i}`, state: 'success' });
      return pull;
    };
    const bothPaths = async () => {
      const single = await provider.fetchPull(one, call);
      const batch = (await provider.fetchPulls([{ ...one, fresh: true }], call)).get(pullKey(one));
      return { single, batch };
    };

    it('150 check runs and 3 statuses: both paths count all 153 and agree', async () => {
      manyChecks(150);
      const { single, batch } = await bothPaths();
      const all = { checks_state: 'passing', checks: { passed: 153, failed: 0, pending: 0, skipped: 0 } };
      expect(single).toMatchObject(all);
      expect(batch).toMatchObject(all);
      // Two pages of check runs, one of statuses, for each read.
      expect(gh.count('list_check_runs', 200)).toBe(2);
      expect(gh.count('list_check_runs', 304)).toBe(2);
      expect(gh.count('combined_status', 304)).toBe(1);
    });

    it('a failure on the second page shows, by name, through both paths', async () => {
      manyChecks(150, 140);
      const { single, batch } = await bothPaths();
      const failing = {
        checks_state: 'failing',
        checks: { passed: 152, failed: 1, failing: [{ name: 'job-0140' }] },
      };
      expect(single).toMatchObject(failing);
      expect(batch).toMatchObject(failing);
    });

    it('beyond 1,000 check runs: counts of those read, and never "passing" for what was not seen', async () => {
      manyChecks(1_001);
      const { single, batch } = await bothPaths();
      const partial = { checks_state: 'pending', checks: { passed: 1_003, failed: 0 } };
      expect(single).toMatchObject(partial);
      expect(batch).toMatchObject(partial);
      expect(gh.count('list_check_runs', 200)).toBe(10);
    });
  });
});
