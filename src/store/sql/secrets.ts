/** Statements over `deployment_secrets`: secrets every replica of a deployment shares. */
import { randomBytes } from 'node:crypto';
import type { Tx } from '../database.ts';

export const INSERT_SECRET_SQL = `
  INSERT INTO deployment_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`;
export const SELECT_SECRET_SQL = 'SELECT value FROM deployment_secrets WHERE name = $1';

/**
 * The deployment's secret named `name`, made (32 random bytes) by the first replica that asks: a
 * replica starting at the same moment inserts nothing and reads the winner's.
 */
export async function deploymentSecret(q: Tx, name: string): Promise<Buffer> {
  await q.query(INSERT_SECRET_SQL, [name, randomBytes(32)]);
  const row = (await q.query<{ value: Buffer }>(SELECT_SECRET_SQL, [name])).rows[0];
  if (!row) throw new Error(`deployment secret ${name} is missing`);
  return Buffer.from(row.value);
}
