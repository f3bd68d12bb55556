/**
 * Runs a throw-away PostgreSQL server for one test run and removes every trace of it when the
 * run ends.
 *
 * It is its own process so that cleanup does not depend on the test runner ending well: the
 * runner holds this process's stdin open, and when that closes (teardown, a crash, Ctrl-C, even
 * SIGKILL of the runner) the server is stopped and its folder removed. Protocol: one JSON line on
 * stdout, `{"url", "version", "folder"}` once the server accepts connections, or `{"error"}`.
 */
import { EmbeddedPostgres } from '../helpers/embedded-postgres.ts';

let cluster: EmbeddedPostgres | null = null;
let cleaning: Promise<void> | null = null;

const startup = (async () => {
  cluster = await EmbeddedPostgres.create();
  const version = await cluster.start();
  return { url: cluster.url, version, folder: cluster.folder };
})();

function cleanupAndExit(code: number): Promise<void> {
  cleaning ??= (async () => {
    // Asked to stop while still starting: let the start finish (it is bounded), then undo it.
    await startup.catch(() => {});
    await cluster?.destroy();
    process.exit(code);
  })();
  return cleaning;
}

process.stdin.on('data', () => {});
process.stdin.on('close', () => void cleanupAndExit(0));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(signal, () => void cleanupAndExit(0));
try {
  process.stdout.write(`${JSON.stringify(await startup)}\n`);
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
  );
  await cleanupAndExit(1);
}
