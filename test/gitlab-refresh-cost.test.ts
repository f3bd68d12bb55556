import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitLabEmulator, startGitLabEmulator } from '../emulator/gitlab/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import type { PrFields } from '../src/core/types.ts';
import { GitLabProvider } from '../src/providers/gitlab/gitlab-provider.ts';
import type { PullRef } from '../src/providers/types.ts';

/**
 * What keeping many MRs fresh costs GitLab, counted at the emulator (which scores queries by
 * GitLab's own rules and refuses those above 250 points), and that every kind of change is still
 * seen on the next refresh (SPEC §7: at most 50 host requests per 1,000 refreshes of unchanged PRs).
 */
describe('GitLab refresh cost', () => {
  let gl: GitLabEmulator;
  const call = { token: 'glpat-cost' };
  const path = 'cost/group/app';
  const repo = { owner: 'cost/group', name: 'app' };
  let provider: GitLabProvider;
  const pulls: PullRef[] = [];

  beforeAll(async () => {
    gl = await startGitLabEmulator({ rateLimit: 10_000_000 });
    gl.addToken(call.token, 'agent');
    gl.model.createProject({ path, visibility: 'private', members: ['agent', 'lee', 'kim'] });
    const jobs = ['lint', 'unit', 'build'].map((name) => ({ name, status: 'success' as const }));
    for (let i = 0; i < 240; i++) {
      gl.model.push(path, `b${i}`);
      const mr = gl.model.openMergeRequest(path, { source_branch: `b${i}` });
      gl.model.createPipeline(path, { ref: `b${i}`, jobs });
      gl.model.requestReview(path, mr.iid, 'lee');
      pulls.push({ repo, number: mr.iid });
    }
    gl.model.settleMergeChecks();
    provider = new GitLabProvider(
      { id: 'gl', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl },
      { clock: new FakeClock(new Date()) },
    );
  });
  afterAll(async () => {
    expect(gl.counters.unexpected).toEqual([]);
    await gl.close();
  });

  const refresh = async () => {
    const read = await provider.fetchPulls(pulls, call);
    return new Map(
      [...read].map(([k, v]) => {
        if (v instanceof Error || typeof v === 'string') throw new Error(`${k}: ${String(v)}`);
        return [k, v as PrFields];
      }),
    );
  };
  const of = (read: Map<string, PrFields>, iid: number) =>
    [...read.values()].find((f) => f.pr_number === iid)!;

  it('240 unchanged MRs of a project: at most 50 requests per 1,000 refreshes, no query refused', async () => {
    await refresh();
    gl.resetCounters();
    const scored = gl.graphqlComplexity.length;
    for (let pass = 0; pass < 5; pass++) await refresh();
    const perThousand = (gl.counters.total / (5 * pulls.length)) * 1000;
    expect(perThousand).toBeLessThanOrEqual(50);
    expect(gl.graphqlComplexity.slice(scored).every((s) => s <= 250)).toBe(true);
  });

  it('each kind of change is seen on the next refresh', async () => {
    const [a, b, c, d, e, f, g] = pulls.map((p) => p.number);
    gl.model.updateMergeRequest(path, a!, { title: 'Renamed' });
    gl.model.push(path, `b${a! - 1}`);
    gl.model.createPipeline(path, { ref: `b${b! - 1}`, jobs: [{ name: 'unit', status: 'failed' }] });
    gl.model.approve(path, c!, 'kim');
    gl.model.startThread(path, d!, { author: 'lee', body: 'Why?', file: 'a.ts', line: 1 });
    gl.model.review(path, e!, 'lee', 'requested_changes');
    const thread = gl.model.startThread(path, f!, { author: 'lee', body: 'Fix', file: 'a.ts', line: 2 });
    const read1 = await refresh();
    expect(of(read1, a!)).toMatchObject({ pull_request_title: 'Renamed' });
    expect(of(read1, a!).head_sha).toBe(gl.model.headSha(gl.model.mergeRequest(path, a!)));
    expect(of(read1, a!).checks_state).toBe('none');
    expect(of(read1, b!)).toMatchObject({ checks_state: 'failing' });
    expect(of(read1, c!)).toMatchObject({ approved: true, reviewer_count: 1 });
    expect(of(read1, d!)).toMatchObject({ unresolved_threads: 1, comments: 1 });
    expect(of(read1, e!)).toMatchObject({ changes_requested: true, requested_reviewers: [] });
    expect(of(read1, f!)).toMatchObject({ unresolved_threads: 1 });
    gl.model.resolveThread(path, f!, thread.id, true);
    gl.model.unapprove(path, c!, 'kim');
    gl.model.review(path, g!, 'lee', 'approved');
    const read2 = await refresh();
    expect(of(read2, f!)).toMatchObject({ unresolved_threads: 0 });
    expect(of(read2, c!)).toMatchObject({ approved: false, reviewer_count: 0 });
    expect(of(read2, g!)).toMatchObject({ requested_reviewers: [], reviewer_count: 1 });
  });
});
