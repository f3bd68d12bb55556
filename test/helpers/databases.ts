import { randomBytes } from 'node:crypto';
import { PGlite, types } from '@electric-sql/pglite';
import { inject } from 'vitest';
import { type Database, openDatabase } from '../../src/store/database.ts';
import { migrate } from '../../src/store/migrate.ts';
import { SqlStore } from '../../src/store/sql-store.ts';
import type { Outbox } from '../../src/store/store.ts';
import { TokenCipher } from '../../src/store/token-cipher.ts';

/** The PostgreSQL the tests use, chosen (or started) once per run by `test/setup/global-setup.ts`. */
export const TEST_DATABASE_URL = inject('testDatabaseUrl');

export const DATABASE_KINDS = ['postgres', 'pglite'] as const;
export type DatabaseKind = (typeof DATABASE_KINDS)[number];

let sharedPglite: Promise<PGlite> | null = null;

/** One PGlite per test file (it takes ~1 s and ~750 MB to start); each test gets its own schema in it. */
function pgliteInstance(): Promise<PGlite> {
  sharedPglite ??= PGlite.create('memory://', { parsers: { [types.INT8]: (v: string) => v } });
  return sharedPglite;
}

export const uniqueSchema = () => `t_${randomBytes(6).toString('hex')}`;

export interface TestDatabase {
  db: Database;
  schema: string;
  /** Opens another independent pool on the same schema (PostgreSQL only): another "replica". */
  openAnother(maxConnections?: number): Promise<Database>;
  drop(): Promise<void>;
}

/** A fresh, migrated schema of its own on the given kind of database. */
export async function createTestDatabase(
  kind: DatabaseKind,
  options: { migrate?: boolean } = {},
): Promise<TestDatabase> {
  const schema = uniqueSchema();
  const open = async (max?: number) =>
    kind === 'postgres'
      ? openDatabase({ url: TEST_DATABASE_URL, schema, maxConnections: max ?? 10 })
      : openDatabase({ pglite: await pgliteInstance(), schema });
  const db = await open();
  if (options.migrate !== false) await migrate(db);
  return {
    db,
    schema,
    openAnother: async (max) => {
      if (kind !== 'postgres') throw new Error('PGlite is a single connection: no second pool');
      return open(max);
    },
    async drop() {
      await db.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
      await db.close();
    },
  };
}

export async function createTestStore(kind: DatabaseKind, cipher = new TokenCipher(null), outbox?: Outbox) {
  const test = await createTestDatabase(kind);
  return { ...test, store: new SqlStore(test.db, cipher, outbox) };
}
