import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AzureDevOpsEmulator, fingerprint, SIGN_IN_PAGE, startAzureDevOpsEmulator } from './server.ts';
import { deliver, HookPayloads } from './webhooks.ts';

/** The emulator's REST answers over real HTTP, strictly: an unexpected request fails the test. */
const PAT = 'emulatorpat0123456789abcdefghijklmnopqrstuvwxyz0123';
const basic = (token: string, user = '') => `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
// biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely here
type Json = any;

describe('Azure DevOps emulator', () => {
  let az: AzureDevOpsEmulator;
  let strict = true;
  const get = async (path: string, headers: Record<string, string> = { authorization: basic(PAT) }) => {
    const res = await fetch(`${az.url}${path}`, { headers, redirect: 'manual' });
    const text = await res.text();
    let body: Json = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body };
  };
  const v = 'api-version=7.1';

  beforeEach(async () => {
    strict = true;
    az = await startAzureDevOpsEmulator({ mergeOnRead: true });
    az.addToken(PAT, 'alice@contoso.com');
    az.model.createRepo('contoso/Web App/site', { visibility: 'public' });
  });
  afterEach(async () => {
    if (strict) expect(az.counters.unexpected).toEqual([]);
    await az.close();
  });

  it('serves projects, repositories (with fork parents) and PRs by name, any user name with the PAT', async () => {
    expect((await get(`/contoso/_apis/projects/Web%20App?${v}`)).body).toMatchObject({
      name: 'Web App',
      visibility: 'public',
    });
    az.model.createRepo('contoso/Mine/site', { fork_of: 'contoso/Web App/site' });
    const fork = await get(`/contoso/Mine/_apis/git/repositories/site?${v}`, {
      authorization: basic(PAT, 'x'),
    });
    expect(fork.body).toMatchObject({
      name: 'site',
      isFork: true,
      webUrl: `${az.url}/contoso/Mine/_git/site`,
      parentRepository: { name: 'site', project: { name: 'Web App' } },
    });
    const pr = az.model.openPull('contoso/Web App/site', { source_branch: 'b', author: 'alice@contoso.com' });
    const one = await get(`/contoso/Web%20App/_apis/git/repositories/site/pullRequests/${pr.id}?${v}`);
    expect(one.body).toMatchObject({
      pullRequestId: pr.id,
      status: 'active',
      sourceRefName: 'refs/heads/b',
      createdBy: { uniqueName: 'alice@contoso.com' },
    });
    expect(az.log.map((l) => l.token_fingerprint)).toContain(fingerprint(PAT));
    expect(JSON.stringify(az.log)).not.toContain(PAT);
  });

  it('lists active PRs by default, every status with status=all, filtered by source branch and repository', async () => {
    const a = az.model.openPull('contoso/Web App/site', { source_branch: 'x' });
    az.model.complete(a);
    const list = (q: string) =>
      get(`/contoso/Web%20App/_apis/git/repositories/site/pullrequests?${q}&${v}`).then((r) => r.body.value);
    expect(await list('searchCriteria.sourceRefName=refs/heads/x')).toEqual([]);
    expect(await list('searchCriteria.sourceRefName=refs/heads/x&searchCriteria.status=all')).toHaveLength(1);
    expect(
      await list(
        'searchCriteria.sourceRepositoryId=00000000-0000-0000-0000-000000000000&searchCriteria.status=all',
      ),
    ).toEqual([]);
    expect(
      (
        await get(
          `/contoso/Web%20App/_apis/git/repositories/site/pullrequests?searchCriteria.status=bogus&${v}`,
        )
      ).status,
    ).toBe(400);
  });

  it('lists PRs newest first by id, 101 unless $top says (1,000 at most), by creation or closing time', async () => {
    const path = 'contoso/Web App/site';
    const opened = Array.from({ length: 1_005 }, (_, i) =>
      az.model.openPull(path, {
        source_branch: `p${i}`,
        created_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000),
      }),
    );
    const base = `/contoso/Web%20App/_apis/git/repositories/site/pullrequests`;
    const ids = (body: { value: { pullRequestId: number }[] }) => body.value.map((p) => p.pullRequestId);
    const first = (await get(`${base}?${v}`)).body;
    expect(ids(first)).toHaveLength(101);
    expect(ids(first)[0]).toBe(opened.at(-1)!.id);
    expect(ids(first)).toEqual([...ids(first)].sort((a, b) => b - a));
    expect(ids((await get(`${base}?$top=5000&${v}`)).body)).toHaveLength(1_000);
    expect(ids((await get(`${base}?$top=2&$skip=1&${v}`)).body)).toEqual([
      opened.at(-2)!.id,
      opened.at(-3)!.id,
    ]);
    // `minTime`/`maxTime` filter on the creation time unless `queryTimeRangeType` is `closed`.
    const since = new Date(Date.UTC(2026, 0, 1) + 1_003 * 60_000).toISOString();
    expect(ids((await get(`${base}?searchCriteria.minTime=${since}&${v}`)).body)).toEqual([
      opened[1_004]!.id,
      opened[1_003]!.id,
    ]);
    az.model.complete(opened[0]!);
    const closed = `searchCriteria.status=all&searchCriteria.queryTimeRangeType=closed`;
    expect(ids((await get(`${base}?${closed}&searchCriteria.minTime=${since}&${v}`)).body)).toEqual([
      opened[0]!.id,
    ]);
    strict = false;
    expect((await get(`${base}?searchCriteria.queryTimeRangeType=updated&${v}`)).status).toBe(400);
  });

  it("lists a project's PRs across its repositories, newest first, each naming its repository; descriptions cut to 400", async () => {
    az.model.createRepo('contoso/Web App/docs');
    az.model.createRepo('contoso/Other/site');
    const long = `${'x'.repeat(399)}yz`;
    const a = az.model.openPull('contoso/Web App/site', { source_branch: 'a', description: long });
    const b = az.model.openPull('contoso/Web App/docs', { source_branch: 'b' });
    az.model.openPull('contoso/Other/site', { source_branch: 'c' });
    const done = az.model.openPull('contoso/Web App/docs', { source_branch: 'd' });
    az.model.complete(done);
    const base = `/contoso/Web%20App/_apis/git/pullrequests`;
    const list = (await get(`${base}?searchCriteria.status=active&${v}`)).body;
    expect(list.value.map((p: Json) => [p.pullRequestId, p.repository.name])).toEqual([
      [b.id, 'docs'],
      [a.id, 'site'],
    ]);
    expect(list.count).toBe(2);
    expect(list.value[1].repository.project.name).toBe('Web App');
    expect(list.value[1].description).toBe(`${'x'.repeat(399)}y`);
    // The PR read alone carries the whole description; the repository's list cuts it too.
    const one = await get(`/contoso/Web%20App/_apis/git/repositories/site/pullRequests/${a.id}?${v}`);
    expect(one.body.description).toBe(long);
    const own = await get(`/contoso/Web%20App/_apis/git/repositories/site/pullrequests?${v}`);
    expect(own.body.value[0].description).toHaveLength(400);
    // Paging, status, and the target repository by id.
    expect((await get(`${base}?$top=1&$skip=1&${v}`)).body.value.map((p: Json) => p.pullRequestId)).toEqual([
      a.id,
    ]);
    expect(
      (await get(`${base}?searchCriteria.status=all&${v}`)).body.value.map((p: Json) => p.pullRequestId),
    ).toEqual([done.id, b.id, a.id]);
    const docs = az.model.repo('contoso/Web App/docs').id;
    expect(
      (
        await get(`${base}?searchCriteria.status=all&searchCriteria.repositoryId=${docs}&${v}`)
      ).body.value.map((p: Json) => p.pullRequestId),
    ).toEqual([done.id, b.id]);
    // A project that does not exist, and a token the host does not know, answer as for a repository.
    const missing = await get(`/contoso/Nope/_apis/git/pullrequests?${v}`);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/^TF200016: /);
    const stranger = await get(`${base}?${v}`, { authorization: `Bearer ${'e'.repeat(20)}.x.y` });
    expect(stranger.status).toBe(401);
  });

  it('pages iteration changes by $top/$skip and commits by continuation token', async () => {
    const pr = az.model.openPull('contoso/Web App/site', { source_branch: 'big', files: 150, commits: 3 });
    const base = `/contoso/Web%20App/_apis/git/repositories/site/pullRequests/${pr.id}`;
    expect((await get(`${base}/iterations?${v}`)).body.value.map((i: Json) => i.id)).toEqual([1]);
    const first = await get(`${base}/iterations/1/changes?${v}`);
    expect(first.body).toMatchObject({ nextSkip: 100, nextTop: 100 });
    expect(first.body.changeEntries).toHaveLength(100);
    const second = await get(`${base}/iterations/1/changes?$skip=100&${v}`);
    expect(second.body).toMatchObject({ nextSkip: 0, nextTop: 0 });
    const page = await get(`${base}/commits?$top=2&${v}`);
    expect(page.body.value).toHaveLength(2);
    const token = page.headers.get('x-ms-continuationtoken')!;
    const rest = await get(`${base}/commits?$top=2&continuationToken=${encodeURIComponent(token)}&${v}`);
    expect(rest.body.value).toHaveLength(1);
    expect(rest.headers.get('x-ms-continuationtoken')).toBeNull();
  });

  it('computes the merge after a push on the next read; lists threads, system ones without a status', async () => {
    const pr = az.model.openPull('contoso/Web App/site', { source_branch: 'merge' });
    const base = `/contoso/Web%20App/_apis/git/repositories/site/pullRequests/${pr.id}`;
    expect((await get(`${base}?${v}`)).body.mergeStatus).toBe('queued');
    expect((await get(`${base}?${v}`)).body.mergeStatus).toBe('succeeded');
    az.model.setConflicts(pr, true);
    expect((await get(`${base}?${v}`)).body.mergeStatus).toBe('queued');
    expect((await get(`${base}?${v}`)).body.mergeStatus).toBe('conflicts');
    az.model.vote(pr, 'bob@contoso.com', 10);
    const thread = az.model.comment(pr, {
      author: 'bob@contoso.com',
      content: 'Rename this',
      path: '/a.ts',
      line: 4,
    });
    az.model.reply(thread, 'alice@contoso.com', 'Done');
    az.model.deleteComment(thread, 2);
    const threads = (await get(`${base}/threads?${v}`)).body.value;
    expect(threads[0]).toMatchObject({
      comments: [{ commentType: 'system', content: 'bob voted 10', author: { isContainer: true } }],
      threadContext: null,
      isDeleted: false,
    });
    expect(threads[0].status).toBeUndefined();
    expect(threads[0].comments[0].author.uniqueName).toBeUndefined();
    expect(threads[1]).toMatchObject({
      status: 'active',
      threadContext: { filePath: '/a.ts', rightFileStart: { line: 4, offset: 1 } },
      comments: [
        { id: 1, parentCommentId: 0, content: 'Rename this', commentType: 'text' },
        { id: 2, parentCommentId: 1, isDeleted: true },
      ],
    });
    expect(threads[1].comments[1].content).toBeUndefined();
  });

  it('lists every status posted on a PR, oldest first; a status policy follows its context; completing can delete the branch', async () => {
    const site = 'contoso/Web App/site';
    const gate = az.model.addPolicy(site, 'status', {
      settings: { statusGenre: 'sonar', statusName: 'gate' },
    });
    const pr = az.model.openPull(site, { source_branch: 'statuses' });
    az.model.postPullStatus(pr, { genre: 'jenkins', name: 'build', state: 'pending', iteration: 'head' });
    az.model.postPullStatus(pr, { genre: 'jenkins', name: 'build', state: 'succeeded', iteration: 'head' });
    az.model.postPullStatus(pr, { genre: 'Sonar', name: 'Gate', state: 'failed' });
    const list = await get(
      `/contoso/Web%20App/_apis/git/repositories/site/pullRequests/${pr.id}/statuses?${v}`,
    );
    expect(list.body.count).toBe(3);
    expect(list.body.value.map((s: Json) => [s.id, s.context.name, s.state, s.iterationId])).toEqual([
      [1, 'build', 'pending', 1],
      [2, 'build', 'succeeded', 1],
      [3, 'Gate', 'failed', undefined],
    ]);
    expect(az.model.evaluations(pr).find((e) => e.policy === gate)?.status).toBe('rejected');
    az.model.complete(pr, { delete_source_branch: true });
    expect(az.model.repo(site).branches.has('statuses')).toBe(false);
    const done = await get(`/contoso/Web%20App/_apis/git/repositories/site/pullRequests/${pr.id}?${v}`);
    expect(done.body).toMatchObject({
      status: 'completed',
      sourceRefName: 'refs/heads/statuses',
      completionOptions: { deleteSourceBranch: true },
    });
  });

  it('lists policy evaluations of a PR by artifact id, as a preview API only', async () => {
    const repo = az.model.repo('contoso/Web App/site');
    const ci = az.model.addPolicy('contoso/Web App/site', 'build', { settings: { displayName: 'CI' } });
    az.model.addPolicy('contoso/Web App/site', 'status', {
      blocking: false,
      settings: { statusGenre: 'sonar', statusName: 'gate' },
    });
    az.model.addPolicy('contoso/Web App/site', 'build', { branch: 'release' });
    const pr = az.model.openPull('contoso/Web App/site', { source_branch: 'policies' });
    const build = az.model.build(pr, ci, 'failed', { errors: ['boom'] });
    const artifact = `vstfs:///CodeReview/CodeReviewId/${repo.project.id}/${pr.id}`;
    const path = (version: string, a = artifact) =>
      `/contoso/${repo.project.id}/_apis/policy/evaluations?artifactId=${encodeURIComponent(a)}&api-version=${version}`;
    const plain = await get(path('7.1'));
    expect(plain.status).toBe(400);
    expect(plain.body.typeKey).toBe('VssInvalidPreviewVersionException');
    const list = (await get(path('7.1-preview.1'))).body.value;
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({
      status: 'rejected',
      configuration: {
        isBlocking: true,
        type: { id: '0609b952-1397-4640-95ec-e00a01b2c241', displayName: 'Build' },
        settings: { displayName: 'CI' },
      },
      context: {
        buildId: build.id,
        lastMergeSourceCommitId: az.model.head(pr),
        buildIsNotCurrent: false,
        buildOutputPreview: { errors: [{ message: 'boom' }] },
      },
    });
    expect(list[1]).toMatchObject({
      status: 'queued',
      configuration: { isBlocking: false, type: { displayName: 'Status' } },
    });
    expect(list[1].context).toBeUndefined();
    // After a push the build is queued again and the last one no longer current.
    az.model.pushToPull(pr);
    expect((await get(path('7.1-preview.1'))).body.value[0]).toMatchObject({
      status: 'queued',
      context: { buildId: build.id, buildIsNotCurrent: true },
    });
    expect((await get(path('7.1-preview.1', 'vstfs:///Git/PullRequestId/x'))).status).toBe(400);
    const other = `vstfs:///CodeReview/CodeReviewId/00000000-0000-0000-0000-000000000000/${pr.id}`;
    expect((await get(path('7.1-preview.1', other))).body.value).toEqual([]);
  });

  it('lists the policy configurations that apply to a repository’s branch, enabled or not, paged by configuration id', async () => {
    const path = 'contoso/Web App/site';
    const repo = az.model.repo(path);
    const ci = az.model.addPolicy(path, 'build');
    const off = az.model.addPolicy(path, 'minimumReviewers', { enabled: false });
    const release = az.model.addPolicy(path, 'status', { branch: 'release' });
    az.model.createRepo('contoso/Web App/other');
    az.model.addPolicy('contoso/Web App/other', 'build');
    const list = (query: string) =>
      get(`/contoso/${repo.project.id}/_apis/git/policy/configurations?${query}&${v}`);
    const ids = (r: Json) => r.body.value.map((c: Json) => c.id);
    const main = await list(`repositoryId=${repo.id}&refName=refs/heads/main`);
    expect(ids(main)).toEqual([ci.id, off.id]);
    expect(main.body.value[1]).toMatchObject({
      isEnabled: false,
      type: { id: 'fa4e907d-c16b-4a4c-9dfa-4906e5d171dd' },
      settings: { scope: [{ refName: 'refs/heads/main', matchKind: 'Exact', repositoryId: repo.id }] },
    });
    expect(ids(await list(`repositoryId=${repo.id}&refName=refs/heads/release`))).toEqual([release.id]);
    expect(ids(await list(`repositoryId=${repo.id}&refName=refs/heads/feature`))).toEqual([]);
    expect(ids(await list(`repositoryId=${repo.id}`))).toEqual([ci.id, off.id, release.id]);
    // The project's own (cross-repository) configurations: the emulator keeps none.
    expect(ids(await list('refName=refs/heads/main'))).toEqual([]);
    const first = await list(`repositoryId=${repo.id}&$top=2`);
    expect(ids(first)).toEqual([ci.id, off.id]);
    const token = first.headers.get('x-ms-continuationtoken');
    expect(token).toBe(String(release.id));
    const second = await list(`repositoryId=${repo.id}&$top=2&continuationToken=${token}`);
    expect(ids(second)).toEqual([release.id]);
    expect(second.headers.get('x-ms-continuationtoken')).toBeNull();
    expect(
      ids(await list(`repositoryId=${repo.id}&policyType=${'0609b952-1397-4640-95ec-e00a01b2c241'}`)),
    ).toEqual([ci.id]);
  });

  it('requires api-version; answers a bad PAT with the 203 sign-in page, a bad bearer with 401', async () => {
    expect((await get('/contoso/_apis/projects/Web%20App')).status).toBe(400);
    const signIn = await get(`/contoso/_apis/projects/Web%20App?${v}`, { authorization: basic('nope') });
    expect(signIn.status).toBe(203);
    expect(signIn.body).toBe(SIGN_IN_PAGE);
    az.addBearer('eyJ0.eyJ1.c2ln', 'alice@contoso.com');
    expect(
      (await get(`/contoso/_apis/projects/Web%20App?${v}`, { authorization: 'Bearer eyJ0.eyJ1.c2ln' }))
        .status,
    ).toBe(200);
    expect(
      (await get(`/contoso/_apis/projects/Web%20App?${v}`, { authorization: 'Bearer other' })).status,
    ).toBe(401);
    // Anonymous requests see public projects only.
    az.model.createRepo('contoso/Secret/x');
    expect((await get(`/contoso/_apis/projects/Secret?${v}`, {})).status).toBe(404);
  });

  it('records unexpected requests and answers them 404', async () => {
    strict = false;
    expect((await get(`/contoso/_apis/git/repositories?${v}`)).status).toBe(404);
    expect(az.counters.unexpected).toEqual([{ method: 'GET', path: '/contoso/_apis/git/repositories' }]);
  });

  it('delays near the limit (X-RateLimit-Remaining 0, Reset) and blocks past it with 429 and Retry-After', async () => {
    await az.close();
    az = await startAzureDevOpsEmulator({ rateLimit: 3, delayFrom: 1 });
    az.addToken(PAT);
    az.model.createRepo('contoso/P/r');
    const path = `/contoso/_apis/projects/P?${v}`;
    expect((await get(path)).headers.get('x-ratelimit-remaining')).toBeNull();
    const delayed = await get(path);
    expect(delayed.status).toBe(200);
    expect(delayed.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(delayed.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    await get(path);
    const blocked = await get(path);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(blocked.body.message).toMatch(/^TF400733/);
  });

  it('delivers service hooks with Basic credentials; a redelivery is the same event', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const pr = az.model.openPull('contoso/Web App/site', { source_branch: 'hook' });
      const event = new HookPayloads(az).pullRequest('git.pullrequest.created', pr);
      expect((await deliver(url, event, 's3cret', { user: 'ado' })).status).toBe(202);
      await deliver(url, event, 's3cret');
      expect(received[0]!.headers.authorization).toBe(basic('s3cret', 'ado'));
      const body = JSON.parse(received[0]!.body);
      expect(body).toMatchObject({
        eventType: 'git.pullrequest.created',
        publisherId: 'tfs',
        resource: { pullRequestId: pr.id, sourceRefName: 'refs/heads/hook' },
      });
      expect(JSON.parse(received[1]!.body).id).toBe(body.id);
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });
});
