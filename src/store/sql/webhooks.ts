/** Statements over `webhook_deliveries`: delivery ids already handled (code hosts retry). */
import type { Tx } from '../database.ts';

export const INSERT_DELIVERY_SQL = `
  INSERT INTO webhook_deliveries (provider_id, delivery_id, received_at)
  SELECT $1, id, $3 FROM unnest($2::text[]) AS id ON CONFLICT DO NOTHING`;

/**
 * Records a delivery under each of `ids` (its id and its body's digest); false when any was
 * recorded already (a retry, or a body replayed under another id). A concurrent insert of the
 * same id by another replica waits for that transaction, so exactly one of them sees it new.
 */
export async function insertDelivery(
  q: Tx,
  providerId: string,
  ids: readonly string[],
  now: Date,
): Promise<boolean> {
  const distinct = [...new Set(ids)];
  return (await q.query(INSERT_DELIVERY_SQL, [providerId, distinct, now])).rowCount === distinct.length;
}

export const DELETE_DELIVERIES_BEFORE_SQL = 'DELETE FROM webhook_deliveries WHERE received_at < $1';

export async function deleteDeliveriesBefore(q: Tx, before: Date): Promise<number> {
  return (await q.query(DELETE_DELIVERIES_BEFORE_SQL, [before])).rowCount;
}
