/** Statements over `owner_tokens`: owners' code-host tokens, sealed (see token-cipher.ts). */
import type { Tx } from '../database.ts';

export interface SecretRow {
  owner_id: string;
  provider_id: string;
  secret: string;
}

export const UPSERT_TOKEN_SQL = `
  INSERT INTO owner_tokens (owner_id, provider_id, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
  ON CONFLICT (owner_id, provider_id) DO UPDATE SET secret = EXCLUDED.secret, updated_at = EXCLUDED.updated_at`;

export async function upsertToken(q: Tx, row: SecretRow, now: Date): Promise<void> {
  await q.query(UPSERT_TOKEN_SQL, [row.owner_id, row.provider_id, row.secret, now]);
}

export const DELETE_TOKEN_SQL = 'DELETE FROM owner_tokens WHERE owner_id = $1 AND provider_id = $2';

export async function deleteToken(q: Tx, owner: string, providerId: string): Promise<boolean> {
  return (await q.query(DELETE_TOKEN_SQL, [owner, providerId])).rowCount > 0;
}

/** Many (owner, provider) pairs' secrets in one query. */
export const SELECT_SECRETS_SQL = `
  SELECT t.owner_id, t.provider_id, t.secret FROM owner_tokens t
  JOIN unnest($1::uuid[], $2::text[]) AS p(owner_id, provider_id)
    ON t.owner_id = p.owner_id AND t.provider_id = p.provider_id`;

export async function selectSecrets(
  q: Tx,
  pairs: readonly { owner: string; provider: string }[],
): Promise<SecretRow[]> {
  const r = await q.query<SecretRow>(SELECT_SECRETS_SQL, [
    pairs.map((p) => p.owner),
    pairs.map((p) => p.provider),
  ]);
  return r.rows;
}

/**
 * Secrets that may be in an old format: `plain:` and `aes256gcm:` both start like this, the
 * current format (`aes256gcm:v2:`) does not. The cipher makes the final call.
 */
export const SELECT_OLD_FORMAT_SECRETS_SQL = `
  SELECT owner_id, provider_id, secret FROM owner_tokens
  WHERE secret LIKE 'plain:%' OR (secret LIKE 'aes256gcm:%' AND secret NOT LIKE 'aes256gcm:v2:%')`;

export async function selectOldFormatSecrets(q: Tx): Promise<SecretRow[]> {
  return (await q.query<SecretRow>(SELECT_OLD_FORMAT_SECRETS_SQL)).rows;
}

/** Compare-and-set: a secret replaced meanwhile (or resealed by another replica) is left alone. */
export const REPLACE_SECRET_SQL =
  'UPDATE owner_tokens SET secret = $4 WHERE owner_id = $1 AND provider_id = $2 AND secret = $3';

export async function replaceSecret(q: Tx, old: SecretRow, secret: string): Promise<boolean> {
  return (
    (await q.query(REPLACE_SECRET_SQL, [old.owner_id, old.provider_id, old.secret, secret])).rowCount > 0
  );
}
