import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, type GitLabEmulator, startGitLabEmulator } from './server.ts';

/** The emulator's REST API v4 over real HTTP, each route and each awkward answer GitLab documents. */
const TOKEN = 'glpat-emulator-test';
// biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely here
type Json = any;

describe('GitLab emulator REST', () => {
  let gl: GitLabEmulator;
  let strict = true;

  const get = async (path: string, headers: Record<string, string> = { 'private-token': TOKEN }) => {
    const res = await fetch(`${gl.apiUrl}${path}`, { headers, redirect: 'manual' });
    const text = await res.text();
    let body: Json = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body };
  };

  beforeEach(async () => {
    strict = true;
    gl = await startGitLabEmulator();
    gl.addToken(TOKEN, 'alice');
    gl.model.createProject({ path: 'group/sub/repo', members: ['alice', 'bob'] });
  });
  afterEach(async () => {
    if (strict) expect(gl.counters.unexpected).toEqual([]);
    await gl.close();
  });

  it('serves a project by URL-encoded nested path and by numeric id, with forked_from_project for forks', async () => {
    const byPath = await get('/projects/group%2Fsub%2Frepo');
    expect(byPath.status).toBe(200);
    expect(byPath.body).toMatchObject({
      path_with_namespace: 'group/sub/repo',
      web_url: `${gl.webUrl}/group/sub/repo`,
      visibility: 'private',
      namespace: { full_path: 'group/sub' },
    });
    expect(byPath.body).not.toHaveProperty('forked_from_project');
    const byId = await get(`/projects/${byPath.body.id}`);
    expect(byId.body.path_with_namespace).toBe('group/sub/repo');
    gl.model.createProject({ path: 'alice/repo', forked_from: 'group/sub/repo', members: ['alice'] });
    const fork = await get('/projects/alice%2Frepo');
    expect(fork.body.forked_from_project).toMatchObject({ path_with_namespace: 'group/sub/repo' });
  });

  it('answers 404 "Project Not Found" for a project the token cannot see, exactly as for a missing one', async () => {
    gl.addToken('glpat-mallory', 'mallory');
    const hidden = await get('/projects/group%2Fsub%2Frepo', { 'private-token': 'glpat-mallory' });
    const missing = await get('/projects/nobody%2Fnothing', { 'private-token': 'glpat-mallory' });
    expect(hidden).toMatchObject({ status: 404, body: { message: '404 Project Not Found' } });
    expect(missing).toMatchObject({ status: 404, body: { message: '404 Project Not Found' } });
    // Anonymous requests see public projects only; internal ones need a signed-in user.
    gl.model.createProject({ path: 'open/repo', visibility: 'public' });
    gl.model.createProject({ path: 'corp/repo', visibility: 'internal' });
    expect((await get('/projects/open%2Frepo', {})).status).toBe(200);
    expect((await get('/projects/corp%2Frepo', {})).status).toBe(404);
    expect((await get('/projects/corp%2Frepo', { 'private-token': 'glpat-mallory' })).status).toBe(200);
  });

  it('accepts the token as PRIVATE-TOKEN or Authorization: Bearer, and logs only a fingerprint', async () => {
    expect((await get('/projects/group%2Fsub%2Frepo', { 'private-token': TOKEN })).status).toBe(200);
    expect((await get('/projects/group%2Fsub%2Frepo', { authorization: `Bearer ${TOKEN}` })).status).toBe(
      200,
    );
    expect(gl.log.map((l) => l.token_header)).toEqual(['private-token', 'authorization']);
    expect(gl.log.every((l) => l.token_fingerprint === fingerprint(TOKEN))).toBe(true);
    expect(JSON.stringify(gl.log)).not.toContain(TOKEN);
  });

  it('answers 401 for a bad, revoked or expired token', async () => {
    expect(await get('/projects/group%2Fsub%2Frepo', { 'private-token': 'nope' })).toMatchObject({
      status: 401,
      body: { message: '401 Unauthorized' },
    });
    gl.addToken('glpat-old', 'alice');
    gl.revokeToken('glpat-old', 'expired');
    const expired = await get('/projects/group%2Fsub%2Frepo', { authorization: 'Bearer glpat-old' });
    expect(expired).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect(expired.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('serves a merge request with changes_count as a string, "1000+" past the cap, and diff_refs', async () => {
    gl.model.openMergeRequest('group/sub/repo', {
      source_branch: 'feature',
      author: 'alice',
      additions: 10,
      deletions: 2,
      file_count: 3,
      commits: 2,
    });
    const mr = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(mr.status).toBe(200);
    expect(mr.body).toMatchObject({
      iid: 1,
      state: 'opened',
      draft: false,
      changes_count: '3',
      detailed_merge_status: 'mergeable',
      merge_status: 'can_be_merged',
      source_branch: 'feature',
      target_branch: 'main',
      author: { username: 'alice' },
      web_url: `${gl.webUrl}/group/sub/repo/-/merge_requests/1`,
      references: { full: 'group/sub/repo!1' },
    });
    expect(mr.body.diff_refs).toMatchObject({ head_sha: mr.body.sha });
    gl.model.setDiffStats('group/sub/repo', 1, { additions: 5000, deletions: 0, file_count: 1500 });
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/1')).body.changes_count).toBe('1000+');
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/9')).body).toEqual({
      message: '404 Not found',
    });
  });

  it('shows a diff not prepared yet: status preparing, changes_count and diff_refs null; checking after a push', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'fresh', prepared: false });
    const fresh = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(fresh.body).toMatchObject({
      detailed_merge_status: 'preparing',
      changes_count: null,
      diff_refs: null,
      prepared_at: null,
    });
    gl.model.setDiffStats('group/sub/repo', 1, { additions: 1, deletions: 1, file_count: 1 });
    gl.model.push('group/sub/repo', 'fresh');
    const pushed = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(pushed.body.detailed_merge_status).toBe('checking');
    gl.model.updateMergeRequest('group/sub/repo', 1, { merge_check: 'unchecked' });
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/1')).body.detailed_merge_status).toBe(
      'unchecked',
    );
  });

  it('computes mergeability only when asked: unchecked after a push, a recheck runs before the next request', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
    gl.model.push('group/sub/repo', 'f');
    const list = (q = '') => get(`/projects/group%2Fsub%2Frepo/merge_requests?iids[]=1${q}`);
    // A list does not recompute it; asked to, it answers what it had and queues the check.
    expect((await list()).body[0].detailed_merge_status).toBe('unchecked');
    expect((await list()).body[0].detailed_merge_status).toBe('unchecked');
    expect((await list('&with_merge_status_recheck=true')).body[0]).toMatchObject({
      detailed_merge_status: 'unchecked',
      merge_status: 'unchecked',
    });
    expect((await list()).body[0].detailed_merge_status).toBe('mergeable');
    // The target moved on a project merging fast-forward only: behind it, once checked again.
    gl.model.configureProject('group/sub/repo', { merge_method: 'ff' });
    gl.model.push('group/sub/repo', 'main');
    expect((await list()).body[0].detailed_merge_status).toBe('unchecked');
    await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect((await list()).body[0]).toMatchObject({
      detailed_merge_status: 'need_rebase',
      merge_status: 'can_be_merged',
      has_conflicts: false,
    });
    gl.model.setGitState('group/sub/repo', 1, { conflicts: true });
    await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect((await list()).body[0]).toMatchObject({
      detailed_merge_status: 'conflict',
      merge_status: 'cannot_be_merged',
      has_conflicts: true,
    });
  });

  it('shows head_pipeline as GitLab keeps it: still the old commit’s after a push', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
    const pipeline = gl.model.createPipeline('group/sub/repo', {
      ref: 'f',
      jobs: [
        { name: 'unit', status: 'success' },
        { name: 'lint', status: 'failed', allow_failure: true },
      ],
    });
    const before = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(before.body.head_pipeline).toMatchObject({
      id: pipeline.id,
      sha: before.body.sha,
      ref: 'f',
      // A failure allowed: "passed with warnings".
      status: 'success',
      web_url: `${gl.webUrl}/group/sub/repo/-/pipelines/${pipeline.id}`,
    });
    gl.model.push('group/sub/repo', 'f');
    const after = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(after.body.sha).not.toBe(before.body.sha);
    expect(after.body.head_pipeline).toMatchObject({ id: pipeline.id, sha: before.body.sha });
  });

  it('lists discussions: threads and comments, resolved fields only on resolvable notes, positions on diff notes', async () => {
    gl.model.configureProject('group/sub/repo', { only_allow_merge_if_all_discussions_are_resolved: true });
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
    const thread = gl.model.startThread('group/sub/repo', 1, {
      author: 'bob',
      body: 'Rename this',
      file: 'lib/a.rb',
      line: 4,
    });
    gl.model.reply('group/sub/repo', 1, thread.id, { author: 'alice', body: 'Done' });
    gl.model.comment('group/sub/repo', 1, { author: 'bob', body: 'LGTM' });
    gl.model.systemNote('group/sub/repo', 1, 'added 1 commit');
    const mr = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(mr.body).toMatchObject({
      user_notes_count: 3,
      blocking_discussions_resolved: false,
      detailed_merge_status: 'discussions_not_resolved',
    });
    const list = await get('/projects/group%2Fsub%2Frepo/merge_requests/1/discussions');
    expect(list.headers.get('x-total')).toBe('3');
    const [diff, comment, system] = list.body;
    expect(diff).toMatchObject({
      id: thread.id,
      individual_note: false,
      notes: [
        {
          type: 'DiffNote',
          body: 'Rename this',
          author: { username: 'bob' },
          resolvable: true,
          resolved: false,
          resolved_by: null,
          position: { new_path: 'lib/a.rb', new_line: 4, position_type: 'text' },
        },
        { type: 'DiffNote', body: 'Done', resolvable: true, resolved: false },
      ],
    });
    expect(comment).toMatchObject({ individual_note: true, notes: [{ type: null, resolvable: false }] });
    expect(comment.notes[0]).not.toHaveProperty('resolved');
    expect(comment.notes[0]).not.toHaveProperty('position');
    expect(system.notes[0]).toMatchObject({ system: true, body: 'added 1 commit' });
    gl.model.resolveThread('group/sub/repo', 1, thread.id, true, 'bob');
    const resolved = await get('/projects/group%2Fsub%2Frepo/merge_requests/1/discussions?per_page=1');
    expect(resolved.body[0].notes.map((n: Json) => [n.resolved, n.resolved_by.username])).toEqual([
      [true, 'bob'],
      [true, 'bob'],
    ]);
    expect(resolved.headers.get('x-next-page')).toBe('2');
    expect(
      (await get('/projects/group%2Fsub%2Frepo/merge_requests/1')).body.blocking_discussions_resolved,
    ).toBe(true);
  });

  it('prefixes a draft title with "Draft:" and reports draft_status', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'wip', title: 'Add thing', draft: true });
    const mr = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(mr.body).toMatchObject({
      title: 'Draft: Add thing',
      draft: true,
      detailed_merge_status: 'draft_status',
    });
  });

  it('filters merge requests by source_branch and state; locked MRs are not "opened"', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'a' });
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'a' });
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'b' });
    gl.model.close('group/sub/repo', 1);
    gl.model.lock('group/sub/repo', 3);
    const all = await get('/projects/group%2Fsub%2Frepo/merge_requests?source_branch=a');
    expect(all.body.map((m: Json) => m.iid)).toEqual([2, 1]);
    const opened = await get('/projects/group%2Fsub%2Frepo/merge_requests?state=opened');
    expect(opened.body.map((m: Json) => m.iid)).toEqual([2]);
    const locked = await get('/projects/group%2Fsub%2Frepo/merge_requests?state=locked');
    expect(locked.body.map((m: Json) => [m.iid, m.state])).toEqual([[3, 'locked']]);
    expect(await get('/projects/group%2Fsub%2Frepo/merge_requests?state=open')).toMatchObject({
      status: 400,
      body: { error: 'state does not have a valid value' },
    });
  });

  it('orders by updated_at in either direction', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const clock = await startGitLabEmulator({
      now: () => {
        t += 1000;
        return new Date(t);
      },
    });
    try {
      clock.addToken(TOKEN, 'alice');
      clock.model.createProject({ path: 'g/r', members: ['alice'] });
      for (const b of ['x', 'y', 'z']) clock.model.openMergeRequest('g/r', { source_branch: b });
      clock.model.updateMergeRequest('g/r', 1, { title: 'touched' });
      const list = async (q: string) =>
        (
          (await (
            await fetch(`${clock.apiUrl}/projects/g%2Fr/merge_requests?${q}`, {
              headers: { 'private-token': TOKEN },
            })
          ).json()) as Json[]
        ).map((m) => m.iid);
      expect(await list('order_by=updated_at&sort=desc')).toEqual([1, 3, 2]);
      expect(await list('order_by=updated_at&sort=asc')).toEqual([2, 3, 1]);
      expect(await list('')).toEqual([3, 2, 1]);
    } finally {
      await clock.close();
    }
  });

  it('paginates with x-total, x-next-page and Link, caps per_page at 100, and drops totals past the count limit', async () => {
    for (let i = 0; i < 25; i++) gl.model.openMergeRequest('group/sub/repo', { source_branch: `b${i}` });
    const first = await get('/projects/group%2Fsub%2Frepo/merge_requests?per_page=10');
    expect(first.body).toHaveLength(10);
    expect(
      Object.fromEntries(
        ['x-total', 'x-total-pages', 'x-page', 'x-next-page', 'x-prev-page'].map((h) => [
          h,
          first.headers.get(h),
        ]),
      ),
    ).toEqual({
      'x-total': '25',
      'x-total-pages': '3',
      'x-page': '1',
      'x-next-page': '2',
      'x-prev-page': '',
    });
    const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link')!)![1]!;
    expect(first.headers.get('link')).toContain('rel="last"');
    const second = await fetch(next, { headers: { 'private-token': TOKEN } });
    expect(second.headers.get('x-page')).toBe('2');
    const last = await get('/projects/group%2Fsub%2Frepo/merge_requests?per_page=10&page=3');
    expect(last.body).toHaveLength(5);
    expect(last.headers.get('x-next-page')).toBe('');
    const big = await get('/projects/group%2Fsub%2Frepo/merge_requests?per_page=500');
    expect(big.body).toHaveLength(25);
    expect(big.headers.get('x-per-page')).toBe('100');

    const capped = await startGitLabEmulator({ paginationCountLimit: 20 });
    try {
      capped.addToken(TOKEN, 'alice');
      capped.model.createProject({ path: 'g/r', members: ['alice'] });
      for (let i = 0; i < 21; i++) capped.model.openMergeRequest('g/r', { source_branch: `b${i}` });
      const res = await fetch(`${capped.apiUrl}/projects/g%2Fr/merge_requests?per_page=20`, {
        headers: { 'private-token': TOKEN },
      });
      expect(res.headers.get('x-total')).toBeNull();
      expect(res.headers.get('x-total-pages')).toBeNull();
      expect(res.headers.get('x-next-page')).toBe('2');
      expect(res.headers.get('link')).not.toContain('rel="last"');
    } finally {
      await capped.close();
    }
  });

  it('lists commits newest first, paginated', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f', commits: 3 });
    gl.model.push('group/sub/repo', 'f', { count: 2 });
    const page = await get('/projects/group%2Fsub%2Frepo/merge_requests/1/commits?per_page=4');
    expect(page.body).toHaveLength(4);
    expect(page.headers.get('x-total')).toBe('5');
    const mr = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(page.body[0].id).toBe(mr.body.sha);
  });

  it('answers approvals on Free (approved = someone approved) and Premium (approved = no approval left)', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f', author: 'alice' });
    const free = await get('/projects/group%2Fsub%2Frepo/merge_requests/1/approvals');
    expect(free.body).toMatchObject({
      approved: false,
      approvals_required: 0,
      approvals_left: 0,
      approved_by: [],
    });
    gl.model.approve('group/sub/repo', 1, 'bob');
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/1/approvals')).body).toMatchObject({
      approved: true,
      approved_by: [{ user: { username: 'bob' } }],
    });

    gl.model.createProject({ path: 'paid/repo', members: ['alice'], tier: 'premium', approvals_required: 0 });
    gl.model.openMergeRequest('paid/repo', { source_branch: 'f' });
    // No rule: GitLab's verdict is "approved" before anybody approved.
    expect((await get('/projects/paid%2Frepo/merge_requests/1/approvals')).body).toMatchObject({
      approved: true,
      approved_by: [],
    });
    gl.model.configureProject('paid/repo', { approvals_required: 2 });
    gl.model.approve('paid/repo', 1, 'bob');
    const one = await get('/projects/paid%2Frepo/merge_requests/1/approvals');
    expect(one.body).toMatchObject({ approved: false, approvals_required: 2, approvals_left: 1 });
    expect((await get('/projects/paid%2Frepo/merge_requests/1')).body.detailed_merge_status).toBe(
      'not_approved',
    );
  });

  it('lists reviewers with their review states', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
    gl.model.requestReview('group/sub/repo', 1, 'carol');
    gl.model.review('group/sub/repo', 1, 'bob', 'requested_changes');
    const reviewers = await get('/projects/group%2Fsub%2Frepo/merge_requests/1/reviewers');
    expect(reviewers.body.map((r: Json) => [r.user.username, r.state])).toEqual([
      ['carol', 'unreviewed'],
      ['bob', 'requested_changes'],
    ]);
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/1')).body.detailed_merge_status).toBe(
      'requested_changes',
    );
  });

  it('shows a deleted author as the Ghost User, and a user without avatar as avatar_url null', async () => {
    gl.model.createUser('nopic', { avatar_url: null });
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f', author: 'dave' });
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'g', author: 'nopic' });
    gl.model.deleteUser('dave');
    const mr = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(mr.body.author).toMatchObject({ username: 'ghost', name: 'Ghost User' });
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/2')).body.author.avatar_url).toBeNull();
  });

  it('redirects a moved project with 301 to its id-based address', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
    gl.model.moveProject('group/sub/repo', 'group/other/repo');
    const moved = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect(moved.status).toBe(301);
    const id = gl.model.project('group/other/repo').id;
    expect(moved.headers.get('location')).toBe(`${gl.apiUrl}/projects/${id}/merge_requests/1`);
  });

  it('sends RateLimit-* headers only with a 429 (Retry-After past the limit), or on every answer when asked', async () => {
    const limited = await startGitLabEmulator({ rateLimit: 2 });
    try {
      limited.addToken(TOKEN, 'alice');
      limited.model.createProject({ path: 'g/r', members: ['alice'] });
      const call = () => fetch(`${limited.apiUrl}/projects/g%2Fr`, { headers: { 'private-token': TOKEN } });
      // GitLab's Rack::Attack adds them in its throttled responder only (lib/gitlab/rack_attack.rb).
      const ok = await call();
      expect(ok.status).toBe(200);
      expect(ok.headers.get('ratelimit-limit')).toBeNull();
      await call();
      const throttled = await call();
      expect(throttled.status).toBe(429);
      expect(await throttled.text()).toBe('Retry later\n');
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(throttled.headers.get('ratelimit-name')).toBe('throttle_authenticated_api');
      expect(throttled.headers.get('ratelimit-remaining')).toBe('0');
      expect(throttled.headers.get('ratelimit-resettime')).toMatch(/GMT$/);
    } finally {
      await limited.close();
    }
    const loud = await startGitLabEmulator({ rateLimit: 2, rateLimitHeaders: true });
    try {
      loud.addToken(TOKEN, 'alice');
      loud.model.createProject({ path: 'g/r', members: ['alice'] });
      const call = () => fetch(`${loud.apiUrl}/projects/g%2Fr`, { headers: { 'private-token': TOKEN } });
      const ok = await call();
      expect(ok.headers.get('ratelimit-name')).toBe('throttle_authenticated_api');
      expect([
        ok.headers.get('ratelimit-limit'),
        ok.headers.get('ratelimit-observed'),
        ok.headers.get('ratelimit-remaining'),
      ]).toEqual(['2', '1', '1']);
    } finally {
      await loud.close();
    }
  });

  it('injects faults by path, a limited number of times, and counts requests per route', async () => {
    gl.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
    gl.addFaults(
      { kind: 'status', status: 503, match: '/approvals$', times: 1 },
      { kind: 'rate_limit', match: '/merge_requests/1$', times: 1, reset_in_s: 7 },
      { kind: 'garbage', match: '/reviewers$', times: 1 },
      { kind: 'unauthorized', match: '/commits$', times: 1 },
    );
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/1/approvals')).status).toBe(503);
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/1/approvals')).status).toBe(200);
    const limited = await get('/projects/group%2Fsub%2Frepo/merge_requests/1');
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '7']);
    const garbage = await get('/projects/group%2Fsub%2Frepo/merge_requests/1/reviewers');
    expect(typeof garbage.body).toBe('string');
    expect((await get('/projects/group%2Fsub%2Frepo/merge_requests/1/commits')).status).toBe(401);
    expect(gl.count('get_approvals', 503)).toBe(1);
    expect(gl.count('get_approvals')).toBe(2);
    expect(gl.count('get_merge_request', 429)).toBe(1);
    gl.resetCounters();
    expect(gl.counters.total).toBe(0);
  });

  it('times out on a timeout fault until the client gives up', async () => {
    gl.addFaults({ kind: 'timeout', times: 1 });
    await expect(
      fetch(`${gl.apiUrl}/projects/group%2Fsub%2Frepo`, {
        headers: { 'private-token': TOKEN },
        signal: AbortSignal.timeout(200),
      }),
    ).rejects.toThrow();
  });

  it('records and answers 404 to anything unexpected, including an unencoded project path', async () => {
    strict = false;
    const unencoded = await get('/projects/group/sub/repo');
    expect(unencoded).toMatchObject({ status: 404, body: { error: '404 Not Found' } });
    const post = await fetch(`${gl.apiUrl}/projects/group%2Fsub%2Frepo/merge_requests`, {
      method: 'POST',
      headers: { 'private-token': TOKEN },
    });
    expect(post.status).toBe(404);
    await get('/projects/group%2Fsub%2Frepo/merge_requests/1/diffs');
    expect(gl.counters.unexpected.map((u) => `${u.method} ${u.path}`)).toEqual([
      'GET /api/v4/projects/group/sub/repo',
      'POST /api/v4/projects/group%2Fsub%2Frepo/merge_requests',
      'GET /api/v4/projects/group%2Fsub%2Frepo/merge_requests/1/diffs',
    ]);
  });

  it('serves a self-managed instance under a path prefix', async () => {
    const prefixed = await startGitLabEmulator({ relativeUrlRoot: '/gitlab' });
    try {
      prefixed.addToken(TOKEN, 'alice');
      prefixed.model.createProject({ path: 'group/sub/repo', members: ['alice'] });
      prefixed.model.openMergeRequest('group/sub/repo', { source_branch: 'f' });
      expect(prefixed.webUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/gitlab$/);
      expect(prefixed.apiUrl).toBe(`${prefixed.webUrl}/api/v4`);
      expect(prefixed.graphqlUrl).toBe(`${prefixed.webUrl}/api/graphql`);
      const project = (await (
        await fetch(`${prefixed.apiUrl}/projects/group%2Fsub%2Frepo`, { headers: { 'private-token': TOKEN } })
      ).json()) as Json;
      expect(project.web_url).toBe(`${prefixed.webUrl}/group/sub/repo`);
      // SSH clone addresses carry no path prefix.
      expect(project.ssh_url_to_repo).toBe('git@127.0.0.1:group/sub/repo.git');
      const mr = (await (
        await fetch(`${prefixed.apiUrl}/projects/group%2Fsub%2Frepo/merge_requests/1`, {
          headers: { 'private-token': TOKEN },
        })
      ).json()) as Json;
      expect(mr.web_url).toBe(`${prefixed.webUrl}/group/sub/repo/-/merge_requests/1`);
      const avatar = await fetch(mr.author.avatar_url);
      expect(avatar.headers.get('content-type')).toBe('image/svg+xml');
      // The API without the prefix is not there.
      const origin = new URL(prefixed.webUrl).origin;
      expect((await fetch(`${origin}/api/v4/projects/1`)).status).toBe(404);
      expect(prefixed.counters.unexpected).toHaveLength(1);
    } finally {
      await prefixed.close();
    }
  });

  it('is driven over its admin API too', async () => {
    const admin = (method: string, path: string, body?: object) =>
      fetch(`${new URL(gl.webUrl).origin}/_emulator/${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    expect((await admin('POST', 'projects', { path: 'demo/app', members: ['alice'] })).status).toBe(201);
    const opened = (await (
      await admin('POST', 'projects/demo%2Fapp/merge_requests', { source_branch: 'x' })
    ).json()) as Json;
    expect(opened.iid).toBe(1);
    await admin('POST', 'projects/demo%2Fapp/merge_requests/1/reviews', {
      username: 'bob',
      state: 'approved',
    });
    await admin('PUT', 'projects/demo%2Fapp/merge_requests/1/diff', { stats: null });
    const mr = await get('/projects/demo%2Fapp/merge_requests/1/approvals');
    expect(mr.body.approved).toBe(true);
    const counters = (await (await admin('GET', 'counters')).json()) as Json;
    expect(counters.routes.get_approvals['200']).toBe(1);
  });
});
