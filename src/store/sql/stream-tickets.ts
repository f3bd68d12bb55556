/** Statements over `stream_tickets`: single-use tickets that open one event stream. */
import type { Tx } from '../database.ts';

export interface StreamTicketRow {
  key_id: string | null;
  admin: boolean;
  owner_id: string | null;
  scope: string;
  expires_at: Date;
}

export const INSERT_STREAM_TICKET_SQL = `
  INSERT INTO stream_tickets (ticket_hash, key_id, admin, owner_id, scope, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6)`;

export async function insertStreamTicket(q: Tx, hash: string, row: StreamTicketRow): Promise<void> {
  await q.query(INSERT_STREAM_TICKET_SQL, [
    hash,
    row.key_id,
    row.admin,
    row.owner_id,
    row.scope,
    row.expires_at,
  ]);
}

/** Takes a ticket: deleted as it is read, so two replicas presented the same ticket cannot both use it. */
export const TAKE_STREAM_TICKET_SQL = `
  DELETE FROM stream_tickets WHERE ticket_hash = $1
  RETURNING key_id, admin, owner_id, scope, expires_at`;

export async function takeStreamTicket(q: Tx, hash: string): Promise<StreamTicketRow | undefined> {
  return (await q.query<StreamTicketRow>(TAKE_STREAM_TICKET_SQL, [hash])).rows[0];
}

export const DELETE_EXPIRED_STREAM_TICKETS_SQL = 'DELETE FROM stream_tickets WHERE expires_at < $1';

export async function deleteExpiredStreamTickets(q: Tx, now: Date): Promise<void> {
  await q.query(DELETE_EXPIRED_STREAM_TICKETS_SQL, [now]);
}
