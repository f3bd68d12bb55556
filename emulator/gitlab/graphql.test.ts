import { parse } from 'graphql';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queryComplexity } from './graphql.ts';
import { type GitLabEmulator, startGitLabEmulator } from './server.ts';

/** The emulator's GraphQL endpoint over real HTTP: what a provider needs to read many MRs at once. */
const TOKEN = 'glpat-graphql-test';
// biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely here
type Json = any;

const MR_FIELDS = `iid title state draft sourceBranch targetBranch webUrl updatedAt preparedAt commitCount approved
  detailedMergeStatus author { username avatarUrl }
  diffStatsSummary { additions deletions fileCount }
  approvedBy { nodes { username } }
  reviewers { nodes { username mergeRequestInteraction { reviewState } } }`;

describe('GitLab emulator GraphQL', () => {
  let gl: GitLabEmulator;
  let strict = true;

  const post = async (query: string, variables: object = {}, headers: Record<string, string> = {}) => {
    const res = await fetch(gl.graphqlUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
  };

  beforeEach(async () => {
    strict = true;
    // A clock that moves 1 s per reading: update order is deterministic.
    let t = Date.parse('2026-03-01T00:00:00Z');
    gl = await startGitLabEmulator({
      now: () => {
        t += 1000;
        return new Date(t);
      },
    });
    gl.addToken(TOKEN, 'alice');
    gl.model.createProject({
      path: 'group/sub/repo',
      members: ['alice'],
      tier: 'premium',
      approvals_required: 1,
    });
  });
  afterEach(async () => {
    gl.maxComplexity = null;
    if (strict) expect(gl.counters.unexpected).toEqual([]);
    await gl.close();
  });

  it('reads many branches’ merge requests in one query with aliases, newest update first', async () => {
    // What is read, not what it costs (GitLab would refuse these pages: see the complexity test).
    gl.maxComplexity = 1_000_000;
    gl.model.openMergeRequest('group/sub/repo', {
      source_branch: 'one',
      additions: 4,
      deletions: 1,
      file_count: 2,
      commits: 3,
    });
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'two', prepared: false });
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'one' });
    gl.model.close('group/sub/repo', 3);
    gl.model.review('group/sub/repo', 1, 'bob', 'approved');
    gl.model.review('group/sub/repo', 2, 'carol', 'requested_changes');
    const { status, body } = await post(
      `query($path: ID!) {
      project(fullPath: $path) {
        one: mergeRequests(sourceBranches: ["one"], sort: UPDATED_DESC, first: 10) { nodes { ${MR_FIELDS} } }
        two: mergeRequests(sourceBranches: ["two"], state: opened, first: 10) { nodes { ${MR_FIELDS} } }
        single: mergeRequest(iid: "1") { iid diffRefs { headSha } }
        missing: mergeRequest(iid: "99") { iid }
      }
    }`,
      { path: 'group/sub/repo' },
    );
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    const { one, two, single, missing } = body.data.project;
    // MR 1 was reviewed after MR 3 was closed.
    expect(one.nodes.map((n: Json) => [n.iid, n.state])).toEqual([
      ['1', 'opened'],
      ['3', 'closed'],
    ]);
    expect(one.nodes[0]).toMatchObject({
      approved: true,
      commitCount: 3,
      detailedMergeStatus: 'MERGEABLE',
      diffStatsSummary: { additions: 4, deletions: 1, fileCount: 2 },
      approvedBy: { nodes: [{ username: 'bob' }] },
      reviewers: { nodes: [{ username: 'bob', mergeRequestInteraction: { reviewState: 'APPROVED' } }] },
      webUrl: `${gl.webUrl}/group/sub/repo/-/merge_requests/1`,
    });
    // Diff not prepared yet: zeros, as GitLab answers them, and no preparedAt.
    expect(two.nodes[0]).toMatchObject({
      iid: '2',
      approved: false,
      preparedAt: null,
      diffStatsSummary: { additions: 0, deletions: 0, fileCount: 0 },
      detailedMergeStatus: 'PREPARING',
      reviewers: { nodes: [{ mergeRequestInteraction: { reviewState: 'REQUESTED_CHANGES' } }] },
    });
    expect(single.diffRefs.headSha).toMatch(/^[0-9a-f]{40}$/);
    expect(missing).toBeNull();
    expect(gl.count('graphql', 200)).toBe(1);
  });

  it('answers headPipeline only while it is of the current head, with its jobs, and discussion counts', async () => {
    // What is read, not what it costs (GitLab would refuse these pages: see the complexity test).
    gl.maxComplexity = 1_000_000;
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
    const pipeline = gl.model.createPipeline('group/sub/repo', {
      ref: 'f',
      jobs: [
        { name: 'unit', stage: 'test', status: 'failed', failure_reason: 'runner_system_failure' },
        { name: 'lint', stage: 'test', status: 'success' },
      ],
    });
    gl.model.retryJob(pipeline.id, 'unit');
    gl.model.startThread('group/sub/repo', 1, { author: 'bob', body: 'Hm' });
    const done = gl.model.startThread('group/sub/repo', 1, { author: 'bob', body: 'Ok?' });
    gl.model.resolveThread('group/sub/repo', 1, done.id, true);
    gl.model.comment('group/sub/repo', 1, { author: 'bob', body: 'Nice' });
    const query = `{ project(fullPath: "group/sub/repo") { mergeRequest(iid: "1") {
      diffHeadSha userNotesCount resolvableDiscussionsCount resolvedDiscussionsCount
      headPipeline { status path
        latest: jobs(retried: false, first: 10) { count nodes { name status allowFailure webPath failureMessage stage { name } } }
        retried: jobs(retried: true) { nodes { name status failureMessage } }
        failed: jobs(statuses: [FAILED]) { count } } } } }`;
    const { body } = await post(query);
    expect(body.errors).toBeUndefined();
    const mr = body.data.project.mergeRequest;
    const retry = pipeline.jobs.find((j) => j.name === 'unit' && !j.retried)!;
    expect(mr).toMatchObject({
      diffHeadSha: gl.model.headSha(gl.model.mergeRequest('group/sub/repo', 1)),
      userNotesCount: 3,
      resolvableDiscussionsCount: 2,
      resolvedDiscussionsCount: 1,
      headPipeline: {
        status: 'RUNNING',
        path: `/group/sub/repo/-/pipelines/${pipeline.id}`,
        latest: {
          count: 2,
          nodes: [
            {
              name: 'lint',
              status: 'SUCCESS',
              allowFailure: false,
              failureMessage: null,
              stage: { name: 'test' },
            },
            { name: 'unit', status: 'PENDING', webPath: `/group/sub/repo/-/jobs/${retry.id}` },
          ],
        },
        retried: {
          nodes: [
            {
              name: 'unit',
              status: 'FAILED',
              failureMessage: 'There has been a runner system failure, please try again',
            },
          ],
        },
        failed: { count: 1 },
      },
    });
    gl.model.push('group/sub/repo', 'f');
    const pushed = await post(query);
    expect(pushed.body.data.project.mergeRequest.headPipeline).toBeNull();
  });

  it('answers project: null without an error for a project the token cannot see', async () => {
    gl.addToken('glpat-mallory', 'mallory');
    const hidden = await post(
      '{ project(fullPath: "group/sub/repo") { id } }',
      {},
      { authorization: 'Bearer glpat-mallory' },
    );
    expect(hidden.body).toEqual({ data: { project: null } });
  });

  it('answers 401 "Invalid token" for a bad token and runs anonymously without one', async () => {
    const bad = await post('{ currentUser { username } }', {}, { authorization: 'Bearer nope' });
    expect(bad).toMatchObject({ status: 401, body: { errors: [{ message: 'Invalid token' }] } });
    const res = await fetch(gl.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ currentUser { username } queryComplexity { limit } }' }),
    });
    expect(await res.json()).toEqual({ data: { currentUser: null, queryComplexity: { limit: 200 } } });
    const viaPrivateToken = await post(
      '{ currentUser { username } }',
      {},
      { authorization: '', 'private-token': TOKEN },
    );
    expect(viaPrivateToken.body.data.currentUser.username).toBe('alice');
  });

  it('scores complexity as GitLab does (a connection’s selections once: BaseField#complexity_for) and refuses queries above 250 (authenticated)', async () => {
    expect(queryComplexity(parse('{ project(fullPath: "a/b") { id fullPath } }'))).toBe(3);
    const small = await post('{ queryComplexity { score limit } }');
    expect(small.body.data.queryComplexity).toEqual({ score: 3, limit: 250 });
    const aliases = Array.from(
      { length: 20 },
      (_, i) => `b${i}: mergeRequests(sourceBranches: ["b${i}"], first: 5) { nodes { ${MR_FIELDS} } }`,
    );
    const big = await post(`{ project(fullPath: "group/sub/repo") { ${aliases.join('\n')} } }`);
    expect(big.status).toBe(200);
    expect(big.body.data).toBeUndefined();
    expect(big.body.errors[0].message).toMatch(
      /^Query has complexity of \d+, which exceeds max complexity of 250$/,
    );
  });

  it('refuses a query over 10,000 characters with 422, as GraphqlController#limit_query_size', async () => {
    const long = `{ currentUser { username ${' '.repeat(10_001)} } }`;
    const refused = await post(long);
    expect(refused.status).toBe(422);
    expect(refused.body).toEqual({ errors: [{ message: 'Query too large' }] });
  });

  it('cuts first: above 100 to 100 nodes and pages with cursors', async () => {
    // What is read, not what it costs (GitLab would refuse these pages: see the complexity test).
    gl.maxComplexity = 1_000_000;
    for (let i = 0; i < 120; i++) gl.model.openMergeRequest('group/sub/repo', { source_branch: `b${i}` });
    const page = await post(`{ project(fullPath: "group/sub/repo") {
      mergeRequests(first: 500) { count nodes { iid } pageInfo { hasNextPage endCursor } } } }`);
    const conn = page.body.data.project.mergeRequests;
    expect(conn.count).toBe(120);
    expect(conn.nodes).toHaveLength(100);
    expect(conn.pageInfo.hasNextPage).toBe(true);
    const rest = await post(
      `query($after: String) { project(fullPath: "group/sub/repo") {
        mergeRequests(first: 100, after: $after) { nodes { iid } pageInfo { hasNextPage } } } }`,
      { after: conn.pageInfo.endCursor },
    );
    expect(rest.body.data.project.mergeRequests.nodes).toHaveLength(20);
    expect(rest.body.data.project.mergeRequests.pageInfo.hasNextPage).toBe(false);
  });

  it('answers GitLab-worded validation errors for unknown fields', async () => {
    const res = await post('{ project(fullPath: "group/sub/repo") { nope } }');
    expect(res.body.errors[0].message).toBe("Field 'nope' doesn't exist on type 'Project'");
  });

  it('answers multiplexed (batched) queries as an array', async () => {
    const res = await fetch(gl.graphqlUrl, {
      method: 'POST',
      headers: { 'private-token': TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify([
        { query: '{ currentUser { username } }' },
        { query: '{ queryComplexity { limit } }' },
      ]),
    });
    expect(await res.json()).toEqual([
      { data: { currentUser: { username: 'alice' } } },
      { data: { queryComplexity: { limit: 250 } } },
    ]);
  });

  it('shares the REST throttle, and takes faults on /graphql', async () => {
    const first = await post('{ currentUser { username } }');
    expect(first.status).toBe(200);
    expect(gl.budget('alice').observed).toBe(1);
    await fetch(`${gl.apiUrl}/projects/group%2Fsub%2Frepo`, { headers: { 'private-token': TOKEN } });
    expect(gl.budget('alice').observed).toBe(2);
    gl.addFaults({ kind: 'graphql_error', match: '^/graphql$', times: 1 });
    expect((await post('{ currentUser { username } }')).body).toEqual({
      errors: [{ message: 'Internal server error' }],
    });
    gl.addFaults({ kind: 'rate_limit', match: '^/graphql$', times: 1, reset_in_s: 3 });
    const limited = await fetch(gl.graphqlUrl, {
      method: 'POST',
      headers: { 'private-token': TOKEN, 'content-type': 'application/json' },
      body: '{"query":"{ currentUser { username } }"}',
    });
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '3']);
  });

  it('serves GraphQL under a path prefix and shows the Ghost User for deleted authors', async () => {
    strict = false;
    const prefixed = await startGitLabEmulator({ relativeUrlRoot: 'gitlab' });
    try {
      prefixed.addToken(TOKEN, 'alice');
      prefixed.model.createProject({ path: 'g/r', visibility: 'public' });
      prefixed.model.openMergeRequest('g/r', { source_branch: 'f', author: 'gone' });
      prefixed.model.deleteUser('gone');
      const res = await fetch(`${prefixed.webUrl}/api/graphql`, {
        method: 'POST',
        headers: { 'private-token': TOKEN, 'content-type': 'application/json' },
        body: JSON.stringify({
          query:
            '{ project(fullPath: "g/r") { mergeRequest(iid: "1") { author { username name } webUrl } } }',
        }),
      });
      expect(await res.json()).toEqual({
        data: {
          project: {
            mergeRequest: {
              author: { username: 'ghost', name: 'Ghost User' },
              webUrl: `${prefixed.webUrl}/g/r/-/merge_requests/1`,
            },
          },
        },
      });
      const origin = new URL(prefixed.webUrl).origin;
      expect((await fetch(`${origin}/api/graphql`, { method: 'POST' })).status).toBe(404);
      expect(prefixed.counters.unexpected).toEqual([{ method: 'POST', path: '/api/graphql' }]);
    } finally {
      await prefixed.close();
    }
  });
});
