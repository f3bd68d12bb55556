import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, type GiteaEmulator, startGiteaEmulator } from './server.ts';
import { deliver, HookPayloads } from './webhooks.ts';

/** The emulator's REST API v1 over real HTTP: routes, paging cap, auth, visibility, faults. */
const TOKEN = 'gitea-emulator-test';
// biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely here
type Json = any;

describe('Gitea emulator', () => {
  let gt: GiteaEmulator;
  let strict = true;
  const get = async (path: string, headers: Record<string, string> = { authorization: `token ${TOKEN}` }) => {
    const res = await fetch(`${gt.apiUrl}${path}`, { headers });
    const text = await res.text();
    let body: Json = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body };
  };

  beforeEach(async () => {
    strict = true;
    gt = await startGiteaEmulator({ subUrl: '/gitea' });
    gt.addToken(TOKEN, 'alice');
    gt.model.createRepo({ full_name: 'org/app', private: true, members: ['alice'] });
  });
  afterEach(async () => {
    if (strict) expect(gt.counters.unexpected).toEqual([]);
    await gt.close();
  });

  it('serves under a sub-path, with forks naming their parent and visibility as the API shows it', async () => {
    gt.model.createRepo({ full_name: 'alice/app', fork_of: 'org/app' });
    expect(gt.apiUrl).toMatch(/\/gitea\/api\/v1$/);
    const repo = await get('/repos/org/app');
    expect(repo.body).toMatchObject({ full_name: 'org/app', private: true, internal: false, fork: false });
    const fork = await get('/repos/alice/app');
    expect(fork.body).toMatchObject({ fork: true, parent: { full_name: 'org/app' } });
  });

  it('answers 404 for a private repository the viewer cannot read, as for a missing one; 401 for a bad token', async () => {
    gt.addToken('mallory-token', 'mallory');
    expect((await get('/repos/org/app', { authorization: 'token mallory-token' })).status).toBe(404);
    expect((await get('/repos/nobody/none')).status).toBe(404);
    expect((await get('/repos/org/app', {})).status).toBe(404);
    expect((await get('/repos/org/app', { authorization: 'token nope' })).status).toBe(401);
    gt.model.createRepo({ full_name: 'org/inside', internal: true });
    expect((await get('/repos/org/inside', {})).status).toBe(404);
    expect((await get('/repos/org/inside', { authorization: 'token mallory-token' })).status).toBe(200);
  });

  it('caps pages at MAX_RESPONSE_ITEMS and sends X-Total-Count and Link', async () => {
    for (let i = 0; i < 60; i++) gt.model.openPull('org/app', { head: `b${i}` });
    const first = await get('/repos/org/app/pulls?state=all&sort=recentupdate&limit=100');
    expect(first.body).toHaveLength(50);
    expect(first.headers.get('x-total-count')).toBe('60');
    expect(first.headers.get('link')).toContain('rel="next"');
    expect(first.body[0].head.ref).toBe('b59');
    const second = await get('/repos/org/app/pulls?state=all&sort=recentupdate&limit=100&page=2');
    expect(second.body).toHaveLength(10);
    expect((await get('/repos/org/app/pulls')).body).toHaveLength(30);
  });

  it('renders a PR with state, merged, draft, sizes, requested reviewers; reviews and commits paged', async () => {
    const pull = gt.model.openPull('org/app', {
      head: 'feat',
      draft: true,
      additions: 5,
      deletions: 2,
      changed_files: 3,
      commits: 7,
    });
    gt.model.requestReview('org/app', pull.number, { login: 'bob' });
    gt.model.requestReview('org/app', pull.number, { team: 'org/core' });
    gt.model.requestReview('org/app', pull.number, { login: 'carol' });
    gt.model.review('org/app', pull.number, 'carol', 'APPROVED');
    const got = await get(`/repos/org/app/pulls/${pull.number}`);
    expect(got.body).toMatchObject({
      number: pull.number,
      state: 'open',
      merged: false,
      draft: true,
      additions: 5,
      deletions: 2,
      changed_files: 3,
      head: { ref: 'feat', repo: { full_name: 'org/app' } },
      base: { ref: 'main' },
      user: { login: 'org' },
      requested_reviewers: [{ login: 'bob' }],
      requested_reviewers_teams: [{ name: 'core', organization: { username: 'org' } }],
    });
    const reviews = await get(`/repos/org/app/pulls/${pull.number}/reviews`);
    expect(reviews.body.map((r: Json) => r.state)).toEqual([
      'REQUEST_REVIEW',
      'REQUEST_REVIEW',
      'REQUEST_REVIEW',
      'APPROVED',
    ]);
    const commits = await get(
      `/repos/org/app/pulls/${pull.number}/commits?limit=1&verification=false&files=false`,
    );
    expect(commits.body).toHaveLength(1);
    expect(commits.headers.get('x-total-count')).toBe('7');
    gt.model.merge('org/app', pull.number);
    expect((await get(`/repos/org/app/pulls/${pull.number}`)).body).toMatchObject({
      state: 'closed',
      merged: true,
    });
  });

  it('combined status: latest per context as `status`, paged with a total; an empty one for a commit without statuses', async () => {
    const pull = gt.model.openPull('org/app', { head: 'ci' });
    const sha = pull.head_sha;
    const empty = await get(`/repos/org/app/commits/${sha}/status`);
    expect(empty.body).toEqual({
      state: '',
      sha: '',
      total_count: 0,
      statuses: null,
      repository: null,
      commit_url: '',
      url: '',
    });
    expect(empty.headers.get('x-total-count')).toBeNull();
    gt.model.setStatus('org/app', sha, {
      context: 'build',
      state: 'pending',
      target_url: '/gitea/org/app/actions/runs/1/jobs/0',
    });
    gt.model.setStatus('org/app', sha, {
      context: 'build',
      state: 'failure',
      description: 'Failing after 1m',
    });
    gt.model.setStatus('org/app', sha, { context: 'lint', state: 'warning' });
    gt.model.setStatus('org/app', sha, { context: 'docs', state: 'skipped' });
    const all = await get(`/repos/org/app/commits/${sha}/status?limit=50`);
    expect(all.headers.get('x-total-count')).toBe('3');
    expect(all.body).toMatchObject({ state: 'failure', sha, total_count: 3 });
    expect(all.body.statuses.map((s: Json) => [s.context, s.status])).toEqual([
      ['docs', 'skipped'],
      ['lint', 'warning'],
      ['build', 'failure'],
    ]);
    expect(all.body.statuses[2]).toMatchObject({ description: 'Failing after 1m' });
    expect(all.body.statuses[0]).not.toHaveProperty('state');
    const second = await get(`/repos/org/app/commits/${sha}/status?limit=2&page=2`);
    expect(second.body.statuses.map((s: Json) => s.context)).toEqual(['build']);
    // A branch name is its head; a force-push leaves the old commit's statuses on the old commit.
    expect((await get('/repos/org/app/commits/ci/status')).body.total_count).toBe(3);
    const next = gt.model.push('org/app', 'ci');
    expect((await get(`/repos/org/app/commits/${next}/status`)).body.statuses).toBeNull();
    expect((await get(`/repos/org/app/commits/${sha}/status`)).body.total_count).toBe(3);
    gt.model.setStatus('org/app', next, { context: 'build', state: 'success' });
    gt.model.setStatus('org/app', next, { context: 'lint', state: 'warning' });
    expect((await get(`/repos/org/app/commits/${next}/status`)).body.state).toBe('success');
  });

  it('mergeable: false while the conflict check runs after opening or a push (until a read), on a conflict, for a draft', async () => {
    const pull = gt.model.openPull('org/app', { head: 'm' });
    const mergeable = async () => (await get(`/repos/org/app/pulls/${pull.number}`)).body.mergeable;
    expect(await mergeable()).toBe(false);
    expect(await mergeable()).toBe(true);
    gt.model.setConflicting('org/app', pull.number, true);
    expect(await mergeable()).toBe(false);
    expect(await mergeable()).toBe(false);
    gt.model.setConflicting('org/app', pull.number, false);
    // A push to the base asks again, and `base.sha` follows the base branch.
    const base = gt.model.push('org/app', 'main');
    const read = await get(`/repos/org/app/pulls/${pull.number}`);
    expect(read.body).toMatchObject({ mergeable: false, base: { sha: base } });
    expect(await mergeable()).toBe(true);
    gt.model.update('org/app', pull.number, { draft: true });
    expect(await mergeable()).toBe(false);
  });

  it('review code comments: counted on the review and the PR, listed per review with resolver and sides', async () => {
    const pull = gt.model.openPull('org/app', { head: 'talk' });
    expect((await get(`/repos/org/app/pulls/${pull.number}`)).body).not.toHaveProperty('review_comments');
    const review = gt.model.review('org/app', pull.number, 'bob', 'REQUEST_CHANGES', [
      { path: 'a.ts', line: 4, body: 'new side' },
      { path: 'a.ts', line: -2, body: 'old side' },
    ]);
    gt.model.reply('org/app', pull.number, review.comments[0]!.id, 'alice', 'done');
    gt.model.resolveConversation('org/app', pull.number, review.comments[0]!.id, 'bob');
    gt.model.comment('org/app', pull.number);
    expect((await get(`/repos/org/app/pulls/${pull.number}`)).body).toMatchObject({
      comments: 1,
      review_comments: 3,
    });
    expect((await get(`/repos/org/app/pulls/${pull.number}/reviews`)).body[0]).toMatchObject({
      id: review.id,
      comments_count: 3,
    });
    const comments = await get(`/repos/org/app/pulls/${pull.number}/reviews/${review.id}/comments`);
    expect(
      comments.body.map((c: Json) => [c.path, c.position, c.original_position, c.resolver?.login ?? null]),
    ).toEqual([
      ['a.ts', 4, 0, 'bob'],
      ['a.ts', 0, 2, null],
      ['a.ts', 4, 0, null],
    ]);
    expect(comments.body[2]).toMatchObject({ user: { login: 'alice' }, pull_request_review_id: review.id });
    expect((await get(`/repos/org/app/pulls/${pull.number}/reviews/999/comments`)).status).toBe(404);
  });

  it('an older server leaves out draft, sizes and team reviewers', async () => {
    const old = await startGiteaEmulator({ legacy: true });
    try {
      old.addToken(TOKEN, 'alice');
      old.model.createRepo({ full_name: 'o/r' });
      const pull = old.model.openPull('o/r', { head: 'x', title: 'WIP: x' });
      const body = (await (
        await fetch(`${old.apiUrl}/repos/o/r/pulls/${pull.number}`, {
          headers: { authorization: `token ${TOKEN}` },
        })
      ).json()) as Json;
      expect(body).not.toHaveProperty('draft');
      expect(body).not.toHaveProperty('additions');
      expect(body).not.toHaveProperty('requested_reviewers_teams');
      expect(body).not.toHaveProperty('review_comments');
    } finally {
      await old.close();
    }
  });

  it('searches PRs across repositories as SearchIssues does: coverage by owner and visibility, since, state, order, paging, errors', async () => {
    const m = gt.model;
    m.createRepo({ full_name: 'org/lib', members: [] });
    m.createRepo({ full_name: 'org/secret', private: true, members: ['bob'] });
    m.createRepo({ full_name: 'bob/tool' });
    const app1 = m.openPull('org/app', { head: 'a1' });
    const lib1 = m.openPull('org/lib', { head: 'l1' });
    m.openPull('org/secret', { head: 's1' });
    const tool1 = m.openPull('bob/tool', { head: 't1' });
    const app2 = m.openPull('org/app', { head: 'a2' });
    m.merge('org/lib', lib1.number);
    const seen = (body: Json) => body.map((i: Json) => `${i.repository.full_name}#${i.number}`);
    // With `owner`: that owner's repositories the token may read (not org/secret), open by default,
    // newest created first; a `pull_request` block and the repository on each.
    const open = await get('/repos/issues/search?type=pulls&owner=org');
    expect(open.status).toBe(200);
    expect(seen(open.body)).toEqual([`org/app#${app2.number}`, `org/app#${app1.number}`]);
    expect(open.body[0]).toMatchObject({
      state: 'open',
      pull_request: { merged: false, merged_at: null, draft: false },
      repository: { owner: 'org', name: 'app', full_name: 'org/app' },
    });
    expect(open.headers.get('x-total-count')).toBe('2');
    const all = await get('/repos/issues/search?type=pulls&state=all&owner=ORG');
    expect(seen(all.body)).toEqual([
      `org/app#${app2.number}`,
      `org/lib#${lib1.number}`,
      `org/app#${app1.number}`,
    ]);
    expect(all.body[1]).toMatchObject({ state: 'closed', pull_request: { merged: true } });
    // Without `owner`: every repository the token may read and every public one.
    const everywhere = await get('/repos/issues/search?type=pulls&state=all');
    expect(seen(everywhere.body)).toContain(`bob/tool#${tool1.number}`);
    expect(seen(everywhere.body)).not.toContain('org/secret#1');
    // `since`: updated at or after its whole second; the answer's `Date` is the instance's time.
    const changed = m.update('org/app', app1.number, { title: 'moved' });
    const since = new Date(Math.floor(changed.updated_at.getTime() / 1000) * 1000).toISOString();
    const moved = await get(`/repos/issues/search?type=pulls&state=all&owner=org&since=${since}`);
    expect(seen(moved.body)).toEqual([`org/app#${app1.number}`]);
    expect(Date.parse(moved.headers.get('date')!)).toBeGreaterThanOrEqual(Date.parse(since));
    // Paging: `limit`, capped at MAX_RESPONSE_ITEMS, `page` from 1, the total on every page.
    const page2 = await get('/repos/issues/search?type=pulls&state=all&owner=org&limit=2&page=2');
    expect(seen(page2.body)).toEqual([`org/app#${app1.number}`]);
    expect(page2.headers.get('x-total-count')).toBe('3');
    expect((await get('/repos/issues/search?type=issues&state=all&owner=org')).body).toEqual([]);
    // An unknown owner: 400; a `since` that is not RFC 3339: 422.
    expect((await get('/repos/issues/search?owner=nobody')).status).toBe(400);
    expect((await get('/repos/issues/search?since=yesterday')).status).toBe(422);
  });

  it('faults: status, garbage, unauthorized, rate limit with and without Retry-After; counted and logged by fingerprint', async () => {
    gt.addFaults({ kind: 'status', status: 503, times: 1 });
    expect((await get('/repos/org/app')).status).toBe(503);
    gt.addFaults({ kind: 'garbage', times: 1 });
    expect(typeof (await get('/repos/org/app')).body).toBe('string');
    gt.addFaults({ kind: 'unauthorized', times: 1 });
    expect((await get('/repos/org/app')).status).toBe(401);
    gt.addFaults({ kind: 'rate_limit', retry_after_s: 90, times: 1 });
    const limited = await get('/repos/org/app');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('90');
    gt.addFaults({ kind: 'rate_limit', retry_after_s: null, times: 1 });
    const bare = await get('/repos/org/app');
    expect(bare.status).toBe(429);
    expect(bare.headers.get('retry-after')).toBeNull();
    expect(gt.count('get_repo')).toBe(5);
    expect(
      gt.log.every((l) => l.token_fingerprint === fingerprint(TOKEN) && l.token_scheme === 'token'),
    ).toBe(true);
    expect(JSON.stringify(gt.log)).not.toContain(TOKEN);
  });

  it('records and refuses unexpected requests', async () => {
    strict = false;
    expect((await get('/repos/org/app/pulls/1/files')).status).toBe(404);
    expect((await get('/repos/org/app/pulls/org/app')).status).toBe(404);
    expect(gt.counters.unexpected).toHaveLength(2);
  });
});

describe('Gitea webhook helper', () => {
  let gt: GiteaEmulator;
  let received: { headers: IncomingHttpHeaders; body: string }[];
  let receiver: ReturnType<typeof createServer>;
  let url: string;
  beforeEach(async () => {
    gt = await startGiteaEmulator();
    gt.model.createRepo({ full_name: 'org/app' });
    received = [];
    receiver = createServer((req, res) => {
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
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => receiver.close(() => r()));
    await gt.close();
  });

  it('signs the body as Gitea and Forgejo do, under each product’s headers', async () => {
    const pull = gt.model.openPull('org/app', { head: 'feat' });
    const payloads = new HookPayloads(gt);
    const a = await deliver(
      url,
      'pull_request_review_approved',
      payloads.review(pull, 'pull_request_review_approved', 'bob'),
      's3cret',
      'gitea',
    );
    await deliver(url, 'push', payloads.push(pull.repo, 'feat', 'a', 'b', 'bob'), 's3cret', 'forgejo', {
      delivery: a.delivery,
    });
    const [first, second] = received;
    const hmac = (body: string) => createHmac('sha256', 's3cret').update(body).digest('hex');
    expect(first!.headers).toMatchObject({
      'x-gitea-event': 'pull_request_approved',
      'x-gitea-event-type': 'pull_request_review_approved',
      'x-gitea-delivery': a.delivery,
      'x-gitea-signature': hmac(first!.body),
    });
    expect(first!.headers).not.toHaveProperty('x-forgejo-signature');
    expect(second!.headers).toMatchObject({
      'x-forgejo-event': 'push',
      'x-forgejo-delivery': a.delivery,
      'x-forgejo-signature': hmac(second!.body),
      'x-gitea-signature': hmac(second!.body),
    });
    expect(JSON.parse(second!.body)).toMatchObject({
      ref: 'refs/heads/feat',
      repository: { full_name: 'org/app' },
    });
  });
});
