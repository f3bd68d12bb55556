import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitLabEmulator, startGitLabEmulator } from '../../../emulator/gitlab/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { NotFoundError, UnavailableError } from '../../core/errors.ts';
import { GitLabProvider } from './gitlab-provider.ts';

/** What the contract suite does not cover, against the emulator over real HTTP. */
describe('GitLab provider', () => {
  let gl: GitLabEmulator;
  let provider: GitLabProvider;
  const clock = new FakeClock(new Date());
  const call = { token: 'glpat-provider-test' };

  beforeAll(async () => {
    // Under a path, as a self-managed instance: job and pipeline paths carry the prefix.
    gl = await startGitLabEmulator({ relativeUrlRoot: '/gitlab' });
    gl.addToken(call.token, 'agent');
    provider = new GitLabProvider(
      { id: 'gl', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl },
      { clock },
    );
  });
  afterAll(async () => {
    expect(gl.counters.unexpected).toEqual([]);
    await gl.close();
  });

  it('isRepoPublic: a public project whose merge requests everyone may see; nothing else', async () => {
    const members = ['agent'];
    gl.model.createProject({ path: 'oss/open', visibility: 'public', members });
    gl.model.createProject({
      path: 'oss/mrs-for-members',
      visibility: 'public',
      merge_requests_access_level: 'private',
      members,
    });
    gl.model.createProject({
      path: 'oss/no-mrs',
      visibility: 'public',
      merge_requests_access_level: 'disabled',
      members,
    });
    gl.model.createProject({ path: 'corp/inside', visibility: 'internal', members });
    gl.model.createProject({ path: 'corp/secret', visibility: 'private', members });
    const isPublic = (owner: string, name: string) => provider.isRepoPublic({ owner, name }, call);
    expect(await isPublic('oss', 'open')).toBe(true);
    expect(await isPublic('oss', 'mrs-for-members')).toBe(false);
    expect(await isPublic('oss', 'no-mrs')).toBe(false);
    expect(await isPublic('corp', 'inside')).toBe(false);
    expect(await isPublic('corp', 'secret')).toBe(false);
    expect(await isPublic('corp', 'nowhere')).toBe(false);
  });

  it('a field GraphQL nulled with an error makes the MR an incomplete answer, not a missing MR', async () => {
    gl.model.createProject({ path: 'team/app', visibility: 'private', members: ['agent'] });
    gl.model.push('team/app', 'feature');
    const mr = gl.model.openMergeRequest('team/app', { source_branch: 'feature' });
    const pull = { repo: { owner: 'team', name: 'app' }, number: mr.iid };
    gl.addFaults({ kind: 'graphql_partial', match: '^/graphql$', times: 1 });
    const [partial] = (await provider.fetchPulls([pull], call)).values();
    expect(partial).toBeInstanceOf(UnavailableError);
    expect(partial).not.toBeInstanceOf(NotFoundError);
    expect((partial as Error).message).toMatch(/Internal server error.*incomplete/);
    const [whole] = (await provider.fetchPulls([pull], call)).values();
    expect(whole).toMatchObject({ pr_number: mr.iid, pull_request_state: 'open' });
  });

  it('webhooks: a Pipeline Hook names its branch, or its MR; a tag pipeline names nothing', () => {
    const header = (event: string) => (name: string) => (name === 'x-gitlab-event' ? event : undefined);
    const pipelineHook = header('Pipeline Hook');
    const project = { web_url: `${gl.webUrl}/team/app` };
    const origin = `${gl.webUrl}/team/app`;
    const refs = (payload: unknown) => provider.webhooks.staleRefs(pipelineHook, payload);
    expect(refs({ object_attributes: { ref: 'feature', tag: false }, project })).toEqual([
      { origin, branch: 'feature' },
    ]);
    const url = `${gl.webUrl}/team/app/-/merge_requests/3`;
    expect(
      refs({
        object_attributes: { ref: 'refs/merge-requests/3/head', tag: false },
        merge_request: { source_branch: 'feature', url },
        project,
      }),
    ).toEqual([{ origin, branch: 'feature', url }]);
    expect(refs({ object_attributes: { ref: 'v1.0', tag: true }, project })).toEqual([]);
    expect(() => refs({ project })).toThrow(/pipeline delivery/);
  });

  describe('checks, mergeability, threads', () => {
    let n = 0;
    /** A project of its own per test, and an open MR in it whose diff and mergeability are computed. */
    const setup = (settings: Partial<Parameters<typeof gl.model.createProject>[0]> = {}) => {
      const path = `ci/app${++n}`;
      gl.model.createProject({ path, visibility: 'private', members: ['agent', 'lee', 'kim'], ...settings });
      gl.model.push(path, 'feature');
      const mr = gl.model.openMergeRequest(path, { source_branch: 'feature', author: 'agent' });
      const pull = { repo: { owner: 'ci', name: `app${n}` }, number: mr.iid };
      return { path, mr, pull, read: () => provider.fetchPull(pull, call) };
    };
    const jobUrl = (path: string, id: number) => `${gl.webUrl}/${path}/-/jobs/${id}`;

    it('head_sha and the head pipeline’s jobs: counts, failing names with links, latest attempts only', async () => {
      const { path, mr, read } = setup();
      expect(await read()).toMatchObject({
        head_sha: gl.model.headSha(mr),
        checks_state: 'none',
        checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      });
      const pipeline = gl.model.createPipeline(path, {
        ref: 'feature',
        jobs: [
          { name: 'lint', stage: 'check', status: 'success' },
          { name: 'unit', status: 'running' },
          { name: 'flaky', status: 'failed', allow_failure: true },
          { name: 'deploy-review', stage: 'deploy', status: 'manual', allow_failure: true },
          { name: 'docs', status: 'skipped' },
        ],
      });
      expect(await read()).toMatchObject({
        checks_state: 'pending',
        checks: { passed: 1, failed: 0, pending: 1, skipped: 3, failing: [] },
      });
      gl.model.updateJob(pipeline.id, 'unit', { status: 'failed' });
      const unit = pipeline.jobs.find((j) => j.name === 'unit')!;
      expect(await read()).toMatchObject({
        checks_state: 'failing',
        checks: {
          passed: 1,
          failed: 1,
          pending: 0,
          skipped: 3,
          failing: [{ name: 'unit', url: jobUrl(path, unit.id) }],
        },
      });
      // A retry: the failed attempt stays on the pipeline, but only the new one counts.
      gl.model.retryJob(pipeline.id, 'unit');
      gl.model.updateJob(pipeline.id, 'unit', { status: 'success' });
      expect(await read()).toMatchObject({
        checks_state: 'passing',
        checks: { passed: 2, failed: 0, pending: 0, skipped: 3, failing: [] },
      });
    });

    it('a blocking manual job holds the checks pending; a pipeline failed without jobs is one failing check', async () => {
      const { path, read } = setup();
      gl.model.createPipeline(path, {
        ref: 'feature',
        jobs: [
          { name: 'build', status: 'success' },
          { name: 'approve-deploy', stage: 'deploy', status: 'manual', allow_failure: false },
        ],
      });
      expect(await read()).toMatchObject({ checks_state: 'pending', checks: { passed: 1, pending: 1 } });
      const broken = gl.model.createPipeline(path, { ref: 'feature', status: 'failed' });
      expect(await read()).toMatchObject({
        checks_state: 'failing',
        checks: {
          failed: 1,
          failing: [{ name: 'pipeline', url: `${gl.webUrl}/${path}/-/pipelines/${broken.id}` }],
        },
      });
    });

    it('a force-push: the old commit’s green pipeline never shows for the new head', async () => {
      const { path, mr, read } = setup();
      const before = gl.model.headSha(mr);
      gl.model.createPipeline(path, { ref: 'feature', jobs: [{ name: 'unit', status: 'success' }] });
      expect(await read()).toMatchObject({ head_sha: before, checks_state: 'passing' });
      const after = gl.model.push(path, 'feature');
      // GitLab still names the old pipeline the MR's head pipeline (REST shows it), but it is not
      // of the new head: no checks yet.
      expect(gl.model.pipeline(mr.head_pipeline_id!).sha).toBe(before);
      expect(await read()).toMatchObject({
        head_sha: after,
        checks_state: 'none',
        checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      });
      gl.model.createPipeline(path, { ref: 'feature', jobs: [{ name: 'unit', status: 'pending' }] });
      expect(await read()).toMatchObject({
        head_sha: after,
        checks_state: 'pending',
        checks: { pending: 1 },
      });
    });

    it('mergeability is unknown right after a push; gitsync asks GitLab to check it, then reads the answer', async () => {
      const { path, pull, read } = setup({ merge_method: 'ff' });
      expect(await read()).toMatchObject({ merge_state: 'clean', merge_state_reason: 'mergeable' });
      gl.model.push(path, 'feature');
      const rechecks = () =>
        gl.log.filter(
          (l) => l.route === 'list_merge_requests' && l.path.includes('with_merge_status_recheck=true'),
        );
      const asked = rechecks().length;
      // GraphQL reading does not make GitLab compute it: gitsync asks with one list request.
      expect(await read()).toMatchObject({ merge_state: 'unknown', merge_state_reason: 'unchecked' });
      expect(rechecks()).toHaveLength(asked + 1);
      expect(rechecks().at(-1)!.path).toContain(`iids[]=${pull.number}`);
      expect(await read()).toMatchObject({ merge_state: 'clean', merge_state_reason: 'mergeable' });
      // The target moved: behind it, on a project merging fast-forward only.
      gl.model.push(path, 'main');
      expect(await read()).toMatchObject({ merge_state: 'unknown' });
      expect(await read()).toMatchObject({ merge_state: 'behind', merge_state_reason: 'need_rebase' });
      gl.model.setGitState(path, pull.number, { behind: false, conflicts: true });
      expect(await read()).toMatchObject({ merge_state: 'unknown' });
      expect(await read()).toMatchObject({ merge_state: 'conflicting', merge_state_reason: 'conflict' });
      gl.model.updateMergeRequest(path, pull.number, { draft: true });
      expect(await read()).toMatchObject({ merge_state: 'draft', pull_request_draft: true });
    });

    it('asks for a recheck once per head commit while GitLab leaves it unchecked', async () => {
      const { path, pull, read } = setup();
      gl.model.push(path, 'feature');
      // A token GitLab does not honour the request for: the MR stays unchecked.
      gl.model.updateMergeRequest(path, pull.number, { merge_check: 'unchecked' });
      const rechecks = () => gl.log.filter((l) => l.path.includes('with_merge_status_recheck=true')).length;
      const asked = rechecks();
      await read();
      await read();
      expect(rechecks()).toBe(asked + 1);
      clock.advance(5 * 60_000 + 1);
      await read();
      expect(rechecks()).toBe(asked + 2);
    });

    it('blocked, with GitLab’s reason: open threads, a pipeline that must succeed, requested changes', async () => {
      const { path, pull, read } = setup({
        only_allow_merge_if_all_discussions_are_resolved: true,
        only_allow_merge_if_pipeline_succeeds: true,
      });
      expect(await read()).toMatchObject({ merge_state: 'blocked', merge_state_reason: 'ci_must_pass' });
      const pipeline = gl.model.createPipeline(path, {
        ref: 'feature',
        jobs: [{ name: 'unit', status: 'running' }],
      });
      expect(await read()).toMatchObject({ merge_state: 'blocked', merge_state_reason: 'ci_still_running' });
      gl.model.updateJob(pipeline.id, 'unit', { status: 'success' });
      expect(await read()).toMatchObject({ merge_state: 'clean', unresolved_threads: 0, comments: 0 });
      const thread = gl.model.startThread(path, pull.number, {
        author: 'lee',
        body: 'Why?',
        file: 'a.ts',
        line: 3,
      });
      gl.model.startThread(path, pull.number, { author: 'kim', body: 'And this?' });
      gl.model.comment(path, pull.number, { author: 'kim', body: 'Looks fine otherwise' });
      gl.model.systemNote(path, pull.number, 'added 1 commit');
      expect(await read()).toMatchObject({
        merge_state: 'blocked',
        merge_state_reason: 'discussions_not_resolved',
        unresolved_threads: 2,
        comments: 3,
      });
      gl.model.reply(path, pull.number, thread.id, { author: 'agent', body: 'Fixed' });
      gl.model.resolveThread(path, pull.number, thread.id, true, 'lee');
      expect(await read()).toMatchObject({ unresolved_threads: 1, comments: 4 });
      gl.model.review(path, pull.number, 'lee', 'requested_changes');
      expect(await read()).toMatchObject({ merge_state: 'blocked', changes_requested: true });
    });

    it('fetchFeedback: failed jobs with GitLab’s message, open threads by their first note, who requests changes', async () => {
      const { path, mr, pull } = setup();
      const pipeline = gl.model.createPipeline(path, {
        ref: 'feature',
        jobs: [
          { name: 'lint', stage: 'check', status: 'success' },
          { name: 'unit', stage: 'test', status: 'failed', failure_reason: 'script_failure' },
          { name: 'e2e', stage: 'test', status: 'canceled' },
          { name: 'flaky', status: 'failed', allow_failure: true },
        ],
      });
      const diff = gl.model.startThread(path, pull.number, {
        author: 'lee',
        body: 'Off by one here',
        file: 'src/a.ts',
        line: 12,
      });
      gl.model.reply(path, pull.number, diff.id, { author: 'agent', body: 'Will fix' });
      const general = gl.model.startThread(path, pull.number, { author: 'kim', body: 'Add a test' });
      const done = gl.model.startThread(path, pull.number, { author: 'kim', body: 'Typo' });
      gl.model.resolveThread(path, pull.number, done.id, true, 'kim');
      gl.model.comment(path, pull.number, { author: 'kim', body: 'Nice' });
      gl.model.systemNote(path, pull.number, 'added 1 commit');
      gl.model.review(path, pull.number, 'lee', 'requested_changes');
      gl.model.review(path, pull.number, 'kim', 'approved');
      const unit = pipeline.jobs.find((j) => j.name === 'unit')!;
      const e2e = pipeline.jobs.find((j) => j.name === 'e2e')!;
      const mrUrl = `${gl.webUrl}/${path}/-/merge_requests/${mr.iid}`;
      expect(await provider.fetchFeedback(pull, call)).toEqual({
        failing_checks: [
          {
            name: 'unit',
            url: jobUrl(path, unit.id),
            summary: 'stage test: There has been a script failure. Check the job log for more information',
          },
          { name: 'e2e', url: jobUrl(path, e2e.id), summary: 'stage test: canceled' },
        ],
        unresolved_threads: [
          {
            path: 'src/a.ts',
            line: 12,
            author: 'lee',
            author_association: 'Developer',
            trusted: true,
            body: 'Off by one here',
            url: `${mrUrl}#note_${diff.notes[0]!.id}`,
          },
          {
            path: null,
            line: null,
            author: 'kim',
            author_association: 'Developer',
            trusted: true,
            body: 'Add a test',
            url: `${mrUrl}#note_${general.notes[0]!.id}`,
          },
        ],
        changes_requested_by: [{ name: 'lee', trusted: true }],
        truncated: false,
      });
    });

    it('fetchFeedback: each author’s access level (Developer and up belong), in one request, read again at every feedback', async () => {
      const { path, pull } = setup();
      // [username, access level in the project (null: no member), served name, trusted]
      const table: [string, number | null, string | null, boolean][] = [
        ['gus', 10, 'Guest', false],
        ['pia', 15, 'Planner', false],
        ['rey', 20, 'Reporter', false],
        ['dev', 30, 'Developer', true],
        ['max', 40, 'Maintainer', true],
        ['ola', 50, 'Owner', true],
        ['pat', null, null, false],
      ];
      for (const [who, level] of table) {
        gl.model.setAccessLevel(path, who, level);
        gl.model.startThread(path, pull.number, { author: who, body: `from ${who}` });
        gl.model.review(path, pull.number, who, 'requested_changes');
      }
      const before = gl.count('list_members_all', 200);
      const feedback = await provider.fetchFeedback(pull, call);
      expect(feedback.unresolved_threads.map((t) => [t.author, t.author_association, t.trusted])).toEqual(
        table.map(([who, , name, trusted]) => [who, name, trusted]),
      );
      expect(feedback.changes_requested_by).toEqual(table.map(([name, , , trusted]) => ({ name, trusted })));
      expect(gl.count('list_members_all', 200) - before).toBe(1);
      // Feedback never answers from an earlier read: a promotion shows at the next one.
      gl.model.setAccessLevel(path, 'rey', 30);
      const again = await provider.fetchFeedback(pull, call);
      expect(again.unresolved_threads.find((t) => t.author === 'rey')).toMatchObject({
        author_association: 'Developer',
        trusted: true,
      });
      expect(gl.count('list_members_all', 200) - before).toBe(2);
    });

    it('fetchFeedback: a failed pipeline without jobs, more threads than a page, an MR not there', async () => {
      const { path, pull } = setup();
      const broken = gl.model.createPipeline(path, { ref: 'feature', status: 'failed' });
      for (let i = 0; i < 101; i++) gl.model.startThread(path, pull.number, { author: 'lee', body: `#${i}` });
      const feedback = await provider.fetchFeedback(pull, call);
      expect(feedback.failing_checks).toEqual([
        { name: 'pipeline', url: `${gl.webUrl}/${path}/-/pipelines/${broken.id}`, summary: null },
      ]);
      expect(feedback.unresolved_threads).toHaveLength(100);
      expect(feedback.truncated).toBe(true);
      await expect(provider.fetchFeedback({ ...pull, number: 99 }, call)).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });
  });
});
