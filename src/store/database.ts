import { mkdirSync } from 'node:fs';
import pg from 'pg';

/** A pg-compatible pool (PostgreSQL, or PGlite through its pg adapter) plus a statement counter. */
export class Database {
  /** Statements sent since start; benchmarks read it to report round trips per refresh. */
  statements = 0;
  constructor(
    readonly pool: pg.Pool,
    readonly kind: 'postgres' | 'pglite',
    private readonly release: () => Promise<void> = async () => {},
  ) {}

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []) {
    this.statements++;
    return this.pool.query<R>(text, params);
  }

  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Tx = {
      query: <R extends pg.QueryResultRow>(text: string, params: unknown[] = []) => {
        this.statements++;
        return client.query<R>(text, params);
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

  async close(): Promise<void> {
    await this.pool.end();
    await this.release();
  }
}

export interface Tx {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; without it an embedded PGlite database is used. */
  url?: string | undefined;
  /** Where PGlite keeps its files (`memory://` for none). */
  dataDir?: string;
  /** Schema to work in (created if missing); tests use one per test. */
  schema?: string;
  maxConnections?: number;
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
    const db = new Database(pool, 'postgres');
    if (options.schema) await db.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    return db;
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
  const dataDir = options.dataDir ?? 'memory://';
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const pglite = await PGlite.create(dataDir);
  if (options.schema) {
    // PGlite is a single backend, so a session setting holds for every pooled "connection".
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${options.schema}; SET search_path TO ${options.schema}`);
  }
  const pool = new pg.Pool(createPgConfig(pglite) as unknown as pg.PoolConfig);
  pool.on('error', () => {});
  return new Database(pool, 'pglite', () => pglite.close());
}
