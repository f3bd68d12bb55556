/**
 * Every route of the HTTP service, with the schemas its request and answers are read and written
 * with (`./schemas.ts`) and the error codes it may answer, by status. `./openapi.ts` turns this
 * into the OpenAPI document served at `GET /api/v1/openapi.json`; test/openapi.test.ts checks that
 * every route the app registers is here and that real answers match.
 */
import type { z } from 'zod';
import {
  type ApiErrorCode,
  budgetAnswer,
  chat,
  chatBody,
  chatIdParams,
  chatList,
  createdKey,
  eventsQuery,
  feedbackAnswer,
  feedbackQuery,
  healthAnswer,
  keyBody,
  keyIdParams,
  keyList,
  listQuery,
  ownerParams,
  ownerProviderParams,
  providerParams,
  readyAnswer,
  refBody,
  refreshAnswer,
  refreshBody,
  reportAnswer,
  streamTicket,
  tokenBody,
  waitAnswer,
  waitQuery,
  webhookAnswer,
} from './schemas.ts';

/**
 * How a route is authenticated: `key` — `Authorization: Bearer <key>` (SPEC §6); `none`;
 * `signature` — the code host's own (webhooks); `metrics` — none, or GITSYNC_METRICS_TOKEN as a
 * bearer key when that is set.
 */
export type Auth = 'key' | 'none' | 'signature' | 'metrics';

/** Media types answers come in; `json` unless said. */
export type Media =
  | 'application/json'
  | 'text/event-stream'
  | 'text/plain'
  | 'text/html'
  | 'text/javascript'
  | 'text/css';

export interface Answer {
  description: string;
  /** The body's schema (JSON answers); none for 204 and for text answers. */
  schema?: z.ZodType;
  /** Its media types (JSON when not said). */
  media?: Media | readonly Media[];
}

export interface Operation {
  method: 'get' | 'put' | 'post' | 'delete';
  /** OpenAPI form: `{name}` for a path parameter. */
  path: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  auth: Auth;
  /** A report key may call it (the one route an agent's checkout key may call). */
  reportKey?: boolean;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The body may be left out (then `{}`). */
  bodyOptional?: boolean;
  /** The request's body is not JSON gitsync defines (a code host's delivery, an MCP message). */
  foreignBody?: { description: string };
  responses: Partial<Record<number, Answer>>;
  /** Error codes by status, besides those every route of its `auth` may answer (see `commonErrors`). */
  errors: Partial<Record<number, readonly ApiErrorCode[]>>;
}

const json = <S extends z.ZodType>(description: string, schema: S) => ({ description, schema });
const noContent = { description: 'done; no body' };

/** The failures every request of a kind may meet, whatever its route. */
export function commonErrors(op: Operation): Partial<Record<number, readonly ApiErrorCode[]>> {
  const errors: Partial<Record<number, readonly ApiErrorCode[]>> = {
    // A Host header the service does not answer to (GITSYNC_ALLOWED_HOSTS).
    421: ['misdirected_request'],
    500: ['internal'],
  };
  if (op.auth === 'key') {
    errors[401] = ['unauthorized'];
    // The key's request rate (requests_per_second, request_burst).
    errors[429] = ['rate_limited'];
    // The key is looked up in the database.
    errors[503] = ['unavailable'];
    // A report key may post ref reports and nothing else; an owner key acts for its owner only.
    errors[403] = ['forbidden'];
    if (op.body || op.bodyOptional) errors[413] = ['payload_too_large'];
  }
  return errors;
}

/** Every error code of a route, by status: its own and the common ones. */
export function errorsOf(op: Operation): Map<number, ApiErrorCode[]> {
  const out = new Map<number, ApiErrorCode[]>();
  for (const source of [commonErrors(op), op.errors]) {
    for (const [status, codes] of Object.entries(source)) {
      const merged = new Set([...(out.get(Number(status)) ?? []), ...(codes ?? [])]);
      out.set(Number(status), [...merged]);
    }
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}

const CHAT_NOT_FOUND: readonly ApiErrorCode[] = ['not_found'];
const BAD_ID: readonly ApiErrorCode[] = ['bad_request'];

export const OPERATIONS = {
  putChat: {
    method: 'put',
    path: '/api/v1/chats/{id}',
    summary: 'Create or update a chat',
    description:
      "Omitted fields keep their value. Another owner's chat of that id answers 404 (never a 409 that reveals it).",
    tags: ['chats'],
    auth: 'key',
    params: chatIdParams,
    body: chatBody,
    responses: { 200: json('updated: the chat', chat), 201: json('created: the chat', chat) },
    errors: {
      400: ['bad_request', 'chat_too_deep'],
      404: CHAT_NOT_FOUND,
      409: ['conflict', 'too_many_children'],
      429: ['quota_exceeded'],
    },
  },
  archiveChat: {
    method: 'post',
    path: '/api/v1/chats/{id}/archive',
    summary: 'Archive a chat and its subtree',
    tags: ['chats'],
    auth: 'key',
    params: chatIdParams,
    responses: { 200: json('the chat', chat) },
    errors: { 400: BAD_ID, 404: CHAT_NOT_FOUND },
  },
  unarchiveChat: {
    method: 'post',
    path: '/api/v1/chats/{id}/unarchive',
    summary: 'Unarchive a chat and its subtree',
    tags: ['chats'],
    auth: 'key',
    params: chatIdParams,
    responses: { 200: json('the chat', chat) },
    errors: { 400: BAD_ID, 404: CHAT_NOT_FOUND, 409: ['conflict'] },
  },
  deleteChat: {
    method: 'delete',
    path: '/api/v1/chats/{id}',
    summary: 'Delete a chat, its subtree and their refs',
    tags: ['chats'],
    auth: 'key',
    params: chatIdParams,
    responses: { 204: noContent },
    errors: { 400: BAD_ID, 404: CHAT_NOT_FOUND },
  },
  listChats: {
    method: 'get',
    path: '/api/v1/chats',
    summary: 'Root chats, most recently updated first, children embedded',
    tags: ['chats'],
    auth: 'key',
    query: listQuery,
    responses: { 200: json('a page of chats; follow next_cursor for the next', chatList) },
    errors: { 400: ['bad_request'] },
  },
  getChat: {
    method: 'get',
    path: '/api/v1/chats/{id}',
    summary: 'A chat with all its children',
    tags: ['chats'],
    auth: 'key',
    params: chatIdParams,
    responses: { 200: json('the chat', chat) },
    errors: { 400: BAD_ID, 404: CHAT_NOT_FOUND },
  },
  reportRef: {
    method: 'post',
    path: '/api/v1/git-refs',
    summary: 'Report a ref (a branch of an origin) for a chat or a workspace',
    tags: ['chats'],
    auth: 'key',
    reportKey: true,
    body: refBody,
    responses: { 202: json('recorded; the chats it reached', reportAnswer) },
    errors: { 400: ['bad_request'], 404: CHAT_NOT_FOUND, 429: ['quota_exceeded'] },
  },
  getFeedback: {
    method: 'get',
    path: '/api/v1/chats/{id}/feedback',
    summary: 'Per ref of the chat, what an agent needs to act on, read from the code host now',
    tags: ['agents'],
    auth: 'key',
    params: chatIdParams,
    query: feedbackQuery,
    responses: { 200: json('the feedback', feedbackAnswer) },
    errors: { 400: ['bad_request'], 404: CHAT_NOT_FOUND },
  },
  refreshNow: {
    method: 'post',
    path: '/api/v1/chats/{id}/diff-status/refresh',
    summary: 'Refresh a ref from its code host now (default: the primary ref)',
    tags: ['chats'],
    auth: 'key',
    params: chatIdParams,
    body: refreshBody,
    bodyOptional: true,
    responses: { 200: json('the outcome and the ref as read now', refreshAnswer) },
    errors: {
      400: ['bad_request'],
      404: ['not_found', 'no_ref'],
      409: ['paused'],
      422: ['no_provider', 'no_token', 'token_rejected', 'encryption_key_required', 'misconfigured'],
      502: ['provider_error'],
    },
  },
  waitForChange: {
    method: 'get',
    path: '/api/v1/chats/{id}/wait',
    summary: 'Wait until the chat or one of its refs changes, or the timeout',
    description: "An open wait holds one of the key's `streams_per_key` slots.",
    tags: ['agents'],
    auth: 'key',
    params: chatIdParams,
    query: waitQuery,
    responses: { 200: json('changed, with the chat as it is now; or not, at the timeout', waitAnswer) },
    errors: { 400: ['bad_request'], 404: CHAT_NOT_FOUND, 429: ['too_many_streams'] },
  },
  streamEvents: {
    method: 'get',
    path: '/api/v1/events',
    summary: 'Change events (server-sent events)',
    description:
      'Each event has an `id:`, an `event:` (its kind, or `reset`) and `data:` holding a `ChangeEvent` (components.schemas.ChangeEvent). Resume with `Last-Event-ID` (or `last_event_id`). Besides the bearer key, `ticket` (a stream ticket) or `access_token` (the key) may authenticate it.',
    tags: ['events'],
    auth: 'key',
    query: eventsQuery,
    responses: { 200: { description: 'the stream', media: 'text/event-stream' } },
    errors: { 400: ['bad_request'], 429: ['too_many_streams'] },
  },
  createStreamTicket: {
    method: 'post',
    path: '/api/v1/events/tickets',
    summary: 'A single-use ticket to open one event stream within 30 s (for browsers)',
    tags: ['events'],
    auth: 'key',
    responses: { 201: json('the ticket', streamTicket) },
    errors: {},
  },
  setToken: {
    method: 'put',
    path: '/api/v1/owners/{owner_id}/tokens/{provider_id}',
    summary: "Link an owner's code-host token, or set its pause switch",
    tags: ['owners'],
    auth: 'key',
    params: ownerProviderParams,
    body: tokenBody,
    responses: { 204: noContent },
    errors: { 400: ['bad_request'], 404: ['not_found'], 422: ['encryption_key_required'] },
  },
  removeToken: {
    method: 'delete',
    path: '/api/v1/owners/{owner_id}/tokens/{provider_id}',
    summary: "Unlink an owner's code-host token",
    tags: ['owners'],
    auth: 'key',
    params: ownerProviderParams,
    responses: { 204: noContent },
    errors: { 400: ['bad_request'], 404: ['not_found'] },
  },
  getBudget: {
    method: 'get',
    path: '/api/v1/owners/{owner_id}/budget',
    summary: "What the owner's calls spend of their budgets on each provider",
    tags: ['owners'],
    auth: 'key',
    params: ownerParams,
    responses: { 200: json('the budgets', budgetAnswer) },
    errors: { 400: ['bad_request'] },
  },
  createKey: {
    method: 'post',
    path: '/api/v1/keys',
    summary: 'Create an owner or report key (admin only); the key is shown once',
    tags: ['keys'],
    auth: 'key',
    body: keyBody,
    responses: { 201: json('the key, with its secret', createdKey) },
    errors: { 400: ['bad_request'] },
  },
  listKeys: {
    method: 'get',
    path: '/api/v1/keys',
    summary: 'The keys, without secrets (admin only)',
    tags: ['keys'],
    auth: 'key',
    responses: { 200: json('the keys', keyList) },
    errors: {},
  },
  deleteKey: {
    method: 'delete',
    path: '/api/v1/keys/{id}',
    summary: 'Delete a key; its open event streams end (admin only)',
    tags: ['keys'],
    auth: 'key',
    params: keyIdParams,
    responses: { 204: noContent },
    errors: { 400: ['bad_request'], 404: ['not_found'] },
  },
  receiveWebhook: {
    method: 'post',
    path: '/api/v1/webhooks/{provider_id}',
    summary: "A code host's delivery, authenticated by the host's signature",
    tags: ['webhooks'],
    auth: 'signature',
    params: providerParams,
    foreignBody: { description: "the code host's delivery, as it sends it (at most 5 MB)" },
    responses: {
      200: json('a delivery seen before', webhookAnswer),
      202: json('accepted (whatever it matched)', webhookAnswer),
    },
    errors: {
      400: ['bad_request'],
      401: ['bad_signature', 'unauthorized'],
      404: ['not_found'],
      408: ['request_timeout'],
      413: ['payload_too_large'],
      503: ['busy', 'unavailable'],
    },
  },
  mcp: {
    method: 'post',
    path: '/mcp',
    summary: 'The Model Context Protocol (Streamable HTTP, stateless)',
    description:
      'JSON-RPC messages of the Model Context Protocol; tools are listed by `tools/list` with their input and output schemas. `GET` and `DELETE` answer 405 (no sessions).',
    tags: ['agents'],
    auth: 'key',
    foreignBody: { description: 'a JSON-RPC message of the Model Context Protocol' },
    responses: {
      200: {
        description: 'a JSON-RPC answer, as JSON or as an event stream (as the client accepts)',
        media: ['application/json', 'text/event-stream'],
      },
      202: { description: 'a notification or answer, accepted' },
    },
    errors: { 401: ['unauthorized'], 403: ['forbidden'] },
  },
  openapi: {
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This description (OpenAPI 3.1)',
    tags: ['operations'],
    auth: 'none',
    responses: { 200: { description: 'the OpenAPI document' } },
    errors: {},
  },
  healthz: {
    method: 'get',
    path: '/healthz',
    summary: 'The process is up',
    tags: ['operations'],
    auth: 'none',
    responses: { 200: json('up', healthAnswer) },
    errors: {},
  },
  readyz: {
    method: 'get',
    path: '/readyz',
    summary: 'The database answers and every migration is applied',
    tags: ['operations'],
    auth: 'none',
    responses: { 200: json('ready', readyAnswer) },
    errors: { 503: ['not_ready'] },
  },
  metrics: {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    tags: ['operations'],
    auth: 'metrics',
    responses: { 200: { description: 'the Prometheus text format', media: 'text/plain' } },
    errors: { 401: ['unauthorized'] },
  },
  dashboard: {
    method: 'get',
    path: '/',
    summary: 'The dashboard',
    tags: ['dashboard'],
    auth: 'none',
    responses: { 200: { description: 'its page', media: 'text/html' } },
    errors: {},
  },
  dashboardScript: {
    method: 'get',
    path: '/assets/dashboard.js',
    summary: "The dashboard's script",
    tags: ['dashboard'],
    auth: 'none',
    responses: { 200: { description: 'the script', media: 'text/javascript' } },
    errors: {},
  },
  dashboardStyle: {
    method: 'get',
    path: '/assets/dashboard.css',
    summary: "The dashboard's style sheet",
    tags: ['dashboard'],
    auth: 'none',
    responses: { 200: { description: 'the style sheet', media: 'text/css' } },
    errors: {},
  },
} as const satisfies Record<string, Operation>;

export type OperationId = keyof typeof OPERATIONS;

type Ops = typeof OPERATIONS;
type Part<I extends OperationId, K extends string> = Ops[I] extends { [P in K]: infer S extends z.ZodType }
  ? z.input<S>
  : undefined;

/** What a client sends to an operation: its path parameters, query and body, as the schemas read them. */
export interface RequestOf<I extends OperationId> {
  params: Part<I, 'params'>;
  query: Part<I, 'query'>;
  body: Part<I, 'body'>;
}

/** The body of an operation's successful answers, as its schemas write it (undefined for 204). */
export type SuccessOf<I extends OperationId> = {
  [S in keyof Ops[I]['responses']]: Ops[I]['responses'][S] extends { schema: infer Z extends z.ZodType }
    ? z.output<Z>
    : Ops[I]['responses'][S] extends { media: string }
      ? string
      : S extends 204
        ? undefined
        : unknown;
}[keyof Ops[I]['responses']];
