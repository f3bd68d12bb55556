import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { serve as listen } from '@hono/node-server';
import { loadConfig } from '../config/config.ts';
import { errorMessage } from '../core/errors.ts';
import { openRuntime } from '../runtime.ts';

/**
 * Writes the generated admin key to `<dataDir>/admin-key`, mode 0600 from the first byte (written
 * under a temporary name and renamed into place, so a file left by an earlier start with a looser
 * mode is replaced, never reused). Returns the file's path.
 */
function writeAdminKeyFile(dataDir: string, key: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'admin-key');
  const draft = `${file}.${process.pid}.tmp`;
  // `wx`: never write through a file (or link) that is already there.
  rmSync(draft, { force: true });
  writeFileSync(draft, `${key}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(draft, file);
  return file;
}

/**
 * V8 settings for a service that should stay small (figures in docs/benchmarks.md, "Footprint and
 * start time"):
 * - `--optimize-for-size`: V8 grows its heap less eagerly and collects sooner.
 * - `--liftoff-only`, with the embedded database: PGlite's WebAssembly stays on V8's baseline
 *   compiler instead of being compiled again by the optimizing one in the background.
 * With both, 10,000 refs on the embedded database held 213 MB after a worker pass instead of
 * 435 MB (135 instead of 239 on PostgreSQL); the pass against an instant code host was slower
 * (444 against 613 refreshes/s embedded), a small part of a refresh against a real host.
 * A flag the command line or NODE_OPTIONS names (also as `--no-…`) wins over these.
 */
export function serviceV8Flags(
  embedded: boolean,
  given: readonly string[] = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)],
): string[] {
  // A flag's name alone: `--no-liftoff-only` and `--liftoff_only` name `--liftoff-only`.
  const nameOf = (arg: string) =>
    arg
      .split('=')[0]!
      .replaceAll('_', '-')
      .replace(/^--no-?/, '--');
  const named = new Set(given.map(nameOf));
  const wanted = embedded ? ['--optimize-for-size', '--liftoff-only'] : ['--optimize-for-size'];
  return wanted.filter((flag) => !named.has(flag));
}

/** Watchdog: if a graceful stop hangs this long, exit anyway (with a failure code). */
const SHUTDOWN_GRACE_MS = 15_000;

export async function serve(): Promise<void> {
  // Milliseconds since the process started: Node's own start and loading gitsync's modules.
  const loadedAt = performance.now();
  const config = loadConfig();
  // Before the runtime opens: PGlite's WebAssembly is compiled as the database opens.
  const v8Flags = serviceV8Flags(!config.database_url);
  for (const flag of v8Flags) v8.setFlagsFromString(flag);
  const runtime = await openRuntime(config);
  const { logger } = runtime;
  const startingAt = performance.now();
  await runtime.start();
  const startedAt = performance.now();
  const server = listen({ fetch: runtime.http.fetch, hostname: config.host, port: config.port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch(async (error) => {
    await runtime.close();
    throw new Error(
      `cannot listen on ${config.host}:${config.port} (GITSYNC_HOST / GITSYNC_PORT): ${errorMessage(error)}`,
    );
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  if (runtime.generatedAdminKey) {
    if (process.stdout.isTTY) {
      // A person is watching: shown once (only its hash is stored).
      process.stdout.write(
        `gitsync: generated the admin API key (shown only now; set GITSYNC_ADMIN_TOKEN to choose your own):\n  ${runtime.generatedAdminKey}\n`,
      );
    } else {
      // Output that is not a terminal ends up in log collectors: the key goes to a private file instead.
      try {
        const file = writeAdminKeyFile(config.data_dir, runtime.generatedAdminKey);
        process.stdout.write(
          `gitsync: generated the admin API key into ${file} (readable only by this user; set GITSYNC_ADMIN_TOKEN to choose your own)\n`,
        );
        logger.info({ file }, 'generated the admin API key into a file');
      } catch (error) {
        // The key is lost, not leaked; setting GITSYNC_ADMIN_TOKEN revokes it at the next start.
        logger.error(
          { err: errorMessage(error) },
          'cannot write the generated admin API key into GITSYNC_DATA_DIR; set GITSYNC_ADMIN_TOKEN to choose an admin key',
        );
      }
    }
  }
  // Signals are handled before readiness is announced: whoever reads "listening" may stop us at once.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping: no new work, finishing the tick in flight');
      const watchdog = setTimeout(() => {
        logger.error({}, 'shutdown took too long; exiting');
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      watchdog.unref();
      server.close();
      runtime
        .close()
        .catch((error) => logger.error({ err: errorMessage(error) }, 'error during shutdown'))
        .finally(() => {
          (server as import('node:http').Server).closeAllConnections();
          resolve();
        });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write(`gitsync: listening on ${url} (dashboard: ${url}/)\n`);
  logger.info(
    {
      url,
      database: config.database_url ? 'postgresql' : `pglite (${config.data_dir})`,
      providers: runtime.providers.providers.map((p) => p.config.id),
      worker: config.worker.enabled,
      v8_flags: v8Flags,
      // Where the start went, in ms (`total`: from the process's start to listening).
      startup: {
        modules_ms: Math.round(loadedAt),
        ...runtime.startup,
        start_ms: Math.round(startedAt - startingAt),
        total_ms: Math.round(performance.now()),
      },
    },
    'gitsync is running',
  );
  await stopped;
  logger.info({}, 'stopped');
}
