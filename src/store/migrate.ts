import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** Arbitrary constant: the advisory-lock key that serialises migrations across processes. */
const MIGRATION_LOCK_KEY = 7_420_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(MIGRATIONS_DIR + file, 'utf8'),
    }));
}

/**
 * Applies pending migrations in one transaction that holds an advisory lock, so several processes
 * starting at once apply each migration exactly once and none sees half a schema. Returns the
 * versions applied.
 */
export async function migrate(db: Database): Promise<number[]> {
  const applied: number[] = [];
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS gitsync_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = await tx.query<{ version: number }>('SELECT version FROM gitsync_migrations');
    const have = new Set(done.rows.map((r) => r.version));
    for (const m of loadMigrations()) {
      if (have.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO gitsync_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
  });
  return applied;
}

/** True when every known migration has been applied (readiness). */
export async function isMigrated(db: Database): Promise<boolean> {
  const latest = loadMigrations().at(-1)?.version ?? 0;
  try {
    const r = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM gitsync_migrations');
    return (r.rows[0]?.v ?? 0) >= latest;
  } catch {
    return false;
  }
}
