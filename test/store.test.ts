import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addMs } from '../src/core/clock.ts';
import { ConflictError, NotFoundError } from '../src/core/errors.ts';
import { emptyPrFields } from '../src/core/types.ts';
import type { SqlStore } from '../src/store/sql-store.ts';
import type { RefWrite } from '../src/store/store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';
import { createTestStore, DATABASE_KINDS, type TestDatabase } from './helpers/databases.ts';
import { readToken } from './helpers/tokens.ts';

const T0 = new Date('2026-03-01T12:00:00.000Z');
const at = (s: number) => addMs(T0, s * 1000);

describe.each(DATABASE_KINDS)('store on %s', (kind) => {
  let test: TestDatabase & { store: SqlStore };
  let store: SqlStore;
  const owner = randomUUID();

  beforeEach(async () => {
    test = await createTestStore(kind);
    store = test.store;
  });
  afterEach(() => test.drop());

  const chat = async (
    opts: { parent?: string; workspace?: string; title?: string; when?: Date; owner?: string } = {},
  ) => {
    const id = randomUUID();
    const { chat } = await store.putChat(
      {
        id,
        owner_id: opts.owner ?? owner,
        parent_chat_id: opts.parent,
        workspace_id: opts.workspace,
        title: opts.title,
      },
      opts.when ?? T0,
    );
    return chat;
  };

  describe('chats', () => {
    it('creates a root chat whose root is itself, then updates only the given fields', async () => {
      const ws = randomUUID();
      const id = randomUUID();
      const first = await store.putChat({ id, owner_id: owner, workspace_id: ws, title: 'one' }, T0);
      expect(first.created).toBe(true);
      expect(first.chat).toMatchObject({
        id,
        owner_id: owner,
        workspace_id: ws,
        root_chat_id: id,
        parent_chat_id: null,
      });
      expect(first.chat).toMatchObject({
        title: 'one',
        archived: false,
        diff_status: null,
        diff_statuses: [],
        children: [],
      });
      const second = await store.putChat({ id, owner_id: owner, title: 'two' }, at(5));
      expect(second.created).toBe(false);
      expect(second.chat).toMatchObject({
        title: 'two',
        workspace_id: ws,
        created_at: T0,
        updated_at: at(5),
      });
    });

    it('refuses an owner change and a parent change with a conflict', async () => {
      const parent = await chat();
      const c = await chat();
      await expect(store.putChat({ id: c.id, owner_id: randomUUID() }, T0)).rejects.toBeInstanceOf(
        ConflictError,
      );
      await expect(
        store.putChat({ id: c.id, owner_id: owner, parent_chat_id: parent.id }, T0),
      ).rejects.toBeInstanceOf(ConflictError);
    });

    it('rejects an unknown parent and another owner’s parent', async () => {
      await expect(
        store.putChat({ id: randomUUID(), owner_id: owner, parent_chat_id: randomUUID() }, T0),
      ).rejects.toMatchObject({ kind: 'bad_input' });
      const foreign = await chat({ owner: randomUUID() });
      await expect(
        store.putChat({ id: randomUUID(), owner_id: owner, parent_chat_id: foreign.id }, T0),
      ).rejects.toMatchObject({ kind: 'bad_input' });
    });

    it('gives children the root of their tree and embeds them in the parent', async () => {
      const root = await chat();
      const child = await chat({ parent: root.id });
      const grandchild = await chat({ parent: child.id });
      expect(grandchild.root_chat_id).toBe(root.id);
      const view = await store.getChat(root.id);
      expect(view?.children.map((c) => c.id)).toEqual([child.id]);
      expect(view?.children[0]?.children.map((c) => c.id)).toEqual([grandchild.id]);
    });

    it('archiving a root archives its whole subtree and its refs stop being claimable', async () => {
      const root = await chat();
      const child = await chat({ parent: root.id });
      const grandchild = await chat({ parent: child.id });
      await store.recordRefReport(
        { chat_id: grandchild.id, origin: 'https://x.test/o/r', branch: 'b', provider_id: null },
        T0,
      );
      const archived = await store.archiveChat(root.id, at(1));
      expect(archived.archived).toBe(true);
      expect(archived.children[0]?.archived).toBe(true);
      expect(archived.children[0]?.children[0]?.archived).toBe(true);
      expect(await store.claimStaleRefs(at(10), 10, at(300))).toEqual([]);
      await store.unarchiveChat(root.id, at(2));
      const back = await store.getChat(grandchild.id);
      expect(back?.archived).toBe(false);
      expect(await store.claimStaleRefs(at(10), 10, at(300))).toHaveLength(1);
    });

    it('a child may be archived alone; unarchiving it under an archived parent is refused', async () => {
      const root = await chat();
      const child = await chat({ parent: root.id });
      await store.archiveChat(child.id, at(1));
      expect((await store.getChat(root.id))?.archived).toBe(false);
      await store.archiveChat(root.id, at(2));
      await expect(store.unarchiveChat(child.id, at(3))).rejects.toBeInstanceOf(ConflictError);
      expect((await store.getChat(child.id))?.archived).toBe(true);
      await store.unarchiveChat(root.id, at(4));
      expect((await store.getChat(child.id))?.archived).toBe(false);
    });

    it('a child created under an archived parent is created archived', async () => {
      const root = await chat();
      await store.archiveChat(root.id, at(1));
      const child = await chat({ parent: root.id });
      expect(child.archived).toBe(true);
    });

    it('lists roots only, newest first, children filtered by the archive filter', async () => {
      const older = await chat({ when: at(1) });
      const newer = await chat({ when: at(2) });
      const activeChild = await chat({ parent: newer.id, when: at(3) });
      const archivedChild = await chat({ parent: newer.id, when: at(4) });
      await store.archiveChat(archivedChild.id, at(5));
      const archivedRoot = await chat({ when: at(6) });
      await store.archiveChat(archivedRoot.id, at(7));

      const active = await store.listChats({ owner_id: owner, archived: false, limit: 50 });
      expect(active.chats.map((c) => c.id)).toEqual([newer.id, older.id]);
      expect(active.chats[0]?.children.map((c) => c.id)).toEqual([activeChild.id]);
      expect(active.next_cursor).toBeNull();

      const archived = await store.listChats({ owner_id: owner, archived: true, limit: 50 });
      expect(archived.chats.map((c) => c.id)).toEqual([archivedRoot.id]);

      // GET of one chat embeds every child, archived or not.
      const one = await store.getChat(newer.id);
      expect(one?.children.map((c) => [c.id, c.archived])).toEqual([
        [archivedChild.id, true],
        [activeChild.id, false],
      ]);
    });

    it('pages through roots with a cursor and rejects a forged cursor', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.unshift((await chat({ when: at(i) })).id);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listChats({ owner_id: owner, archived: false, limit: 2, cursor });
        seen.push(...page.chats.map((c) => c.id));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual(ids);
      await expect(store.listChats({ archived: false, limit: 2, cursor: 'bm9wZQ' })).rejects.toMatchObject({
        kind: 'bad_input',
      });
    });

    it('scopes by owner: another owner’s chat is not found', async () => {
      const c = await chat();
      const stranger = randomUUID();
      expect(await store.getChat(c.id, stranger)).toBeNull();
      await expect(store.archiveChat(c.id, T0, stranger)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.deleteChat(c.id, stranger)).rejects.toBeInstanceOf(NotFoundError);
      expect((await store.listChats({ owner_id: stranger, archived: false, limit: 50 })).chats).toEqual([]);
    });

    it('deleting a chat removes its subtree and refs', async () => {
      const root = await chat();
      const child = await chat({ parent: root.id });
      await store.recordRefReport(
        { chat_id: child.id, origin: 'https://x.test/o/r', branch: 'b', provider_id: null },
        T0,
      );
      expect(await store.deleteChat(root.id)).toEqual({ id: root.id, owner_id: owner });
      expect(await store.getChat(child.id)).toBeNull();
      expect(await store.claimStaleRefs(at(10), 10, at(300))).toEqual([]);
      await expect(store.deleteChat(root.id)).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('refs', () => {
    it('a report makes the ref due one second ago and primary; a repeat keeps the stored URL', async () => {
      const c = await chat();
      const a = await store.recordRefReport(
        { chat_id: c.id, origin: 'https://x.test/o/r', branch: 'a', provider_id: 'p' },
        at(0),
      );
      expect(a).toMatchObject({
        stale_at: at(-1),
        updated_at: at(0),
        created_at: at(0),
        url: null,
        error_count: 0,
      });
      await store.recordRefReport(
        { chat_id: c.id, origin: 'https://x.test/o/r', branch: 'b', provider_id: 'p' },
        at(1),
      );
      expect((await store.getChat(c.id))?.diff_status?.git_branch).toBe('b');
      const [claimed] = await store.claimStaleRefs(at(2), 1, at(302));
      await store.writeRefreshes([
        { ...writeFor(claimed!), pr: { ...emptyPrFields(), url: 'https://x.test/o/r/pull/1' } },
      ]);
      const again = await store.recordRefReport(
        { chat_id: c.id, origin: 'https://x.test/o/r', branch: claimed!.git_branch, provider_id: 'p' },
        at(3),
      );
      expect(again?.url).toBe('https://x.test/o/r/pull/1');
      expect(
        await store.recordRefReport(
          { chat_id: randomUUID(), origin: 'o', branch: 'b', provider_id: null },
          T0,
        ),
      ).toBeNull();
    });

    it('claims due rows stalest first, up to the limit, pushing them a lease ahead with the owner', async () => {
      const c = await chat();
      for (let i = 0; i < 5; i++) {
        await store.recordRefReport(
          { chat_id: c.id, origin: 'https://x.test/o/r', branch: `b${i}`, provider_id: null },
          at(i),
        );
      }
      const first = await store.claimStaleRefs(at(10), 3, at(310));
      expect(first.map((r) => r.git_branch)).toEqual(['b0', 'b1', 'b2']);
      expect(first.every((r) => r.owner_id === owner && r.stale_at.getTime() === at(310).getTime())).toBe(
        true,
      );
      expect(first.map((r) => r.lease_until)).toEqual([at(310), at(310), at(310)]);
      // Claiming does not touch updated_at, so the primary ref stays the newest report.
      expect(first.map((r) => r.updated_at)).toEqual([at(0), at(1), at(2)]);
      const second = await store.claimStaleRefs(at(10), 10, at(310));
      expect(second.map((r) => r.git_branch)).toEqual(['b3', 'b4']);
      expect(await store.claimStaleRefs(at(10), 10, at(310))).toEqual([]);
    });

    it('a write leaves stale_at alone when a report moved it after the claim', async () => {
      const c = await chat();
      const origin = 'https://x.test/o/r';
      await store.recordRefReport({ chat_id: c.id, origin, branch: 'a', provider_id: null }, at(0));
      const [row] = await store.claimStaleRefs(at(1), 1, at(301));
      await store.recordRefReport({ chat_id: c.id, origin, branch: 'a', provider_id: null }, at(2));
      const result = await store.writeRefreshes([{ ...writeFor(row!), stale_at: at(500) }]);
      expect(result.written.get(row!.id)?.stale_at).toEqual(at(1));
    });

    it('one failing row in a batch write does not stop the others', async () => {
      const c = await chat();
      for (const b of ['a', 'b', 'c']) {
        await store.recordRefReport(
          { chat_id: c.id, origin: 'https://x.test/o/r', branch: b, provider_id: null },
          at(0),
        );
      }
      const rows = await store.claimStaleRefs(at(1), 10, at(301));
      const writes = rows.map((r) => ({
        ...writeFor(r),
        pr: { ...emptyPrFields(), pull_request_title: `ok ${r.git_branch}` },
      }));
      // PostgreSQL text cannot hold NUL: this row's write fails for real.
      writes[1]!.pr.pull_request_title = 'bad \u0000 title';
      const result = await store.writeRefreshes(writes);
      expect([...result.failed.keys()]).toEqual([rows[1]!.id]);
      expect(result.written.size).toBe(2);
      expect(result.written.get(rows[2]!.id)?.pull_request_title).toBe(`ok ${rows[2]!.git_branch}`);
    });

    it('requested_reviewers round-trips as a list (also empty, and null without a PR), batched and row by row', async () => {
      const c = await chat();
      for (const b of ['list', 'empty', 'none', 'bad']) {
        await store.recordRefReport(
          { chat_id: c.id, origin: 'https://x.test/o/r', branch: b, provider_id: null },
          at(0),
        );
      }
      const rows = await store.claimStaleRefs(at(1), 10, at(301));
      const byBranch = (b: string) => rows.find((r) => r.git_branch === b)!;
      // Quotes, a backslash, braces and a comma: what array and JSON text must both escape.
      const list = [
        { kind: 'user' as const, name: 'al"ice\\' },
        { kind: 'team' as const, name: 'acme/{core},ops' },
      ];
      const pr = (requested: typeof list | null) => ({ ...emptyPrFields(), requested_reviewers: requested });
      const batched = await store.writeRefreshes([
        { ...writeFor(byBranch('list')), pr: pr(list) },
        { ...writeFor(byBranch('empty')), pr: pr([]) },
        { ...writeFor(byBranch('none')), pr: pr(null) },
      ]);
      expect(batched.failed.size).toBe(0);
      expect(batched.written.get(byBranch('list').id)?.requested_reviewers).toEqual(list);
      expect(batched.written.get(byBranch('empty').id)?.requested_reviewers).toEqual([]);
      expect(batched.written.get(byBranch('none').id)?.requested_reviewers).toBeNull();
      // A failing row sends the batch row by row: the list survives that path too.
      const bad = { ...pr(list), pull_request_title: 'bad \u0000 title' };
      const oneByOne = await store.writeRefreshes([
        { ...writeFor(byBranch('bad')), pr: bad },
        { ...writeFor(byBranch('empty')), pr: pr(list) },
      ]);
      expect([...oneByOne.failed.keys()]).toEqual([byBranch('bad').id]);
      expect(oneByOne.written.get(byBranch('empty').id)?.requested_reviewers).toEqual(list);
      // Every read gives an array back, not JSON text.
      const read = await store.getChat(c.id);
      const stored = Object.fromEntries(
        read!.diff_statuses.map((d) => [d.git_branch, d.requested_reviewers]),
      );
      expect(stored).toEqual({ list, empty: list, none: null, bad: null });
      expect(
        Array.isArray((await store.getRef(c.id, 'https://x.test/o/r', 'list'))?.requested_reviewers),
      ).toBe(true);
    });

    it('marks refs stale by repository branch or by PR URL, skipping archived chats', async () => {
      const c = await chat();
      const archived = await chat();
      const origin = 'https://x.test/o/r';
      for (const id of [c.id, archived.id])
        await store.recordRefReport({ chat_id: id, origin, branch: 'a', provider_id: null }, at(0));
      await store.archiveChat(archived.id, at(0));
      const [row] = await store.claimStaleRefs(at(1), 10, at(301));
      await store.writeRefreshes([
        { ...writeFor(row!), pr: { ...emptyPrFields(), url: `${origin}/pull/7` }, stale_at: at(200) },
      ]);
      expect((await store.markRefsStale({ origin, branch: 'a' }, at(5))).map((s) => s.chat_id)).toEqual([
        c.id,
      ]);
      await store.writeRefreshes([
        {
          ...writeFor(row!),
          lease_until: null,
          pr: { ...emptyPrFields(), url: `${origin}/pull/7` },
          stale_at: at(200),
        },
      ]);
      expect(
        (await store.markRefsStale({ origin: 'other', url: `${origin}/pull/7` }, at(6))).map(
          (s) => s.chat_id,
        ),
      ).toEqual([c.id]);
    });

    it('marks refs stale by their stored head commit, in any repository (a commit status names no branch)', async () => {
      const c = await chat();
      const fork = await chat();
      const head = 'a'.repeat(40);
      await store.recordRefReport(
        { chat_id: c.id, origin: 'https://x.test/o/r', branch: 'f', provider_id: null },
        at(0),
      );
      await store.recordRefReport(
        { chat_id: fork.id, origin: 'https://x.test/me/r', branch: 'f', provider_id: null },
        at(0),
      );
      await store.recordRefReport(
        { chat_id: c.id, origin: 'https://x.test/o/r', branch: 'g', provider_id: null },
        at(0),
      );
      const rows = await store.claimStaleRefs(at(1), 10, at(301));
      await store.writeRefreshes(
        rows.map((row) => ({
          ...writeFor(row),
          pr: { ...emptyPrFields(), head_sha: row.git_branch === 'f' ? head : 'b'.repeat(40) },
          stale_at: at(200),
        })),
      );
      const marked = await store.markRefsStale({ origin: '', head_sha: head }, at(5));
      expect(marked.map((s) => s.chat_id).sort()).toEqual([c.id, fork.id].sort());
      expect(marked.every((s) => s.git_branch === 'f')).toBe(true);
      // Without a head commit the match is what it was: nothing of `origin` '' is marked.
      expect(await store.markRefsStale({ origin: '' }, at(6))).toEqual([]);
    });

    it('signals the refs a mark names until a refresh answers that signal, keeping a later one', async () => {
      const c = await chat();
      const origin = 'https://x.test/o/r';
      await store.recordRefReport({ chat_id: c.id, origin, branch: 'a', provider_id: null }, at(0));
      const [first] = await store.claimStaleRefs(at(1), 10, at(301));
      expect(first!.signal_at).toBeNull();
      await store.writeRefreshes([{ ...writeFor(first!), stale_at: at(200) }]);
      // A webhook names the ref: due now, and its next claim (on any replica) carries the signal.
      await store.markRefsStale({ origin, branch: 'a' }, at(5));
      const [signalled] = await store.claimStaleRefs(at(6), 10, at(306));
      expect(signalled!.signal_at).toEqual(at(5));
      // Another delivery lands during that refresh: the write answers the first signal only.
      await store.markRefsStale({ origin, branch: 'a' }, at(7));
      await store.writeRefreshes([
        { ...writeFor(signalled!), signal_at: signalled!.signal_at, stale_at: at(200) },
      ]);
      const [again] = await store.claimStaleRefs(at(8), 10, at(308));
      expect(again!.signal_at).toEqual(at(7));
      // A failed refresh answers none; a read answers it.
      await store.writeRefreshes([{ ...writeFor(again!), signal_at: null, stale_at: at(9) }]);
      const [retry] = await store.claimStaleRefs(at(10), 10, at(310));
      expect(retry!.signal_at).toEqual(at(7));
      await store.writeRefreshes([{ ...writeFor(retry!), signal_at: retry!.signal_at, stale_at: at(200) }]);
      expect(await store.claimStaleRefs(at(11), 10, at(311))).toEqual([]);
      expect((await store.getRef(c.id, origin, 'a'))!.signal_at).toBeNull();
      // A ref already due is signalled all the same, keeping its place in the queue.
      await store.writeRefreshes([{ ...writeFor(retry!), lease_until: null, stale_at: at(12) }]);
      await store.markRefsStale({ origin, branch: 'a' }, at(20));
      const [due] = await store.claimStaleRefs(at(21), 10, at(321));
      expect(due).toMatchObject({ signal_at: at(20) });
      // Due and signalled, then "refresh now" starts (answering what it sees at 22) and a delivery
      // lands at 25 during it: the later signal replaces the earlier one and outlives that write.
      await store.writeRefreshes([{ ...writeFor(due!), lease_until: null, stale_at: at(21) }]);
      await store.markRefsStale({ origin, branch: 'a' }, at(25));
      await store.writeRefreshes([
        { ...writeFor(due!), lease_until: null, signal_at: at(22), stale_at: at(200) },
      ]);
      expect((await store.getRef(c.id, origin, 'a'))!.signal_at).toEqual(at(25));
    });
  });

  describe('tokens', () => {
    it('stores, replaces and deletes an owner’s token', async () => {
      await store.putToken(owner, 'github', 'ghp_one', T0);
      await store.putToken(owner, 'github', 'ghp_two', T0);
      expect(await readToken(store, owner, 'github')).toBe('ghp_two');
      expect(await readToken(store, owner, 'gitlab')).toBeNull();
      expect(await store.deleteToken(owner, 'github')).toBe(true);
      expect(await store.deleteToken(owner, 'github')).toBe(false);
    });

    it('with an encryption key the database never holds the token in clear text', async () => {
      const key = TokenCipher.fromSetting('11'.repeat(32));
      const sealed = await createTestStore(kind, key);
      try {
        await sealed.store.putToken(owner, 'github', 'ghp_secret_value', T0);
        const raw = await sealed.db.query<{ secret: string }>('SELECT secret FROM owner_tokens');
        expect(raw.rows[0]?.secret).toMatch(/^aes256gcm:/);
        expect(raw.rows[0]?.secret).not.toContain('ghp_secret_value');
        expect(await readToken(sealed.store, owner, 'github')).toBe('ghp_secret_value');
        // The same rows read without the key give a clear error, never garbage.
        const { SqlStore } = await import('../src/store/sql-store.ts');
        const keyless = new SqlStore(sealed.db, new TokenCipher(null));
        await expect(readToken(keyless, owner, 'github')).rejects.toThrow(
          /GITSYNC_ENCRYPTION_KEY is not set/,
        );
      } finally {
        await sealed.drop();
      }
    });
  });
});

/** A write that leaves the claimed row as it is (tests change what they need). */
function writeFor(row: Awaited<ReturnType<SqlStore['claimStaleRefs']>>[number]): RefWrite {
  return {
    id: row.id,
    lease_until: row.lease_until,
    pr: emptyPrFields(),
    provider_id: row.provider_id,
    refreshed_at: row.refreshed_at,
    stale_at: row.stale_at,
    last_error: row.last_error,
    last_error_at: row.last_error_at,
    error_count: row.error_count,
    paused_until: row.paused_until,
    pr_changed_at: row.pr_changed_at,
    previous_prs: row.previous_prs,
    publish: false,
  };
}
