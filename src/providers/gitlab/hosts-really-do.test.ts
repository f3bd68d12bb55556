import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryComplexity } from '../../../emulator/gitlab/graphql.ts';
import { type GitLabEmulator, startGitLabEmulator } from '../../../emulator/gitlab/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { type BudgetObservation, branchKey } from '../types.ts';
import { GitLabProvider, RECHECK_IGNORED } from './gitlab-provider.ts';
import { candidatesQuery, pullsQuery } from './graphql.ts';

/**
 * What GitLab really does (SPEC §5, "What the hosts really do"), against the emulator over real
 * HTTP: each case follows GitLab's own source, named in the emulator and the provider.
 */
describe('GitLab: what the host really does', () => {
  let gl: GitLabEmulator;
  const clock = new FakeClock(new Date());
  const call = { token: 'glpat-really' };
  const reporter = { token: 'glpat-reporter' };
  const newProvider = () =>
    new GitLabProvider({ id: 'gl', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl }, { clock });
  let n = 0;
  const project = (settings: Partial<Parameters<GitLabEmulator['model']['createProject']>[0]> = {}) => {
    const path = `real/app${++n}`;
    gl.model.createProject({ path, visibility: 'private', members: ['agent', 'lee'], ...settings });
    return { path, repo: { owner: 'real', name: `app${n}` } };
  };
  const graphqlAnswers = () => gl.log.filter((l) => l.route === 'graphql');
  const rechecks = () => gl.log.filter((l) => l.path.includes('with_merge_status_recheck=true')).length;

  beforeAll(async () => {
    gl = await startGitLabEmulator();
    gl.addToken(call.token, 'agent');
    gl.addToken(reporter.token, 'rep');
  });
  afterAll(async () => {
    expect(gl.counters.unexpected).toEqual([]);
    await gl.close();
  });

  it('approved needs an approver: a Premium project without rules answers approved: true for every MR', async () => {
    const { path, repo } = project({ tier: 'premium' });
    gl.model.push(path, 'feature');
    const mr = gl.model.openMergeRequest(path, { source_branch: 'feature' });
    const res = await fetch(gl.graphqlUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${call.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `{ project(fullPath: "${path}") { mergeRequest(iid: "1") { approved } } }`,
      }),
    });
    expect(await res.json()).toEqual({ data: { project: { mergeRequest: { approved: true } } } });
    const provider = newProvider();
    const read = () => provider.fetchPull({ repo, number: mr.iid }, call);
    expect(await read()).toMatchObject({ approved: false, reviewer_count: 0 });
    gl.model.approve(path, mr.iid, 'lee');
    expect(await read()).toMatchObject({ approved: true, reviewer_count: 1 });
  });

  it('a conflicting MR pushed to is cannot_be_merged_recheck: CONFLICT is stale, so unknown, and a recheck is asked', async () => {
    const { path, repo } = project();
    gl.model.push(path, 'feature');
    const mr = gl.model.openMergeRequest(path, { source_branch: 'feature' });
    gl.model.setGitState(path, mr.iid, { conflicts: true });
    gl.model.requestMergeCheck(mr);
    gl.model.settleMergeChecks();
    const provider = newProvider();
    const read = () => provider.fetchPull({ repo, number: mr.iid }, call);
    expect(await read()).toMatchObject({ merge_state: 'conflicting', merge_state_reason: 'conflict' });
    // The push resolves the conflict; GitLab keeps saying CONFLICT until it rechecks.
    gl.model.push(path, 'feature');
    gl.model.setGitState(path, mr.iid, { conflicts: false });
    expect(gl.model.detailedMergeStatus(mr)).toBe('conflict');
    expect(gl.model.mergeStatus(mr)).toBe('cannot_be_merged_recheck');
    const asked = rechecks();
    expect(await read()).toMatchObject({
      merge_state: 'unknown',
      merge_state_reason: 'cannot_be_merged_recheck',
    });
    expect(rechecks()).toBe(asked + 1);
    expect(await read()).toMatchObject({ merge_state: 'clean', merge_state_reason: 'mergeable' });
  });

  it('a recheck GitLab ignores (a Reporter’s token) is asked twice per head commit, then the reason says why', async () => {
    const { path, repo } = project({ reporters: ['rep'] });
    gl.model.push(path, 'feature');
    const mr = gl.model.openMergeRequest(path, { source_branch: 'feature' });
    gl.model.push(path, 'feature');
    const provider = newProvider();
    const read = () => provider.fetchPull({ repo, number: mr.iid }, reporter);
    const asked = rechecks();
    expect(await read()).toMatchObject({ merge_state: 'unknown', merge_state_reason: 'unchecked' });
    expect(rechecks()).toBe(asked + 1);
    // GitLab ignored it: still unchecked.
    expect(gl.model.detailedMergeStatus(mr)).toBe('unchecked');
    clock.advance(5 * 60_000 + 1);
    await read();
    expect(rechecks()).toBe(asked + 2);
    clock.advance(5 * 60_000 + 1);
    expect(await read()).toMatchObject({ merge_state: 'unknown', merge_state_reason: RECHECK_IGNORED });
    clock.advance(60 * 60_000);
    expect(await read()).toMatchObject({ merge_state_reason: RECHECK_IGNORED });
    expect(rechecks()).toBe(asked + 2);
    // The head moved: asked again.
    gl.model.push(path, 'feature');
    expect(await read()).toMatchObject({ merge_state: 'unknown', merge_state_reason: 'unchecked' });
    expect(rechecks()).toBe(asked + 3);
    // A Developer's recheck is honoured.
    await newProvider().fetchPull({ repo, number: mr.iid }, call);
    expect(await read()).toMatchObject({ merge_state: 'clean' });
  });

  it('a query over 10,000 characters is split before it is sent (GitLab answers it 422); the batch never fails', async () => {
    const { path, repo } = project();
    const branches = Array.from({ length: 90 }, (_, i) => `feature/${'x'.repeat(120)}-${i}`);
    for (const b of branches) {
      gl.model.push(path, b);
      gl.model.openMergeRequest(path, { source_branch: b });
    }
    const long = candidatesQuery([{ path, branches }]);
    expect(long.length).toBeGreaterThan(10_000);
    const refused = await fetch(gl.graphqlUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${call.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: long }),
    });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toEqual({ errors: [{ message: 'Query too large' }] });
    const before = graphqlAnswers().length;
    const found = await newProvider().findPullsForBranches(
      branches.map((branch) => ({ repo, branch })),
      call,
    );
    expect([...found.values()].every((f) => f !== null && !(f instanceof Error))).toBe(true);
    expect(
      graphqlAnswers()
        .slice(before)
        .every((l) => l.status === 200),
    ).toBe(true);
  });

  it('GitLab counts a connection’s selections once, not per node; a refused batch is sized from its message, per query kind', async () => {
    // `Types::BaseField#complexity_for` replaces graphql-ruby's page-size rule: `mergeRequests` is
    // GitLab's resolver proc — (children 2 + resolver 1 + default sort 1) × (1 + 10 × 1%) — and
    // `project` (ProjectResolver) adds 1.
    expect(
      queryComplexity(parse('{ project(fullPath: "a/b") { mergeRequests(first: 10) { nodes { iid } } } }')),
    ).toBe(Math.trunc((2 + 1 + 1) * 1.1) + 1);
    // `iids:` take the per-node multiplier away: one MR or a hundred cost the same.
    expect(
      queryComplexity(
        parse('{ project(fullPath: "a/b") { mergeRequests(iids: ["1"], first: 1) { nodes { iid } } } }'),
      ),
    ).toBe(2 + 1 + 1 + 1);
    const one = queryComplexity(parse(pullsQuery([{ path: 'a/b', iids: [1] }])));
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(queryComplexity(parse(pullsQuery([{ path: 'a/b', iids: hundred }])))).toBe(one);
    expect(3 * one).toBeLessThanOrEqual(250);
    // A stricter instance (or another scoring) refuses: the batch is sized from its message.
    gl.maxComplexity = 100;
    try {
      const made = [project(), project(), project(), project()];
      const pulls = made.flatMap(({ path, repo }) => {
        gl.model.push(path, 'f');
        return [{ repo, number: gl.model.openMergeRequest(path, { source_branch: 'f' }).iid }];
      });
      const provider = newProvider();
      const before = gl.graphqlComplexity.length;
      const read = await provider.fetchPulls(pulls, call);
      expect([...read.values()].every((f) => !(f instanceof Error))).toBe(true);
      const scores = gl.graphqlComplexity.slice(before);
      // Three projects (195 points) refused once, then one project to a query: no second refusal.
      expect(scores).toEqual([3 * one, one, one, one, one]);
      // Candidates learn their own size: the pulls' refusal did not shrink them.
      const mark = gl.graphqlComplexity.length;
      await provider.findPullsForBranches(
        ['f', 'g', 'h', 'i', 'j'].map((branch) => ({ repo: made[0]!.repo, branch })),
        call,
      );
      const candidateScores = gl.graphqlComplexity.slice(mark);
      expect(candidateScores[0]).toBeLessThanOrEqual(100);
      expect(candidateScores.slice(1)).toEqual([one]);
    } finally {
      gl.maxComplexity = null;
    }
  });

  it('a list of candidates that fills its page is asked again one branch to a list: no MR is missed', async () => {
    const { path, repo } = project();
    // 101 closed MRs of one branch, updated after the only MR of the other: the shared list's
    // page (100, newest first) holds none of the other's.
    gl.model.push(path, 'quiet');
    const quiet = gl.model.openMergeRequest(path, { source_branch: 'quiet' });
    gl.model.push(path, 'busy');
    for (let i = 0; i < 101; i++) {
      const mr = gl.model.openMergeRequest(path, { source_branch: 'busy' });
      gl.model.close(path, mr.iid);
    }
    const before = graphqlAnswers().length;
    const found = await newProvider().findPullsForBranches(
      ['quiet', 'busy'].map((branch) => ({ repo, branch })),
      call,
    );
    expect(found.get(branchKey(repo, 'quiet'))).toMatchObject({ pr_number: quiet.iid });
    expect(found.get(branchKey(repo, 'busy'))).toMatchObject({ pull_request_state: 'closed' });
    // The shared list, the two branches again, the two MRs.
    expect(graphqlAnswers().length - before).toBe(3);
  });

  it('RateLimit-* headers come only with a throttled answer: the budget is unknown until GitLab throttles', async () => {
    const { path, repo } = project();
    gl.model.push(path, 'feature');
    const mr = gl.model.openMergeRequest(path, { source_branch: 'feature' });
    const provider = newProvider();
    const seen: BudgetObservation[] = [];
    await provider.fetchPull({ repo, number: mr.iid }, { ...call, onBudget: (o) => seen.push(o) });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((o) => o.limit === null && o.remaining === null)).toBe(true);
    gl.addFaults({ kind: 'rate_limit', reset_in_s: 120, times: 1 });
    seen.length = 0;
    await provider
      .fetchPull({ repo, number: mr.iid }, { ...call, onBudget: (o) => seen.push(o) })
      .catch(() => {});
    expect(seen.some((o) => o.remaining === 0 && o.reset_at !== null)).toBe(true);
  });
});
