/** Statements over `webhook_deliveries`: delivery ids already handled (code hosts retry). */
import type { Tx } from '../database.ts';

export const INSERT_DELIVERY_SQL = `
  INSERT INTO webhook_deliveries (provider_id, delivery_id, received_at) VALUES ($1, $2, $3)
  ON CONFLICT DO NOTHING`;

/** Records a delivery id; false when it was recorded already (a retry). */
export async function insertDelivery(
  q: Tx,
  delivery: { provider_id: string; delivery_id: string },
  now: Date,
): Promise<boolean> {
  return (await q.query(INSERT_DELIVERY_SQL, [delivery.provider_id, delivery.delivery_id, now])).rowCount > 0;
}

export const DELETE_DELIVERIES_BEFORE_SQL = 'DELETE FROM webhook_deliveries WHERE received_at < $1';

export async function deleteDeliveriesBefore(q: Tx, before: Date): Promise<number> {
  return (await q.query(DELETE_DELIVERIES_BEFORE_SQL, [before])).rowCount;
}
