import { mkdirSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** What the store needs from a connection: one statement with parameters, or a script. */
export interface Tx {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<R>>;
  /** Runs several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/**
 * The database under the store: PostgreSQL through `pg`, or embedded PGlite through its own
 * API. Both return the same JS types (timestamptz → Date, bigint/numeric → string), so the one
 * SQL store runs unchanged on either. Counts statements so benchmarks can report round trips.
 */
export interface Database extends Tx {
  readonly kind: 'postgres' | 'pglite';
  readonly statements: number;
  /** Runs `fn` in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

class PostgresDatabase implements Database {
  readonly kind = 'postgres';
  statements = 0;
  constructor(readonly pool: pg.Pool) {}

  async query<R>(text: string, params: unknown[] = []): Promise<QueryResult<R>> {
    this.statements++;
    const r = await this.pool.query(text, params);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  async exec(script: string): Promise<void> {
    this.statements++;
    await this.pool.query(script);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Tx = {
      query: async <R>(text: string, params: unknown[] = []) => {
        this.statements++;
        const r = await client.query(text, params);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
      },
      exec: async (script) => {
        this.statements++;
        await client.query(script);
      },
    };
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * PGlite is one backend in this process: statements and transactions queue on its own lock.
 * (Its node-postgres adapter is not used: after any SQL error it loses protocol sync.)
 */
class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  statements = 0;
  constructor(
    readonly pglite: PGlite,
    private readonly owned: boolean,
  ) {}

  async query<R>(text: string, params: unknown[] = []): Promise<QueryResult<R>> {
    this.statements++;
    const r = await this.pglite.query<R>(text, params);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }

  async exec(script: string): Promise<void> {
    this.statements++;
    await this.pglite.exec(script);
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.pglite.transaction((t) =>
      fn({
        query: async <R>(text: string, params: unknown[] = []) => {
          this.statements++;
          const r = await t.query<R>(text, params);
          return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
        },
        exec: async (script) => {
          this.statements++;
          await t.exec(script);
        },
      }),
    );
  }

  async close(): Promise<void> {
    if (this.owned) await this.pglite.close();
  }
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; without it an embedded PGlite database is used. */
  url?: string | undefined;
  /** Where PGlite keeps its files (`memory://` for none). */
  dataDir?: string;
  /** Schema to work in (created if missing); tests use one per test. */
  schema?: string;
  maxConnections?: number;
  /** An already running PGlite to use instead of starting one; the caller keeps ownership. */
  pglite?: PGlite;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new Error(`invalid schema name ${JSON.stringify(options.schema)}`);
  }
  if (options.url) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
    // An idle client losing its connection (database restart) must not crash the process.
    pool.on('error', () => {});
    const db = new PostgresDatabase(pool);
    if (options.schema) await db.exec(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    return db;
  }
  const { PGlite, types } = await import('@electric-sql/pglite');
  const dataDir = options.dataDir ?? 'memory://';
  let pglite = options.pglite;
  if (!pglite) {
    if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
    // Same JS types as `pg`: 64-bit integers as strings, so ids and counts never lose precision.
    pglite = await PGlite.create(dataDir, { parsers: { [types.INT8]: (v: string) => v } });
  }
  if (options.schema) {
    // A single backend: the session's search_path holds for every later statement.
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${options.schema}; SET search_path TO ${options.schema}`);
  }
  return new PgliteDatabase(pglite, options.pglite === undefined);
}
