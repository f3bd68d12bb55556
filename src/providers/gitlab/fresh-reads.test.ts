import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitLabEmulator, startGitLabEmulator } from '../../../emulator/gitlab/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { pullKey } from '../types.ts';
import { GitLabProvider, RECHECK_IGNORED } from './gitlab-provider.ts';

/**
 * Nothing read before answers for an MR: a pipeline re-run on the same head shows at the next
 * read, fresh or not; a signal asks GitLab for a mergeability recheck once more; a branch whose
 * MRs are all merged is its newest MR's.
 */
describe('GitLab: fresh reads and the MR of a branch', () => {
  let gl: GitLabEmulator;
  const clock = new FakeClock(new Date());
  const call = { token: 'glpat-fresh' };
  const reporter = { token: 'glpat-fresh-reporter' };
  const newProvider = () =>
    new GitLabProvider({ id: 'gl', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl }, { clock });
  let n = 0;
  const project = (settings: Partial<Parameters<GitLabEmulator['model']['createProject']>[0]> = {}) => {
    const path = `fresh/app${++n}`;
    gl.model.createProject({ path, visibility: 'private', members: ['agent', 'lee'], ...settings });
    return { path, repo: { owner: 'fresh', name: `app${n}` } };
  };
  const rechecks = () => gl.log.filter((l) => l.path.includes('with_merge_status_recheck=true')).length;

  beforeAll(async () => {
    gl = await startGitLabEmulator({ now: () => clock.now() });
    gl.addToken(call.token, 'agent');
    gl.addToken(reporter.token, 'rep');
  });
  afterAll(async () => {
    expect(gl.counters.unexpected).toEqual([]);
    await gl.close();
  });

  it('a job retried, and a pipeline run again, on the same head: every read shows it, fresh or not', async () => {
    const { path, repo } = project();
    gl.model.push(path, 'feature');
    const mr = gl.model.openMergeRequest(path, { source_branch: 'feature' });
    const pipeline = gl.model.createPipeline(path, {
      ref: 'feature',
      jobs: [
        { name: 'lint', status: 'success' },
        { name: 'unit', status: 'failed' },
      ],
    });
    const provider = newProvider();
    const pull = { repo, number: mr.iid };
    const read = async (fresh: boolean) => {
      clock.advance(60_000);
      return (await provider.fetchPulls([{ ...pull, shownSince: clock.now(), fresh }], call)).get(
        pullKey(pull),
      );
    };
    expect(await read(false)).toMatchObject({ checks_state: 'failing', checks: { failed: 1, passed: 1 } });
    expect(await read(false)).toMatchObject({ checks_state: 'failing' });
    // The retry moves neither the MR's head nor its `updated_at`.
    const before = gl.model.mergeRequest(path, mr.iid).updated_at;
    gl.model.retryJob(pipeline.id, 'unit');
    gl.model.updateJob(pipeline.id, 'unit', { status: 'success' });
    expect(gl.model.mergeRequest(path, mr.iid).updated_at).toEqual(before);
    expect(await read(false)).toMatchObject({ checks_state: 'passing', checks: { failed: 0, passed: 2 } });
    expect(await read(true)).toMatchObject({ checks_state: 'passing', checks: { failed: 0, passed: 2 } });
    // "Run pipeline" on the same commit: a new head pipeline, failing this time.
    gl.model.createPipeline(path, { ref: 'feature', jobs: [{ name: 'unit', status: 'failed' }] });
    expect(await read(false)).toMatchObject({ checks_state: 'failing', checks: { failed: 1, passed: 0 } });
    expect(await read(true)).toMatchObject({ checks_state: 'failing', checks: { failed: 1, passed: 0 } });
  });

  it('a recheck GitLab ignored is asked once more for a fresh read, not for a plain one', async () => {
    const { path, repo } = project({ reporters: ['rep'] });
    gl.model.push(path, 'feature');
    const mr = gl.model.openMergeRequest(path, { source_branch: 'feature' });
    gl.model.push(path, 'feature');
    const provider = newProvider();
    const pull = { repo, number: mr.iid };
    const read = (fresh = false) => provider.fetchPull({ ...pull, fresh }, reporter);
    const asked = rechecks();
    await read();
    clock.advance(5 * 60_000 + 1);
    await read();
    clock.advance(5 * 60_000 + 1);
    expect(await read()).toMatchObject({ merge_state: 'unknown', merge_state_reason: RECHECK_IGNORED });
    expect(rechecks()).toBe(asked + 2);
    // A signal: GitLab is asked again, and the answer is GitLab's own word.
    expect(await read(true)).toMatchObject({ merge_state: 'unknown', merge_state_reason: 'unchecked' });
    expect(rechecks()).toBe(asked + 3);
    // While that request stands, a second signal does not repeat it.
    expect(await read(true)).toMatchObject({ merge_state: 'unknown' });
    expect(rechecks()).toBe(asked + 3);
  });

  it('a branch whose MRs are all merged is the newest one’s (highest iid), even when an older one was commented on since', async () => {
    const { path, repo } = project();
    gl.model.push(path, 'feature');
    gl.model.openMergeRequest(path, { source_branch: 'feature' });
    gl.model.merge(path, 1);
    clock.advance(60_000);
    gl.model.push(path, 'feature');
    gl.model.openMergeRequest(path, { source_branch: 'feature' });
    gl.model.merge(path, 2);
    clock.advance(60_000);
    gl.model.comment(path, 1, { author: 'lee', body: 'late thanks' });
    expect(gl.model.mergeRequest(path, 1).updated_at > gl.model.mergeRequest(path, 2).updated_at).toBe(true);
    const provider = newProvider();
    expect(await provider.findPullForBranch(repo, 'feature', call)).toMatchObject({
      pr_number: 2,
      pull_request_state: 'merged',
    });
    // An open MR still wins.
    gl.model.push(path, 'feature');
    gl.model.openMergeRequest(path, { source_branch: 'feature' });
    gl.model.comment(path, 2, { author: 'lee', body: 'and again' });
    expect(await provider.findPullForBranch(repo, 'feature', call)).toMatchObject({ pr_number: 3 });
  });
});
