import pg from 'pg';
import pino from 'pino';
import { type AppConfig, loadConfig } from '../config/config.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { Engine } from '../engine/engine.ts';
import { EventHub } from '../events/event-hub.ts';
import { createProviders, ProviderRegistry } from '../providers/registry.ts';
import type { Provider } from '../providers/types.ts';
import { createApp, type GitsyncApp } from '../server/app.ts';
import { KeyAuthority } from '../server/keys.ts';
import { Metrics } from '../server/metrics.ts';
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
  hub: EventHub;
  engine: Engine;
  keys: KeyAuthority;
  metrics: Metrics;
  http: GitsyncApp;
  clock: Clock;
  /** Set when this start generated the admin key (show it once). */
  generatedAdminKey: string | null;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Secrets never reach the log, whatever field they hide in. */
const REDACT = [
  'token',
  'key',
  'secret',
  'authorization',
  '*.token',
  '*.key',
  '*.secret',
  '*.authorization',
  'headers.authorization',
];

export function createLogger(level: AppConfig['log_level']): pino.Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, pino.destination(2));
}

export interface RuntimeOptions {
  clock?: Clock;
  /** Extra providers (the demo's emulator), placed before the configured ones. */
  providers?: Provider[];
  logger?: pino.Logger;
  /** Event-stream heartbeat period (tests shorten it). */
  heartbeatMs?: number;
}

export async function openRuntime(
  config: AppConfig = loadConfig(),
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config.log_level);
  const clock = options.clock ?? systemClock;
  const cipher = TokenCipher.fromSetting(config.encryption_key);
  const providers = new ProviderRegistry([
    ...(options.providers ?? []),
    ...createProviders(config.providers, { clock }),
  ]);
  const db = await openDatabase({ url: config.database_url, dataDir: `${config.data_dir}/pglite` });
  let hub: EventHub;
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ versions: applied }, 'applied migrations');
    // Replicas share a channel per schema, so several deployments can share one database.
    const schema = (await db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]?.s ?? 'public';
    const url = config.database_url;
    hub = new EventHub({
      db,
      clock,
      logger: logger as Logger,
      channel: schema === 'public' ? 'gitsync' : `gitsync_${schema}`.slice(0, 63),
      connectListener: url
        ? async () => {
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            return client;
          }
        : undefined,
    });
  } catch (error) {
    await db.close();
    throw error;
  }
  const store = new SqlStore(db, cipher);
  const metrics = new Metrics({
    store,
    providers,
    clock,
    overdueAfterMs: Math.max(30_000, config.worker.tick_interval_ms * 3),
  });
  const engine = new Engine({
    store,
    providers,
    publisher: hub,
    clock,
    settings: config.worker,
    logger: logger as Logger,
    observer: metrics.observer,
  });
  hub.onWake(() => engine.wake());
  const keys = new KeyAuthority(store, clock, config.admin_token);
  const http = createApp({
    store,
    engine,
    hub,
    providers,
    keys,
    metrics,
    clock,
    logger: logger as Logger,
    heartbeatMs: options.heartbeatMs,
  });
  let pruneTimer: NodeJS.Timeout | null = null;
  const runtime: Runtime = {
    config,
    logger,
    db,
    store,
    providers,
    hub,
    engine,
    keys,
    metrics,
    http,
    clock,
    generatedAdminKey: null,
    async start() {
      runtime.generatedAdminKey = await keys.ensureAdminKey();
      await hub.start();
      if (config.worker.enabled) engine.start();
      // Delivery ids are kept a day: code hosts redeliver within hours.
      pruneTimer = setInterval(
        () => void store.pruneWebhookDeliveries(new Date(clock.now().getTime() - 86_400_000)).catch(() => {}),
        3_600_000,
      );
      pruneTimer.unref();
    },
    async close() {
      if (pruneTimer) clearInterval(pruneTimer);
      http.closeStreams();
      await engine.stop();
      await hub.stop();
      await store.close();
    },
  };
  return runtime;
}
