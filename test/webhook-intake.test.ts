import { createHmac, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.ts';
import type { Limits } from '../src/core/limits.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { schemaUrl } from './helpers/processes.ts';
import { waitFor } from './helpers/wait.ts';

const GITHUB_SECRET = 'github-webhook-secret';
const GITLAB_SECRET = 'gitlab-webhook-token';

/**
 * Webhook intake under uploads that never prove their signature: real sockets from 127.0.0.x
 * trickling bytes into `gitsync`'s HTTP server on 127.0.0.1 (Node's server, as `gitsync serve`
 * runs it), GitHub (HMAC) and GitLab (shared token) configured with secrets.
 */
describe('webhook intake', () => {
  let db: TestDatabase | undefined;
  let runtime: Runtime | undefined;
  let server: ServerType | undefined;
  const uploads: Trickle[] = [];
  afterEach(async () => {
    for (const u of uploads.splice(0)) u.stop();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    await runtime?.close();
    runtime = undefined;
    await db?.drop();
    db = undefined;
  });

  const start = async (limits: Partial<Limits>) => {
    db = await createTestDatabase('postgres', { migrate: false });
    const file = join(tmpdir(), `gitsync-intake-${randomUUID()}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        providers: [
          { id: 'github', type: 'github', web_url: 'https://github.com', webhook_secret_env: 'GH_SECRET' },
          { id: 'gitlab', type: 'gitlab', web_url: 'https://gitlab.com', webhook_secret_env: 'GL_SECRET' },
        ],
      }),
    );
    const config = loadConfig({ GITSYNC_CONFIG: file, GH_SECRET: GITHUB_SECRET, GL_SECRET: GITLAB_SECRET });
    runtime = await openRuntime(
      {
        ...config,
        database_url: schemaUrl(db.schema),
        admin_token: 'intake-admin-key-0123456789',
        encryption_key: 'ef'.repeat(32),
        worker: { ...config.worker, enabled: false },
        limits: { ...config.limits, ...limits },
      },
      { logger: pino({ level: 'silent' }) },
    );
    await runtime.start();
    const s = serve({ fetch: runtime.http.fetch, hostname: '127.0.0.1', port: 0 });
    server = s;
    await new Promise<void>((r) => (s.listening ? r() : s.once('listening', () => r())));
    return (s.address() as AddressInfo).port;
  };

  /** An upload over a raw socket: headers at once, then the body a byte every `everyMs` (if set). */
  const trickle = (
    port: number,
    path: string,
    headers: Record<string, string>,
    opts: { from?: string; everyMs?: number; length?: number } = {},
  ): Trickle => {
    const length = opts.length ?? 1000;
    const socket: Socket = connect({ host: '127.0.0.1', port, localAddress: opts.from ?? '127.0.0.1' });
    let answer = '';
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d) => {
      answer += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      ended = true;
      clearInterval(timer);
    });
    socket.write(
      [
        `POST ${path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        `Content-Length: ${length}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        '',
        '',
      ].join('\r\n'),
    );
    if (opts.everyMs !== undefined) {
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(' ');
      }, opts.everyMs);
    }
    const upload: Trickle = {
      /** Answered (a status line came back) or closed by the server. */
      done: () => ended || /^HTTP\/1\.1 \d{3}/.test(answer),
      status: () => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0) || null,
      send: (text: string) => socket.write(text),
      stop: () => {
        clearInterval(timer);
        socket.destroy();
      },
    };
    uploads.push(upload);
    return upload;
  };

  const fakeSignature = { 'X-GitHub-Event': 'ping', 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` };
  const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
  const signed = (body: string) => ({
    'x-github-event': 'ping',
    'x-github-delivery': randomUUID(),
    'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`,
  });
  const deliver = (port: number, provider: string, body: string, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}/api/v1/webhooks/${provider}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('uploads with a fake signature, however many, do not make a genuine delivery wait or get 503', async () => {
    // A long deadline and a rate any trickle meets: only the slots are under test here.
    const port = await start({
      concurrent_webhook_uploads: 4,
      webhook_uploads_per_client: 2,
      webhook_upload_timeout_ms: 120_000,
      webhook_min_bytes_per_second: 1,
    });
    const fakes = Array.from({ length: 20 }, () =>
      trickle(port, '/api/v1/webhooks/github', fakeSignature, { everyMs: 100 }),
    );
    // Every fake beyond the provider's slots has been answered or cut: the slots are full of fakes.
    await waitFor(() => fakes.filter((f) => !f.done()).length <= 4, 20_000, 'the fakes to fill the slots');
    const genuine = await deliver(port, 'github', ping, signed(ping));
    expect(genuine.status).toBe(202);
    expect(await genuine.json()).toEqual({ status: 'accepted' });
    // Another provider's slots are its own, and its shared secret is checked before the body: a
    // wrong token is refused at once, the right one accepted, whatever GitHub's slots hold.
    for (let i = 0; i < 8; i++) trickle(port, '/api/v1/webhooks/github', fakeSignature, { everyMs: 100 });
    const wrongToken = trickle(port, '/api/v1/webhooks/gitlab', { 'X-Gitlab-Token': 'guess' });
    await waitFor(wrongToken.done, 10_000, 'the wrong GitLab token to be refused');
    expect(wrongToken.status()).toBe(401);
    const push = JSON.stringify({
      ref: 'refs/heads/main',
      project: { web_url: 'https://gitlab.com/acme/app' },
    });
    const gitlab = await deliver(port, 'gitlab', push, {
      'x-gitlab-token': GITLAB_SECRET,
      'x-gitlab-event': 'Push Hook',
    });
    expect(gitlab.status).toBe(202);
  });

  it('one address cannot cut the uploads of another: its fakes only displace each other', async () => {
    const port = await start({
      concurrent_webhook_uploads: 4,
      webhook_uploads_per_client: 2,
      webhook_upload_timeout_ms: 120_000,
      webhook_min_bytes_per_second: 1,
    });
    const body = JSON.stringify({ zen: 'Half now, half later.', hook_id: 2, pad: 'x'.repeat(200) });
    const headers = signed(body);
    // A genuine delivery from another address, half sent (it holds a slot, not proven yet).
    const genuine = trickle(port, '/api/v1/webhooks/github', headers, {
      from: '127.0.0.3',
      length: Buffer.byteLength(body),
    });
    genuine.send(body.slice(0, 100));
    const fakes = Array.from({ length: 12 }, () =>
      trickle(port, '/api/v1/webhooks/github', fakeSignature, { from: '127.0.0.2', everyMs: 100 }),
    );
    await waitFor(
      () => fakes.filter((f) => !f.done()).length <= 2,
      20_000,
      'the fakes to displace each other',
    );
    expect(genuine.done()).toBe(false);
    genuine.send(body.slice(100));
    await waitFor(genuine.done, 10_000, 'the genuine delivery to be answered');
    expect(genuine.status()).toBe(202);
  });

  it('an upload slower than webhook_min_bytes_per_second is cut', async () => {
    const port = await start({
      webhook_upload_timeout_ms: 120_000,
      webhook_min_bytes_per_second: 1_000,
    });
    const slow = [1, 2, 3].map((i) =>
      trickle(port, '/api/v1/webhooks/github', fakeSignature, { from: `127.0.0.${i + 3}`, everyMs: 50 }),
    );
    await waitFor(() => slow.every((u) => u.done()), 20_000, 'the slow uploads to be cut');
    for (const u of slow) expect([408, null]).toContain(u.status());
  });
});

interface Trickle {
  done(): boolean;
  status(): number | null;
  send(text: string): void;
  stop(): void;
}
