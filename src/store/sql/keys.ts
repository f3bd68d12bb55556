/** Statements over `api_keys`: keys stored as their SHA-256 hash. */
import type { Tx } from '../database.ts';
import type { ApiKeyRecord } from '../store.ts';

const API_KEY_COLUMNS = (
  [
    'id',
    'name',
    'owner_id',
    'admin',
    'scope',
    'created_at',
  ] as const satisfies readonly (keyof ApiKeyRecord)[]
).join(', ');

export const INSERT_API_KEY_SQL = `
  INSERT INTO api_keys (${API_KEY_COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)`;

export async function insertApiKey(q: Tx, key: ApiKeyRecord & { key_hash: string }): Promise<void> {
  await q.query(INSERT_API_KEY_SQL, [
    key.id,
    key.name,
    key.owner_id,
    key.admin,
    key.scope,
    key.created_at,
    key.key_hash,
  ]);
}

export const SELECT_API_KEY_BY_HASH_SQL = `SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1`;

export async function selectApiKeyByHash(q: Tx, keyHash: string): Promise<ApiKeyRecord | undefined> {
  return (await q.query<ApiKeyRecord>(SELECT_API_KEY_BY_HASH_SQL, [keyHash])).rows[0];
}

export const API_KEY_EXISTS_SQL = 'SELECT 1 FROM api_keys WHERE id = $1';

export async function apiKeyExists(q: Tx, id: string): Promise<boolean> {
  return (await q.query(API_KEY_EXISTS_SQL, [id])).rows.length > 0;
}

export const SELECT_API_KEYS_SQL = `SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`;

export async function selectApiKeys(q: Tx): Promise<ApiKeyRecord[]> {
  return (await q.query<ApiKeyRecord>(SELECT_API_KEYS_SQL)).rows;
}

export const DELETE_API_KEY_SQL = 'DELETE FROM api_keys WHERE id = $1';

export async function deleteApiKey(q: Tx, id: string): Promise<boolean> {
  return (await q.query(DELETE_API_KEY_SQL, [id])).rowCount > 0;
}

export const HAS_ADMIN_KEY_SQL = 'SELECT 1 FROM api_keys WHERE admin LIMIT 1';

export async function hasAdminKey(q: Tx): Promise<boolean> {
  return (await q.query(HAS_ADMIN_KEY_SQL)).rows.length > 0;
}

/** At most one generated admin key (a unique partial index): of replicas starting together, one inserts it. */
export const INSERT_GENERATED_ADMIN_KEY_SQL = `
  INSERT INTO api_keys (id, name, owner_id, admin, scope, generated, key_hash, created_at)
  VALUES ($1, $2, NULL, true, 'admin', true, $3, $4) ON CONFLICT DO NOTHING`;

export async function insertGeneratedAdminKey(
  q: Tx,
  key: Pick<ApiKeyRecord, 'id' | 'name' | 'created_at'> & { key_hash: string },
): Promise<boolean> {
  const r = await q.query(INSERT_GENERATED_ADMIN_KEY_SQL, [key.id, key.name, key.key_hash, key.created_at]);
  return r.rowCount > 0;
}

export const DELETE_ADMIN_KEYS_SQL = 'DELETE FROM api_keys WHERE admin';

export async function deleteAdminKeys(q: Tx): Promise<number> {
  return (await q.query(DELETE_ADMIN_KEYS_SQL)).rowCount;
}
