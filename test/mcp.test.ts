import { randomUUID } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RateLimitedError } from '../src/core/errors.ts';
import { ADMIN_KEY, createServiceHarness, type ServiceHarness } from './helpers/service.ts';
import { waitFor } from './helpers/wait.ts';

const REPO = 'https://fake.test/acme/app';
const TOOLS = ['pr_feedback', 'pr_status', 'refresh_pr', 'report_push', 'wait_for_pr_change'];

type ToolAnswer = {
  content: { type: string; text?: string }[];
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
  structuredContent?: any;
  isError?: boolean;
};

/** `POST /mcp` with the official MCP client, over the app in-process (SPEC §6.2 "MCP"). */
describe('MCP over Streamable HTTP', () => {
  let s: ServiceHarness;
  const clients: Client[] = [];
  beforeEach(async () => {
    s = await createServiceHarness();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    await s.close();
  });

  const connect = async (key: string | null, headers: Record<string, string> = {}) => {
    const client = new Client({ name: 'gitsync-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL('http://127.0.0.1/mcp'), {
      requestInit: { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } },
      fetch: async (url, init) => s.http.app.request(String(url), init),
    });
    await client.connect(transport);
    clients.push(client);
    const call = async (name: string, args: Record<string, unknown>) =>
      (await client.callTool({ name, arguments: args })) as ToolAnswer;
    return { client, call };
  };
  const text = (a: ToolAnswer) => a.content.map((c) => c.text ?? '').join('\n');
  const newChat = async (owner = s.owner) => {
    const id = randomUUID();
    await s.call('PUT', `/api/v1/chats/${id}`, { body: { owner_id: owner } });
    return id;
  };
  /** A chat with a ref whose open PR gitsync has read (through refresh now). */
  const trackedChat = async (branch = 'feature') => {
    const chat = await newChat();
    await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: { token: 'tok' } });
    await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch } });
    s.host.openPull('acme/app', {
      head_branch: branch,
      checks_state: 'failing',
      checks: {
        passed: 3,
        failed: 1,
        pending: 0,
        skipped: 0,
        failing: [{ name: 'test', url: 'https://ci.test/1' }],
      },
      unresolved_threads: 2,
    });
    const r = await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`);
    expect(r.json.outcome).toBe('updated');
    return chat;
  };

  it('lists the five tools, each with a description, an input and an output schema', async () => {
    const { client } = await connect(s.ownerKey);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(40);
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.inputSchema.required, tool.name).toContain('chat_id');
      expect(tool.outputSchema?.type, tool.name).toBe('object');
    }
  });

  it('pr_status answers from gitsync’s records: readiness, checks, reviews — and no host request', async () => {
    const chat = await trackedChat();
    const { call } = await connect(s.ownerKey);
    const before = {
      ...s.host.calls,
      recent: s.host.recent.length,
      visibility: s.host.visibilityChecks.length,
    };
    const answer = await call('pr_status', { chat_id: chat });
    expect(answer.isError).toBeFalsy();
    expect(answer.structuredContent).toEqual({
      chat_id: chat,
      refs: [
        expect.objectContaining({
          git_remote_origin: REPO,
          git_branch: 'feature',
          url: `${REPO}/pull/1`,
          pr_number: 1,
          pull_request_state: 'open',
          ready: false,
          blockers: expect.arrayContaining([expect.objectContaining({ kind: 'checks_failing' })]),
          checks_state: 'failing',
          checks: expect.objectContaining({ failed: 1 }),
          merge_state: 'clean',
          approved: false,
          changes_requested: false,
          unresolved_threads: 2,
          requested_reviewers: [],
          head_sha: expect.any(String),
          refreshed_at: expect.any(String),
        }),
      ],
    });
    expect(Object.keys(answer.structuredContent.refs[0]).sort()).toEqual(
      [
        'approved',
        'blockers',
        'changes_requested',
        'checks',
        'checks_state',
        'git_branch',
        'git_remote_origin',
        'head_sha',
        'merge_state',
        'pr_number',
        'pull_request_state',
        'ready',
        'refreshed_at',
        'requested_reviewers',
        'unresolved_threads',
        'url',
      ].sort(),
    );
    expect(text(answer)).toMatch(/PR #1 open/);
    expect(text(answer)).toMatch(/checks_failing/);
    expect({
      ...s.host.calls,
      recent: s.host.recent.length,
      visibility: s.host.visibilityChecks.length,
    }).toEqual(before);
  });

  it('wait_for_pr_change answers with the refs when the chat changes, and with the latest id at the timeout', async () => {
    const chat = await trackedChat();
    const { call } = await connect(s.ownerKey);
    const quiet = await call('wait_for_pr_change', { chat_id: chat, timeout_s: 1 });
    expect(quiet.isError).toBeFalsy();
    expect(quiet.structuredContent).toEqual({
      changed: false,
      event_id: expect.stringMatching(/^\d+$/),
      chat_id: chat,
    });
    const pending = call('wait_for_pr_change', { chat_id: chat, after: quiet.structuredContent.event_id });
    await waitFor(() => s.http.streams.count === 1, 10_000, 'the wait to open');
    s.host.updatePull('acme/app', 1, { checks_state: 'passing', unresolved_threads: 0 });
    await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`);
    const changed = await pending;
    expect(changed.structuredContent).toMatchObject({
      changed: true,
      chat_id: chat,
      refs: [{ git_branch: 'feature', checks_state: 'passing', unresolved_threads: 0 }],
    });
    expect(BigInt(changed.structuredContent.event_id)).toBeGreaterThan(
      BigInt(quiet.structuredContent.event_id),
    );
    expect(text(changed)).toMatch(/^changed/);
    expect(s.http.streams.count).toBe(0);
  });

  it('refresh_pr and report_push answer what the API answers', async () => {
    const chat = await trackedChat();
    const { call } = await connect(s.ownerKey);
    const refreshed = await call('refresh_pr', { chat_id: chat, origin: REPO, branch: 'feature' });
    expect(refreshed.structuredContent).toMatchObject({
      outcome: 'updated',
      diff_status: { git_branch: 'feature', pr_number: 1 },
    });
    const reported = await call('report_push', { chat_id: chat, branch: 'second', origin: REPO });
    expect(reported.structuredContent).toEqual({ chat_ids: [chat] });
    const status = await call('pr_status', { chat_id: chat });
    expect(status.structuredContent.refs.map((r: { git_branch: string }) => r.git_branch).sort()).toEqual([
      'feature',
      'second',
    ]);
  });

  it('pr_feedback leaves out non-members’ threads unless include_untrusted, and passes since', async () => {
    const chat = await trackedChat();
    const thread = (author: string, trusted: boolean | null) => ({
      path: 'src/a.ts',
      line: 3,
      author,
      author_association: trusted ? 'MEMBER' : 'NONE',
      trusted,
      body: `please fix (${author})`,
      url: `${REPO}/pull/1#${author}`,
    });
    s.host.updatePull('acme/app', 1, {
      feedback: {
        failing_checks: [{ name: 'test', url: 'https://ci.test/1', summary: '1 failed' }],
        unresolved_threads: [thread('member', true), thread('stranger', false)],
        changes_requested_by: [],
        truncated: false,
      },
    });
    const { call } = await connect(s.ownerKey);
    const trusted = await call('pr_feedback', { chat_id: chat });
    expect(trusted.isError).toBeFalsy();
    expect(
      trusted.structuredContent.refs[0].unresolved_threads.map((t: { author: string }) => t.author),
    ).toEqual(['member']);
    expect(trusted.structuredContent.hidden_untrusted).toBe(1);
    expect(text(trusted)).toMatch(/failing check test/);
    expect(text(trusted)).toMatch(/> please fix \(member\)/);
    expect(text(trusted)).not.toMatch(/stranger/);
    const all = await call('pr_feedback', { chat_id: chat, include_untrusted: true });
    expect(all.structuredContent.refs[0].unresolved_threads).toHaveLength(2);
    expect(text(all)).toMatch(/stranger \[not a repository member\]/);
    // Nothing changed since that answer: its cursor leaves everything out.
    const since = await call('pr_feedback', {
      chat_id: chat,
      include_untrusted: true,
      since: all.structuredContent.cursor,
    });
    expect(since.structuredContent.refs[0].unresolved_threads).toEqual([]);
    expect(since.structuredContent.refs[0].failing_checks).toEqual([]);
  });

  it('failures are isError results whose text starts with the error code', async () => {
    const { call } = await connect(s.ownerKey);
    const unknown = await call('pr_status', { chat_id: randomUUID() });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/^not_found: /);
    // Another owner's chat is not found either.
    const theirs = await newChat(randomUUID());
    expect(text(await call('wait_for_pr_change', { chat_id: theirs, timeout_s: 1 }))).toMatch(/^not_found: /);
    // Arguments the schema refuses.
    const bad = await call('pr_status', { chat_id: 'not-a-uuid' });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/^bad_request: /);
    expect(text(await call('wait_for_pr_change', { chat_id: theirs, timeout_s: 56 }))).toMatch(
      /^bad_request: /,
    );
    // No token for the ref's provider.
    const chat = await newChat();
    await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'b' } });
    const noToken = await call('refresh_pr', { chat_id: chat });
    expect(noToken.isError).toBe(true);
    expect(text(noToken)).toMatch(/^no_token: /);
    // The host's rate limit, with how long to wait.
    await s.call('PUT', `/api/v1/owners/${s.owner}/tokens/fake`, { body: { token: 'tok' } });
    s.host.failWith = () => new RateLimitedError(new Date(s.clock.now().getTime() + 30_000));
    const limited = await call('refresh_pr', { chat_id: chat });
    expect(limited.isError).toBe(true);
    expect(text(limited)).toMatch(/^rate_limited: .*retry after 30 s/);
  });

  it('the key’s request rate applies to tool calls: rate_limited', async () => {
    await s.close();
    s = await createServiceHarness({ limits: { requests_per_second: 1, request_burst: 2 } });
    const chat = await newChat();
    const { call } = await connect(s.ownerKey);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await call('pr_status', { chat_id: chat }));
    const limited = answers.find((a) => a.isError);
    expect(limited && text(limited)).toMatch(/^rate_limited: .*retry after \d+ s/);
  });

  it('a report key may call report_push and nothing else (forbidden)', async () => {
    const chat = await trackedChat();
    const report = (await s.keys.createOwnerKey(s.owner, 'agent checkout', 'report')).key;
    const { call } = await connect(report);
    expect(
      (await call('report_push', { chat_id: chat, branch: 'next', origin: REPO })).structuredContent,
    ).toEqual({
      chat_ids: [chat],
    });
    for (const [name, args] of [
      ['pr_status', { chat_id: chat }],
      ['pr_feedback', { chat_id: chat }],
      ['wait_for_pr_change', { chat_id: chat, timeout_s: 1 }],
      ['refresh_pr', { chat_id: chat }],
    ] as const) {
      const answer = await call(name, args);
      expect(answer.isError, name).toBe(true);
      expect(text(answer), name).toMatch(/^forbidden: /);
    }
    // And another owner's chat stays not found for it.
    const theirs = await newChat(randomUUID());
    expect(text(await call('report_push', { chat_id: theirs, branch: 'x', origin: REPO }))).toMatch(
      /^not_found: /,
    );
  });

  it('the admin key sees every owner’s chats', async () => {
    const chat = await trackedChat();
    const { call } = await connect(ADMIN_KEY);
    expect((await call('pr_status', { chat_id: chat })).structuredContent.refs).toHaveLength(1);
  });

  it('401 without a valid key; browsers of other origins and other host names are refused', async () => {
    await expect(connect(null)).rejects.toThrow();
    await expect(connect('gsk_not-a-key')).rejects.toThrow();
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    };
    const post = (headers: Record<string, string>) =>
      s.http.app.request('/mcp', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${s.ownerKey}`,
          ...headers,
        },
        body: JSON.stringify(init),
      });
    const noKey = await s.http.app.request('/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(init),
    });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await post({ origin: 'http://evil.example.com' })).status).toBe(403);
    expect((await post({ host: 'evil.example.com' })).status).toBe(421);
    expect((await post({ host: 'evil.example.com', origin: 'http://evil.example.com' })).status).toBe(421);
    // A normal client (no Origin), and a page of the service's own origin, are served.
    expect((await post({ host: '127.0.0.1:7420' })).status).toBe(200);
    expect((await post({ host: 'localhost:7420', origin: 'http://localhost:7420' })).status).toBe(200);
  });
});
