import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import {
  GITSYNC_BIN,
  runGitsync,
  type ServiceProcess,
  schemaUrl,
  startGitsync,
} from './helpers/processes.ts';

const ADMIN = 'mcp-stdio-test-admin-key-0';
const TOKEN = 'ghp_mcp_stdio_owner_token';

type ToolAnswer = {
  content: { type: string; text?: string }[];
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
  structuredContent?: any;
  isError?: boolean;
};

/**
 * `gitsync mcp` (stdio), spawned as an agent would, forwarding to a real `gitsync serve` in front
 * of the GitHub emulator — whose request log shows which tools cost host requests.
 */
describe('gitsync mcp over stdio', () => {
  let db: TestDatabase;
  let gh: GitHubEmulator;
  let dir: string;
  let service: ServiceProcess;
  let ownerKey: string;
  const owner = randomUUID();

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON
    return { status: res.status, json: (await res.json().catch(() => null)) as any };
  };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gh = await startGitHubEmulator();
    gh.addToken(TOKEN);
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    dir = mkdtempSync(join(tmpdir(), 'gitsync-mcp-'));
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        providers: [{ id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl }],
        // No worker: every host request in this test is one a tool asked for.
        worker: { enabled: false },
      }),
    );
    service = await startGitsync(['serve'], {
      GITSYNC_DATABASE_URL: schemaUrl(db.schema),
      GITSYNC_PORT: '0',
      GITSYNC_ADMIN_TOKEN: ADMIN,
      GITSYNC_CONFIG: config,
      GITSYNC_ENCRYPTION_KEY: 'cd'.repeat(32),
    });
    ownerKey = (await api('POST', '/api/v1/keys', { owner_id: owner, name: 'agent' })).json.key;
    expect((await api('PUT', `/api/v1/owners/${owner}/tokens/github`, { token: TOKEN })).status).toBe(204);
  }, 60_000);
  afterAll(async () => {
    await service?.stop();
    await gh?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const spawnMcp = async (env: Record<string, string>) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [GITSYNC_BIN, 'mcp'],
      env: { PATH: process.env.PATH ?? '', ...env },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d) => {
      stderr += d;
    });
    const client = new Client({ name: 'gitsync-stdio-test', version: '1.0.0' });
    await client.connect(transport);
    const call = async (name: string, args: Record<string, unknown>) =>
      (await client.callTool({ name, arguments: args })) as ToolAnswer;
    return { client, call, stderr: () => stderr };
  };
  const text = (a: ToolAnswer) => a.content.map((c) => c.text ?? '').join('\n');

  it('serves every tool; pr_status and wait_for_pr_change make no host request', async () => {
    const chat = randomUUID();
    expect((await api('PUT', `/api/v1/chats/${chat}`, { owner_id: owner })).status).toBe(201);
    gh.model.openPull('acme/app', { head: 'feature', title: 'Add the thing' });
    const mcp = await spawnMcp({ GITSYNC_URL: service.url, GITSYNC_API_KEY: ownerKey });
    try {
      const { tools } = await mcp.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        'pr_feedback',
        'pr_status',
        'refresh_pr',
        'report_push',
        'wait_for_pr_change',
      ]);
      const origin = `${gh.webUrl}/acme/app.git`;
      expect(
        (await mcp.call('report_push', { chat_id: chat, branch: 'feature', origin })).structuredContent,
      ).toEqual({ chat_ids: [chat] });
      const before = gh.log.length;
      const refreshed = await mcp.call('refresh_pr', { chat_id: chat });
      expect(refreshed.structuredContent).toMatchObject({
        outcome: 'updated',
        diff_status: { pr_number: 1 },
      });
      expect(gh.log.length).toBeGreaterThan(before);

      const quiet = gh.log.length;
      const status = await mcp.call('pr_status', { chat_id: chat });
      expect(status.structuredContent.refs).toEqual([
        expect.objectContaining({ git_branch: 'feature', pr_number: 1, pull_request_state: 'open' }),
      ]);
      expect(text(status)).toMatch(/PR #1 open/);
      const waited = await mcp.call('wait_for_pr_change', { chat_id: chat, timeout_s: 1 });
      expect(waited.structuredContent).toMatchObject({ changed: false, chat_id: chat });
      expect(gh.log.slice(quiet)).toEqual([]);

      const feedback = await mcp.call('pr_feedback', { chat_id: chat });
      expect(feedback.isError).toBeFalsy();
      expect(feedback.structuredContent).toMatchObject({ chat_id: chat, refs: [{ git_branch: 'feature' }] });

      const unknown = await mcp.call('pr_status', { chat_id: randomUUID() });
      expect(unknown.isError).toBe(true);
      expect(text(unknown)).toMatch(/^not_found: /);
      expect(mcp.stderr()).not.toContain(ownerKey);
    } finally {
      await mcp.client.close();
    }
  });

  it('a report key may only report', async () => {
    const chat = randomUUID();
    await api('PUT', `/api/v1/chats/${chat}`, { owner_id: owner });
    const report = (await api('POST', '/api/v1/keys', { owner_id: owner, name: 'hook', scope: 'report' }))
      .json.key;
    const mcp = await spawnMcp({ GITSYNC_URL: service.url, GITSYNC_API_KEY: report });
    try {
      const ok = await mcp.call('report_push', {
        chat_id: chat,
        branch: 'b',
        origin: `${gh.webUrl}/acme/app`,
      });
      expect(ok.structuredContent).toEqual({ chat_ids: [chat] });
      expect(text(await mcp.call('pr_status', { chat_id: chat }))).toMatch(/^forbidden: /);
    } finally {
      await mcp.client.close();
    }
  });

  it('a service that cannot be reached, or a wrong key, is a tool failure that says so', async () => {
    const down = await spawnMcp({ GITSYNC_URL: 'http://127.0.0.1:9', GITSYNC_API_KEY: 'gsk_some-key-value' });
    try {
      const r = await down.call('pr_status', { chat_id: randomUUID() });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/^unavailable: cannot reach gitsync at http:\/\/127\.0\.0\.1:9/);
      expect(text(r)).not.toContain('gsk_some-key-value');
    } finally {
      await down.client.close();
    }
    const wrong = await spawnMcp({ GITSYNC_URL: service.url, GITSYNC_API_KEY: 'gsk_wrong-key-value' });
    try {
      const r = await wrong.call('pr_status', { chat_id: randomUUID() });
      expect(text(r)).toMatch(/^unauthorized: .*GITSYNC_API_KEY/);
      expect(text(r)).not.toContain('gsk_wrong-key-value');
    } finally {
      await wrong.client.close();
    }
  });

  it('without GITSYNC_API_KEY it exits at once with a message naming it', async () => {
    const r = await runGitsync(['mcp'], { GITSYNC_URL: service.url, GITSYNC_API_KEY: '' });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/GITSYNC_API_KEY/);
    expect(r.stdout).toBe('');
  });
});
