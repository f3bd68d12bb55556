import { BadInputError, ConflictError, NotFoundError, RateLimitedError } from '../core/errors.ts';
import { DEFAULT_LIMITS } from '../core/limits.ts';
import type { ChangeEvent } from '../core/types.ts';
import { type Chat, type ChatView, type DiffStatus, UUID_PATTERN } from '../core/types.ts';
import type { Database, Tx } from './database.ts';
import { isMigrated } from './migrate.ts';
import {
  type ApiKeyRecord,
  type ChatInput,
  type ChatLimits,
  type ClaimedRef,
  type ListChatsQuery,
  type Outbox,
  type RefReport,
  type RefWrite,
  type StaleMatch,
  type Store,
  tokenKey,
  type WriteResult,
} from './store.ts';
import type { TokenCipher } from './token-cipher.ts';

const DIFF_STATUS_COLUMNS = [
  'chat_id',
  'git_remote_origin',
  'git_branch',
  'provider_id',
  'url',
  'pull_request_state',
  'pull_request_title',
  'pull_request_draft',
  'changes_requested',
  'approved',
  'reviewer_count',
  'additions',
  'deletions',
  'changed_files',
  'commits',
  'pr_number',
  'author_login',
  'author_avatar_url',
  'base_branch',
  'head_branch',
  'refreshed_at',
  'stale_at',
  'created_at',
  'updated_at',
  'last_error',
  'last_error_at',
  'error_count',
  'paused_until',
] as const satisfies readonly (keyof DiffStatus)[];

const API_KEY_COLUMNS = 'id, name, owner_id, admin, scope, created_at';

const CHAT_COLUMNS =
  'id, owner_id, workspace_id, parent_chat_id, root_chat_id, title, archived, created_at, updated_at';

type Row = Record<string, unknown>;

function toDiffStatus(row: Row): DiffStatus {
  const out: Row = {};
  for (const c of DIFF_STATUS_COLUMNS) out[c] = row[c];
  return out as unknown as DiffStatus;
}

function toClaimed(row: Row): ClaimedRef {
  return {
    ...toDiffStatus(row),
    id: String(row.id),
    owner_id: String(row.owner_id),
    pr_changed_at: (row.pr_changed_at as Date | null) ?? null,
  };
}

/** Refs primary first: the most recently reported, ties broken so the order is stable. */
function byPrimary(a: DiffStatus, b: DiffStatus): number {
  return (
    b.updated_at.getTime() - a.updated_at.getTime() ||
    a.git_remote_origin.localeCompare(b.git_remote_origin) ||
    a.git_branch.localeCompare(b.git_branch)
  );
}

/** Cursor for keyset pagination over (updated_at DESC, id DESC). */
function encodeCursor(chat: Chat): string {
  return Buffer.from(`${chat.updated_at.toISOString()}|${chat.id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const [at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  // Exactly what encodeCursor writes: an ISO time that reads back the same, and a UUID.
  if (
    rest.length > 0 ||
    !id ||
    !UUID_PATTERN.test(id) ||
    Number.isNaN(date.getTime()) ||
    date.toISOString() !== at ||
    date.getUTCFullYear() > 9999
  ) {
    throw new BadInputError('cursor is not one this service returned');
  }
  return [date, id];
}

/** `a, b` → `p.a, p.b`. */
const prefixed = (alias: string, columns: string) =>
  columns
    .split(',')
    .map((c) => `${alias}.${c.trim()}`)
    .join(', ');

/** How long a caller over a quota is told to wait: quotas free up only when something is deleted. */
const QUOTA_RETRY_MS = 60_000;

/** The one Store implementation, over a pg-compatible pool (PostgreSQL or PGlite). */
export class SqlStore implements Store {
  constructor(
    readonly db: Database,
    private readonly cipher: TokenCipher,
    /** Where change events are written, in the transaction of each change; none: not published. */
    private readonly outbox?: Outbox,
  ) {}

  /**
   * One transaction whose change events (pushed onto `events` by `fn`) are written through the
   * outbox before it commits, and delivered in-process after.
   */
  async #publishing<T>(fn: (tx: Tx, events: ChangeEvent[]) => Promise<T>): Promise<T> {
    let afterCommit: (() => void) | undefined;
    const result = await this.db.transaction(async (tx) => {
      const events: ChangeEvent[] = [];
      const value = await fn(tx, events);
      if (events.length > 0 && this.outbox) afterCommit = await this.outbox.write(tx, events);
      return value;
    });
    afterCommit?.();
    return result;
  }

  // ---- chats -------------------------------------------------------------------------------

  async putChat(
    input: ChatInput,
    now: Date,
    limits: ChatLimits = DEFAULT_LIMITS,
  ): Promise<{ chat: ChatView; created: boolean; changed: boolean }> {
    return this.#publishing(async (tx, events) => {
      const { created, changed } = await this.#putChatRow(tx, input, now, limits);
      const chat = await this.#mustGetChat(tx, input.id);
      if (created) events.push({ kind: 'chat_created', chat });
      else if (changed) events.push({ kind: 'chat_updated', chat });
      return { chat, created, changed };
    });
  }

  async #putChatRow(
    tx: Tx,
    input: ChatInput,
    now: Date,
    limits: ChatLimits,
  ): Promise<{ created: boolean; changed: boolean }> {
    {
      const existing = await tx.query<Chat>(`SELECT ${CHAT_COLUMNS} FROM chats WHERE id = $1 FOR UPDATE`, [
        input.id,
      ]);
      const chat = existing.rows[0];
      if (chat) {
        if (chat.owner_id !== input.owner_id) throw new ConflictError('a chat cannot change owner');
        if (input.parent_chat_id !== undefined && input.parent_chat_id !== chat.parent_chat_id) {
          throw new ConflictError('a chat cannot change parent');
        }
        const workspace = input.workspace_id === undefined ? chat.workspace_id : input.workspace_id;
        const title = input.title ?? chat.title;
        const changed = workspace !== chat.workspace_id || title !== chat.title;
        if (changed) {
          await tx.query('UPDATE chats SET workspace_id = $2, title = $3, updated_at = $4 WHERE id = $1', [
            input.id,
            workspace,
            title,
            now,
          ]);
        }
        return { created: false, changed };
      }
      let root = input.id;
      let archived = false;
      if (input.parent_chat_id) {
        if (input.parent_chat_id === input.id) throw new BadInputError('a chat cannot be its own parent');
        // FOR SHARE: an archive of the parent running now finishes first, so the child sees it.
        const parent = await tx.query<Chat>(`SELECT ${CHAT_COLUMNS} FROM chats WHERE id = $1 FOR SHARE`, [
          input.parent_chat_id,
        ]);
        const p = parent.rows[0];
        if (!p || p.owner_id !== input.owner_id)
          throw new BadInputError('parent_chat_id names no chat of this owner');
        root = p.root_chat_id;
        archived = p.archived;
        await this.#checkNesting(tx, p.id, limits);
      }
      const owned = await tx.query<{ n: string }>('SELECT count(*) AS n FROM chats WHERE owner_id = $1', [
        input.owner_id,
      ]);
      if (Number(owned.rows[0]?.n ?? 0) >= limits.chats_per_owner) {
        throw new RateLimitedError(
          new Date(now.getTime() + QUOTA_RETRY_MS),
          `this owner has ${limits.chats_per_owner} chats, the most allowed; delete some first`,
          { code: 'quota_exceeded' },
        );
      }
      await tx.query(`INSERT INTO chats (${CHAT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`, [
        input.id,
        input.owner_id,
        input.workspace_id ?? null,
        input.parent_chat_id ?? null,
        root,
        input.title ?? '',
        archived,
        now,
      ]);
      return { created: true, changed: true };
    }
  }

  /** A new child of `parentId` must stay within the depth and width limits. */
  async #checkNesting(tx: Tx, parentId: string, limits: ChatLimits): Promise<void> {
    const up = await tx.query<{ depth: number }>(
      `WITH RECURSIVE up AS (
         SELECT id, parent_chat_id, 1 AS depth FROM chats WHERE id = $1
         UNION ALL
         SELECT c.id, c.parent_chat_id, up.depth + 1 FROM chats c JOIN up ON c.id = up.parent_chat_id
         WHERE up.depth <= $2)
       SELECT max(depth) AS depth FROM up`,
      [parentId, limits.chat_depth],
    );
    if ((up.rows[0]?.depth ?? 0) + 1 > limits.chat_depth) {
      throw new BadInputError(`sub-agent chats may nest at most ${limits.chat_depth} deep`, {
        code: 'chat_too_deep',
      });
    }
    const siblings = await tx.query<{ n: string }>(
      'SELECT count(*) AS n FROM chats WHERE parent_chat_id = $1',
      [parentId],
    );
    if (Number(siblings.rows[0]?.n ?? 0) >= limits.children_per_chat) {
      throw new ConflictError(`a chat may have at most ${limits.children_per_chat} sub-agent chats`, {
        code: 'too_many_children',
      });
    }
  }

  async archiveChat(id: string, now: Date, owner?: string): Promise<ChatView> {
    return this.#treeTransaction(async (tx, events) => {
      await this.lockOwnedChat(tx, id, owner);
      await this.setSubtreeArchived(tx, id, true, now);
      const chat = await this.#mustGetChat(tx, id);
      events.push({ kind: 'chat_archived', chat });
      return chat;
    });
  }

  async unarchiveChat(id: string, now: Date, owner?: string): Promise<ChatView> {
    return this.#treeTransaction(async (tx, events) => {
      // Lock the child, then re-read the parent in the same transaction: an archive of the
      // parent either committed before (we refuse) or waits for us and re-archives after.
      const chat = await this.lockOwnedChat(tx, id, owner);
      if (chat.parent_chat_id) {
        const parent = await tx.query<{ archived: boolean }>(
          'SELECT archived FROM chats WHERE id = $1 FOR SHARE',
          [chat.parent_chat_id],
        );
        if (parent.rows[0]?.archived) {
          throw new ConflictError('cannot unarchive a chat whose parent is archived; unarchive the parent');
        }
      }
      await this.setSubtreeArchived(tx, id, false, now);
      const view = await this.#mustGetChat(tx, id);
      events.push({ kind: 'chat_unarchived', chat: view });
      return view;
    });
  }

  /**
   * A transaction that changes a chat tree. Each locks the tree's root row first (in
   * `lockOwnedChat`), so archives and unarchives of one tree take turns instead of locking its
   * rows in opposite orders; a deadlock that still happens (PostgreSQL 40P01) is retried.
   */
  async #treeTransaction<T>(fn: (tx: Tx, events: ChangeEvent[]) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#publishing(fn);
      } catch (error) {
        if ((error as { code?: string }).code !== '40P01' || attempt >= 3) throw error;
      }
    }
  }

  private async lockOwnedChat(tx: Tx, id: string, owner?: string): Promise<Chat> {
    // The root first: see #treeTransaction. A root never changes (parents cannot change).
    await tx.query(
      'SELECT 1 FROM chats WHERE id = (SELECT root_chat_id FROM chats WHERE id = $1) FOR UPDATE',
      [id],
    );
    const r = await tx.query<Chat>(`SELECT ${CHAT_COLUMNS} FROM chats WHERE id = $1 FOR UPDATE`, [id]);
    const chat = r.rows[0];
    if (!chat || (owner !== undefined && chat.owner_id !== owner))
      throw new NotFoundError(`chat ${id} not found`);
    return chat;
  }

  private async setSubtreeArchived(tx: Tx, id: string, archived: boolean, now: Date): Promise<void> {
    const subtree = `WITH RECURSIVE subtree AS (
        SELECT id FROM chats WHERE id = $1
        UNION ALL SELECT c.id FROM chats c JOIN subtree s ON c.parent_chat_id = s.id)`;
    await tx.query(
      `${subtree} UPDATE chats SET archived = $2, updated_at = $3
       WHERE id IN (SELECT id FROM subtree) AND archived <> $2`,
      [id, archived, now],
    );
    await tx.query(
      `${subtree} UPDATE diff_statuses SET chat_archived = $2
       WHERE chat_id IN (SELECT id FROM subtree) AND chat_archived <> $2`,
      [id, archived],
    );
  }

  async deleteChat(id: string, owner?: string): Promise<Pick<Chat, 'id' | 'owner_id'>> {
    return this.#publishing(async (tx, events) => {
      const r = await tx.query<Chat>(
        'DELETE FROM chats WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2) RETURNING id, owner_id',
        [id, owner ?? null],
      );
      const row = r.rows[0];
      if (!row) throw new NotFoundError(`chat ${id} not found`);
      const chat = { id: row.id, owner_id: row.owner_id };
      events.push({ kind: 'chat_deleted', chat });
      return chat;
    });
  }

  async #mustGetChat(q: Tx, id: string): Promise<ChatView> {
    const chat = (await this.#getChats(q, [id])).get(id);
    if (!chat) throw new NotFoundError(`chat ${id} not found`);
    return chat;
  }

  async getChat(id: string, owner?: string): Promise<ChatView | null> {
    const chat = (await this.getChats([id])).get(id) ?? null;
    return chat && (owner === undefined || chat.owner_id === owner) ? chat : null;
  }

  /**
   * Each chat with all of its descendants (archived or not) and every ref, in two queries. Only
   * the chats' own subtrees are read, not their whole trees: a write deep in a large tree stays
   * cheap.
   */
  getChats(ids: readonly string[]): Promise<Map<string, ChatView>> {
    return this.#getChats(this.db, ids);
  }

  async #getChats(q: Tx, ids: readonly string[]): Promise<Map<string, ChatView>> {
    const out = new Map<string, ChatView>();
    if (ids.length === 0) return out;
    const trees = await q.query<Chat>(
      `WITH RECURSIVE subtree AS (
         SELECT ${CHAT_COLUMNS} FROM chats WHERE id = ANY($1::uuid[])
         UNION
         SELECT ${prefixed('c', CHAT_COLUMNS)} FROM chats c JOIN subtree s ON c.parent_chat_id = s.id)
       SELECT * FROM subtree`,
      [ids],
    );
    const views = await this.buildViews(trees.rows, q);
    for (const id of ids) {
      const view = views.get(id);
      if (view) out.set(id, view);
    }
    return out;
  }

  async listChats(q: ListChatsQuery): Promise<{ chats: ChatView[]; next_cursor: string | null }> {
    const [afterAt, afterId] = q.cursor ? decodeCursor(q.cursor) : [null, null];
    const roots = await this.db.query<Chat>(
      `SELECT ${CHAT_COLUMNS} FROM chats
       WHERE parent_chat_id IS NULL AND archived = $1 AND ($2::uuid IS NULL OR owner_id = $2)
         AND ($3::timestamptz IS NULL OR (updated_at, id) < ($3, $4::uuid))
       ORDER BY updated_at DESC, id DESC LIMIT $5`,
      [q.archived, q.owner_id ?? null, afterAt, afterId, q.limit + 1],
    );
    const page = roots.rows.slice(0, q.limit);
    const more = roots.rows.length > q.limit;
    if (page.length === 0) return { chats: [], next_cursor: null };
    const all = await this.db.query<Chat>(
      `SELECT ${CHAT_COLUMNS} FROM chats WHERE root_chat_id = ANY($1::uuid[]) AND archived = $2`,
      [page.map((c) => c.id), q.archived],
    );
    const views = await this.buildViews(all.rows);
    const chats = page.map((c) => views.get(c.id)).filter((v): v is ChatView => v !== undefined);
    return { chats, next_cursor: more ? encodeCursor(page.at(-1)!) : null };
  }

  /** Builds views for the given chats with refs attached and children nested (by recency). */
  private async buildViews(chats: Chat[], q: Tx = this.db): Promise<Map<string, ChatView>> {
    const refs = await q.query(
      `SELECT ${DIFF_STATUS_COLUMNS.join(', ')} FROM diff_statuses WHERE chat_id = ANY($1::uuid[])`,
      [chats.map((c) => c.id)],
    );
    const views = new Map<string, ChatView>();
    for (const c of chats) views.set(c.id, { ...c, diff_status: null, diff_statuses: [], children: [] });
    for (const row of refs.rows) views.get(String(row.chat_id))?.diff_statuses.push(toDiffStatus(row));
    for (const v of views.values()) {
      v.diff_statuses.sort(byPrimary);
      v.diff_status = v.diff_statuses[0] ?? null;
      if (v.parent_chat_id) views.get(v.parent_chat_id)?.children.push(v);
    }
    for (const v of views.values()) {
      v.children.sort((a, b) => b.updated_at.getTime() - a.updated_at.getTime() || a.id.localeCompare(b.id));
    }
    return views;
  }

  async activeWorkspaceChatIds(workspaceId: string, owner?: string): Promise<string[]> {
    const r = await this.db.query<{ id: string }>(
      `SELECT id FROM chats WHERE workspace_id = $1 AND NOT archived AND ($2::uuid IS NULL OR owner_id = $2)
       ORDER BY created_at, id`,
      [workspaceId, owner ?? null],
    );
    return r.rows.map((row) => row.id);
  }

  // ---- refs --------------------------------------------------------------------------------

  async recordRefReport(
    report: RefReport,
    now: Date,
    maxRefs = DEFAULT_LIMITS.refs_per_chat,
  ): Promise<DiffStatus | null> {
    // Due one second ago so the next claim takes it; updated_at = now makes it the primary ref.
    // A new ref is inserted only while the chat is under its quota; a known one is always updated.
    // Published at once (with the chat), so UIs show the branch before any PR data exists.
    return this.#publishing(async (tx, events) => {
      const r = await tx.query(
        `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, chat_archived, provider_id,
                                  stale_at, created_at, updated_at)
       SELECT c.id, $2, $3, c.archived, $4, $5, $6, $6 FROM chats c WHERE c.id = $1
         AND ((SELECT count(*) FROM diff_statuses WHERE chat_id = $1) < $7
              OR EXISTS (SELECT 1 FROM diff_statuses WHERE chat_id = $1 AND git_remote_origin = $2 AND git_branch = $3))
       ON CONFLICT (chat_id, git_remote_origin, git_branch) DO UPDATE
         SET stale_at = EXCLUDED.stale_at, updated_at = EXCLUDED.updated_at, provider_id = EXCLUDED.provider_id
       RETURNING ${DIFF_STATUS_COLUMNS.join(', ')}`,
        [
          report.chat_id,
          report.origin,
          report.branch,
          report.provider_id,
          new Date(now.getTime() - 1000),
          now,
          maxRefs,
        ],
      );
      if (r.rows[0]) {
        const status = toDiffStatus(r.rows[0]);
        const chat = await this.#mustGetChat(tx, status.chat_id);
        events.push({ kind: 'diff_status_change', chat, changed_diff_status: status });
        return status;
      }
      const exists = await tx.query('SELECT 1 FROM chats WHERE id = $1', [report.chat_id]);
      if (exists.rows.length === 0) return null;
      throw new RateLimitedError(
        new Date(now.getTime() + QUOTA_RETRY_MS),
        `chat ${report.chat_id} already tracks ${maxRefs} refs, the most allowed`,
        { code: 'quota_exceeded' },
      );
    });
  }

  async claimStaleRefs(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedRef[]> {
    // One statement: pick the stalest due rows no other worker holds, push them a lease ahead.
    // `updated_at` is untouched so the primary ref never changes by a claim.
    const r = await this.db.query(
      `WITH due AS (
         SELECT id FROM diff_statuses
         WHERE stale_at <= $1 AND NOT chat_archived AND git_remote_origin <> '' AND git_branch <> ''
         ORDER BY stale_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       )
       UPDATE diff_statuses d SET stale_at = $3
       FROM due, chats c
       WHERE d.id = due.id AND c.id = d.chat_id
       RETURNING d.*, c.owner_id`,
      [now, limit, leaseUntil],
    );
    return r.rows.map(toClaimed);
  }

  async getRef(chatId: string, origin?: string, branch?: string): Promise<ClaimedRef | null> {
    const r = await this.db.query(
      `SELECT d.*, c.owner_id FROM diff_statuses d JOIN chats c ON c.id = d.chat_id
       WHERE d.chat_id = $1 AND ($2::text IS NULL OR d.git_remote_origin = $2) AND ($3::text IS NULL OR d.git_branch = $3)
       ORDER BY d.updated_at DESC, d.git_remote_origin, d.git_branch LIMIT 1`,
      [chatId, origin ?? null, branch ?? null],
    );
    return r.rows[0] ? toClaimed(r.rows[0]) : null;
  }

  async writeRefreshes(writes: readonly RefWrite[]): Promise<WriteResult> {
    const result: WriteResult = { written: new Map(), failed: new Map(), published: 0 };
    if (writes.length === 0) return result;
    try {
      await this.#writeAndPublish(writes, result);
      return result;
    } catch {
      // One bad row must not cost the others their update: fall back to one statement per row.
      for (const w of writes) {
        try {
          await this.#writeAndPublish([w], result);
        } catch (error) {
          result.failed.set(w.id, error);
        }
      }
      return result;
    }
  }

  /**
   * Writes rows and, in the same transaction, a `diff_status_change` for each written row marked
   * `publish`. Without anything to publish it is one statement, no transaction (the common case).
   */
  async #writeAndPublish(writes: readonly RefWrite[], result: WriteResult): Promise<void> {
    const publish = new Set(writes.filter((w) => w.publish).map((w) => w.id));
    const write = async (tx: Tx, events: ChangeEvent[]) => {
      const rows = (await this.#writeBatch(tx, writes)).map((r) => ({
        id: String(r.id),
        status: toDiffStatus(r),
      }));
      const published = rows.filter((r) => publish.has(r.id));
      const chats = await this.#getChats(tx, [...new Set(published.map((r) => r.status.chat_id))]);
      for (const { status } of published) {
        const chat = chats.get(status.chat_id);
        if (chat) events.push({ kind: 'diff_status_change', chat, changed_diff_status: status });
      }
      return { rows, published: events.length };
    };
    const out = publish.size > 0 && this.outbox ? await this.#publishing(write) : await write(this.db, []);
    for (const { id, status } of out.rows) result.written.set(id, status);
    result.published += out.published;
  }

  async #writeBatch(tx: Tx, writes: readonly RefWrite[]): Promise<Row[]> {
    const col = <T>(f: (w: RefWrite) => T) => writes.map(f);
    const r = await tx.query(
      `UPDATE diff_statuses d SET
         url = v.url, pull_request_state = v.state, pull_request_title = v.title, pull_request_draft = v.draft,
         changes_requested = v.changes_requested, approved = v.approved, reviewer_count = v.reviewer_count,
         additions = v.additions, deletions = v.deletions, changed_files = v.changed_files, commits = v.commits,
         pr_number = v.pr_number, author_login = v.author_login, author_avatar_url = v.author_avatar_url,
         base_branch = v.base_branch, head_branch = v.head_branch, provider_id = v.provider_id,
         refreshed_at = v.refreshed_at, last_error = v.last_error, last_error_at = v.last_error_at,
         error_count = v.error_count, paused_until = v.paused_until, pr_changed_at = v.pr_changed_at,
         stale_at = CASE WHEN v.claimed_stale_at IS NULL OR d.stale_at = v.claimed_stale_at
                         THEN v.stale_at ELSE d.stale_at END
       FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::boolean[],
                   $7::boolean[], $8::boolean[], $9::int[], $10::int[], $11::int[], $12::int[], $13::int[],
                   $14::int[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],
                   $20::timestamptz[], $21::timestamptz[], $22::text[], $23::timestamptz[], $24::int[],
                   $25::timestamptz[], $26::timestamptz[])
         AS v(id, claimed_stale_at, url, state, title, draft, changes_requested, approved, reviewer_count,
              additions, deletions, changed_files, commits, pr_number, author_login, author_avatar_url,
              base_branch, head_branch, provider_id, refreshed_at, stale_at, last_error, last_error_at,
              error_count, paused_until, pr_changed_at)
       WHERE d.id = v.id
       RETURNING d.*`,
      [
        col((w) => w.id),
        col((w) => w.claimed_stale_at),
        col((w) => w.pr.url),
        col((w) => w.pr.pull_request_state),
        col((w) => w.pr.pull_request_title),
        col((w) => w.pr.pull_request_draft),
        col((w) => w.pr.changes_requested),
        col((w) => w.pr.approved),
        col((w) => w.pr.reviewer_count),
        col((w) => w.pr.additions),
        col((w) => w.pr.deletions),
        col((w) => w.pr.changed_files),
        col((w) => w.pr.commits),
        col((w) => w.pr.pr_number),
        col((w) => w.pr.author_login),
        col((w) => w.pr.author_avatar_url),
        col((w) => w.pr.base_branch),
        col((w) => w.pr.head_branch),
        col((w) => w.provider_id),
        col((w) => w.refreshed_at),
        col((w) => w.stale_at),
        col((w) => w.last_error),
        col((w) => w.last_error_at),
        col((w) => w.error_count),
        col((w) => w.paused_until),
        col((w) => w.pr_changed_at),
      ],
    );
    return r.rows;
  }

  async markRefsStale(match: StaleMatch, now: Date): Promise<DiffStatus[]> {
    return this.#markRefsStale(this.db, match, now);
  }

  async #markRefsStale(tx: Tx, match: StaleMatch, now: Date): Promise<DiffStatus[]> {
    const r = await tx.query(
      `UPDATE diff_statuses SET stale_at = $4
       WHERE NOT chat_archived AND stale_at > $4
         AND ((lower(git_remote_origin) = lower($1) AND git_branch = $2) OR ($3::text IS NOT NULL AND url = $3))
       RETURNING ${DIFF_STATUS_COLUMNS.join(', ')}`,
      [match.origin, match.branch ?? null, match.url ?? null, now],
    );
    return r.rows.map(toDiffStatus);
  }

  // ---- tokens ------------------------------------------------------------------------------

  async putToken(owner: string, providerId: string, token: string, now: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO owner_tokens (owner_id, provider_id, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (owner_id, provider_id) DO UPDATE SET secret = EXCLUDED.secret, updated_at = EXCLUDED.updated_at`,
      [owner, providerId, this.cipher.seal(token, owner, providerId), now],
    );
  }

  async deleteToken(owner: string, providerId: string): Promise<boolean> {
    const r = await this.db.query('DELETE FROM owner_tokens WHERE owner_id = $1 AND provider_id = $2', [
      owner,
      providerId,
    ]);
    return r.rowCount > 0;
  }

  async getToken(owner: string, providerId: string): Promise<string | null> {
    const r = await this.db.query<{ secret: string }>(
      'SELECT secret FROM owner_tokens WHERE owner_id = $1 AND provider_id = $2',
      [owner, providerId],
    );
    const row = r.rows[0];
    return row ? this.cipher.open(row.secret, owner, providerId) : null;
  }

  async getTokens(
    pairs: readonly { owner: string; provider: string }[],
  ): Promise<Map<string, string | Error>> {
    const out = new Map<string, string | Error>();
    if (pairs.length === 0) return out;
    const r = await this.db.query<{ owner_id: string; provider_id: string; secret: string }>(
      `SELECT t.owner_id, t.provider_id, t.secret FROM owner_tokens t
       JOIN unnest($1::uuid[], $2::text[]) AS p(owner_id, provider_id)
         ON t.owner_id = p.owner_id AND t.provider_id = p.provider_id`,
      [pairs.map((p) => p.owner), pairs.map((p) => p.provider)],
    );
    for (const row of r.rows) {
      let token: string | Error;
      try {
        token = this.cipher.open(row.secret, row.owner_id, row.provider_id);
      } catch (error) {
        token = error as Error;
      }
      out.set(tokenKey(row.owner_id, row.provider_id), token);
    }
    return out;
  }

  async resealTokens(): Promise<{ resealed: number; unreadable: number }> {
    let resealed = 0;
    let unreadable = 0;
    if (!this.cipher.encrypts) return { resealed, unreadable };
    // Only rows in an old format are read; `plain:` and `aes256gcm:` both start like this, the current format does not.
    const r = await this.db.query<{ owner_id: string; provider_id: string; secret: string }>(
      `SELECT owner_id, provider_id, secret FROM owner_tokens
       WHERE secret LIKE 'plain:%' OR (secret LIKE 'aes256gcm:%' AND secret NOT LIKE 'aes256gcm:v2:%')`,
    );
    for (const row of r.rows) {
      if (!this.cipher.needsReseal(row.secret)) continue;
      let token: string;
      try {
        token = this.cipher.open(row.secret, row.owner_id, row.provider_id);
      } catch {
        unreadable++;
        continue;
      }
      // Compare-and-set: a token replaced meanwhile (or re-sealed by another replica) is left alone.
      const updated = await this.db.query(
        'UPDATE owner_tokens SET secret = $4 WHERE owner_id = $1 AND provider_id = $2 AND secret = $3',
        [row.owner_id, row.provider_id, row.secret, this.cipher.seal(token, row.owner_id, row.provider_id)],
      );
      resealed += updated.rowCount;
    }
    return { resealed, unreadable };
  }

  // ---- API keys, webhook deliveries, health ------------------------------------------------

  async createApiKey(key: ApiKeyRecord & { key_hash: string }): Promise<void> {
    await this.db.query(
      `INSERT INTO api_keys (id, name, owner_id, admin, scope, key_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [key.id, key.name, key.owner_id, key.admin, key.scope, key.key_hash, key.created_at],
    );
  }

  async findApiKey(keyHash: string): Promise<ApiKeyRecord | null> {
    const r = await this.db.query<ApiKeyRecord>(
      `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1`,
      [keyHash],
    );
    return r.rows[0] ?? null;
  }

  async apiKeyExists(id: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM api_keys WHERE id = $1', [id])).rows.length > 0;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (
      await this.db.query<ApiKeyRecord>(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`)
    ).rows;
  }

  async deleteApiKey(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM api_keys WHERE id = $1', [id])).rowCount > 0;
  }

  async hasAdminKey(): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM api_keys WHERE admin LIMIT 1')).rows.length > 0;
  }

  async createGeneratedAdminKey(
    key: Pick<ApiKeyRecord, 'id' | 'name' | 'created_at'> & { key_hash: string },
  ): Promise<boolean> {
    // At most one generated admin key (a unique partial index): of replicas starting together, one inserts it.
    const r = await this.db.query(
      `INSERT INTO api_keys (id, name, owner_id, admin, scope, generated, key_hash, created_at)
       VALUES ($1, $2, NULL, true, 'admin', true, $3, $4) ON CONFLICT DO NOTHING`,
      [key.id, key.name, key.key_hash, key.created_at],
    );
    return r.rowCount > 0;
  }

  async deleteAdminKeys(): Promise<number> {
    return (await this.db.query('DELETE FROM api_keys WHERE admin')).rowCount;
  }

  async recordWebhookDelivery(
    delivery: { provider_id: string; delivery_id: string; matches: readonly StaleMatch[] },
    now: Date,
  ): Promise<{ duplicate: boolean; marked: DiffStatus[] }> {
    return this.db.transaction(async (tx) => {
      const r = await tx.query(
        `INSERT INTO webhook_deliveries (provider_id, delivery_id, received_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING`,
        [delivery.provider_id, delivery.delivery_id, now],
      );
      if (r.rowCount === 0) return { duplicate: true, marked: [] };
      const marked: DiffStatus[] = [];
      for (const match of delivery.matches) marked.push(...(await this.#markRefsStale(tx, match, now)));
      return { duplicate: false, marked };
    });
  }

  async pruneWebhookDeliveries(before: Date): Promise<number> {
    return (await this.db.query('DELETE FROM webhook_deliveries WHERE received_at < $1', [before])).rowCount;
  }

  async countDueRefs(now: Date, overdueBefore: Date): Promise<{ due: number; overdue: number }> {
    const r = await this.db.query<{ due: string; overdue: string }>(
      `SELECT count(*) AS due, count(*) FILTER (WHERE stale_at < $2) AS overdue
       FROM diff_statuses WHERE stale_at <= $1 AND NOT chat_archived`,
      [now, overdueBefore],
    );
    return { due: Number(r.rows[0]?.due ?? 0), overdue: Number(r.rows[0]?.overdue ?? 0) };
  }

  ready(): Promise<boolean> {
    return isMigrated(this.db);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
