import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import pino from 'pino';
import { type AppConfig, loadConfig } from './config/config.ts';
import { type Clock, systemClock } from './core/clock.ts';
import { errorMessage } from './core/errors.ts';
import { setFingerprintKey } from './core/fingerprint.ts';
import type { Logger } from './core/logger.ts';
import { Engine } from './engine/engine.ts';
import { EventHub } from './events/event-hub.ts';
import { createProviders, ProviderRegistry } from './providers/registry.ts';
import type { Provider } from './providers/types.ts';
import { createApp, type GitsyncApp } from './server/app.ts';
import { KeyAuthority } from './server/keys.ts';
import { Metrics } from './server/metrics.ts';
import { type Database, makeFolderPrivate, openDatabase } from './store/database.ts';
import { migrate } from './store/migrate.ts';
import { deploymentSecret } from './store/sql/secrets.ts';
import { SqlStore } from './store/sql-store.ts';
import { TokenCipher } from './store/token-cipher.ts';

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
  /** How long opening took, in ms: the database (PGlite: starting it, or creating it at a first start) and the migrations. */
  startup: { database_ms: number; migrations_ms: number };
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

/** JSON lines on stderr (or `destination`), with secrets redacted. */
export function createLogger(
  level: AppConfig['log_level'],
  destination: pino.DestinationStream = pino.destination(2),
): pino.Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

export interface RuntimeOptions {
  clock?: Clock;
  /** Extra providers (the demo's emulator), placed before the configured ones. */
  providers?: Provider[];
  logger?: pino.Logger;
  /** Event-stream heartbeat period (tests shorten it). */
  heartbeatMs?: number;
  /** How often the embedded database is vacuumed (default hourly; tests shorten it). */
  vacuumIntervalMs?: number;
}

/**
 * PGlite runs no autovacuum (it is one backend without background workers), so dead rows from the
 * worker's constant updates would pile up, and the planner's statistics would stay what the
 * migrations left; an hourly VACUUM ANALYZE keeps the files and RSS bounded and the statistics
 * current (the claim's plan is written not to depend on them, other reads' are not).
 * PostgreSQL's autovacuum does this itself.
 */
const VACUUM_INTERVAL_MS = 3_600_000;

/**
 * How owners' tokens are sealed. A configured key always wins. With the embedded database and no
 * key, a key of its own is generated into the data folder at first start (its files are private,
 * and the key file lets the database files alone — a backup, a copied WAL — hold no usable token).
 * With PostgreSQL and no key, tokens are refused unless GITSYNC_ALLOW_PLAINTEXT_TOKENS=1.
 */
function tokenCipherFor(config: AppConfig, logger: pino.Logger): TokenCipher {
  if (config.encryption_key) return TokenCipher.fromSetting(config.encryption_key);
  if (!config.database_url) {
    const path = join(config.data_dir, 'encryption-key');
    const { cipher, created } = TokenCipher.fromKeyFile(path);
    if (created)
      logger.info({ path }, "generated the key that encrypts owners' tokens (keep it with the database)");
    return cipher;
  }
  if (config.allow_plaintext_tokens) {
    logger.warn(
      {},
      "GITSYNC_ALLOW_PLAINTEXT_TOKENS=1 and no GITSYNC_ENCRYPTION_KEY: owners' tokens are stored unencrypted in PostgreSQL",
    );
    return new TokenCipher(null);
  }
  logger.warn(
    {},
    "no GITSYNC_ENCRYPTION_KEY: storing owners' tokens is refused (set GITSYNC_ENCRYPTION_KEY, or GITSYNC_ALLOW_PLAINTEXT_TOKENS=1 to store them unencrypted)",
  );
  return new TokenCipher(null, { plaintext: 'refuse' });
}

export async function openRuntime(
  config: AppConfig = loadConfig(),
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const logger = options.logger ?? createLogger(config.log_level);
  const clock = options.clock ?? systemClock;
  // Checked before anything is opened, so a bad key fails fast.
  if (config.encryption_key) TokenCipher.fromSetting(config.encryption_key);
  const providers = new ProviderRegistry([
    ...(options.providers ?? []),
    ...createProviders(config.providers, { clock }),
  ]);
  const openedAt = performance.now();
  // The embedded database's folder holds the token key and owners' tokens: no one else may look in.
  if (!config.database_url) makeFolderPrivate(config.data_dir);
  const db = await openDatabase({ url: config.database_url, dataDir: `${config.data_dir}/pglite` });
  const startup = { database_ms: Math.round(performance.now() - openedAt), migrations_ms: 0 };
  let hub: EventHub;
  let cipher: TokenCipher;
  try {
    // After opening: the embedded folder is locked then, so two processes never make two keys.
    cipher = tokenCipherFor(config, logger);
    const migratingAt = performance.now();
    const applied = await migrate(db);
    startup.migrations_ms = Math.round(performance.now() - migratingAt);
    if (applied.length > 0) logger.info({ versions: applied }, 'applied migrations');
    // Token fingerprints (budget rows, /metrics labels, caches) are HMACs under a key every replica
    // shares: derived from the encryption key (given, or the embedded database's 0600 key file), or
    // else a secret generated once in the database (src/core/fingerprint.ts).
    setFingerprintKey(
      cipher.derive('gitsync token fingerprints') ?? (await deploymentSecret(db, 'token_fingerprints')),
    );
    const { resealed, unreadable } = await new SqlStore(db, cipher).resealTokens();
    if (resealed > 0)
      logger.info({ resealed }, "sealed stored owners' tokens with the current key and format");
    if (unreadable > 0)
      logger.warn({ unreadable }, "some stored owners' tokens cannot be opened with the current key");
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
            // Until the hub listens for them, a lost connection's errors must not crash the process.
            client.on('error', () => {});
            try {
              await client.connect();
            } catch (error) {
              await client.end().catch(() => {});
              throw error;
            }
            return client;
          }
        : undefined,
    });
  } catch (error) {
    await db.close();
    throw error;
  }
  const store = new SqlStore(db, cipher, hub);
  const metrics = new Metrics({
    store,
    providers,
    clock,
    overdueAfterMs: Math.max(30_000, config.worker.tick_interval_ms * 3),
  });
  const engine = new Engine({
    store,
    providers,
    clock,
    settings: config.worker,
    logger: logger as Logger,
    observer: metrics.observer,
    // One announcement reaches every replica's worker, this one's included (through onWake).
    announceDue: () => void hub.wakeAll(),
  });
  hub.onWake(() => engine.wake());
  metrics.budgets = () => engine.budgets.all();
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
    limits: config.limits,
    allowedHosts: config.allowed_hosts,
    metricsToken: config.metrics_token,
  });
  let pruneTimer: NodeJS.Timeout | null = null;
  let vacuumTimer: NodeJS.Timeout | null = null;
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
    startup,
    async start() {
      const admin = await keys.ensureAdminKey();
      runtime.generatedAdminKey = admin.generated;
      if (admin.revoked > 0)
        logger.info({ revoked: admin.revoked }, 'GITSYNC_ADMIN_TOKEN is set: deleted the stored admin keys');
      await hub.start();
      // Origins stored before their provider was configured (or implemented) take the form it
      // gives them now, so a later report of the same remote meets the same ref.
      const moved = await store.recanonicalizeOrigins(
        (origin) => engine.canonicalOrigin(origin),
        clock.now(),
      );
      if (moved > 0) logger.info({ refs: moved }, 'stored origins in the form their providers give them now');
      if (config.worker.enabled) engine.start();
      // Delivery ids are kept a day (code hosts redeliver within hours); pruned at start too, so
      // a replica that restarts often still prunes.
      const prune = () =>
        void store
          .pruneWebhookDeliveries(new Date(clock.now().getTime() - 86_400_000))
          .catch((error) => logger.warn({ err: errorMessage(error) }, 'pruning webhook delivery ids failed'));
      prune();
      pruneTimer = setInterval(prune, 3_600_000);
      pruneTimer.unref();
      if (db.kind === 'pglite') {
        vacuumTimer = setInterval(
          () =>
            void db
              .exec('VACUUM ANALYZE')
              .catch((error) =>
                logger.warn({ err: errorMessage(error) }, 'VACUUM of the embedded database failed'),
              ),
          options.vacuumIntervalMs ?? VACUUM_INTERVAL_MS,
        );
        vacuumTimer.unref();
      }
    },
    async close() {
      if (pruneTimer) clearInterval(pruneTimer);
      if (vacuumTimer) clearInterval(vacuumTimer);
      http.closeStreams();
      await engine.stop();
      await hub.stop();
      await store.close();
    },
  };
  return runtime;
}
