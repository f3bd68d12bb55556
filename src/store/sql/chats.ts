/** Statements over `chats`: trees of chats, each row knowing its root. */
import type { Chat } from '../../core/types.ts';
import type { Tx } from '../database.ts';

const CHAT_FIELDS = [
  'id',
  'owner_id',
  'workspace_id',
  'parent_chat_id',
  'root_chat_id',
  'title',
  'archived',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof Chat)[];

const CHAT_COLUMNS = CHAT_FIELDS.join(', ');

/** The chats' subtrees, recursively (archived or not): each chat with all of its descendants. */
const SUBTREE_OF = (idsParam: string) => `
  WITH RECURSIVE subtree AS (
    SELECT ${CHAT_COLUMNS} FROM chats WHERE id = ANY(${idsParam}::uuid[])
    UNION
    SELECT ${CHAT_FIELDS.map((c) => `c.${c}`).join(', ')} FROM chats c JOIN subtree s ON c.parent_chat_id = s.id)`;

export const SELECT_CHAT_FOR_UPDATE_SQL = `SELECT ${CHAT_COLUMNS} FROM chats WHERE id = $1 FOR UPDATE`;

export async function selectChatForUpdate(q: Tx, id: string): Promise<Chat | undefined> {
  return (await q.query<Chat>(SELECT_CHAT_FOR_UPDATE_SQL, [id])).rows[0];
}

/** FOR SHARE: an archive of this chat running now finishes first, so the reader sees it. */
export const SELECT_CHAT_FOR_SHARE_SQL = `SELECT ${CHAT_COLUMNS} FROM chats WHERE id = $1 FOR SHARE`;

export async function selectChatForShare(q: Tx, id: string): Promise<Chat | undefined> {
  return (await q.query<Chat>(SELECT_CHAT_FOR_SHARE_SQL, [id])).rows[0];
}

/**
 * Locks the root of `id`'s tree. Every transaction that changes a tree takes this lock first, so
 * archives and unarchives of one tree take turns instead of locking its rows in opposite orders.
 */
export const LOCK_ROOT_SQL =
  'SELECT 1 FROM chats WHERE id = (SELECT root_chat_id FROM chats WHERE id = $1) FOR UPDATE';

export async function lockRoot(q: Tx, id: string): Promise<void> {
  await q.query(LOCK_ROOT_SQL, [id]);
}

export const CHAT_EXISTS_SQL = 'SELECT 1 FROM chats WHERE id = $1';

export async function chatExists(q: Tx, id: string): Promise<boolean> {
  return (await q.query(CHAT_EXISTS_SQL, [id])).rows.length > 0;
}

export const INSERT_CHAT_SQL = `INSERT INTO chats (${CHAT_COLUMNS}) VALUES (${CHAT_FIELDS.map((_, i) => `$${i + 1}`).join(', ')})`;

export async function insertChat(q: Tx, chat: Chat): Promise<void> {
  await q.query(
    INSERT_CHAT_SQL,
    CHAT_FIELDS.map((c) => chat[c]),
  );
}

export const UPDATE_CHAT_SQL =
  'UPDATE chats SET workspace_id = $2, title = $3, updated_at = $4 WHERE id = $1';

export async function updateChat(
  q: Tx,
  id: string,
  change: { workspace_id: string | null; title: string },
  now: Date,
): Promise<void> {
  await q.query(UPDATE_CHAT_SQL, [id, change.workspace_id, change.title, now]);
}

export const COUNT_OWNER_CHATS_SQL = 'SELECT count(*) AS n FROM chats WHERE owner_id = $1';
/** Serialises an owner's chat creations until the transaction ends, so that two cannot both pass the quota. */
export const LOCK_OWNER_CHATS_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('chats of ' || $1, 0))";

/** The owner's chats, counted under a lock held to the end of the transaction (see LOCK_OWNER_CHATS_SQL). */
export async function countOwnerChats(q: Tx, owner: string): Promise<number> {
  await q.query(LOCK_OWNER_CHATS_SQL, [owner]);
  return Number((await q.query<{ n: string }>(COUNT_OWNER_CHATS_SQL, [owner])).rows[0]?.n ?? 0);
}

export const COUNT_CHILDREN_SQL = 'SELECT count(*) AS n FROM chats WHERE parent_chat_id = $1';

export async function countChildren(q: Tx, parentId: string): Promise<number> {
  return Number((await q.query<{ n: string }>(COUNT_CHILDREN_SQL, [parentId])).rows[0]?.n ?? 0);
}

/** A tree's chats below its root (`$1`), counted through the `chats_by_root` index. */
export const COUNT_DESCENDANTS_SQL = 'SELECT count(*) AS n FROM chats WHERE root_chat_id = $1 AND id <> $1';

export async function countDescendants(q: Tx, rootId: string): Promise<number> {
  return Number((await q.query<{ n: string }>(COUNT_DESCENDANTS_SQL, [rootId])).rows[0]?.n ?? 0);
}

/** The chats themselves, without their subtrees (what an event carries). */
export const SELECT_CHATS_SQL = `SELECT ${CHAT_COLUMNS} FROM chats WHERE id = ANY($1::uuid[])`;

export async function selectChats(q: Tx, ids: readonly string[]): Promise<Chat[]> {
  return (await q.query<Chat>(SELECT_CHATS_SQL, [ids])).rows;
}

/** How deep `$1` sits (a root is 1), walking up at most `$2 + 1` levels. */
export const CHAT_DEPTH_SQL = `
  WITH RECURSIVE up AS (
    SELECT id, parent_chat_id, 1 AS depth FROM chats WHERE id = $1
    UNION ALL
    SELECT c.id, c.parent_chat_id, up.depth + 1 FROM chats c JOIN up ON c.id = up.parent_chat_id
    WHERE up.depth <= $2)
  SELECT max(depth) AS depth FROM up`;

/** The chat's depth, counted up to just past `limit`; 0 when it does not exist. */
export async function chatDepth(q: Tx, id: string, limit: number): Promise<number> {
  return (await q.query<{ depth: number | null }>(CHAT_DEPTH_SQL, [id, limit])).rows[0]?.depth ?? 0;
}

/** Sets `archived` on a chat and all of its descendants (those not already so). */
export const SET_SUBTREE_ARCHIVED_SQL = `
  WITH RECURSIVE subtree AS (
    SELECT id FROM chats WHERE id = $1
    UNION ALL SELECT c.id FROM chats c JOIN subtree s ON c.parent_chat_id = s.id)
  UPDATE chats SET archived = $2, updated_at = $3
  WHERE id IN (SELECT id FROM subtree) AND archived <> $2`;

export async function setSubtreeArchived(q: Tx, id: string, archived: boolean, now: Date): Promise<void> {
  await q.query(SET_SUBTREE_ARCHIVED_SQL, [id, archived, now]);
}

/** Deletes a chat (its descendants and refs cascade); `$2` null: whoever owns it. */
export const DELETE_CHAT_SQL =
  'DELETE FROM chats WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2) RETURNING id, owner_id';

export async function deleteChat(
  q: Tx,
  id: string,
  owner: string | null,
): Promise<Pick<Chat, 'id' | 'owner_id'> | undefined> {
  const row = (await q.query<Pick<Chat, 'id' | 'owner_id'>>(DELETE_CHAT_SQL, [id, owner])).rows[0];
  return row && { id: row.id, owner_id: row.owner_id };
}

export const SELECT_SUBTREES_SQL = `${SUBTREE_OF('$1')} SELECT * FROM subtree`;

export async function selectSubtrees(q: Tx, ids: readonly string[]): Promise<Chat[]> {
  return (await q.query<Chat>(SELECT_SUBTREES_SQL, [ids])).rows;
}

/** A page of root chats, newest first, keyset-paginated over (updated_at DESC, id DESC). */
export const SELECT_ROOTS_PAGE_SQL = `
  SELECT ${CHAT_COLUMNS} FROM chats
  WHERE parent_chat_id IS NULL AND archived = $1 AND ($2::uuid IS NULL OR owner_id = $2)
    AND ($3::timestamptz IS NULL OR (updated_at, id) < ($3, $4::uuid))
  ORDER BY updated_at DESC, id DESC LIMIT $5`;

export async function selectRootsPage(
  q: Tx,
  page: { archived: boolean; owner: string | null; after: [Date, string] | null; limit: number },
): Promise<Chat[]> {
  const r = await q.query<Chat>(SELECT_ROOTS_PAGE_SQL, [
    page.archived,
    page.owner,
    page.after?.[0] ?? null,
    page.after?.[1] ?? null,
    page.limit,
  ]);
  return r.rows;
}

/** Every chat of the given trees with the given archived state. */
export const SELECT_TREES_SQL = `SELECT ${CHAT_COLUMNS} FROM chats WHERE root_chat_id = ANY($1::uuid[]) AND archived = $2`;

export async function selectTrees(q: Tx, rootIds: readonly string[], archived: boolean): Promise<Chat[]> {
  return (await q.query<Chat>(SELECT_TREES_SQL, [rootIds, archived])).rows;
}

export const SELECT_ACTIVE_WORKSPACE_CHAT_IDS_SQL = `
  SELECT id FROM chats WHERE workspace_id = $1 AND NOT archived AND ($2::uuid IS NULL OR owner_id = $2)
  ORDER BY created_at, id`;

export async function selectActiveWorkspaceChatIds(
  q: Tx,
  workspaceId: string,
  owner: string | null,
): Promise<string[]> {
  return (await q.query<{ id: string }>(SELECT_ACTIVE_WORKSPACE_CHAT_IDS_SQL, [workspaceId, owner])).rows.map(
    (row) => row.id,
  );
}
