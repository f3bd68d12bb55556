import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../../../emulator/github/server.ts';
import { systemClock } from '../../core/clock.ts';
import { branchKey } from '../types.ts';
import { GitHubProvider } from './github-provider.ts';

/**
 * The usual merge flow deletes the head branch ("Automatically delete head branches"). GitHub keeps
 * the PR's head branch name and commit — GraphQL `headRefName` / `headRefOid` "even if the ref has
 * been deleted" (GraphQL reference, PullRequest), REST `head.ref` / `head.sha` — so the merged PR is
 * still found for its branch and shown with it, on every path. Over real HTTP against the emulator,
 * driven through its admin API as the cross-host contract suite drives it.
 */
describe('GitHub: a merged PR whose head branch was deleted', () => {
  let gh: GitHubEmulator;
  let provider: GitHubProvider;
  const call = { token: 'ghp_deleted_branch' };
  const repo = { owner: 'acme', name: 'app' };
  const admin = async (method: string, path: string, body?: object) => {
    const res = await fetch(`${gh.webUrl}/_emulator/${path}`, {
      method,
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
    return res.json();
  };

  beforeEach(async () => {
    gh = await startGitHubEmulator();
    gh.addToken(call.token, 'agent');
    await admin('POST', 'repos', { owner: 'acme', name: 'app' });
    await admin('POST', 'repos/acme/app/pulls', { head: 'feature/login' });
    await admin('POST', 'repos/acme/app/pulls', { head: 'other' });
    await admin('POST', 'repos/acme/app/pulls/1/merge', { delete_branch: true });
    await admin('POST', 'repos/acme/app/pulls/2/merge');
    await admin('DELETE', `repos/acme/app/branches/${encodeURIComponent('other')}`);
    provider = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
      { clock: systemClock, requestTimeoutMs: 2000 },
    );
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await gh.close();
  });

  it('the branches are gone', () => {
    expect(gh.model.repo('acme/app').branches.has('feature/login')).toBe(false);
    expect(gh.model.repo('acme/app').branches.has('other')).toBe(false);
  });

  it('REST: found for its branch and shown merged with it', async () => {
    const pr = await provider.findPullForBranch(repo, 'feature/login', call);
    expect(pr).toMatchObject({ pr_number: 1, pull_request_state: 'merged', head_branch: 'feature/login' });
    expect(pr?.head_sha).toMatch(/^[0-9a-f]{40}$/);
  });

  it('GraphQL batch lookup: found and shown merged with its branch', async () => {
    const out = await provider.findPullsForBranches(
      [
        { repo, branch: 'feature/login' },
        { repo, branch: 'other' },
      ],
      call,
    );
    expect(out.get(branchKey(repo, 'feature/login'))).toMatchObject({
      pr_number: 1,
      pull_request_state: 'merged',
      head_branch: 'feature/login',
    });
    expect(out.get(branchKey(repo, 'other'))).toMatchObject({ pr_number: 2, head_branch: 'other' });
  });

  it('deleting the head branch of an open PR closes it; the default branch cannot be deleted', async () => {
    await admin('POST', 'repos/acme/app/pulls', { head: 'wip' });
    await admin('DELETE', 'repos/acme/app/branches/wip');
    expect(await provider.fetchPull({ repo, number: 3 }, call)).toMatchObject({
      pull_request_state: 'closed',
      head_branch: 'wip',
    });
    const res = await fetch(`${gh.webUrl}/_emulator/repos/acme/app/branches/main`, { method: 'DELETE' });
    expect(res.status).toBe(422);
  });
});
