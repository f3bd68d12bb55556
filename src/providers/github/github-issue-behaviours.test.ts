import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../../../emulator/github/server.ts';
import { systemClock } from '../../core/clock.ts';
import { AuthError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { branchKey, pullKey } from '../types.ts';
import { graphqlUrlFor } from './client.ts';
import { GITHUB_TYPE } from './defaults.ts';
import { GitHubProvider } from './github-provider.ts';
import { MAX_PULLS_PER_QUERY } from './graphql.ts';

/**
 * GitHub behaviours the provider must handle, each taught to the emulator (over real HTTP on
 * 127.0.0.1) so that a test fails if the handling goes away.
 */
describe('GitHub host behaviours', () => {
  let gh: GitHubEmulator;
  let provider: GitHubProvider;
  const call = { token: 'ghp_behaviours' };
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

  const pulls = () => [
    { repo, number: 1 },
    { repo, number: 2 },
  ];
  const twoPulls = () => {
    gh.model.openPull('acme/app', { head: 'a' });
    gh.model.openPull('acme/app', { head: 'b' });
  };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: unknown) => e,
    );

  describe('1. GraphQL rate limits in every shape pause the graphql budget', () => {
    for (const type of ['RATE_LIMITED', 'RATE_LIMIT'] as const) {
      it(`HTTP 200 with errors[].type ${type}`, async () => {
        twoPulls();
        gh.addFaults({ kind: 'graphql_rate_limit', type, reset_in_s: 300, times: 1 });
        const error = await failure(provider.fetchPulls(pulls(), call));
        expect(error).toBeInstanceOf(RateLimitedError);
        expect((error as RateLimitedError).scope).toBe('graphql');
        expect((error as RateLimitedError).resetAt.getTime() - Date.now()).toBeGreaterThan(290_000);
      });
    }

    it('the emulator’s own GraphQL budget running out answers RATE_LIMIT (200)', async () => {
      const small = await startGitHubEmulator({ graphqlRateLimitType: 'RATE_LIMIT' });
      try {
        small.addToken('ghp_small', 'agent', 5000, 1);
        small.model.createRepo({ owner: 'acme', name: 'app' });
        small.model.openPull('acme/app', { head: 'a' });
        // Every read goes to GraphQL here (not answered from the PR list).
        const p = new GitHubProvider(
          { id: 'github', type: 'github', web_url: small.webUrl, api_url: small.apiUrl },
          { clock: systemClock, listFirst: false },
        );
        await p.fetchPulls([{ repo, number: 1 }], { token: 'ghp_small' });
        const error = await failure(p.fetchPulls([{ repo, number: 1 }], { token: 'ghp_small' }));
        expect(error).toMatchObject({ kind: 'rate_limited', scope: 'graphql' });
        // REST is a separate budget: still open.
        expect((await p.fetchPull({ repo, number: 1 }, { token: 'ghp_small' })).pr_number).toBe(1);
        expect(small.budget('ghp_small', 'graphql')).toMatchObject({ limit: 1, remaining: 0 });
      } finally {
        await small.close();
      }
    });

    for (const status of [200, 403] as const) {
      it(`a secondary limit as HTTP ${status} with only a message`, async () => {
        twoPulls();
        gh.addFaults({ kind: 'secondary_rate_limit', status, match: '^/graphql$', times: 1 });
        const error = await failure(provider.fetchPulls(pulls(), call));
        expect(error).toBeInstanceOf(RateLimitedError);
        expect((error as RateLimitedError).scope).toBe('graphql');
        expect((error as RateLimitedError).resetAt.getTime() - Date.now()).toBeGreaterThanOrEqual(59_000);
      });
    }

    it('while limited, no GraphQL request is sent with that token', async () => {
      twoPulls();
      gh.addFaults({ kind: 'graphql_rate_limit', reset_in_s: 300, times: 1 });
      await failure(provider.fetchPulls(pulls(), call));
      gh.resetCounters();
      expect(await failure(provider.fetchPulls(pulls(), call))).toBeInstanceOf(RateLimitedError);
      expect(gh.count('graphql')).toBe(0);
    });
  });

  describe('2. secondary limits without retry-after', () => {
    it('REST 403 naming a secondary limit, remaining > 0: a rate limit of at least a minute, doubling on repeats', async () => {
      gh.model.openPull('acme/app', { head: 'a' });
      // The branch lookup's first request is a single list call: the limit hits it alone.
      gh.addFaults({ kind: 'secondary_rate_limit', match: '/pulls$', times: 2 });
      const look = () => failure(provider.findPullForBranch(repo, 'a', call));
      const first = await look();
      expect(first).toBeInstanceOf(RateLimitedError);
      expect((first as RateLimitedError).scope).toBe('core');
      const wait1 = (first as RateLimitedError).resetAt.getTime() - Date.now();
      expect(wait1).toBeGreaterThanOrEqual(59_000);
      const second = (await look()) as RateLimitedError;
      expect(second.resetAt.getTime() - Date.now()).toBeGreaterThanOrEqual(119_000);
      // A success ends the streak: the next one waits a minute again.
      expect(await look()).toBeNull();
      gh.addFaults({ kind: 'secondary_rate_limit', status: 429, match: '/pulls$', times: 1 });
      const third = (await look()) as RateLimitedError;
      expect(third).toBeInstanceOf(RateLimitedError);
      expect(third.resetAt.getTime() - Date.now()).toBeLessThan(61_000);
    });

    it('retry-after, when sent, wins', async () => {
      gh.model.openPull('acme/app', { head: 'a' });
      gh.addFaults({ kind: 'secondary_rate_limit', reset_in_s: 7, match: '/pulls/1$', times: 1 });
      const error = (await failure(provider.fetchPull({ repo, number: 1 }, call))) as RateLimitedError;
      expect(error.resetAt.getTime() - Date.now()).toBeLessThanOrEqual(7_500);
    });
  });

  it('3. finds owner:branch among ≥ 100 same-named PRs from other forks', async () => {
    gh.model.createRepo({ owner: 'agent-bot', name: 'app', fork_of: 'acme/app' });
    gh.model.openPull('acme/app', { head: 'agent-bot:patch-1', title: 'Mine' });
    for (let i = 0; i < 120; i++) {
      gh.model.createRepo({ owner: `fork${i}`, name: 'app', fork_of: 'acme/app' });
      gh.model.openPull('acme/app', { head: `fork${i}:patch-1` });
    }
    gh.model.openPull('acme/app', { head: 'main-feature' });
    const fork = { owner: 'agent-bot', name: 'app' };
    const got = await provider.findPullsForBranches(
      [
        { repo: fork, branch: 'patch-1' },
        { repo, branch: 'main-feature' },
      ],
      call,
    );
    expect(got.get(branchKey(fork, 'patch-1'))).toMatchObject({ pull_request_title: 'Mine', pr_number: 1 });
    expect(got.get(branchKey(repo, 'main-feature'))).toMatchObject({ pr_number: 122 });
  });

  describe('4. partial answers', () => {
    it('a field nulled by an error is an error for that PR, not "no reviews"', async () => {
      twoPulls();
      gh.model.review('acme/app', 1, { login: 'alice', state: 'APPROVED' });
      gh.addFaults({ kind: 'graphql_field_error', field: 'reviews', times: 1 });
      const got = await provider.fetchPulls(pulls(), call);
      const one = got.get(pullKey({ repo, number: 1 }));
      expect(one).toBeInstanceOf(UnavailableError);
      expect((one as Error).message).toMatch(/only part of the query.*reviews/);
      expect(got.get(pullKey({ repo, number: 2 }))).toBeInstanceOf(UnavailableError);
    });

    it('FORBIDDEN (SAML enforcement, IP allow list) is an access error that says so', async () => {
      twoPulls();
      gh.model.createRepo({ owner: 'sso-org', name: 'lib', restriction: 'saml' });
      gh.model.openPull('sso-org/lib', { head: 'x' });
      const locked = { repo: { owner: 'sso-org', name: 'lib' }, number: 1 };
      const got = await provider.fetchPulls([...pulls(), locked], call);
      const error = got.get(pullKey(locked));
      expect(error).toBeInstanceOf(AuthError);
      expect((error as Error).message).toMatch(/FORBIDDEN.*SAML/);
      expect(got.get(pullKey({ repo, number: 1 }))).toMatchObject({ pr_number: 1 });
      // REST says the same with a 403 and GitHub's message.
      const rest = await failure(provider.fetchPull(locked, call));
      expect(rest).toBeInstanceOf(AuthError);
      expect((rest as Error).message).toMatch(/SAML enforcement/);
    });

    it('a FORBIDDEN lookup of a branch is an access error too', async () => {
      gh.model.createRepo({ owner: 'ip-org', name: 'lib', restriction: 'ip_allow_list' });
      const locked = { owner: 'ip-org', name: 'lib' };
      const got = await provider.findPullsForBranches(
        [
          { repo: locked, branch: 'x' },
          { repo, branch: 'y' },
        ],
        call,
      );
      expect(got.get(branchKey(locked, 'x'))).toBeInstanceOf(AuthError);
      expect(got.get(branchKey(repo, 'y'))).toBeNull();
    });
  });

  // A batch is MAX_PULLS_PER_QUERY branches (49 since the PR query also asks `reviewRequests`:
  // 50 PRs of three connections each would cost 2 points).
  it('5. finding the PRs of a batch of branches costs ≤ 3 points, and rows waiting for a PR 1', async () => {
    const n = MAX_PULLS_PER_QUERY;
    const items = Array.from({ length: n }, (_, i) => ({ repo, branch: `b${i}` }));
    for (let i = 0; i < n; i++) gh.model.openPull('acme/app', { head: `b${i}` });
    const before = gh.graphqlPoints;
    const found = await provider.findPullsForBranches(items, call);
    expect([...found.values()].every((v) => v !== null && !(v instanceof Error))).toBe(true);
    // One point for the candidates; the 49 PRs found are read with their checks and threads (29 a
    // query at five connections each): two more.
    expect(gh.graphqlPoints - before).toBeLessThanOrEqual(3);
    expect(Math.max(...gh.graphqlCosts.map((c) => c.nodes))).toBeLessThanOrEqual(10_000);
    const waiting = Array.from({ length: n }, (_, i) => ({ repo, branch: `w${i}` }));
    const mark = gh.graphqlPoints;
    await provider.findPullsForBranches(waiting, call);
    expect(gh.graphqlPoints - mark).toBe(1);
  });

  it('6. a GitHub App author is `name[bot]` on every path', async () => {
    gh.model.openPull('acme/app', { head: 'a', author: 'renovate[bot]' });
    gh.model.openPull('acme/app', { head: 'b' });
    const rest = await provider.fetchPull({ repo, number: 1 }, call);
    const graphql = (await provider.fetchPulls(pulls(), call)).get(pullKey({ repo, number: 1 }));
    const lookup = (
      await provider.findPullsForBranches(
        [
          { repo, branch: 'a' },
          { repo, branch: 'b' },
        ],
        call,
      )
    ).get(branchKey(repo, 'a'));
    expect(rest.author_login).toBe('renovate[bot]');
    expect(graphql).toMatchObject({ author_login: 'renovate[bot]' });
    expect(lookup).toMatchObject({ author_login: 'renovate[bot]' });
  });

  it('deleted users: no author on either path (REST ghost, GraphQL null)', async () => {
    twoPulls();
    gh.model.openPull('acme/app', { head: 'c', author: 'leaver' });
    gh.model.deleteUser('leaver');
    const rest = await provider.fetchPull({ repo, number: 3 }, call);
    const graphql = (await provider.fetchPulls([...pulls(), { repo, number: 3 }], call)).get(
      pullKey({ repo, number: 3 }),
    );
    expect(rest).toMatchObject({ author_login: null, author_avatar_url: null });
    expect(graphql).toEqual(rest);
  });

  it('a PR from a deleted fork still reads (head.repo null)', async () => {
    gh.model.createRepo({ owner: 'gone', name: 'app', fork_of: 'acme/app' });
    gh.model.openPull('acme/app', { head: 'gone:fix' });
    gh.model.deleteRepo('gone/app');
    gh.model.openPull('acme/app', { head: 'b' });
    const rest = await provider.fetchPull({ repo, number: 1 }, call);
    expect(rest).toMatchObject({ head_branch: 'fix', pr_number: 1 });
    expect((await provider.fetchPulls([...pulls()], call)).get(pullKey({ repo, number: 1 }))).toEqual(rest);
  });

  it('a renamed repository: GraphQL follows the rename, REST follows 301 to /repositories/{id}', async () => {
    twoPulls();
    gh.model.renameRepo('acme/app', 'webapp');
    const rest = await provider.fetchPull({ repo, number: 1 }, call);
    expect(rest.url).toBe(`${gh.webUrl}/acme/webapp/pull/1`);
    expect(gh.log.some((r) => r.status === 200 && r.path.includes('/repositories/'))).toBe(true);
    expect((await provider.fetchPulls(pulls(), call)).get(pullKey({ repo, number: 1 }))).toEqual(rest);
  });

  it('9. approvals as GitHub counts them where reviewDecision is set, the same on every path', async () => {
    gh.model.configureRepo('acme/app', { required_approvals: 1 });
    twoPulls();
    // An approval by someone without write access does not count for GitHub.
    gh.model.review('acme/app', 1, { login: 'drive-by', state: 'APPROVED' });
    const rest = await provider.fetchPull({ repo, number: 1 }, call);
    const graphql = (await provider.fetchPulls(pulls(), call)).get(pullKey({ repo, number: 1 }));
    expect(rest).toMatchObject({ approved: false, changes_requested: false, reviewer_count: 1 });
    expect(graphql).toEqual(rest);
    // The owner (write access) approves: now GitHub says APPROVED.
    gh.model.review('acme/app', 1, { login: 'acme', state: 'APPROVED' });
    expect(await provider.fetchPull({ repo, number: 1 }, call)).toMatchObject({ approved: true });
    // Where reviews are not required (reviewDecision null) the summary of reviews stands.
    gh.model.configureRepo('acme/app', { required_approvals: 0 });
    gh.model.review('acme/app', 2, { login: 'drive-by', state: 'APPROVED' });
    expect((await provider.fetchPulls(pulls(), call)).get(pullKey({ repo, number: 2 }))).toMatchObject({
      approved: true,
    });
  });

  it('7. GHE.com: the API of https://SUB.ghe.com is https://api.SUB.ghe.com, GraphQL at /graphql', () => {
    expect(GITHUB_TYPE.defaultApiUrl('https://octocorp.ghe.com')).toBe('https://api.octocorp.ghe.com');
    expect(graphqlUrlFor('https://api.octocorp.ghe.com')).toBe('https://api.octocorp.ghe.com/graphql');
    expect(GITHUB_TYPE.defaultApiUrl('https://github.com')).toBe('https://api.github.com');
    expect(GITHUB_TYPE.defaultApiUrl('https://ghe.example.com')).toBe('https://ghe.example.com/api/v3');
    // Enterprise Server's GraphQL endpoint sits beside its REST base.
    expect(graphqlUrlFor('https://ghe.example.com/api/v3')).toBe('https://ghe.example.com/api/graphql');
  });
});
