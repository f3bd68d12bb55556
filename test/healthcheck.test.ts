import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { runGitsync, type ServiceProcess, schemaUrl, startGitsync } from './helpers/processes.ts';

/** A loopback port nothing listens on: taken from the kernel, then given back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `gitsync healthcheck` as a container runs it, against a real `gitsync serve` and what is not one. */
describe('gitsync healthcheck', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase('postgres', { migrate: false });
    service = await startGitsync(['serve'], {
      GITSYNC_DATABASE_URL: schemaUrl(db.schema),
      GITSYNC_PORT: '0',
      GITSYNC_ADMIN_TOKEN: 'healthcheck-test-admin-key',
    });
    port = Number(new URL(service.url).port);
  });
  afterAll(async () => {
    expect(await service.stop('SIGTERM')).toBe(0);
    await db.drop();
  });

  it('exits 0 when the served instance is ready: --url, GITSYNC_URL, or where GITSYNC_HOST/PORT say it listens', async () => {
    const byFlag = await runGitsync(['healthcheck', '--url', service.url]);
    expect(byFlag).toMatchObject({ code: 0, stderr: '', stdout: `ready: ${service.url}/readyz\n` });
    expect((await runGitsync(['healthcheck'], { GITSYNC_URL: `${service.url}/` })).code).toBe(0);
    // A container listens on every interface and is asked on loopback.
    const listenEnv = { GITSYNC_URL: '', GITSYNC_HOST: '0.0.0.0', GITSYNC_PORT: String(port) };
    const byListenAddress = await runGitsync(['healthcheck'], listenEnv);
    expect(byListenAddress).toMatchObject({ code: 0, stdout: `ready: http://127.0.0.1:${port}/readyz\n` });
  });

  it('exits 1 with one line when the port is closed', async () => {
    const closed = await closedPort();
    const result = await runGitsync(['healthcheck', '--url', `http://127.0.0.1:${closed}`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `gitsync: not ready: http://127.0.0.1:${closed}/readyz: connection refused (is gitsync running there?)\n`,
    );
  });

  it('exits 1 when nothing answers in time', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port: silentPort } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const result = await runGitsync([
        'healthcheck',
        '--url',
        `http://127.0.0.1:${silentPort}`,
        '--timeout',
        '0.5',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `gitsync: not ready: http://127.0.0.1:${silentPort}/readyz: no answer within 0.5 s\n`,
      );
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('exits 1 on an answer other than 200, a redirect included', async () => {
    const redirecting = createHttpServer((_req, res) => res.writeHead(302, { location: service.url }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    const { port: redirectPort } = redirecting.address() as { port: number };
    try {
      const result = await runGitsync(['healthcheck', '--url', `http://127.0.0.1:${redirectPort}`]);
      expect(result).toMatchObject({
        code: 1,
        stderr: `gitsync: not ready: http://127.0.0.1:${redirectPort}/readyz answered 302\n`,
      });
    } finally {
      redirecting.close();
    }
  });

  it('refuses a bad --timeout or address with a usage or configuration error', async () => {
    expect(await runGitsync(['healthcheck', '--timeout', 'soon'])).toMatchObject({ code: 2 });
    const badUrl = await runGitsync(['healthcheck', '--url', 'ftp://host']);
    expect(badUrl.code).toBe(78);
    expect(badUrl.stderr).toMatch(/--url must be an http\(s\) URL/);
  });

  // Last: it takes the served instance's schema away.
  it("exits 1 with the service's reason when it answers 503 (its database not migrated)", async () => {
    await db.db.query(`DROP SCHEMA ${db.schema} CASCADE`);
    const result = await runGitsync(['healthcheck', '--url', service.url]);
    expect(result).toMatchObject({
      code: 1,
      stderr: `gitsync: not ready: ${service.url}/readyz answered 503: database unreachable or not migrated\n`,
    });
  });
});
