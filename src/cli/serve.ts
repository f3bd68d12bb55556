import { loadConfig } from '../config/config.ts';
import { errorMessage } from '../core/errors.ts';
import { openRuntime } from './runtime.ts';

/** Watchdog: if a graceful stop hangs this long, exit anyway (with a failure code). */
const SHUTDOWN_GRACE_MS = 15_000;

export async function serve(): Promise<void> {
  const config = loadConfig();
  const runtime = await openRuntime(config);
  const { logger, engine } = runtime;
  if (config.worker.enabled) engine.start();
  logger.info(
    {
      database: config.database_url ? 'postgresql' : `pglite (${config.data_dir})`,
      providers: config.providers.map((p) => p.id),
      worker: config.worker.enabled,
    },
    'gitsync is running',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping: finishing the tick in flight');
      const watchdog = setTimeout(() => {
        logger.error({}, 'shutdown took too long; exiting');
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      watchdog.unref();
      runtime
        .close()
        .catch((error) => logger.error({ err: errorMessage(error) }, 'error during shutdown'))
        .finally(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info({}, 'stopped');
}
