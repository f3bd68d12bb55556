import { createHmac, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { startGitHubEmulator } from '../emulator/github/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { systemClock } from '../src/core/clock.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { openRuntime } from '../src/runtime.ts';
import { SseClient } from '../test/helpers/sse.ts';
import { percentile, round } from './stats.ts';

const ADMIN = 'bench-freshness-admin-key';
const SECRET = 'bench-webhook-secret';

const pct = (xs: number[], p: number) => round(percentile(xs, p), 1);

/**
 * Freshness (report → event, webhook → event), end to end over HTTP and SSE with the default 10 s tick interval (so only
 * wake-ups can make it fast): report → first event; report → event with PR data when the PR
 * exists; webhook delivery → event with PR data.
 */
export async function measureFreshness(databaseUrl: string, samples: number) {
  const gh = await startGitHubEmulator();
  gh.addToken('ghp_bench', 'bench', 1_000_000);
  gh.model.createRepo({ owner: 'acme', name: 'app' });
  const config = loadConfig({});
  const runtime = await openRuntime(
    { ...config, database_url: databaseUrl, admin_token: ADMIN, providers: [] },
    {
      logger: pino({ level: 'silent' }),
      providers: [
        new GitHubProvider(
          {
            id: 'github',
            type: 'github',
            web_url: gh.webUrl,
            api_url: gh.apiUrl,
            service_token: 'ghp_bench',
            webhook_secret: SECRET,
          },
          { clock: systemClock },
        ),
      ],
    },
  );
  await runtime.start();
  const server = serve({ fetch: runtime.http.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stream = await SseClient.open(`${base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
  const post = (
    path: string,
    body: unknown,
    headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` },
  ) =>
    fetch(`${base}${path}`, {
      method: path.startsWith('/api/v1/chats/') ? 'PUT' : 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const eventFor = (chat: string, withPr: boolean) => (e: { event: string; data: string }) => {
    if (e.event !== 'diff_status_change') return false;
    const d = JSON.parse(e.data);
    return d.chat.id === chat && (!withPr || d.changed_diff_status.pr_number !== null);
  };
  const firstEvent: number[] = [];
  const withPr: number[] = [];
  const viaWebhook: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const owner = randomUUID();
      // 1. report → first event, and report → event with PR data (the PR exists already).
      const chat = randomUUID();
      await post(`/api/v1/chats/${chat}`, { owner_id: owner });
      gh.model.openPull('acme/app', { head: `ready-${i}` });
      const t0 = performance.now();
      await post('/api/v1/git-refs', {
        chat_id: chat,
        origin: `${gh.webUrl}/acme/app`,
        branch: `ready-${i}`,
      });
      await stream.waitFor(eventFor(chat, false), 10_000);
      firstEvent.push(performance.now() - t0);
      await stream.waitFor(eventFor(chat, true), 10_000);
      withPr.push(performance.now() - t0);

      // 2. A ref with no PR yet; the PR is opened outside the agent and GitHub delivers a webhook.
      const other = randomUUID();
      await post(`/api/v1/chats/${other}`, { owner_id: owner });
      await post('/api/v1/git-refs', {
        chat_id: other,
        origin: `${gh.webUrl}/acme/app`,
        branch: `later-${i}`,
      });
      await stream.waitFor(eventFor(other, false), 10_000);
      // Let the worker find "no PR" first, so the ref waits on its backoff.
      await new Promise((r) => setTimeout(r, 300));
      const pull = gh.model.openPull('acme/app', { head: `later-${i}` });
      const delivery = JSON.stringify({
        action: 'opened',
        pull_request: {
          html_url: `${gh.webUrl}/acme/app/pull/${pull.number}`,
          head: { ref: `later-${i}`, repo: { html_url: `${gh.webUrl}/acme/app` } },
          base: { repo: { html_url: `${gh.webUrl}/acme/app` } },
        },
        repository: { html_url: `${gh.webUrl}/acme/app` },
      });
      const t1 = performance.now();
      await post('/api/v1/webhooks/github', JSON.parse(delivery), {
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(delivery).digest('hex')}`,
      });
      await stream.waitFor(eventFor(other, true), 10_000);
      viaWebhook.push(performance.now() - t1);
    }
  } finally {
    await stream.close();
    server.close();
    await runtime.close();
    await gh.close();
  }
  return {
    report_to_first_event_ms: { p50: pct(firstEvent, 50), p99: pct(firstEvent, 99) },
    report_to_pr_event_ms: { p50: pct(withPr, 50), p99: pct(withPr, 99) },
    webhook_to_event_ms: { p50: pct(viaWebhook, 50), p99: pct(viaWebhook, 99) },
  };
}
