/**
 * Statements over `events`: change events kept for a bounded window, so an SSE client can resume
 * with `Last-Event-ID` on any replica. Ids are bigints, read as decimal strings.
 */
import type { ChangeEventKind } from '../../core/types.ts';
import type { Tx } from '../database.ts';

/** An event as stored and streamed: `data` is its JSON payload (docs/api.md, "Events"). */
export interface StoredEvent {
  id: string;
  owner_id: string;
  kind: ChangeEventKind;
  data: string;
}

interface EventRow {
  id: string;
  owner_id: string;
  kind: ChangeEventKind;
  payload: string;
}

const toStored = (row: EventRow): StoredEvent => ({
  id: String(row.id),
  owner_id: row.owner_id,
  kind: row.kind,
  data: row.payload,
});

export const INSERT_EVENTS_SQL = `
  INSERT INTO events (owner_id, kind, payload, created_at)
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
  RETURNING id, owner_id, kind, payload`;

/** An event to insert, its payload already serialised. */
export interface NewEvent {
  owner_id: string;
  kind: ChangeEventKind;
  payload: string;
  created_at: Date;
}

/** Inserts events; returns them with their ids, in no set order. */
export async function insertEvents(q: Tx, events: readonly NewEvent[]): Promise<StoredEvent[]> {
  const r = await q.query<EventRow>(INSERT_EVENTS_SQL, [
    events.map((e) => e.owner_id),
    events.map((e) => e.kind),
    events.map((e) => e.payload),
    events.map((e) => e.created_at),
  ]);
  return r.rows.map(toStored);
}

export const MIN_EVENT_ID_SQL = 'SELECT min(id) AS id FROM events';

/** The oldest stored id; null when there are none (all pruned, or none yet). */
export async function minEventId(q: Tx): Promise<string | null> {
  return (await q.query<{ id: string | null }>(MIN_EVENT_ID_SQL)).rows[0]?.id ?? null;
}

export const MAX_EVENT_ID_SQL = 'SELECT max(id) AS id FROM events';

/** The newest stored id; null when there are none. */
export async function maxEventId(q: Tx): Promise<string | null> {
  return (await q.query<{ id: string | null }>(MAX_EVENT_ID_SQL)).rows[0]?.id ?? null;
}

/** How many events (and payload bytes) follow `$1`, for one owner (`$2`) or all. */
export const COUNT_EVENTS_AFTER_SQL = `
  SELECT count(*) AS n, sum(octet_length(payload)) AS bytes FROM events
  WHERE id > $1 AND ($2::uuid IS NULL OR owner_id = $2)`;

export async function countEventsAfter(
  q: Tx,
  afterId: string,
  owner: string | null,
): Promise<{ count: number; bytes: number }> {
  const row = (await q.query<{ n: string; bytes: string | null }>(COUNT_EVENTS_AFTER_SQL, [afterId, owner]))
    .rows[0];
  return { count: Number(row?.n ?? 0), bytes: Number(row?.bytes ?? 0) };
}

export const SELECT_EVENTS_AFTER_SQL = `
  SELECT id, owner_id, kind, payload FROM events
  WHERE id > $1 AND ($2::uuid IS NULL OR owner_id = $2) ORDER BY id LIMIT $3`;

/** Events after `afterId`, for one owner or all (`null`), oldest first, at most `limit`. */
export async function selectEventsAfter(
  q: Tx,
  afterId: string,
  owner: string | null,
  limit: number,
): Promise<StoredEvent[]> {
  return (await q.query<EventRow>(SELECT_EVENTS_AFTER_SQL, [afterId, owner, limit])).rows.map(toStored);
}

/**
 * One page of a replay: events after `$1` for one owner (`$2`) or all, oldest first, at most `$3`
 * of them and no more payload bytes than `$4` — but always the first, however large. PostgreSQL
 * cuts the page, so no more than it is sent to the process.
 */
export const SELECT_REPLAY_PAGE_SQL = `
  SELECT id, owner_id, kind, payload FROM (
    SELECT id, owner_id, kind, payload,
           sum(octet_length(payload)) OVER (ORDER BY id) - octet_length(payload) AS before
    FROM events WHERE id > $1 AND ($2::uuid IS NULL OR owner_id = $2) ORDER BY id LIMIT $3) page
  WHERE before < $4 ORDER BY id`;

export async function selectReplayPage(
  q: Tx,
  afterId: string,
  owner: string | null,
  limit: number,
  maxBytes: number,
): Promise<StoredEvent[]> {
  return (await q.query<EventRow>(SELECT_REPLAY_PAGE_SQL, [afterId, owner, limit, maxBytes])).rows.map(
    toStored,
  );
}

export const SELECT_EVENTS_BY_IDS_SQL = `
  SELECT id, owner_id, kind, payload FROM events WHERE id = ANY($1::bigint[]) ORDER BY id LIMIT $2`;

/** The events with these ids that are still stored, oldest first, at most `limit`. */
export async function selectEventsByIds(
  q: Tx,
  ids: readonly string[],
  limit: number,
): Promise<StoredEvent[]> {
  return (await q.query<EventRow>(SELECT_EVENTS_BY_IDS_SQL, [ids, limit])).rows.map(toStored);
}

export const DELETE_EVENTS_BEFORE_SQL = 'DELETE FROM events WHERE created_at < $1';

export async function deleteEventsBefore(q: Tx, before: Date): Promise<number> {
  return (await q.query(DELETE_EVENTS_BEFORE_SQL, [before])).rowCount;
}

/** NOTIFY with a parameter (the NOTIFY statement takes none); sent when the transaction commits. */
export const NOTIFY_SQL = 'SELECT pg_notify($1, $2)';

export async function notify(q: Tx, channel: string, payload: string): Promise<void> {
  await q.query(NOTIFY_SQL, [channel, payload]);
}

/**
 * The newest event about chat `$3` (its own or one of its refs': every event names its chat as
 * `chat.id`) after `$1`, among owner `$2`'s. The owner's index bounds the scan to the retention
 * window; `strpos` skips most other chats' payloads before any is parsed as JSON.
 */
export const SELECT_LATEST_CHAT_EVENT_SQL = `
  SELECT id, owner_id, kind, payload FROM events
  WHERE owner_id = $2 AND id > $1 AND strpos(payload, $3) > 0 AND (payload::jsonb #>> '{chat,id}') = $3
  ORDER BY id DESC LIMIT 1`;

export async function selectLatestChatEvent(
  q: Tx,
  afterId: string,
  owner: string,
  chatId: string,
): Promise<StoredEvent | null> {
  const r = await q.query<EventRow>(SELECT_LATEST_CHAT_EVENT_SQL, [afterId, owner, chatId]);
  return r.rows[0] ? toStored(r.rows[0]) : null;
}
