import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BitbucketEmulator, fingerprint, parseQuery, startBitbucketEmulator } from './server.ts';
import { deliver, HookPayloads } from './webhooks.ts';

/** The emulator's REST API 2.0 over real HTTP on 127.0.0.1, and its webhook helper. */
const TOKEN = 'ATCTT3xFfGN0-emulator-test';
const bearer = { authorization: `Bearer ${TOKEN}` };
// biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely here
type Json = any;

describe('Bitbucket emulator', () => {
  let bb: BitbucketEmulator;
  let strict = true;

  const get = async (path: string, headers: Record<string, string> = bearer) => {
    const res = await fetch(path.startsWith('http') ? path : `${bb.apiUrl}${path}`, {
      headers,
      redirect: 'manual',
    });
    const text = await res.text();
    let body: Json = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body };
  };

  beforeEach(async () => {
    strict = true;
    bb = await startBitbucketEmulator({ diffstatPagelen: 2 });
    bb.addAccessToken(TOKEN, { workspace: 'acme' });
    bb.model.createRepo({ full_name: 'acme/api', is_private: true });
  });
  afterEach(async () => {
    if (strict) expect(bb.counters.unexpected).toEqual([]);
    await bb.close();
  });

  it('serves a repository with its privacy and fork parent; a private one unseen is 404 like a missing one', async () => {
    bb.model.createRepo({ full_name: 'kim/api', is_private: false, fork_of: 'acme/api' });
    expect((await get('/repositories/acme/api')).body).toMatchObject({
      full_name: 'acme/api',
      is_private: true,
      links: { html: { href: 'https://bitbucket.org/acme/api' } },
    });
    expect((await get('/repositories/kim/api')).body.parent).toMatchObject({ full_name: 'acme/api' });
    bb.addApiToken('mallory@example.com', 'ATATT-m', 'mallory');
    const basic = { authorization: `Basic ${Buffer.from('mallory@example.com:ATATT-m').toString('base64')}` };
    expect((await get('/repositories/acme/api', basic)).status).toBe(404);
    expect((await get('/repositories/nobody/nothing', basic)).status).toBe(404);
    expect((await get('/repositories/kim/api', basic)).status).toBe(200);
    expect(bb.log.map((l) => l.auth)).toEqual(['bearer', 'bearer', 'basic', 'basic', 'basic']);
    expect(bb.log.at(-1)!.token_fingerprint).toBe(fingerprint('mallory@example.com:ATATT-m'));
    expect(JSON.stringify(bb.log)).not.toContain('ATATT-m');
  });

  it('answers 401 for unknown, revoked and user-name Basic credentials (app passwords have ended)', async () => {
    const app = { authorization: `Basic ${Buffer.from('kim:app-password').toString('base64')}` };
    const refused = await get('/repositories/acme/api', app);
    expect(refused).toMatchObject({ status: 401, body: { type: 'error' } });
    expect(refused.headers.get('www-authenticate')).toContain('Basic');
    bb.revoke(TOKEN);
    expect((await get('/repositories/acme/api')).status).toBe(401);
  });

  it('lists only OPEN PRs by default; every state when asked, filtered by BBQL, sorted, paginated', async () => {
    for (const b of ['a', 'b', 'a', 'c']) bb.model.openPull('acme/api', { source_branch: b });
    bb.model.merge('acme/api', 1);
    bb.model.setState('acme/api', 3, 'SUPERSEDED');
    expect((await get('/repositories/acme/api/pullrequests')).body.values.map((p: Json) => p.id)).toEqual([
      2, 4,
    ]);
    const q = encodeURIComponent('source.branch.name="a"');
    const all = await get(
      `/repositories/acme/api/pullrequests?q=${q}&state=OPEN&state=MERGED&state=DECLINED&state=SUPERSEDED&sort=-updated_on&pagelen=1`,
    );
    expect(all.body).toMatchObject({ size: 2, pagelen: 1, values: [{ id: 3, state: 'SUPERSEDED' }] });
    expect(all.body.values[0]).not.toHaveProperty('participants');
    const next = await get(all.body.next);
    expect(next.body.values.map((p: Json) => p.id)).toEqual([1]);
    expect(next.body.next).toBeUndefined();
    expect((await get('/repositories/acme/api/pullrequests?q=branch%3Da')).status).toBe(400);
    expect((await get('/repositories/acme/api/pullrequests?pagelen=51')).status).toBe(400);
    expect(parseQuery('source.branch.name="x\\"y" AND source.repository.full_name="a/b"')).toEqual({
      branch: 'x"y',
      sourceRepo: 'a/b',
    });
  });

  it('answers who the credentials act as (`GET /user`), and 401 to anonymous callers', async () => {
    bb.addApiToken('kim@example.com', 'ATATT-k', 'kim');
    const basic = { authorization: `Basic ${Buffer.from('kim@example.com:ATATT-k').toString('base64')}` };
    const kim = bb.model.user('kim');
    expect((await get('/user', basic)).body).toMatchObject({
      type: 'user',
      uuid: kim.uuid,
      account_id: kim.account_id,
      nickname: 'kim',
    });
    expect((await get('/user')).body).toMatchObject({ nickname: 'access-token' });
    expect((await get('/user', {})).status).toBe(401);
  });

  it("lists a user's PRs across a workspace's repositories: OPEN by default, by UUID, Atlassian ID or name, filtered, sorted, paged; an unknown user is 404", async () => {
    bb.model.createRepo({ full_name: 'acme/web', is_private: true });
    bb.model.createRepo({ full_name: 'acme/secret', is_private: true, members: ['kim'] });
    bb.model.createRepo({ full_name: 'other/api', is_private: false });
    const a = bb.model.openPull('acme/api', { source_branch: 'a', author: 'kim' });
    const b = bb.model.openPull('acme/web', { source_branch: 'b', author: 'kim' });
    bb.model.openPull('acme/web', { source_branch: 'c', author: 'lee' });
    bb.model.openPull('other/api', { source_branch: 'd', author: 'kim' });
    const merged = bb.model.openPull('acme/api', { source_branch: 'e', author: 'kim' });
    bb.model.merge('acme/api', merged.id);
    const kim = bb.model.user('kim');
    const ids = (body: Json) => body.values.map((p: Json) => `${p.destination.repository.full_name}#${p.id}`);
    const path = (user: string) => `/workspaces/acme/pullrequests/${encodeURIComponent(user)}`;
    for (const user of [kim.uuid, kim.account_id, 'kim'])
      expect(ids((await get(`${path(user)}?sort=id`)).body).sort()).toEqual([
        `acme/api#${a.id}`,
        `acme/web#${b.id}`,
      ]);
    const all = await get(`${path(kim.uuid)}?state=OPEN&state=MERGED&sort=-updated_on&pagelen=2`);
    expect(all.body).toMatchObject({ size: 3, pagelen: 2 });
    expect(ids(all.body)).toEqual([`acme/api#${merged.id}`, `acme/web#${b.id}`]);
    expect(ids((await get(all.body.next)).body)).toEqual([`acme/api#${a.id}`]);
    // Filtered by update time, with only the fields asked (the list item's repository among them).
    const since = encodeURIComponent(`updated_on > "${b.updated_on.toISOString()}"`);
    const fields = 'next,values.id,values.state,values.destination.repository.full_name';
    const moved = await get(`${path(kim.uuid)}?state=OPEN&state=MERGED&q=${since}&fields=${fields}`);
    expect(moved.body).toEqual({
      values: [{ id: merged.id, state: 'MERGED', destination: { repository: { full_name: 'acme/api' } } }],
    });
    // A private repository the caller may not read is left out; one it may read is listed.
    const secret = bb.model.openPull('acme/secret', { source_branch: 's', author: 'kim' });
    const as = (email: string, token: string, user: string) => {
      bb.addApiToken(email, token, user);
      return { authorization: `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}` };
    };
    expect(ids((await get(path('kim'), as('lee@example.com', 'ATATT-l', 'lee'))).body)).toEqual([]);
    expect(ids((await get(path('kim'), as('kim@example.com', 'ATATT-k', 'kim'))).body)).toContain(
      `acme/secret#${secret.id}`,
    );
    expect((await get(path('{00000000-0000-0000-0000-000000000000}'))).status).toBe(404);
    expect((await get('/workspaces/nowhere/pullrequests/kim')).status).toBe(404);
    expect((await get(`${path('kim')}?state=OPENED`)).status).toBe(400);
    expect((await get(`${path('kim')}?pagelen=51`)).status).toBe(400);
  });

  it('filters the list by update time (strictly after, quoted or bare), sorts newest first, keeps only the fields asked', async () => {
    await bb.close();
    let now = new Date('2026-12-07T10:00:00.000Z');
    bb = await startBitbucketEmulator({ now: () => now });
    bb.addAccessToken(TOKEN, { workspace: 'acme' });
    bb.model.createRepo({ full_name: 'acme/api', is_private: true });
    const a = bb.model.openPull('acme/api', { source_branch: 'a' });
    now = new Date('2026-12-07T10:05:00.000Z');
    const b = bb.model.openPull('acme/api', { source_branch: 'b' });
    const list = async (q: string, rest = '') =>
      get(`/repositories/acme/api/pullrequests?q=${encodeURIComponent(q)}${rest}`);
    const ids = async (q: string, rest = '') => (await list(q, rest)).body.values.map((p: Json) => p.id);
    // Strictly after: a PR updated exactly at the bound is not listed; `>=` lists it.
    expect(await ids(`updated_on > "${a.updated_on.toISOString()}"`)).toEqual([b.id]);
    expect(await ids(`updated_on >= "${a.updated_on.toISOString()}"`, '&sort=-updated_on')).toEqual([
      b.id,
      a.id,
    ]);
    expect(await ids('updated_on > 2026-12-07T10:01:00+00:00')).toEqual([b.id]);
    expect(await ids('updated_on > "2026-12-07T10:01:00.000000+00:00" AND source.branch.name = "a"')).toEqual(
      [],
    );
    expect(await ids('updated_on < 2026-12-07T10:01:00')).toEqual([a.id]);
    // A comment and a verdict move the PR; a build status (on the commit) and a resolution do not.
    now = new Date('2026-12-07T10:10:00.000Z');
    const since = `updated_on > "2026-12-07T10:09:00Z"`;
    bb.model.setStatus(bb.model.head('acme/api', a.id), { key: 'ci', state: 'SUCCESSFUL' });
    expect(await ids(since)).toEqual([]);
    const c = bb.model.comment('acme/api', a.id, 'kim', { inline: { path: 'x', to: 1 } });
    expect(await ids(since)).toEqual([a.id]);
    bb.model.verdict('acme/api', b.id, 'kim', 'approved');
    expect(await ids(since, '&sort=-updated_on')).toEqual([b.id, a.id]);
    const later = `updated_on > "${b.updated_on.toISOString()}"`;
    bb.model.resolve('acme/api', a.id, c.id, 'kim');
    expect(await ids(later)).toEqual([]);
    // Partial: only the fields named, `next` included only when named; 50 a page at most.
    const partial = await list(
      since,
      '&fields=next,values.id,values.updated_on,values.comment_count&pagelen=1',
    );
    expect(partial.body).toEqual({
      next: expect.stringContaining('page=2'),
      values: [{ id: a.id, updated_on: a.updated_on.toISOString(), comment_count: 1 }],
    });
    expect((await list(since, '&pagelen=51')).status).toBe(400);
    // Every answer says when it was made, by the same clock as the times it shows.
    expect(partial.headers.get('date')).toBe(now.toUTCString());
    // What it does not parse is a clear 400, never an unfiltered list.
    for (const q of [
      'updated_on > "yesterday"',
      'created_on > 2026-12-01',
      'updated_on > 2026-12-01 OR id = 1',
    ])
      expect(await list(q), q).toMatchObject({
        status: 400,
        body: { error: { message: expect.stringMatching(/^Invalid filter/) } },
      });
  });

  it('reads a PR with participants; its diffstat is a 302 to a paginated resource; commits paginate', async () => {
    const pr = bb.model.openPull('acme/api', {
      source_branch: 'f',
      commits: 12,
      files: [1, 2, 3].map((i) => ({ path: `f${i}`, lines_added: i, lines_removed: 1 })),
    });
    bb.model.addReviewers('acme/api', pr.id, ['lee']);
    bb.model.verdict('acme/api', pr.id, 'kim', 'changes_requested');
    const read = await get(`/repositories/acme/api/pullrequests/${pr.id}`);
    expect(read.body).toMatchObject({
      state: 'OPEN',
      draft: false,
      author: { nickname: 'agent' },
      source: { branch: { name: 'f' }, repository: { full_name: 'acme/api' } },
      destination: { branch: { name: 'main' } },
      reviewers: [{ nickname: 'lee' }],
      links: { html: { href: `https://bitbucket.org/acme/api/pull-requests/${pr.id}` } },
    });
    expect(read.body.participants).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ role: 'REVIEWER', approved: false, state: null }),
        expect.objectContaining({ role: 'PARTICIPANT', approved: false, state: 'changes_requested' }),
      ]),
    );
    const hop = await get(`/repositories/acme/api/pullrequests/${pr.id}/diffstat`);
    expect(hop.status).toBe(302);
    const location = hop.headers.get('location')!;
    expect(location.startsWith(`${bb.apiUrl}/repositories/acme/api/diffstat/`)).toBe(true);
    const first = await get(location);
    expect(first.body).toMatchObject({ size: 3, pagelen: 2 });
    expect((await get(first.body.next)).body.values).toHaveLength(1);
    const commits = await get(`/repositories/acme/api/pullrequests/${pr.id}/commits`);
    expect(commits.body).toMatchObject({ size: 12, pagelen: 10 });
  });

  it('answers If-None-Match with 304 while unchanged, and 200 once changed', async () => {
    bb.model.openPull('acme/api', { source_branch: 'e' });
    const first = await get('/repositories/acme/api/pullrequests/1');
    const etag = first.headers.get('etag')!;
    expect(
      (await get('/repositories/acme/api/pullrequests/1', { ...bearer, 'if-none-match': etag })).status,
    ).toBe(304);
    bb.model.update('acme/api', 1, { title: 'Renamed' });
    expect(
      (await get('/repositories/acme/api/pullrequests/1', { ...bearer, 'if-none-match': etag })).status,
    ).toBe(200);
    expect(bb.count('get_pullrequest', 304)).toBe(1);
  });

  it('faults: 429 without any reset header, near-limit headers, server errors, garbage; the rolling limit', async () => {
    bb.addFaults({ kind: 'rate_limit', times: 1 }, { kind: 'near_limit', times: 1 });
    const limited = await get('/repositories/acme/api');
    expect(limited.status).toBe(429);
    expect(limited.body.error.message).toMatch(/Rate limit/);
    for (const h of ['retry-after', 'x-ratelimit-reset', 'ratelimit-reset'])
      expect(limited.headers.get(h)).toBeNull();
    const near = await get('/repositories/acme/api');
    expect(near.headers.get('x-ratelimit-nearlimit')).toBe('true');
    expect((await get('/repositories/acme/api')).headers.get('x-ratelimit-nearlimit')).toBe('false');
    bb.addFaults({ kind: 'status', status: 503, times: 1 }, { kind: 'garbage', times: 1 });
    expect((await get('/repositories/acme/api')).status).toBe(503);
    expect(typeof (await get('/repositories/acme/api')).body).toBe('string');
    const small = await startBitbucketEmulator({ rateLimit: 2 });
    try {
      small.addAccessToken('t', { workspace: 'acme' });
      small.model.createRepo({ full_name: 'acme/x' });
      const statuses = [];
      for (let i = 0; i < 3; i++)
        statuses.push(
          (await fetch(`${small.apiUrl}/repositories/acme/x`, { headers: { authorization: 'Bearer t' } }))
            .status,
        );
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await small.close();
    }
  });

  it('lists a PR’s build statuses of every commit it had, each linked to its commit; overwrites by key', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 's' });
    const first = bb.model.head('acme/api', pr.id);
    bb.model.setStatus(first, { key: 'build', state: 'INPROGRESS', refname: 's' });
    bb.model.setStatus(first, { key: 'build', state: 'FAILED', description: 'broke' });
    const second = bb.model.forcePush('acme/api', 's');
    bb.model.setStatus(second, { key: 'build', state: 'SUCCESSFUL' });
    expect(() => bb.model.setStatus('abc', { key: 'x', state: 'FAILED' })).toThrow(/full commit hash/);
    const read = await get(`/repositories/acme/api/pullrequests/${pr.id}/statuses?pagelen=100`);
    expect(read.body).toMatchObject({ size: 2, pagelen: 100 });
    expect(read.body.values).toMatchObject([
      {
        type: 'build',
        key: 'build',
        state: 'FAILED',
        description: 'broke',
        refname: 's',
        links: { commit: { href: `${bb.apiUrl}/repositories/acme/api/commit/${first}` } },
      },
      {
        state: 'SUCCESSFUL',
        links: { commit: { href: `${bb.apiUrl}/repositories/acme/api/commit/${second}` } },
      },
    ]);
    expect(read.body.values[1]).not.toHaveProperty('refname');
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}/statuses?pagelen=101`)).status).toBe(400);
    // The PR answer abbreviates the head to 12 digits.
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.source.commit.hash).toBe(
      second.slice(0, 12),
    );
  });

  it('status lists: the PR’s oldest first over pages with next links, `sort` as documented; a commit’s own list', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'long', commits: 2 });
    const [older, first] = pr.commits as [string, string];
    // A status on a commit that was never the head (pushed along with it) is listed too.
    bb.model.setStatus(older, { key: 'a', state: 'SUCCESSFUL' });
    bb.model.setStatus(first, { key: 'b', state: 'SUCCESSFUL', refname: 'long' });
    const head = bb.model.push('acme/api', 'long');
    bb.model.setStatus(head, { key: 'c', state: 'FAILED', refname: 'other' });
    bb.model.setStatus(head, { key: 'd', state: 'INPROGRESS' });
    const base = `/repositories/acme/api/pullrequests/${pr.id}/statuses`;
    const keys = (b: Json) => b.values.map((v: Json) => v.key);
    // Default: oldest first, ten a page; `next` walks on, the last page has none.
    const page1 = await get(`${base}?pagelen=3`);
    expect(page1.body).toMatchObject({ size: 4, page: 1, pagelen: 3 });
    expect(keys(page1.body)).toEqual(['a', 'b', 'c']);
    const page2 = await get(page1.body.next);
    expect(keys(page2.body)).toEqual(['d']);
    expect(page2.body.next).toBeUndefined();
    expect(page2.body.previous).toContain('page=1');
    expect(keys((await get(base)).body)).toEqual(['a', 'b', 'c', 'd']);
    // An overwrite keeps `created_on`: sorted by it, the status stays where it was.
    bb.model.setStatus(older, { key: 'a', state: 'FAILED' });
    expect(keys((await get(`${base}?sort=-created_on`)).body)).toEqual(['d', 'c', 'b', 'a']);
    expect(keys((await get(`${base}?sort=-updated_on`)).body)[0]).toBe('a');
    expect(keys((await get(`${base}?sort=key`)).body)).toEqual(['a', 'b', 'c', 'd']);
    expect((await get(`${base}?sort=commit`)).status).toBe(400);
    expect((await get(`${base}?q=${encodeURIComponent('state="FAILED"')}`)).status).toBe(400);
    expect((await get(`${base}?pagelen=101`)).status).toBe(400);
    // The commit's own list: only its statuses, by full or abbreviated hash; `refname` keeps those
    // without one or with that one.
    const own = `/repositories/acme/api/commit/${head}/statuses`;
    expect(keys((await get(own)).body)).toEqual(['c', 'd']);
    expect(keys((await get(`/repositories/acme/api/commit/${head.slice(0, 12)}/statuses`)).body)).toEqual([
      'c',
      'd',
    ]);
    expect(keys((await get(`${own}?refname=long`)).body)).toEqual(['d']);
    expect(keys((await get(`${own}?sort=-created_on`)).body)).toEqual(['d', 'c']);
    expect((await get(`/repositories/acme/api/commit/${'0'.repeat(40)}/statuses`)).status).toBe(404);
    expect((await get(`/repositories/acme/api/commit/${head.slice(0, 6)}/statuses`)).status).toBe(404);
  });

  it('merging with close_source_branch moves the destination and deletes the branch; the PR keeps it', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'done', commits: 2 });
    const tip = bb.model.repo('acme/api').branches.get('main')!.at(-1)!;
    const before = (await get(`/repositories/acme/api/pullrequests/${pr.id}/commits`)).body;
    expect(before.values).toHaveLength(2);
    bb.model.merge('acme/api', pr.id, { close_source_branch: true });
    expect(bb.model.repo('acme/api').branches.has('done')).toBe(false);
    expect(bb.model.repo('acme/api').branches.get('main')!.at(-1)).not.toBe(tip);
    const read = (await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body;
    expect(read).toMatchObject({
      state: 'MERGED',
      close_source_branch: true,
      source: { branch: { name: 'done' }, commit: { hash: pr.commits.at(-1)!.slice(0, 12) } },
    });
    // "This list will be empty if the source branch no longer exists."
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}/commits`)).body.values).toEqual([]);
    const q = encodeURIComponent('source.branch.name="done"');
    const listed = await get(`/repositories/acme/api/pullrequests?q=${q}&state=MERGED`);
    expect(listed.body.values.map((p: Json) => p.id)).toEqual([pr.id]);
    expect(() => bb.model.merge('acme/api', pr.id)).toThrow(/not open/);
    // Without the option, the PR's own `close_source_branch` (set when it was created) decides.
    const asked = bb.model.openPull('acme/api', { source_branch: 'asked', close_source_branch: true });
    const kept = bb.model.openPull('acme/api', { source_branch: 'kept' });
    bb.model.merge('acme/api', asked.id);
    bb.model.merge('acme/api', kept.id);
    expect(bb.model.repo('acme/api').branches.has('asked')).toBe(false);
    expect(bb.model.repo('acme/api').branches.has('kept')).toBe(true);
  });

  it('answers conflicts by a 302 to the file conflicts, and `mergeable` from conflicts and merge checks', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'c' });
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.mergeable).toBe(true);
    bb.model.setConflicts('acme/api', pr.id, [{ path: 'a.ts' }, { path: 'b', scenario: 'modify_delete' }]);
    const hop = await get(`/repositories/acme/api/pullrequests/${pr.id}/conflicts`);
    expect(hop.status).toBe(302);
    const location = hop.headers.get('location')!;
    expect(location.startsWith(`${bb.apiUrl}/repositories/acme/api/file-conflicts/`)).toBe(true);
    expect((await get(location)).body).toMatchObject({
      size: 2,
      values: [
        { type: 'file_conflict', path: 'a.ts', scenario: 'content' },
        { path: 'b', scenario: 'modify_delete' },
      ],
    });
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.mergeable).toBe(false);
    bb.model.setConflicts('acme/api', pr.id, []);
    bb.model.setMergeChecks('acme/api', pr.id, true);
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.mergeable).toBe(false);
    const quiet = await startBitbucketEmulator({ sendsMergeable: false });
    try {
      quiet.addAccessToken(TOKEN, { workspace: 'acme' });
      quiet.model.createRepo({ full_name: 'acme/api' });
      quiet.model.openPull('acme/api', { source_branch: 'c' });
      const res = await fetch(`${quiet.apiUrl}/repositories/acme/api/pullrequests/1`, { headers: bearer });
      expect(await res.json()).not.toHaveProperty('mergeable');
    } finally {
      await quiet.close();
    }
  });

  it('lists comments, general and inline, with replies and resolutions; counts them in the PR', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'talk' });
    const inline = bb.model.comment('acme/api', pr.id, 'kim', { body: 'Fix', inline: { path: 'a', to: 2 } });
    const reply = bb.model.comment('acme/api', pr.id, 'agent', { body: 'Done', parent: inline.id });
    const general = bb.model.comment('acme/api', pr.id, 'lee', { body: 'Nice' });
    expect(() => bb.model.resolve('acme/api', pr.id, reply.id, 'kim')).toThrow(/top-level/);
    expect(() => bb.model.resolve('acme/api', pr.id, general.id, 'kim')).toThrow(/top-level/);
    expect(() => bb.model.reopen('acme/api', pr.id, inline.id)).toThrow(/not been resolved/);
    const updated = (await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.updated_on;
    bb.model.resolve('acme/api', pr.id, inline.id, 'agent');
    const read = await get(`/repositories/acme/api/pullrequests/${pr.id}`);
    expect(read.body).toMatchObject({ comment_count: 3, updated_on: updated });
    const list = await get(`/repositories/acme/api/pullrequests/${pr.id}/comments?pagelen=100`);
    expect(list.body.values).toMatchObject([
      {
        type: 'pullrequest_comment',
        id: inline.id,
        content: { raw: 'Fix' },
        user: { nickname: 'kim' },
        inline: { path: 'a', to: 2 },
        resolution: { type: 'comment_resolution', user: { nickname: 'agent' } },
        deleted: false,
        links: {
          html: { href: `https://bitbucket.org/acme/api/pull-requests/${pr.id}/_/diff#comment-${inline.id}` },
        },
      },
      { id: reply.id, parent: { id: inline.id } },
      { id: general.id },
    ]);
    expect(list.body.values[2]).not.toHaveProperty('inline');
    expect(list.body.values[2]).not.toHaveProperty('resolution');
    bb.model.deleteComment('acme/api', pr.id, general.id);
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.comment_count).toBe(2);
  });

  it('comments: drafts only to their author and not counted; partial responses by `fields`; the comment webhooks', async () => {
    bb.addAccessToken('ATCTT3x-kim', { workspace: 'acme', user: 'kim' });
    const pr = bb.model.openPull('acme/api', { source_branch: 'drafts' });
    const published = bb.model.comment('acme/api', pr.id, 'lee', { inline: { path: 'a', to: 1 } });
    const updated = (await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.updated_on;
    const draft = bb.model.comment('acme/api', pr.id, 'kim', { inline: { path: 'b', to: 2 }, pending: true });
    // A draft moves nothing in the PR and is listed to its author alone, with `pending`.
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body).toMatchObject({
      comment_count: 1,
      updated_on: updated,
    });
    const path = `/repositories/acme/api/pullrequests/${pr.id}/comments`;
    expect((await get(path)).body.values.map((c: Json) => c.id)).toEqual([published.id]);
    const kim = { authorization: 'Bearer ATCTT3x-kim' };
    expect((await get(path, kim)).body.values).toMatchObject([
      { id: published.id, pending: false },
      { id: draft.id, pending: true },
    ]);
    bb.model.publish('acme/api', pr.id, draft.id);
    expect((await get(`/repositories/acme/api/pullrequests/${pr.id}`)).body.comment_count).toBe(2);
    // `fields`: only what is named, through arrays; the page's `next` only when named.
    bb.model.resolve('acme/api', pr.id, published.id, 'kim');
    const partial = await get(`${path}?fields=values.id,values.inline.path,values.resolution.type&pagelen=1`);
    expect(partial.body).toEqual({
      values: [{ id: published.id, inline: { path: 'a' }, resolution: { type: 'comment_resolution' } }],
    });
    const paged = await get(`${path}?fields=next,values.id&pagelen=1`);
    expect(paged.body).toEqual({ next: expect.stringContaining('page=2'), values: [{ id: published.id }] });
    expect((await get(paged.body.next)).body).toEqual({ values: [{ id: draft.id }] });
    expect((await get(`${path}?fields=-values.links`)).status).toBe(400);
    // BBQL filtering and sorting of comments are not implemented: a request relying on them fails.
    expect((await get(`${path}?q=deleted%3Dfalse`)).status).toBe(400);
    expect((await get(`${path}?sort=-created_on`)).status).toBe(400);
    // A comment event carries the PR, its repository and the comment as listed.
    expect(new HookPayloads(bb).pullRequestComment(pr, published.id, 'kim')).toMatchObject({
      actor: { nickname: 'kim' },
      pullrequest: {
        id: pr.id,
        links: { html: { href: `https://bitbucket.org/acme/api/pull-requests/${pr.id}` } },
      },
      repository: { full_name: 'acme/api' },
      comment: { id: published.id, inline: { path: 'a' }, resolution: { type: 'comment_resolution' } },
    });
  });

  it('records unexpected requests and answers them 404', async () => {
    strict = false;
    expect((await get('/repositories/acme/api/refs/branches')).status).toBe(404);
    expect(bb.counters.unexpected).toEqual([
      { method: 'GET', path: '/2.0/repositories/acme/api/refs/branches' },
    ]);
  });

  it('delivers signed webhooks with X-Event-Key and X-Request-UUID; a retry keeps the UUID', async () => {
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
      const pr = bb.model.openPull('acme/api', { source_branch: 'hooked' });
      const payloads = new HookPayloads(bb);
      const first = await deliver(url, 'pullrequest:updated', payloads.pullRequest(pr, 'agent'), 's3cret');
      await deliver(url, 'pullrequest:updated', payloads.pullRequest(pr, 'agent'), 's3cret', {
        requestUuid: first.requestUuid,
        attempt: 2,
      });
      await deliver(url, 'repo:push', payloads.push(bb.model.repo('acme/api'), 'hooked', 'agent'), null);
      const [a, b, c] = received;
      expect(a!.headers).toMatchObject({
        'x-event-key': 'pullrequest:updated',
        'x-request-uuid': first.requestUuid,
        'x-attempt-number': '1',
        'x-hub-signature': `sha256=${createHmac('sha256', 's3cret').update(a!.body).digest('hex')}`,
      });
      expect(b!.headers).toMatchObject({ 'x-request-uuid': first.requestUuid, 'x-attempt-number': '2' });
      expect(JSON.parse(a!.body).pullrequest).toMatchObject({
        id: pr.id,
        source: { branch: { name: 'hooked' } },
      });
      expect(c!.headers['x-hub-signature']).toBeUndefined();
      expect(JSON.parse(c!.body).push.changes[0].new).toMatchObject({ type: 'branch', name: 'hooked' });
    } finally {
      await new Promise<void>((r) => receiver.close(() => r()));
    }
  });
});
