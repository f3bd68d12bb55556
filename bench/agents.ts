import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { serve } from '@hono/node-server';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import pino from 'pino';
import { loadConfig } from '../src/config/config.ts';
import type { PrFields } from '../src/core/types.ts';
import { openRuntime } from '../src/runtime.ts';
import type { Database } from '../src/store/database.ts';
import { seedRefs } from './seed.ts';
import { percentile, round } from './stats.ts';

const ADMIN = 'bench-agents-admin-key-000';
const ORIGIN = 'https://fake.test/acme/app';

const pct = (xs: number[], p: number) => round(percentile(xs, p), 1);

/** An open PR with failing checks and threads: the shape an agent asks about. */
const pr = (n: number): PrFields => ({
  url: `${ORIGIN}/pull/${n}`,
  pull_request_state: 'open',
  pull_request_title: `PR ${n}`,
  pull_request_draft: false,
  changes_requested: false,
  approved: false,
  reviewer_count: 1,
  additions: 10,
  deletions: 2,
  changed_files: 3,
  commits: 1,
  pr_number: n,
  author_login: 'agent',
  author_avatar_url: null,
  base_branch: 'main',
  head_branch: `b${n}`,
  requested_reviewers: [{ kind: 'user', name: 'reviewer' }],
  head_sha: `${n}`.padStart(40, '0'),
  checks_state: 'failing',
  checks: {
    passed: 4,
    failed: 1,
    pending: 0,
    skipped: 0,
    failing: [{ name: 'test', url: 'https://ci.test/1' }],
  },
  merge_state: 'clean',
  merge_state_reason: null,
  awaiting_approval: false,
  unresolved_threads: 2,
  comments: 5,
});

/**
 * The agents' goals (SPEC §7 "Agents"), over real HTTP with the official MCP client:
 * `pr_status` latency with `chats` chats (each with an open PR) on PostgreSQL, and how long a
 * change takes to reach a caller waiting in `wait_for_pr_change` on one replica when another
 * replica writes it (the event crosses replicas through the shared log and LISTEN/NOTIFY).
 */
export async function measureAgents(
  db: Database,
  databaseUrl: string,
  options: { chats: number; statusCalls: number; waits: number },
) {
  const owners = Array.from({ length: 10 }, () => randomUUID());
  const now = new Date();
  const refs = await seedRefs(db, {
    refs: options.chats,
    owners,
    origin: ORIGIN,
    provider_id: 'fake',
    branch: (n) => `b${n}`,
    chats_created_at: now,
    reported_at: now,
    stale_at: () => new Date(now.getTime() + 3_600_000),
    shows: (n) => ({ pr: pr(n), refreshed_at: now }),
  });
  await db.exec('ANALYZE');
  const config = loadConfig({});
  const open = () =>
    openRuntime(
      {
        ...config,
        database_url: databaseUrl,
        admin_token: ADMIN,
        providers: [],
        worker: { ...config.worker, enabled: false },
        // Latency, not the per-key rate limit, is measured: calls go back to back.
        limits: { ...config.limits, requests_per_second: 1_000_000, request_burst: 1_000_000 },
      },
      { logger: pino({ level: 'silent' }) },
    );
  const a = await open();
  const b = await open();
  await a.start();
  await b.start();
  const server = serve({ fetch: a.http.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  const owner = owners[0]!;
  const key = (await a.keys.createOwnerKey(owner, 'bench agent')).key;
  const mine = refs.filter((r) => r.owner_id === owner);
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
  );
  const status: number[] = [];
  const commitToAnswer: number[] = [];
  const changeToAnswer: number[] = [];
  try {
    // pr_status: warm-up, then timed calls over the owner's chats in turn.
    for (let i = 0; i < 50; i++)
      await client.callTool({ name: 'pr_status', arguments: { chat_id: mine[i]!.chat_id } });
    for (let i = 0; i < options.statusCalls; i++) {
      const chat = mine[i % mine.length]!.chat_id;
      const t0 = performance.now();
      const r = await client.callTool({ name: 'pr_status', arguments: { chat_id: chat } });
      status.push(performance.now() - t0);
      if (r.isError) throw new Error(`pr_status failed: ${JSON.stringify(r.content)}`);
    }
    // wait_for_pr_change on replica a; the change is written through replica b.
    for (let i = 0; i < options.waits; i++) {
      const chat = mine[i % mine.length]!.chat_id;
      const held = a.http.streams.count;
      const answered = client
        .callTool({ name: 'wait_for_pr_change', arguments: { chat_id: chat, timeout_s: 30 } })
        .then((r) => ({ r, at: performance.now() }));
      while (a.http.streams.count === held) await new Promise((r) => setImmediate(r));
      const t0 = performance.now();
      const put = await b.http.app.request(`/api/v1/chats/${chat}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ owner_id: owner, title: `change ${i}` }),
      });
      // The change and its event commit together: the answer is on its way once b has answered.
      const committed = performance.now();
      if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
      const { r, at } = await answered;
      if ((r.structuredContent as { changed?: boolean } | undefined)?.changed !== true)
        throw new Error(`the wait did not see the change: ${JSON.stringify(r.content)}`);
      commitToAnswer.push(at - committed);
      changeToAnswer.push(at - t0);
    }
  } finally {
    await client.close();
    server.close();
    await b.close();
    await a.close();
  }
  return {
    chats: options.chats,
    owner_chats: mine.length,
    pr_status_ms: { p50: pct(status, 50), p99: pct(status, 99), max: pct(status, 100) },
    commit_to_answer_ms: {
      p50: pct(commitToAnswer, 50),
      p99: pct(commitToAnswer, 99),
      max: pct(commitToAnswer, 100),
    },
    change_to_answer_ms: { p50: pct(changeToAnswer, 50), p99: pct(changeToAnswer, 99) },
  };
}
