import pino from 'pino';
import { type AppConfig, loadConfig } from '../config/config.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { Engine } from '../engine/engine.ts';
import { InProcessBus } from '../events/publisher.ts';
import { createProviders, ProviderRegistry } from '../providers/registry.ts';
import { type Database, openDatabase } from '../store/database.ts';
import { migrate } from '../store/migrate.ts';
import { SqlStore } from '../store/sql-store.ts';
import { TokenCipher } from '../store/token-cipher.ts';

/** Everything a running gitsync holds, and the one call that releases it. */
export interface Runtime {
  config: AppConfig;
  logger: pino.Logger;
  db: Database;
  store: SqlStore;
  providers: ProviderRegistry;
  bus: InProcessBus;
  engine: Engine;
  clock: Clock;
  close(): Promise<void>;
}

/** Secrets never reach the log, whatever field they hide in. */
const REDACT = [
  'token',
  'secret',
  'authorization',
  '*.token',
  '*.secret',
  '*.authorization',
  'headers.authorization',
];

export function createLogger(level: AppConfig['log_level']): pino.Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, pino.destination(2));
}

export async function openRuntime(config: AppConfig = loadConfig()): Promise<Runtime> {
  const logger = createLogger(config.log_level);
  const cipher = TokenCipher.fromSetting(config.encryption_key);
  const clock = systemClock;
  const providers = new ProviderRegistry(createProviders(config.providers, { clock }));
  const db = await openDatabase({ url: config.database_url, dataDir: `${config.data_dir}/pglite` });
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ versions: applied }, 'applied migrations');
  } catch (error) {
    await db.close();
    throw error;
  }
  const store = new SqlStore(db, cipher);
  const bus = new InProcessBus();
  const engine = new Engine({
    store,
    providers,
    publisher: bus,
    clock,
    settings: config.worker,
    logger: logger as Logger,
  });
  return {
    config,
    logger,
    db,
    store,
    providers,
    bus,
    engine,
    clock,
    async close() {
      await engine.stop();
      await store.close();
    },
  };
}
