import { BadInputError, ConflictError, NotFoundError, RateLimitedError } from '../core/errors.ts';
import { DEFAULT_LIMITS } from '../core/limits.ts';
import type { ChangeEvent, EventChat } from '../core/types.ts';
import { type Chat, type ChatView, type DiffStatus, UUID_PATTERN } from '../core/types.ts';
import type { Database, Tx } from './database.ts';
import { isMigrated } from './migrate.ts';
import * as budgets from './sql/budgets.ts';
import * as chats from './sql/chats.ts';
import * as keys from './sql/keys.ts';
import * as refs from './sql/refs.ts';
import * as tokens from './sql/tokens.ts';
import * as webhooks from './sql/webhooks.ts';
import {
  type ApiKeyRecord,
  type BudgetRecord,
  type BudgetState,
  type ChatInput,
  type ChatLimits,
  type ClaimedRef,
  type ListChatsQuery,
  type Outbox,
  type OwnerSpendState,
  type OwnerUsageRecord,
  type RefReport,
  type RefWrite,
  type StaleMatch,
  type Store,
  tokenKey,
  type UsageRecord,
  type WriteResult,
} from './store.ts';
import type { TokenCipher } from './token-cipher.ts';

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
    // Years 1–9999 only: year 0 and negative years reach PostgreSQL as BC dates (or fail to
    // parse), and ISO writes years past 9999 with a sign.
    date.getUTCFullYear() < 1 ||
    date.getUTCFullYear() > 9999
  ) {
    throw new BadInputError('cursor is not one this service returned');
  }
  return [date, id];
}

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
    owner?: string,
  ): Promise<{ chat: ChatView; created: boolean; changed: boolean }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#publishing(async (tx, events) => {
          const { created, changed } = await this.#putChatRow(tx, input, now, limits, owner);
          const chat = await this.#mustGetChat(tx, input.id);
          if (created) events.push({ kind: 'chat_created', chat: withoutChildren(chat) });
          else if (changed) events.push({ kind: 'chat_updated', chat: withoutChildren(chat) });
          return { chat, created, changed };
        });
      } catch (error) {
        // Two creates of one new id at once: the second insert loses (23505); once more, it finds
        // the row and updates it (or refuses, as for any existing chat).
        if ((error as { code?: string }).code !== '23505' || attempt >= 2) throw error;
      }
    }
  }

  async #putChatRow(
    tx: Tx,
    input: ChatInput,
    now: Date,
    limits: ChatLimits,
    owner: string | undefined,
  ): Promise<{ created: boolean; changed: boolean }> {
    const chat = await chats.selectChatForUpdate(tx, input.id);
    if (chat) {
      // Read under the row lock: another owner's chat is "not found", never a conflict revealing it.
      if (owner !== undefined && chat.owner_id !== owner)
        throw new NotFoundError(`chat ${input.id} not found`);
      if (chat.owner_id !== input.owner_id) throw new ConflictError('a chat cannot change owner');
      if (input.parent_chat_id !== undefined && input.parent_chat_id !== chat.parent_chat_id) {
        throw new ConflictError('a chat cannot change parent');
      }
      const workspace = input.workspace_id === undefined ? chat.workspace_id : input.workspace_id;
      const title = input.title ?? chat.title;
      const changed = workspace !== chat.workspace_id || title !== chat.title;
      if (changed) await chats.updateChat(tx, input.id, { workspace_id: workspace, title }, now);
      return { created: false, changed };
    }
    let root = input.id;
    let archived = false;
    if (input.parent_chat_id) {
      if (input.parent_chat_id === input.id) throw new BadInputError('a chat cannot be its own parent');
      // The tree's root row first (as archives do, see #treeTransaction): creates in one tree take
      // turns, so the counts in #checkNesting cannot be overtaken by a concurrent create.
      await chats.lockRoot(tx, input.parent_chat_id);
      // FOR SHARE: an archive of the parent running now finishes first, so the child sees it.
      const p = await chats.selectChatForShare(tx, input.parent_chat_id);
      if (!p || p.owner_id !== input.owner_id)
        throw new BadInputError('parent_chat_id names no chat of this owner');
      root = p.root_chat_id;
      archived = p.archived;
      await this.#checkNesting(tx, p, limits);
    }
    if ((await chats.countOwnerChats(tx, input.owner_id)) >= limits.chats_per_owner) {
      throw new RateLimitedError(
        new Date(now.getTime() + QUOTA_RETRY_MS),
        `this owner has ${limits.chats_per_owner} chats, the most allowed; delete some first`,
        { code: 'quota_exceeded' },
      );
    }
    await chats.insertChat(tx, {
      id: input.id,
      owner_id: input.owner_id,
      workspace_id: input.workspace_id ?? null,
      parent_chat_id: input.parent_chat_id ?? null,
      root_chat_id: root,
      title: input.title ?? '',
      archived,
      created_at: now,
      updated_at: now,
    });
    return { created: true, changed: true };
  }

  /**
   * A new child of `parent` must stay within the depth and width limits, and its tree within
   * `descendants_per_root`. Called with the tree's root row locked (see #putChatRow).
   */
  async #checkNesting(tx: Tx, parent: Chat, limits: ChatLimits): Promise<void> {
    const parentId = parent.id;
    if ((await chats.chatDepth(tx, parentId, limits.chat_depth)) + 1 > limits.chat_depth) {
      throw new BadInputError(`sub-agent chats may nest at most ${limits.chat_depth} deep`, {
        code: 'chat_too_deep',
      });
    }
    if ((await chats.countChildren(tx, parentId)) >= limits.children_per_chat) {
      throw new ConflictError(`a chat may have at most ${limits.children_per_chat} sub-agent chats`, {
        code: 'too_many_children',
      });
    }
    if ((await chats.countDescendants(tx, parent.root_chat_id)) >= limits.descendants_per_root) {
      throw new ConflictError(
        `a tree of chats may hold at most ${limits.descendants_per_root} sub-agent chats (descendants_per_root)`,
        { code: 'too_many_children' },
      );
    }
  }

  async archiveChat(id: string, now: Date, owner?: string): Promise<ChatView> {
    return this.#treeTransaction(async (tx, events) => {
      await this.lockOwnedChat(tx, id, owner);
      await this.setSubtreeArchived(tx, id, true, now);
      const chat = await this.#mustGetChat(tx, id);
      events.push({ kind: 'chat_archived', chat: withoutChildren(chat) });
      return chat;
    });
  }

  async unarchiveChat(id: string, now: Date, owner?: string): Promise<ChatView> {
    return this.#treeTransaction(async (tx, events) => {
      // Lock the child, then re-read the parent in the same transaction: an archive of the
      // parent either committed before (we refuse) or waits for us and re-archives after.
      const chat = await this.lockOwnedChat(tx, id, owner);
      if (chat.parent_chat_id) {
        const parent = await chats.selectChatForShare(tx, chat.parent_chat_id);
        if (parent?.archived) {
          throw new ConflictError('cannot unarchive a chat whose parent is archived; unarchive the parent');
        }
      }
      await this.setSubtreeArchived(tx, id, false, now);
      const view = await this.#mustGetChat(tx, id);
      events.push({ kind: 'chat_unarchived', chat: withoutChildren(view) });
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
    await chats.lockRoot(tx, id);
    const chat = await chats.selectChatForUpdate(tx, id);
    if (!chat || (owner !== undefined && chat.owner_id !== owner))
      throw new NotFoundError(`chat ${id} not found`);
    return chat;
  }

  private async setSubtreeArchived(tx: Tx, id: string, archived: boolean, now: Date): Promise<void> {
    await chats.setSubtreeArchived(tx, id, archived, now);
    await refs.setSubtreeRefsArchived(tx, id, archived);
  }

  async deleteChat(id: string, owner?: string): Promise<Pick<Chat, 'id' | 'owner_id'>> {
    return this.#publishing(async (tx, events) => {
      const chat = await chats.deleteChat(tx, id, owner ?? null);
      if (!chat) throw new NotFoundError(`chat ${id} not found`);
      events.push({ kind: 'chat_deleted', chat });
      return chat;
    });
  }

  async #mustGetChat(q: Tx, id: string): Promise<ChatView> {
    const chat = (await this.#getChats(q, [id])).get(id);
    if (!chat) throw new NotFoundError(`chat ${id} not found`);
    return chat;
  }

  /**
   * Chats as events carry them: each with its own refs, without its subtree (SPEC §6.2), so an
   * event's size does not grow with the tree below the chat and no subtree is read to write it.
   */
  async #getEventChats(q: Tx, ids: readonly string[]): Promise<Map<string, EventChat>> {
    const out = new Map<string, EventChat>();
    if (ids.length === 0) return out;
    const statuses = await refs.selectRefsOfChats(q, ids);
    for (const c of await chats.selectChats(q, ids))
      out.set(c.id, { ...c, diff_status: null, diff_statuses: [] });
    for (const status of statuses) out.get(String(status.chat_id))?.diff_statuses.push(status);
    for (const v of out.values()) {
      v.diff_statuses.sort(byPrimary);
      v.diff_status = v.diff_statuses[0] ?? null;
    }
    return out;
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
    const views = await this.buildViews(await chats.selectSubtrees(q, ids), q);
    for (const id of ids) {
      const view = views.get(id);
      if (view) out.set(id, view);
    }
    return out;
  }

  async listChats(q: ListChatsQuery): Promise<{ chats: ChatView[]; next_cursor: string | null }> {
    const roots = await chats.selectRootsPage(this.db, {
      archived: q.archived,
      owner: q.owner_id ?? null,
      after: q.cursor ? decodeCursor(q.cursor) : null,
      limit: q.limit + 1,
    });
    const page = roots.slice(0, q.limit);
    const more = roots.length > q.limit;
    if (page.length === 0) return { chats: [], next_cursor: null };
    const trees = await chats.selectTrees(
      this.db,
      page.map((c) => c.id),
      q.archived,
    );
    const views = await this.buildViews(trees);
    const listed = page.map((c) => views.get(c.id)).filter((v): v is ChatView => v !== undefined);
    return { chats: listed, next_cursor: more ? encodeCursor(page.at(-1)!) : null };
  }

  /** Builds views for the given chats with refs attached and children nested (by recency). */
  private async buildViews(rows: Chat[], q: Tx = this.db): Promise<Map<string, ChatView>> {
    const statuses = await refs.selectRefsOfChats(
      q,
      rows.map((c) => c.id),
    );
    const views = new Map<string, ChatView>();
    for (const c of rows) views.set(c.id, { ...c, diff_status: null, diff_statuses: [], children: [] });
    for (const status of statuses) views.get(String(status.chat_id))?.diff_statuses.push(status);
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
    return chats.selectActiveWorkspaceChatIds(this.db, workspaceId, owner ?? null);
  }

  // ---- refs --------------------------------------------------------------------------------

  async recordRefReport(
    report: RefReport,
    now: Date,
    maxRefs = DEFAULT_LIMITS.refs_per_chat,
    maxOwnerRefs = DEFAULT_LIMITS.refs_per_owner,
  ): Promise<DiffStatus | null> {
    // Due one second ago so the next claim takes it; updated_at = now makes it the primary ref.
    // Published at once (with the chat), so UIs show the branch before any PR data exists.
    return this.#publishing(async (tx, events) => {
      await refs.lockOwnerRefs(tx, report.chat_id);
      const status = await refs.recordReport(tx, report, new Date(now.getTime() - 1000), now, {
        chat: maxRefs,
        owner: maxOwnerRefs,
      });
      if (status) {
        const chat = (await this.#getEventChats(tx, [status.chat_id])).get(status.chat_id);
        if (!chat) throw new NotFoundError(`chat ${status.chat_id} not found`);
        events.push({ kind: 'diff_status_change', chat, changed_diff_status: status });
        return status;
      }
      if (!(await chats.chatExists(tx, report.chat_id))) return null;
      const counts = await refs.countRefs(tx, report.chat_id);
      throw new RateLimitedError(
        new Date(now.getTime() + QUOTA_RETRY_MS),
        counts.chat >= maxRefs
          ? `chat ${report.chat_id} already tracks ${maxRefs} refs, the most allowed`
          : `this owner already tracks ${maxOwnerRefs} refs, the most allowed (refs_per_owner); delete chats or refs first`,
        { code: 'quota_exceeded' },
      );
    });
  }

  claimStaleRefs(now: Date, limit: number, leaseUntil: Date, fillUntil?: Date): Promise<ClaimedRef[]> {
    return refs.claimDueRefs(this.db, now, limit, leaseUntil, 'fair', fillUntil);
  }

  async getRef(chatId: string, origin?: string, branch?: string): Promise<ClaimedRef | null> {
    return (await refs.selectRef(this.db, chatId, origin ?? null, branch ?? null)) ?? null;
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
      const rows = await refs.writeRefreshes(tx, writes);
      const published = rows.filter((r) => publish.has(r.id));
      const views = await this.#getEventChats(tx, [...new Set(published.map((r) => r.status.chat_id))]);
      for (const { status } of published) {
        const chat = views.get(status.chat_id);
        if (chat) events.push({ kind: 'diff_status_change', chat, changed_diff_status: status });
      }
      return { rows, published: events.length };
    };
    const out = publish.size > 0 && this.outbox ? await this.#publishing(write) : await write(this.db, []);
    for (const { id, status } of out.rows) result.written.set(id, status);
    result.published += out.published;
  }

  markRefsStale(match: StaleMatch, now: Date): Promise<DiffStatus[]> {
    return refs.markRefsDue(this.db, match, now);
  }

  // ---- tokens ------------------------------------------------------------------------------

  async putToken(owner: string, providerId: string, token: string, now: Date): Promise<void> {
    const secret = this.cipher.seal(token, owner, providerId);
    await tokens.upsertToken(this.db, { owner_id: owner, provider_id: providerId, secret }, now);
  }

  deleteToken(owner: string, providerId: string): Promise<boolean> {
    return tokens.deleteToken(this.db, owner, providerId);
  }

  markOwnerRefsDue(owner: string, providerId: string, now: Date): Promise<number> {
    return refs.markOwnerRefsDue(this.db, owner, providerId, now);
  }

  setOwnerPause(owner: string, providerId: string, paused: boolean, now: Date): Promise<void> {
    return budgets.setOwnerPause(this.db, owner, providerId, paused, now);
  }

  async getOwnerPauses(pairs: readonly { owner: string; provider: string }[]): Promise<Set<string>> {
    const rows = await budgets.selectOwnerPauses(this.db, pairs);
    return new Set(rows.map((r) => tokenKey(r.owner_id, r.provider_id)));
  }

  async recordBudgets(
    observed: readonly BudgetRecord[],
    usage: readonly UsageRecord[],
    pruneBefore?: Date,
    ownerUsage: readonly OwnerUsageRecord[] = [],
  ): Promise<void> {
    if (observed.length === 0 && usage.length === 0 && ownerUsage.length === 0 && !pruneBefore) return;
    await this.db.transaction(async (tx) => {
      await budgets.upsertBudgets(tx, observed);
      await budgets.addUsage(tx, usage);
      await budgets.addOwnerUsage(tx, ownerUsage);
      if (pruneBefore) await budgets.pruneUsage(tx, pruneBefore);
    });
  }

  getBudgets(keys: readonly { provider_id: string; token_fp: string }[], now: Date): Promise<BudgetState[]> {
    return budgets.selectBudgets(this.db, keys, new Date(now.getTime() - 3_600_000), now);
  }

  getOwnerSpend(
    keys: readonly { provider_id: string; token_fp: string; owner_id: string }[],
    now: Date,
  ): Promise<OwnerSpendState[]> {
    return budgets.selectOwnerSpend(this.db, keys, new Date(now.getTime() - 3_600_000), now);
  }

  async getTokens(
    pairs: readonly { owner: string; provider: string }[],
  ): Promise<Map<string, string | Error>> {
    const out = new Map<string, string | Error>();
    if (pairs.length === 0) return out;
    for (const row of await tokens.selectSecrets(this.db, pairs)) {
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
    for (const row of await tokens.selectOldFormatSecrets(this.db)) {
      if (!this.cipher.needsReseal(row.secret)) continue;
      let token: string;
      try {
        token = this.cipher.open(row.secret, row.owner_id, row.provider_id);
      } catch {
        unreadable++;
        continue;
      }
      const secret = this.cipher.seal(token, row.owner_id, row.provider_id);
      if (await tokens.replaceSecret(this.db, row, secret)) resealed++;
    }
    return { resealed, unreadable };
  }

  // ---- API keys, webhook deliveries, health ------------------------------------------------

  createApiKey(key: ApiKeyRecord & { key_hash: string }): Promise<void> {
    return keys.insertApiKey(this.db, key);
  }

  async findApiKey(keyHash: string): Promise<ApiKeyRecord | null> {
    return (await keys.selectApiKeyByHash(this.db, keyHash)) ?? null;
  }

  apiKeyExists(id: string): Promise<boolean> {
    return keys.apiKeyExists(this.db, id);
  }

  listApiKeys(): Promise<ApiKeyRecord[]> {
    return keys.selectApiKeys(this.db);
  }

  deleteApiKey(id: string): Promise<boolean> {
    return keys.deleteApiKey(this.db, id);
  }

  hasAdminKey(): Promise<boolean> {
    return keys.hasAdminKey(this.db);
  }

  createGeneratedAdminKey(
    key: Pick<ApiKeyRecord, 'id' | 'name' | 'created_at'> & { key_hash: string },
  ): Promise<boolean> {
    return keys.insertGeneratedAdminKey(this.db, key);
  }

  deleteAdminKeys(): Promise<number> {
    return keys.deleteAdminKeys(this.db);
  }

  async recordWebhookDelivery(
    delivery: {
      provider_id: string;
      delivery_id: string;
      body_digest?: string;
      matches: readonly StaleMatch[];
    },
    now: Date,
  ): Promise<{ duplicate: boolean; marked: DiffStatus[] }> {
    return this.db.transaction(async (tx) => {
      const ids = [delivery.delivery_id, delivery.body_digest ?? delivery.delivery_id];
      if (!(await webhooks.insertDelivery(tx, delivery.provider_id, ids, now)))
        return { duplicate: true, marked: [] };
      const marked = await refs.markDeliveryRefsDue(tx, delivery.provider_id, delivery.matches, now);
      return { duplicate: false, marked };
    });
  }

  pruneWebhookDeliveries(before: Date): Promise<number> {
    return webhooks.deleteDeliveriesBefore(this.db, before);
  }

  async recanonicalizeOrigins(
    canonical: (origin: string) => { origin: string; provider_id: string | null },
    now: Date,
  ): Promise<number> {
    let moved = 0;
    for (const stored of await refs.distinctOrigins(this.db)) {
      let target: { origin: string; provider_id: string | null };
      try {
        target = canonical(stored.origin);
      } catch {
        continue; // an origin that no longer parses stays as it is
      }
      if (target.origin === stored.origin && target.provider_id === stored.provider_id) continue;
      moved += await this.db.transaction((tx) =>
        refs.renameOrigin(tx, stored.origin, target.origin, target.provider_id, now),
      );
    }
    return moved;
  }

  countDueRefs(now: Date, overdueBefore: Date): Promise<{ due: number; overdue: number }> {
    return refs.countDueRefs(this.db, now, overdueBefore);
  }

  ready(): Promise<boolean> {
    return isMigrated(this.db);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** The chat an event carries: the view without its subtree (SPEC §6.2 "Tenants"). */
function withoutChildren(view: ChatView): EventChat {
  const { children: _, ...chat } = view;
  return chat;
}
