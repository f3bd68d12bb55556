import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, packedTarball } from './helpers/pack.ts';
import { startProcess } from './helpers/processes.ts';
import { waitFor } from './helpers/wait.ts';

const run = promisify(execFile);

/**
 * The package as a user gets it: `npm pack` (which builds dist/), installed into an empty
 * project from that tarball, run with plain Node — no TypeScript sources, no tsx. So that this
 * needs no network, npm installs offline from its cache (which `npm ci` filled), by the script the
 * Dockerfile runs (scripts/install-package.mjs): the project's lock file pins gitsync's production
 * dependencies to the versions of ours, since an offline install cannot resolve versions (npm's
 * cache holds packages, not the registry's indexes).
 */
describe('the published package', () => {
  let project: string;
  const bin = () => join(project, 'node_modules', '.bin', 'gitsync');

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'gitsync-package-'));
    await installPacked(await packedTarball(), project);
  }, 300_000);
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('ships compiled JavaScript with type declarations, and neither sources nor tsx', () => {
    const installed = join(project, 'node_modules', 'gitsync');
    expect(existsSync(join(installed, 'dist', 'src', 'index.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'src', 'index.d.ts'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'src', 'store', 'migrations', '0001_initial.sql'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', 'tsx'))).toBe(false);
  });

  it('`gitsync serve` runs on the embedded database and stops cleanly', async () => {
    const serve = await startProcess(bin(), ['serve'], {
      cwd: project,
      env: { GITSYNC_PORT: '0', GITSYNC_DATA_DIR: join(project, 'data'), GITSYNC_LOG_LEVEL: 'warn' },
    });
    try {
      expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${serve.url}/`)).status).toBe(200);
    } finally {
      expect(await serve.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);

  it('`gitsync demo` runs offline, its agents calling the MCP tools with the MCP client it ships with', async () => {
    const demo = await startProcess(bin(), ['demo', '--pace', '0.2'], {
      cwd: project,
      env: { GITSYNC_PORT: '0' },
    });
    try {
      expect(demo.stdout()).toMatch(/dashboard: http:\/\/127\.0\.0\.1:\d+\/#key=/);
      // The agents' first tool call answered: `@modelcontextprotocol/client` is installed with gitsync.
      await waitFor(
        () => /: pushed \S+, report_push$/m.test(demo.stdout()),
        30_000,
        "an agent's report_push",
      );
    } finally {
      expect(await demo.stop('SIGINT')).toBe(0);
    }
  }, 60_000);

  it('`import { openRuntime } from "gitsync"` works in plain Node', async () => {
    const script = join(project, 'embed.mjs');
    writeFileSync(
      script,
      `import { loadConfig, openRuntime } from 'gitsync';
const runtime = await openRuntime({ ...loadConfig({}), data_dir: ${JSON.stringify(join(project, 'embedded'))}, log_level: 'silent' });
await runtime.start();
const res = await runtime.http.fetch(new Request('http://localhost/healthz'));
console.log('healthz', res.status);
await runtime.close();
`,
    );
    const { stdout } = await run(process.execPath, [script], { cwd: project });
    expect(stdout.trim()).toBe('healthz 200');
  }, 60_000);

  it('`import { createClient } from "gitsync/client"` calls a running service, its refusals typed', async () => {
    const serve = await startProcess(bin(), ['serve'], {
      cwd: project,
      env: {
        GITSYNC_PORT: '0',
        GITSYNC_DATA_DIR: join(project, 'client-data'),
        GITSYNC_ADMIN_TOKEN: 'package-test-admin-key-0000',
        GITSYNC_LOG_LEVEL: 'warn',
      },
    });
    try {
      const script = join(project, 'client.mjs');
      writeFileSync(
        script,
        `import { createClient, GitsyncApiError } from 'gitsync/client';
const api = createClient({ url: process.argv[2], key: 'package-test-admin-key-0000' });
const owner = '00000000-0000-4000-8000-000000000001';
const chat = await api.putChat('00000000-0000-4000-8000-000000000002', { owner_id: owner, title: 'from the client' });
const doc = await api.openapi();
const refused = await createClient({ url: process.argv[2], key: 'wrong' }).listChats().catch((e) => e);
console.log(chat.title, doc.openapi, refused instanceof GitsyncApiError, refused.status, refused.code);
`,
      );
      const { stdout } = await run(process.execPath, [script, serve.url], { cwd: project });
      expect(stdout.trim()).toBe('from the client 3.1.0 true 401 unauthorized');
    } finally {
      expect(await serve.stop('SIGTERM')).toBe(0);
    }
  }, 60_000);
});
