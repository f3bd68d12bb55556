import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitLabEmulator, startGitLabEmulator } from '../../../emulator/gitlab/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { NotFoundError, UnavailableError } from '../../core/errors.ts';
import { GitLabProvider } from './gitlab-provider.ts';

/** What the contract suite does not cover, against the emulator over real HTTP. */
describe('GitLab provider', () => {
  let gl: GitLabEmulator;
  let provider: GitLabProvider;
  const call = { token: 'glpat-provider-test' };

  beforeAll(async () => {
    gl = await startGitLabEmulator();
    gl.addToken(call.token, 'agent');
    provider = new GitLabProvider(
      { id: 'gl', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl },
      { clock: new FakeClock(new Date()) },
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
});
