import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthError, RateLimitedError, UnavailableError } from '../src/core/errors.ts';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';
import { readToken } from './helpers/tokens.ts';

const REPO = 'https://fake.test/acme/app';

describe('HTTP API', () => {
  let s: ServiceHarness;
  beforeEach(async () => {
    s = await createServiceHarness();
  });
  afterEach(() => s.close());

  const expectError = (r: { status: number; json: unknown }, status: number, code?: string) => {
    expect(r.status).toBe(status);
    expect(r.json).toMatchObject({
      error: { code: code ?? expect.any(String), message: expect.any(String) },
    });
  };
  const createChat = async (body: Record<string, unknown> = {}, key?: string) => {
    const id = randomUUID();
    const r = await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: s.owner, ...body }, key });
    expect(r.status).toBe(201);
    return id;
  };

  describe('keys and auth', () => {
    it('401 without a key or with a wrong one; health, readiness and metrics need none', async () => {
      expectError(await s.call('GET', '/api/v1/chats', { key: null }), 401, 'unauthorized');
      expectError(await s.call('GET', '/api/v1/chats', { key: 'gsk_wrong' }), 401, 'unauthorized');
      expectError(
        await s.call('GET', '/api/v1/chats', { key: null, headers: { authorization: 'Basic abc' } }),
        401,
      );
      expect((await s.call('GET', '/healthz', { key: null })).status).toBe(200);
      expect((await s.call('GET', '/readyz', { key: null })).json).toEqual({ status: 'ready' });
      const metrics = await s.call('GET', '/metrics', { key: null });
      expect(metrics.status).toBe(200);
      expect(metrics.json).toMatch(/gitsync_rows_due 0/);
    });

    it('the admin creates owner keys (shown once), lists them without secrets, deletes them', async () => {
      const owner = randomUUID();
      const created = await s.call('POST', '/api/v1/keys', { body: { owner_id: owner, name: 'ci' } });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({
        id: expect.any(String),
        name: 'ci',
        owner_id: owner,
        key: expect.stringMatching(/^gsk_/),
      });
      const list = await s.call('GET', '/api/v1/keys');
      expect(list.status).toBe(200);
      expect(JSON.stringify(list.json)).not.toContain(created.json.key);
      expect(list.json.keys.map((k: { id: string }) => k.id)).toContain(created.json.id);
      expect((await s.call('GET', '/api/v1/chats', { key: created.json.key })).status).toBe(200);
      expect((await s.call('DELETE', `/api/v1/keys/${created.json.id}`)).status).toBe(204);
      expectError(await s.call('DELETE', `/api/v1/keys/${created.json.id}`), 404);
      expectError(await s.call('GET', '/api/v1/chats', { key: created.json.key }), 401);
    });

    it('owner keys may not manage keys', async () => {
      expectError(
        await s.call('POST', '/api/v1/keys', { key: s.ownerKey, body: { owner_id: s.owner, name: 'x' } }),
        403,
        'forbidden',
      );
      expectError(await s.call('GET', '/api/v1/keys', { key: s.ownerKey }), 403);
      expectError(await s.call('DELETE', `/api/v1/keys/${randomUUID()}`, { key: s.ownerKey }), 403);
    });

    it('rejects bad key requests', async () => {
      expectError(
        await s.call('POST', '/api/v1/keys', { body: { owner_id: 'nope', name: 'x' } }),
        400,
        'bad_request',
      );
      expectError(await s.call('POST', '/api/v1/keys', { body: { owner_id: randomUUID() } }), 400);
      expectError(await s.call('DELETE', '/api/v1/keys/not-a-uuid'), 400);
    });
  });

  describe('chats', () => {
    it('PUT creates (201) and updates (200); omitted fields keep their value', async () => {
      const id = randomUUID();
      const ws = randomUUID();
      const created = await s.call('PUT', `/api/v1/chats/${id}`, {
        body: { owner_id: s.owner, workspace_id: ws, title: 'First' },
      });
      expect(created.status).toBe(201);
      expect(created.json).toEqual({
        id,
        owner_id: s.owner,
        workspace_id: ws,
        parent_chat_id: null,
        root_chat_id: id,
        title: 'First',
        archived: false,
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        updated_at: expect.any(String),
        diff_status: null,
        diff_statuses: [],
        children: [],
      });
      const updated = await s.call('PUT', `/api/v1/chats/${id}`, {
        body: { owner_id: s.owner, title: 'Second' },
      });
      expect(updated.status).toBe(200);
      expect(updated.json).toMatchObject({ title: 'Second', workspace_id: ws });
    });

    it('PUT rejects bad input and changes nothing', async () => {
      const id = randomUUID();
      expectError(
        await s.call('PUT', '/api/v1/chats/not-a-uuid', { body: { owner_id: s.owner } }),
        400,
        'bad_request',
      );
      expectError(await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: 'x' } }), 400);
      expectError(await s.call('PUT', `/api/v1/chats/${id}`, { body: {} }), 400);
      expectError(await s.call('PUT', `/api/v1/chats/${id}`, { raw: '{"owner_id":' }), 400);
      expectError(await s.call('PUT', `/api/v1/chats/${id}`, { raw: '' }), 400);
      expectError(await s.call('PUT', `/api/v1/chats/${id}`, { body: [1, 2] }), 400);
      expectError(await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: s.owner, title: 5 } }), 400);
      expectError(
        await s.call('PUT', `/api/v1/chats/${id}`, {
          body: { owner_id: s.owner, parent_chat_id: randomUUID() },
        }),
        400,
      );
      expectError(await s.call('GET', `/api/v1/chats/${id}`), 404, 'not_found');
    });

    it('UUIDs are case-insensitive: an upper-case owner id is the same owner', async () => {
      const id = randomUUID();
      const upper = { owner_id: s.owner.toUpperCase() };
      expect(
        (await s.call('PUT', `/api/v1/chats/${id.toUpperCase()}`, { key: s.ownerKey, body: upper })).status,
      ).toBe(201);
      const again = await s.call('PUT', `/api/v1/chats/${id}`, {
        key: s.ownerKey,
        body: { ...upper, title: 'x' },
      });
      expect(again.status).toBe(200);
      expect(again.json).toMatchObject({ id, owner_id: s.owner });
    });

    it('PUT refuses an owner or parent change with 409', async () => {
      const parent = await createChat();
      const id = await createChat();
      expectError(
        await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: randomUUID() } }),
        409,
        'conflict',
      );
      expectError(
        await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: s.owner, parent_chat_id: parent } }),
        409,
      );
    });

    it('children embed under their root; listing returns roots with children filtered by the archive filter', async () => {
      const root = await createChat({ title: 'root' });
      const child = await createChat({ parent_chat_id: root });
      const hidden = await createChat({ parent_chat_id: root });
      expect((await s.call('POST', `/api/v1/chats/${hidden}/archive`)).status).toBe(200);
      const list = await s.call('GET', `/api/v1/chats?owner_id=${s.owner}`);
      expect(list.status).toBe(200);
      expect(list.json.next_cursor).toBeNull();
      expect(list.json.chats.map((c: { id: string }) => c.id)).toEqual([root]);
      expect(list.json.chats[0].children.map((c: { id: string }) => c.id)).toEqual([child]);
      const one = await s.call('GET', `/api/v1/chats/${root}`);
      expect(
        one.json.children.map((c: { id: string; archived: boolean }) => [c.id, c.archived]).sort(),
      ).toEqual(
        [
          [child, false],
          [hidden, true],
        ].sort(),
      );
    });

    it('archive cascades; unarchive under an archived parent is 409; unknown chats 404', async () => {
      const root = await createChat();
      const child = await createChat({ parent_chat_id: root });
      const archived = await s.call('POST', `/api/v1/chats/${root}/archive`);
      expect(archived.json).toMatchObject({ archived: true, children: [{ id: child, archived: true }] });
      expectError(await s.call('POST', `/api/v1/chats/${child}/unarchive`), 409, 'conflict');
      expect(
        (await s.call('GET', '/api/v1/chats?archived=true')).json.chats.map((c: { id: string }) => c.id),
      ).toEqual([root]);
      expect((await s.call('POST', `/api/v1/chats/${root}/unarchive`)).json.children[0].archived).toBe(false);
      expectError(await s.call('POST', `/api/v1/chats/${randomUUID()}/archive`), 404);
      expectError(await s.call('POST', `/api/v1/chats/${randomUUID()}/unarchive`), 404);
    });

    it('DELETE removes the subtree (204), then 404', async () => {
      const root = await createChat();
      const child = await createChat({ parent_chat_id: root });
      expect((await s.call('DELETE', `/api/v1/chats/${root}`)).status).toBe(204);
      expectError(await s.call('GET', `/api/v1/chats/${child}`), 404);
      expectError(await s.call('DELETE', `/api/v1/chats/${root}`), 404);
    });

    it('list validates its query and pages with a cursor', async () => {
      for (let i = 0; i < 3; i++) {
        await createChat();
        s.clock.advance(1000);
      }
      expectError(await s.call('GET', '/api/v1/chats?limit=501'), 400);
      expectError(await s.call('GET', '/api/v1/chats?limit=0'), 400);
      expectError(await s.call('GET', '/api/v1/chats?archived=maybe'), 400);
      expectError(await s.call('GET', '/api/v1/chats?owner_id=nope'), 400);
      expectError(await s.call('GET', '/api/v1/chats?cursor=garbage'), 400);
      const first = await s.call('GET', '/api/v1/chats?limit=2');
      expect(first.json.chats).toHaveLength(2);
      const second = await s.call('GET', `/api/v1/chats?limit=2&cursor=${first.json.next_cursor}`);
      expect(second.json.chats).toHaveLength(1);
      expect(second.json.next_cursor).toBeNull();
    });

    it('an owner key sees and changes only its own chats; another owner’s chat is 404', async () => {
      const stranger = randomUUID();
      const theirs = randomUUID();
      await s.call('PUT', `/api/v1/chats/${theirs}`, { body: { owner_id: stranger } });
      const mine = await createChat({}, s.ownerKey);
      const k = { key: s.ownerKey };
      expect((await s.call('GET', '/api/v1/chats', k)).json.chats.map((c: { id: string }) => c.id)).toEqual([
        mine,
      ]);
      expectError(await s.call('GET', `/api/v1/chats/${theirs}`, k), 404);
      expectError(await s.call('POST', `/api/v1/chats/${theirs}/archive`, k), 404);
      expectError(await s.call('DELETE', `/api/v1/chats/${theirs}`, k), 404);
      expectError(await s.call('PUT', `/api/v1/chats/${theirs}`, { ...k, body: { owner_id: s.owner } }), 404);
      expectError(
        await s.call('PUT', `/api/v1/chats/${randomUUID()}`, { ...k, body: { owner_id: stranger } }),
        403,
      );
      expectError(await s.call('GET', `/api/v1/chats?owner_id=${stranger}`, k), 403);
      expectError(
        await s.call('POST', '/api/v1/git-refs', {
          ...k,
          body: { chat_id: theirs, origin: REPO, branch: 'b' },
        }),
        404,
      );
      expectError(await s.call('POST', `/api/v1/chats/${theirs}/diff-status/refresh`, k), 404);
      expect((await s.call('GET', `/api/v1/chats/${theirs}`)).json.archived).toBe(false);
    });

    it('413 for a body over the limit, and nothing changes', async () => {
      const id = randomUUID();
      const r = await s.call('PUT', `/api/v1/chats/${id}`, {
        raw: JSON.stringify({ owner_id: s.owner, title: 'x'.repeat(2_000_000) }),
      });
      expectError(r, 413, 'payload_too_large');
      expectError(await s.call('GET', `/api/v1/chats/${id}`), 404);
    });
  });

  describe('git refs', () => {
    it('records a report for a chat (202) and strips credentials', async () => {
      const chat = await createChat();
      const r = await s.call('POST', '/api/v1/git-refs', {
        body: {
          chat_id: chat,
          origin: 'https://x-access-token:ghs_abc@fake.test/acme/app.git',
          branch: 'feature',
        },
      });
      expect(r.status).toBe(202);
      expect(r.json).toEqual({ chat_ids: [chat] });
      const view = (await s.call('GET', `/api/v1/chats/${chat}`)).json;
      expect(view.diff_status).toMatchObject({
        git_remote_origin: REPO,
        git_branch: 'feature',
        url: null,
        pull_request_state: null,
      });
      expect(view.diff_statuses).toHaveLength(1);
      for (const field of [
        'chat_id',
        'provider_id',
        'last_error',
        'last_error_at',
        'error_count',
        'paused_until',
        'stale_at',
        'refreshed_at',
      ]) {
        expect(view.diff_status).toHaveProperty(field);
      }
      expect(JSON.stringify(view)).not.toContain('ghs_abc');
    });

    it('a workspace report reaches its active chats; chat_id wins over workspace_id', async () => {
      const ws = randomUUID();
      const a = await createChat({ workspace_id: ws });
      const b = await createChat({ workspace_id: ws });
      const gone = await createChat({ workspace_id: ws });
      await s.call('POST', `/api/v1/chats/${gone}/archive`);
      // The admin key must say whose chats in the workspace it reports for.
      expectError(
        await s.call('POST', '/api/v1/git-refs', { body: { workspace_id: ws, origin: REPO, branch: 'x' } }),
        400,
      );
      const all = await s.call('POST', '/api/v1/git-refs', {
        body: { workspace_id: ws, owner_id: s.owner, origin: REPO, branch: 'x' },
      });
      expect(all.status).toBe(202);
      expect(all.json.chat_ids.sort()).toEqual([a, b].sort());
      const one = await s.call('POST', '/api/v1/git-refs', {
        body: { workspace_id: ws, chat_id: a, origin: REPO, branch: 'y' },
      });
      expect(one.json).toEqual({ chat_ids: [a] });
      expect(
        (
          await s.call('POST', '/api/v1/git-refs', {
            body: { workspace_id: randomUUID(), owner_id: s.owner, origin: REPO, branch: 'x' },
          })
        ).json,
      ).toEqual({
        chat_ids: [],
      });
    });

    it('rejects empty branch or origin, a missing id, and an unknown chat', async () => {
      const chat = await createChat();
      expectError(
        await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: '' } }),
        400,
      );
      expectError(
        await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: '  ', branch: 'b' } }),
        400,
      );
      expectError(await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, branch: 'b' } }), 400);
      expectError(await s.call('POST', '/api/v1/git-refs', { body: { origin: REPO, branch: 'b' } }), 400);
      expectError(
        await s.call('POST', '/api/v1/git-refs', { body: { chat_id: 'nope', origin: REPO, branch: 'b' } }),
        400,
      );
      expectError(
        await s.call('POST', '/api/v1/git-refs', {
          body: { chat_id: randomUUID(), origin: REPO, branch: 'b' },
        }),
        404,
      );
      expect((await s.call('GET', `/api/v1/chats/${chat}`)).json.diff_statuses).toEqual([]);
    });

    it('an archived chat named by id is recorded', async () => {
      const chat = await createChat();
      await s.call('POST', `/api/v1/chats/${chat}/archive`);
      expect(
        (await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'b' } }))
          .status,
      ).toBe(202);
      expect((await s.call('GET', `/api/v1/chats/${chat}`)).json.diff_statuses).toHaveLength(1);
    });
  });

  describe('refresh now', () => {
    const tracked = async (branch = 'feature') => {
      const chat = await createChat();
      await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch } });
      return chat;
    };
    beforeEach(async () => {
      await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: { token: 'tok' } });
    });

    it('updated / no_pr / stale_pr outcomes', async () => {
      const chat = await tracked();
      const none = await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`);
      expect(none.status).toBe(200);
      expect(none.json).toMatchObject({
        outcome: 'no_pr',
        diff_status: { git_branch: 'feature', url: null },
      });
      s.host.openPull('acme/app', { head_branch: 'feature', pull_request_title: 'Hello' });
      const done = await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {
        body: { origin: REPO, branch: 'feature' },
      });
      expect(done.json).toMatchObject({
        outcome: 'updated',
        diff_status: { pull_request_title: 'Hello', pr_number: 1 },
      });
      s.host.updatePull('acme/app', 1, { head_branch: 'moved' });
      expect((await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`)).json).toMatchObject({
        outcome: 'stale_pr',
        diff_status: { url: null },
      });
    });

    it('404 for an unknown chat or ref, 422 no token / no provider, 429 with Retry-After, 502 for host errors', async () => {
      expectError(
        await s.call('POST', `/api/v1/chats/${randomUUID()}/diff-status/refresh`),
        404,
        'not_found',
      );
      const chat = await tracked();
      expectError(
        await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`, { body: { branch: 'other' } }),
        404,
        'no_ref',
      );
      expectError(
        await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`, { body: { branch: 5 } }),
        400,
      );

      const stranger = randomUUID();
      const theirs = randomUUID();
      await s.call('PUT', `/api/v1/chats/${theirs}`, { body: { owner_id: stranger } });
      await s.call('POST', '/api/v1/git-refs', { body: { chat_id: theirs, origin: REPO, branch: 'b' } });
      expectError(await s.call('POST', `/api/v1/chats/${theirs}/diff-status/refresh`), 422, 'no_token');

      const nowhere = await createChat();
      await s.call('POST', '/api/v1/git-refs', {
        body: { chat_id: nowhere, origin: 'https://unknown.example/a/b', branch: 'b' },
      });
      expectError(await s.call('POST', `/api/v1/chats/${nowhere}/diff-status/refresh`), 422, 'no_provider');

      s.host.failWith = () => new RateLimitedError(new Date(s.clock.now().getTime() + 30_000));
      const limited = await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`);
      expectError(limited, 429, 'rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBe(30);

      const other = await tracked('other-branch');
      s.host.failWith = () => new UnavailableError('fake: 503');
      // A fresh token avoids the pause the 429 above put on this owner's token.
      await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: { token: 'tok2' } });
      expectError(await s.call('POST', `/api/v1/chats/${other}/diff-status/refresh`), 502, 'provider_error');

      // The host rejects the token: 422, and the ref says so (with no backoff: the caller decides).
      const before = (await s.call('GET', `/api/v1/chats/${other}`)).json.diff_status;
      s.host.failWith = () => new AuthError('fake: bad credentials (401)');
      const rejected = await s.call('POST', `/api/v1/chats/${other}/diff-status/refresh`);
      expectError(rejected, 422, 'token_rejected');
      const after = (await s.call('GET', `/api/v1/chats/${other}`)).json.diff_status;
      expect(after.last_error).toMatch(/token was rejected.*bad credentials/);
      expect(after.stale_at).toBe(before.stale_at);
    });
  });

  describe('feedback', () => {
    beforeEach(async () => {
      await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: { token: 'tok' } });
    });

    it('per ref: failing checks, unresolved threads and requested changes of the open PR, bounded', async () => {
      const chat = await createChat();
      await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'fb' } });
      await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'no-pr' } });
      const long = 'x'.repeat(5000);
      const pull = s.host.openPull('acme/app', {
        head_branch: 'fb',
        feedback: {
          failing_checks: [{ name: 'test', url: 'https://ci.test/1', summary: '2 failed' }],
          unresolved_threads: Array.from({ length: 60 }, (_, i) => ({
            path: 'src/a.ts',
            line: i + 1,
            author: 'reviewer',
            author_association: 'MEMBER',
            trusted: true,
            body: i === 0 ? long : `fix ${i}`,
            url: `https://fake.test/acme/app/pull/1#r${i}`,
          })),
          changes_requested_by: [{ name: 'reviewer', trusted: true }],
          truncated: false,
        },
      });
      await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`, { body: { branch: 'fb' } });
      const calls = s.host.calls.feedback;
      const res = await s.call('GET', `/api/v1/chats/${chat}/feedback`);
      expect(res.status).toBe(200);
      expect(s.host.calls.feedback).toBe(calls + 1);
      expect(res.json.chat_id).toBe(chat);
      const byBranch = Object.fromEntries(
        res.json.refs.map((r: { git_branch: string }) => [r.git_branch, r]),
      );
      expect(byBranch['no-pr']).toEqual({
        git_remote_origin: REPO,
        git_branch: 'no-pr',
        url: null,
        failing_checks: [],
        unresolved_threads: [],
        changes_requested_by: [],
        truncated: false,
        error: null,
      });
      const fb = byBranch.fb;
      expect(fb).toMatchObject({
        url: pull.url,
        failing_checks: [{ name: 'test', url: 'https://ci.test/1', summary: '2 failed' }],
        changes_requested_by: [{ name: 'reviewer', trusted: true }],
        truncated: true,
        error: null,
      });
      expect(fb.unresolved_threads).toHaveLength(50);
      expect(fb.unresolved_threads[0].body.length).toBe(2000);
      expect(fb.unresolved_threads[1]).toEqual({
        path: 'src/a.ts',
        line: 2,
        author: 'reviewer',
        author_association: 'MEMBER',
        trusted: true,
        body: 'fix 1',
        url: 'https://fake.test/acme/app/pull/1#r1',
      });
    });

    it('404 for an unknown or foreign chat; a host failure is the ref’s error, not the answer’s', async () => {
      expectError(await s.call('GET', `/api/v1/chats/${randomUUID()}/feedback`), 404, 'not_found');
      expectError(await s.call('GET', '/api/v1/chats/not-a-uuid/feedback'), 400);
      const chat = await createChat();
      await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'fb2' } });
      s.host.openPull('acme/app', { head_branch: 'fb2' });
      await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`);
      s.host.failWith = (call) => (call.kind === 'feedback' ? new UnavailableError('fake: 503') : undefined);
      try {
        const res = await s.call('GET', `/api/v1/chats/${chat}/feedback`);
        expect(res.status).toBe(200);
        expect(res.json.refs[0]).toMatchObject({
          git_branch: 'fb2',
          failing_checks: [],
          error: { code: 'provider_error', message: 'fake: 503' },
        });
      } finally {
        s.host.failWith = undefined;
      }
    });
  });

  describe('tokens', () => {
    it('PUT and DELETE (204), validated; unknown provider 404; only for one’s own owner', async () => {
      expect(
        (await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: { token: 'abc' } })).status,
      ).toBe(204);
      expect(await readToken(s.store, s.owner, 'fake')).toBe('abc');
      expectError(await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: { token: '' } }), 400);
      expectError(await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: {} }), 400);
      expectError(await s.call('PUT', '/api/v1/owners/nope/tokens/fake', { body: { token: 'a' } }), 400);
      expectError(
        await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/nope`, { body: { token: 'a' } }),
        404,
      );
      expectError(
        await s.call('PUT', `/api/v1/owners/${randomUUID()}/tokens/fake`, {
          key: s.ownerKey,
          body: { token: 'a' },
        }),
        403,
      );
      expect(
        (
          await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, {
            key: s.ownerKey,
            body: { token: 'mine' },
          })
        ).status,
      ).toBe(204);
      expect((await s.call('DELETE', `/api/v1/owners/${s.owner}/tokens/fake`)).status).toBe(204);
      expect(await readToken(s.store, s.owner, 'fake')).toBeNull();
      expectError(await s.call('DELETE', `/api/v1/owners/${s.owner}/tokens/nope`), 404);
    });

    it('the pause switch: {"paused": true} stops the owner’s calls on that provider, validated', async () => {
      const put = (body: unknown, key?: string) =>
        s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body, ...(key ? { key } : {}) });
      expectError(await put({ paused: 'yes' }), 400);
      expectError(await put({ token: 'a', extra: 1 }), 400);
      expect((await put({ token: 'tok', paused: true })).status).toBe(204);
      const chat = await createChat();
      await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'held' } });
      s.host.openPull('acme/app', { head_branch: 'held' });
      const calls = s.host.calls.find + s.host.calls.fetch;
      expectError(await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`), 409, 'paused');
      expect(s.host.calls.find + s.host.calls.fetch).toBe(calls);
      const budget = await s.call('GET', `/api/v1/owners/${s.owner}/budget`, { key: s.ownerKey });
      expect(budget.status).toBe(200);
      expect(
        budget.json.providers.find((p: { provider_id: string }) => p.provider_id === 'fake'),
      ).toMatchObject({
        token: 'own',
        paused: true,
        stretched: false,
        limit: null,
      });
      expect((await put({ paused: false }, s.ownerKey)).status).toBe(204);
      expect((await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`)).json).toMatchObject({
        outcome: 'updated',
      });
      expectError(await s.call('GET', `/api/v1/owners/${randomUUID()}/budget`, { key: s.ownerKey }), 403);
      expectError(await s.call('GET', '/api/v1/owners/nope/budget'), 400);
    });
  });

  it('unknown routes are a JSON 404', async () => {
    expectError(await s.call('GET', '/api/v1/nothing'), 404, 'not_found');
  });
});
