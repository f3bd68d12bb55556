import { parse } from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { graphqlCost } from './graphql.ts';
import { type GitHubEmulator, startGitHubEmulator } from './server.ts';

/**
 * The emulator prices and limits GraphQL as GitHub documents ("Rate limits and node limits for the
 * GraphQL API"): the examples below are the documentation's own, with its figures.
 */
describe('GitHub emulator GraphQL limits', () => {
  it('counts nodes and points as GitHub’s documented examples do', () => {
    const simple = graphqlCost(
      parse(`query { viewer { repositories(first: 50) { edges { repository: node { name
        issues(first: 10) { totalCount edges { node { title bodyHTML } } } } } } } }`),
      {},
    );
    expect(simple.nodes).toBe(550);
    const complex = graphqlCost(
      parse(`query { viewer {
        repositories(first: 50) { edges { repository: node { name
          pullRequests(first: 20) { edges { pullRequest: node { title
            comments(first: 10) { edges { comment: node { bodyHTML } } } } } }
          issues(first: 20) { totalCount edges { issue: node { title bodyHTML
            comments(first: 10) { edges { comment: node { bodyHTML } } } } } } } } }
        followers(first: 10) { edges { follower: node { login } } } } }`),
      {},
    );
    expect(complex.nodes).toBe(22_060);
    // Requests: 1 + 50 + 50×20 + 50 + 50×20 + 1 = 2,102 → 21 points.
    expect(complex.requests).toBe(2_102);
    expect(complex.cost).toBe(21);
    expect(graphqlCost(parse('query { viewer { login } }'), {}).cost).toBe(1);
  });

  describe('over HTTP', () => {
    let gh: GitHubEmulator;
    const token = 'ghp_limits';
    beforeEach(async () => {
      gh = await startGitHubEmulator({ rateLimit: 100, graphqlRateLimit: 30 });
      gh.addToken(token, 'agent');
      gh.model.createRepo({ owner: 'acme', name: 'app' });
    });
    afterEach(() => gh.close());

    const post = async (query: string, variables: object = {}) => {
      const res = await fetch(`${gh.webUrl}/api/graphql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      // biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely here
      return { status: res.status, headers: res.headers, body: (await res.json()) as any };
    };

    it('refuses first/last above 100, missing bounds and more than 500,000 nodes, without charging', async () => {
      const over = await post(
        'query { repository(owner: "acme", name: "app") { pullRequests(first: 101) { nodes { number } } } }',
      );
      expect(over.body.errors[0]).toMatchObject({ type: 'EXCESSIVE_PAGINATION' });
      const unbounded = await post(
        'query { repository(owner: "acme", name: "app") { pullRequests { nodes { number } } } }',
      );
      expect(unbounded.body.errors[0]).toMatchObject({ type: 'MISSING_PAGINATION_BOUNDARIES' });
      const huge = await post(`query { repository(owner: "acme", name: "app") {
        pullRequests(first: 100) { nodes { reviews(first: 100) { nodes { comments(first: 100) { nodes { id } } } } } } } }`);
      expect(huge.body.errors[0]).toMatchObject({ type: 'MAX_NODE_LIMIT_EXCEEDED' });
      expect(gh.budget(token, 'graphql').used).toBe(0);
    });

    it('charges points against a GraphQL budget separate from REST, and answers RATE_LIMITED when it is spent', async () => {
      // 1 + 100 (reviews per PR) = 101 requests → 1 point; 100 + 100×100 nodes.
      const q = `query { repository(owner: "acme", name: "app") {
        pullRequests(first: 100) { nodes { reviews(first: 100) { totalCount } commits(first: 100) { nodes { url } } } } } }`;
      const answer = await post(q);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-ratelimit-resource')).toBe('graphql');
      expect(gh.graphqlCosts.at(-1)).toEqual({ cost: 2, nodes: 10_100 });
      expect(gh.budget(token, 'graphql').used).toBe(2);
      expect(gh.budget(token, 'core').used).toBe(0);
      gh.addToken('ghp_two', 'agent', 100, 2);
      const spend = () =>
        fetch(`${gh.webUrl}/api/graphql`, {
          method: 'POST',
          headers: { authorization: 'Bearer ghp_two', 'content-type': 'application/json' },
          body: JSON.stringify({ query: q }),
        }).then(async (r) => ({
          status: r.status,
          body: await r.json(),
          remaining: r.headers.get('x-ratelimit-remaining'),
        }));
      await spend();
      expect(await spend()).toMatchObject({
        status: 200,
        remaining: '0',
        body: { errors: [{ type: 'RATE_LIMITED' }] },
      });
      // REST is untouched.
      const rest = await fetch(`${gh.apiUrl}/repos/acme/app`, {
        headers: { authorization: 'Bearer ghp_two' },
      });
      expect(rest.status).toBe(200);
    });
  });
});
