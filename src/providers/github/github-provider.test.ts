import { validate as validateWithOctokit } from '@octokit/graphql-schema';
import { parse, validate } from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { githubGraphqlSchema, graphqlCost } from '../../../emulator/github/graphql.ts';
import { type GitHubEmulator, startGitHubEmulator } from '../../../emulator/github/server.ts';
import { systemClock } from '../../core/clock.ts';
import { AuthError, NotFoundError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { branchKey, pullKey } from '../types.ts';
import { GitHubProvider } from './github-provider.ts';
import {
  buildBranchesQuery,
  buildPullsQuery,
  CONNECTIONS_PER_PULL,
  MAX_PULLS_PER_QUERY,
  REVIEW_REQUESTS_PER_PULL,
} from './graphql.ts';

/** The provider against the emulator over real HTTP on 127.0.0.1; any unexpected request fails the test. */
describe('GitHubProvider against the emulator', () => {
  let gh: GitHubEmulator;
  let provider: GitHubProvider;
  const call = { token: 'ghp_owner_token' };
  const repo = { owner: 'acme', name: 'app' };

  beforeEach(async () => {
    gh = await startGitHubEmulator();
    gh.addToken(call.token, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    provider = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
      { clock: systemClock, requestTimeoutMs: 2000 },
    );
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await gh.close();
  });

  it('finds the open PR for a branch and maps every field', async () => {
    const pr = gh.model.openPull('acme/app', {
      head: 'feature',
      base: 'develop',
      title: 'Add a thing',
      draft: true,
      author: 'octo',
      additions: 12,
      deletions: 3,
      changed_files: 4,
      commits: 2,
    });
    gh.model.review('acme/app', pr.number, { login: 'alice', state: 'CHANGES_REQUESTED' });
    gh.model.review('acme/app', pr.number, { login: 'bob', state: 'APPROVED' });
    expect(await provider.findPullForBranch(repo, 'feature', call)).toEqual({
      url: `${gh.webUrl}/acme/app/pull/1`,
      pull_request_state: 'open',
      pull_request_title: 'Add a thing',
      pull_request_draft: true,
      changes_requested: true,
      approved: false,
      reviewer_count: 2,
      additions: 12,
      deletions: 3,
      changed_files: 4,
      commits: 2,
      pr_number: 1,
      author_login: 'octo',
      author_avatar_url: `${gh.webUrl}/avatars/octo.png`,
      base_branch: 'develop',
      head_branch: 'feature',
      requested_reviewers: [],
      head_sha: pr.head_sha,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      merge_state: 'draft',
      merge_state_reason: 'DRAFT',
      // reviewDecision null (asked: there are reviews): the repository requires none.
      awaiting_approval: false,
      unresolved_threads: 0,
      comments: 0,
    });
  });

  it('no PR: null, after looking in the repository only (it is not a fork)', async () => {
    expect(await provider.findPullForBranch(repo, 'nothing', call)).toBeNull();
    expect(gh.count('list_pulls')).toBe(1);
    expect(gh.count('get_repo')).toBe(1);
  });

  it('finds a PR merged or closed before the first look', async () => {
    const merged = gh.model.openPull('acme/app', { head: 'shipped' });
    gh.model.merge('acme/app', merged.number);
    const closed = gh.model.openPull('acme/app', { head: 'abandoned' });
    gh.model.close('acme/app', closed.number);
    expect((await provider.findPullForBranch(repo, 'shipped', call))?.pull_request_state).toBe('merged');
    expect((await provider.findPullForBranch(repo, 'abandoned', call))?.pull_request_state).toBe('closed');
  });

  it('prefers an open PR, then the most recently updated', async () => {
    const first = gh.model.openPull('acme/app', { head: 'feature', title: 'old, closed' });
    gh.model.close('acme/app', first.number);
    gh.model.openPull('acme/app', { head: 'feature', title: 'open' });
    const newest = gh.model.openPull('acme/app', { head: 'feature', title: 'closed later' });
    gh.model.close('acme/app', newest.number);
    expect((await provider.findPullForBranch(repo, 'feature', call))?.pull_request_title).toBe('open');
    gh.model.close('acme/app', 2);
    gh.model.updatePull('acme/app', 3, { title: 'touched last' });
    expect((await provider.findPullForBranch(repo, 'feature', call))?.pull_request_title).toBe(
      'touched last',
    );
  });

  it('finds a PR opened from a fork into its parent when the origin is the fork', async () => {
    gh.model.createRepo({ owner: 'agent-bot', name: 'app', fork_of: 'acme/app' });
    gh.model.openPull('acme/app', { head: 'agent-bot:fix', title: 'From the fork' });
    const found = await provider.findPullForBranch({ owner: 'agent-bot', name: 'app' }, 'fix', call);
    expect(found).toMatchObject({
      url: `${gh.webUrl}/acme/app/pull/1`,
      pull_request_title: 'From the fork',
      head_branch: 'fix',
    });
  });

  describe('repository visibility (for lending the service token)', () => {
    it('public only when GitHub says so; private repositories and ones hidden behind 404 are not', async () => {
      gh.model.createRepo({ owner: 'acme', name: 'secret', private: true });
      gh.model.createRepo({ owner: 'acme', name: 'shared', private: true, collaborators: ['agent'] });
      expect(await provider.isRepoPublic(repo, call)).toBe(true);
      // The token cannot see it: GitHub answers 404, exactly as for a repository that does not exist.
      expect(await provider.isRepoPublic({ owner: 'acme', name: 'secret' }, call)).toBe(false);
      expect(await provider.isRepoPublic({ owner: 'acme', name: 'nothing' }, call)).toBe(false);
      // The token sees it, and GitHub says `private: true`.
      expect(await provider.isRepoPublic({ owner: 'acme', name: 'shared' }, call)).toBe(false);
      expect(gh.count('get_repo', 404)).toBe(2);
      expect(gh.count('get_repo', 200)).toBe(2);
    });

    it('a repository made private stops being public at the next check; a repeat check is a free 304', async () => {
      expect(await provider.isRepoPublic(repo, call)).toBe(true);
      expect(await provider.isRepoPublic(repo, call)).toBe(true);
      expect(gh.count('get_repo', 304)).toBe(1);
      gh.model.setPrivate('acme/app', true);
      expect(await provider.isRepoPublic(repo, call)).toBe(false);
    });

    it('outages and rate limits are thrown, not read as an answer', async () => {
      gh.addFaults({ kind: 'status', status: 502, times: 1 });
      expect(await provider.isRepoPublic(repo, call).catch((e) => e)).toBeInstanceOf(UnavailableError);
      gh.addFaults({ kind: 'rate_limit', reset_in_s: 60, times: 1 });
      expect(await provider.isRepoPublic(repo, call).catch((e) => e)).toBeInstanceOf(RateLimitedError);
    });

    it('the emulator hides a private repository from a token without access, in REST and GraphQL', async () => {
      gh.model.createRepo({ owner: 'acme', name: 'secret', private: true });
      gh.model.openPull('acme/secret', { head: 'feature' });
      const secret = { owner: 'acme', name: 'secret' };
      expect(await provider.fetchPull({ repo: secret, number: 1 }, call).catch((e) => e)).toBeInstanceOf(
        NotFoundError,
      );
      const batch = await provider.findPullsForBranches([{ repo: secret, branch: 'feature' }], call);
      expect(batch.get(branchKey(secret, 'feature'))).toBeInstanceOf(NotFoundError);
      gh.addToken('ghp_acme', 'acme');
      expect((await provider.fetchPull({ repo: secret, number: 1 }, { token: 'ghp_acme' })).pr_number).toBe(
        1,
      );
    });
  });

  it('a second read of an unchanged PR is answered by 304s', async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    const pull = { repo, number: 1 };
    const first = await provider.fetchPull(pull, call);
    gh.resetCounters();
    expect(await provider.fetchPull(pull, call)).toEqual(first);
    expect(gh.count('get_pull', 304)).toBe(1);
    expect(gh.count('list_reviews', 304)).toBe(1);
    expect(gh.count('get_pull', 200) + gh.count('list_reviews', 200)).toBe(0);
    expect(provider.requestCounts().get_pull).toEqual({ ok: 1, not_modified: 1, error: 0 });
    // A change shows up at once: the ETag no longer matches.
    gh.model.review('acme/app', 1, { login: 'alice', state: 'APPROVED' });
    expect((await provider.fetchPull(pull, call)).approved).toBe(true);
  });

  it('ETags are per token: another token gets its own 200', async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    gh.addToken('ghp_other', 'other');
    await provider.fetchPull({ repo, number: 1 }, call);
    gh.resetCounters();
    await provider.fetchPull({ repo, number: 1 }, { token: 'ghp_other' });
    expect(gh.count('get_pull', 200)).toBe(1);
  });

  it('reads every page of reviews', async () => {
    gh.model.openPull('acme/app', { head: 'feature' });
    for (let i = 0; i < 150; i++) gh.model.review('acme/app', 1, { login: `r${i}`, state: 'COMMENTED' });
    gh.model.review('acme/app', 1, { login: 'last', state: 'CHANGES_REQUESTED' });
    const pr = await provider.fetchPull({ repo, number: 1 }, call);
    expect(pr.changes_requested).toBe(true);
    expect(gh.count('list_reviews', 200)).toBe(2);
  });

  it('follows the redirect of a renamed repository', async () => {
    gh.model.openPull('acme/app', { head: 'feature', title: 'Before the rename' });
    gh.model.renameRepo('acme/app', 'webapp');
    const found = await provider.findPullForBranch(repo, 'feature', call);
    expect(found).toMatchObject({
      pull_request_title: 'Before the rename',
      url: `${gh.webUrl}/acme/webapp/pull/1`,
    });
    expect(gh.count('list_pulls', 301)).toBe(1);
  });

  it('never follows a redirect outside its API', async () => {
    // A stand-in fetch: the point is that no second request is made, which needs no real host.
    const requested: string[] = [];
    const foreign = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
      {
        clock: systemClock,
        fetch: async (input) => {
          requested.push(String(input));
          return new Response(null, {
            status: 301,
            headers: { location: 'https://elsewhere.example/steal' },
          });
        },
      },
    );
    const error = await foreign.fetchPull({ repo, number: 1 }, call).catch((e) => e);
    expect(error).toMatchObject({
      kind: 'unavailable',
      message: expect.stringMatching(/outside the configured API/),
    });
    expect(requested.every((u) => u.startsWith(gh.apiUrl))).toBe(true);
  });

  it('reads many PRs in one GraphQL request, with the same fields as REST', async () => {
    gh.model.createRepo({ owner: 'acme', name: 'lib' });
    const open = gh.model.openPull('acme/app', { head: 'a', draft: true, additions: 3, author: 'octo' });
    gh.model.review('acme/app', open.number, { login: 'alice', state: 'CHANGES_REQUESTED' });
    gh.model.review('acme/app', open.number, { login: 'Alice', state: 'APPROVED' });
    const merged = gh.model.openPull('acme/app', { head: 'b' });
    gh.model.merge('acme/app', merged.number);
    const closed = gh.model.openPull('acme/lib', { head: 'c' });
    gh.model.close('acme/lib', closed.number);
    const pulls = [
      { repo, number: 1 },
      { repo, number: 2 },
      { repo: { owner: 'acme', name: 'lib' }, number: 1 },
      { repo, number: 99 },
      { repo: { owner: 'acme', name: 'gone' }, number: 1 },
    ];
    const batch = await provider.fetchPulls(pulls, call);
    expect(gh.count('graphql', 200)).toBe(1);
    for (const pull of pulls.slice(0, 3)) {
      expect(batch.get(pullKey(pull))).toEqual(await provider.fetchPull(pull, call));
    }
    expect(batch.get(pullKey(pulls[3]!))).toBeInstanceOf(NotFoundError);
    expect(batch.get(pullKey(pulls[4]!))).toBeInstanceOf(NotFoundError);
  });

  it('finds the PRs of many branches in one GraphQL request, as the REST lookup does one by one', async () => {
    gh.model.createRepo({ owner: 'agent-bot', name: 'app', fork_of: 'acme/app' });
    gh.model.openPull('acme/app', { head: 'open-one', draft: true });
    const merged = gh.model.openPull('acme/app', { head: 'merged-early' });
    gh.model.merge('acme/app', merged.number);
    const old = gh.model.openPull('acme/app', { head: 'several', title: 'old, closed' });
    gh.model.close('acme/app', old.number);
    gh.model.openPull('acme/app', { head: 'several', title: 'the open one' });
    gh.model.openPull('acme/app', { head: 'agent-bot:from-fork', title: 'From the fork' });
    // Same branch name pushed from another fork: not this origin's PR.
    gh.model.createRepo({ owner: 'stranger', name: 'app', fork_of: 'acme/app' });
    gh.model.openPull('acme/app', { head: 'stranger:open-two' });
    const fork = { owner: 'agent-bot', name: 'app' };
    const items = [
      { repo, branch: 'open-one' },
      { repo, branch: 'merged-early' },
      { repo, branch: 'several' },
      { repo, branch: 'nothing' },
      { repo, branch: 'open-two' },
      { repo: fork, branch: 'from-fork' },
      { repo: fork, branch: 'nothing' },
    ];
    gh.resetCounters();
    const batch = await provider.findPullsForBranches(items, call);
    // One query lists the candidates, one reads the chosen PRs.
    expect(gh.counters.total).toBe(2);
    for (const { repo: r, branch } of items) {
      expect(batch.get(branchKey(r, branch)), `${r.owner}/${r.name} ${branch}`).toEqual(
        await provider.findPullForBranch(r, branch, call),
      );
    }
    expect(batch.get(branchKey(repo, 'several'))).toMatchObject({ pull_request_title: 'the open one' });
    expect(batch.get(branchKey(fork, 'from-fork'))).toMatchObject({ pull_request_title: 'From the fork' });
    const missing = await provider.findPullsForBranches(
      [{ repo: { owner: 'acme', name: 'gone' }, branch: 'x' }],
      call,
    );
    expect(missing.get(branchKey({ owner: 'acme', name: 'gone' }, 'x'))).toBeInstanceOf(NotFoundError);
  });

  it('splits large batches, and a PR with more reviews than one query reads goes through REST', async () => {
    for (let i = 0; i < 60; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    for (let i = 0; i < 101; i++) gh.model.review('acme/app', 1, { login: `r${i}`, state: 'COMMENTED' });
    gh.model.review('acme/app', 1, { login: 'late', state: 'APPROVED' });
    const pulls = Array.from({ length: 60 }, (_, i) => ({ repo, number: i + 1 }));
    const batch = await provider.fetchPulls(pulls, call);
    // Three batch queries (60 PRs read with their checks and threads at first sight, 29 a query),
    // and the REST-read PR's reviewDecision (it has an approval).
    expect(gh.count('graphql', 200)).toBe(4);
    expect(gh.count('get_pull', 200)).toBe(1);
    expect(batch.get(pullKey(pulls[0]!))).toMatchObject({ approved: true });
    expect([...batch.values()].every((v) => !(v instanceof Error))).toBe(true);
  });

  describe('requested reviewers', () => {
    const pull = { repo, number: 1 };
    const both = async () => ({
      rest: (await provider.fetchPull(pull, call)).requested_reviewers,
      graphql: (
        (await provider.fetchPulls([pull], call)).get(pullKey(pull)) as { requested_reviewers: unknown }
      ).requested_reviewers,
    });

    it('people and teams asked to review, the same sorted list through REST and GraphQL', async () => {
      gh.model.openPull('acme/app', { head: 'feature', author: 'octo' });
      // Asked in no particular order: a person, a team, a GitHub App, a person in capitals, a team.
      gh.model.requestReviewers('acme/app', 1, {
        reviewers: ['zed', 'renovate[bot]', 'Alice'],
        team_reviewers: ['web', 'Core'],
      });
      const expected = [
        { kind: 'user', name: 'Alice' },
        { kind: 'user', name: 'renovate[bot]' },
        { kind: 'user', name: 'zed' },
        { kind: 'team', name: 'acme/Core' },
        { kind: 'team', name: 'acme/web' },
      ];
      const { rest, graphql } = await both();
      expect(rest).toEqual(expected);
      expect(graphql).toEqual(expected);
      expect(await provider.findPullForBranch(repo, 'feature', call)).toMatchObject({
        requested_reviewers: expected,
      });
    });

    it('a person who reviews is no longer requested, on both paths; a request removed is gone', async () => {
      gh.model.openPull('acme/app', { head: 'feature' });
      gh.model.requestReviewers('acme/app', 1, { reviewers: ['alice', 'bob'], team_reviewers: ['core'] });
      gh.model.review('acme/app', 1, { login: 'alice', state: 'COMMENTED' });
      let { rest, graphql } = await both();
      expect(rest).toEqual([
        { kind: 'user', name: 'bob' },
        { kind: 'team', name: 'acme/core' },
      ]);
      expect(graphql).toEqual(rest);
      gh.model.removeRequestedReviewers('acme/app', 1, { reviewers: ['bob'], team_reviewers: ['core'] });
      ({ rest, graphql } = await both());
      expect(rest).toEqual([]);
      expect(graphql).toEqual([]);
    });

    it('a deleted account asked to review is no one on either path', async () => {
      gh.model.openPull('acme/app', { head: 'feature' });
      gh.model.requestReviewers('acme/app', 1, { reviewers: ['gone', 'alice'] });
      gh.model.deleteUser('gone');
      const { rest, graphql } = await both();
      expect(rest).toEqual([{ kind: 'user', name: 'alice' }]);
      expect(graphql).toEqual(rest);
    });

    it('a PR with more review requests than one query reads is read through REST', async () => {
      gh.model.openPull('acme/app', { head: 'feature' });
      const many = Array.from(
        { length: REVIEW_REQUESTS_PER_PULL + 1 },
        (_, i) => `r${String(i).padStart(2, '0')}`,
      );
      gh.model.requestReviewers('acme/app', 1, { reviewers: many });
      const got = (await provider.fetchPulls([pull], call)).get(pullKey(pull)) as {
        requested_reviewers: unknown[];
      };
      expect(got.requested_reviewers).toHaveLength(REVIEW_REQUESTS_PER_PULL + 1);
      expect(gh.count('get_pull', 200)).toBe(1);
    });

    it('the PR query of a full batch still costs one point, within the node limit', () => {
      const pulls = Array.from({ length: MAX_PULLS_PER_QUERY }, (_, i) => ({ repo, number: i + 1 }));
      const { query, variables } = buildPullsQuery(pulls);
      const cost = graphqlCost(parse(query), variables);
      expect(cost).toMatchObject({ cost: 1, errors: [] });
      expect(cost.requests).toBe(MAX_PULLS_PER_QUERY * CONNECTIONS_PER_PULL);
      // One PR more would round up to two points.
      const over = buildPullsQuery([...pulls, { repo, number: 99 }]);
      expect(graphqlCost(parse(over.query), over.variables).cost).toBe(2);
      expect(provider.capabilities.pullsPerBatch).toBe(MAX_PULLS_PER_QUERY);
    });
  });

  it('a GraphQL rate limit is a RateLimitedError', async () => {
    gh.model.openPull('acme/app', { head: 'a' });
    gh.addFaults({ kind: 'rate_limit', reset_in_s: 300, match: '^/graphql$' });
    const error = await provider.fetchPulls([{ repo, number: 1 }], call).catch((e) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
  });

  it('every GraphQL query it sends is valid against GitHub’s published schema', async () => {
    const { query } = buildPullsQuery([
      { repo, number: 1 },
      { repo: { owner: 'o', name: 'r' }, number: 2 },
    ]);
    const branches = buildBranchesQuery([
      { repo, branch: 'a' },
      { repo: { owner: 'o', name: 'r' }, branch: 'b' },
    ]).query;
    for (const q of [query, branches]) {
      expect(validate(githubGraphqlSchema(), parse(q))).toEqual([]);
      // The package's own validator agrees.
      expect(validateWithOctokit(q)).toEqual([]);
    }
    // And the check is not vacuous.
    expect(validate(githubGraphqlSchema(), parse(query.replace('isDraft', 'isDrafty')))).not.toEqual([]);
  });

  describe('errors', () => {
    beforeEach(() => {
      gh.model.openPull('acme/app', { head: 'feature' });
    });
    const fetchOne = () => provider.fetchPull({ repo, number: 1 }, call);

    it('403 with x-ratelimit-remaining: 0 → rate limited until the reset header', async () => {
      gh.addFaults({ kind: 'rate_limit', reset_in_s: 600 });
      const error = await fetchOne().catch((e) => e);
      expect(error).toBeInstanceOf(RateLimitedError);
      const wait = (error as RateLimitedError).resetAt.getTime() - Date.now();
      expect(wait).toBeGreaterThan(590_000);
      expect(wait).toBeLessThanOrEqual(601_000);
    });

    it('the primary budget running out is a rate limit too', async () => {
      gh.addToken('ghp_small', 'small', 1);
      await provider.fetchPull({ repo, number: 1 }, { token: 'ghp_small' }).catch((e) => e);
      const error = await provider.findPullForBranch(repo, 'x', { token: 'ghp_small' }).catch((e) => e);
      expect(error).toBeInstanceOf(RateLimitedError);
    });

    it('429 with retry-after → rate limited for that long', async () => {
      gh.addFaults({ kind: 'too_many_requests', reset_in_s: 120 });
      const error = (await fetchOne().catch((e) => e)) as RateLimitedError;
      expect(error).toBeInstanceOf(RateLimitedError);
      expect(error.resetAt.getTime() - Date.now()).toBeGreaterThan(110_000);
    });

    it('a 403 without rate-limit headers is an auth error, not a rate limit', async () => {
      gh.addFaults({ kind: 'status', status: 403 });
      expect(await fetchOne().catch((e) => e)).toBeInstanceOf(AuthError);
    });

    it('a revoked token is an auth error whose message holds no token', async () => {
      gh.revokeToken(call.token);
      const error = await fetchOne().catch((e) => e);
      expect(error).toBeInstanceOf(AuthError);
      expect(JSON.stringify({ m: error.message, s: error.stack })).not.toContain(call.token);
    });

    it('5xx, garbage and timeouts are unavailable', async () => {
      gh.addFaults({ kind: 'status', status: 502, times: 1 });
      expect(await fetchOne().catch((e) => e)).toBeInstanceOf(UnavailableError);
      gh.addFaults({ kind: 'garbage', times: 2 });
      expect(await fetchOne().catch((e) => e)).toMatchObject({
        kind: 'unavailable',
        message: expect.stringMatching(/malformed|unexpected/),
      });
      gh.addFaults({ kind: 'timeout', times: 2 });
      expect(await fetchOne().catch((e) => e)).toMatchObject({
        kind: 'unavailable',
        message: expect.stringMatching(/timed out/),
      });
    });

    it('an unknown PR is not found', async () => {
      expect(await provider.fetchPull({ repo, number: 99 }, call).catch((e) => e)).toBeInstanceOf(
        NotFoundError,
      );
    });
  });
});
