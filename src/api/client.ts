/**
 * A typed client of gitsync's HTTP API (`import { createClient } from 'gitsync/client'`). Its
 * types come from the zod schemas the service validates with and describes in its OpenAPI
 * document (`./schemas.ts`), so they cannot drift from what it answers. A refusal is a
 * `GitsyncApiError` carrying the answer's `{"error": {"code", "message"}}`; a service that cannot
 * be reached is a `GitsyncUnreachableError`. The CLI, `gitsync mcp` and the MCP endpoint (in
 * process) call the API through it.
 */
import { OPERATIONS, type OperationId, type RequestOf, type SuccessOf } from './operations.ts';
import type { ApiErrorCode } from './schemas.ts';

export type * from './schemas.ts';
export { API_ERROR_CODES } from './schemas.ts';

/** The service answered with an error: its status, the envelope's code and message, `Retry-After`. */
export class GitsyncApiError extends Error {
  override readonly name = 'GitsyncApiError';
  constructor(
    readonly status: number,
    /** The error code (docs/api.md, "Error codes"); null when the answer had no error envelope. */
    readonly code: ApiErrorCode | null,
    message: string,
    readonly method: string,
    /** The path asked for, with its query. */
    readonly path: string,
    /** Seconds to wait before trying again, when the service said (429, 503). */
    readonly retryAfter: number | null,
  ) {
    super(message);
  }
}

/** The service could not be reached (refused, reset, no answer in time). */
export class GitsyncUnreachableError extends Error {
  override readonly name = 'GitsyncUnreachableError';
  constructor(
    readonly url: string,
    /** Why, in a few words (`no answer in time`, the network error's message). */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach gitsync at ${url} (${reason})`, options);
  }
}

/** An answer as it came: its status, its JSON body (null when empty or not JSON) and `Retry-After`. */
export interface ApiAnswer {
  status: number;
  json: unknown;
  retryAfter: string | null;
}

export interface ClientOptions {
  /** The service, e.g. `http://127.0.0.1:7420` (trailing slashes are dropped). */
  url: string;
  /** An API key, sent as `Authorization: Bearer <key>`. */
  key: string;
  /** How long a call may take (a wait's own timeout is added); 10 s by default. */
  timeoutMs?: number;
  /** The fetch to use (e.g. an app's own handler, in process); the global one by default. */
  fetch?: (request: Request) => Response | Promise<Response>;
}

/** One call: what `request` sends. */
export interface RawRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** The path and query, e.g. `/api/v1/chats?limit=1`. */
  path: string;
  body?: unknown;
  timeoutMs?: number;
  signal?: AbortSignal;
}

type Query = Record<string, string | number | boolean | undefined>;

const DEFAULT_TIMEOUT_MS = 10_000;

/** `{name}` in an operation's path, each replaced by its (encoded) value. */
function pathOf(id: OperationId, params: Record<string, string> = {}, query: Query = {}): string {
  const path = OPERATIONS[id].path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`${id}: ${name} is required`);
    return encodeURIComponent(value);
  });
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}

async function readAnswer(res: Response): Promise<ApiAnswer> {
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}

export function createClient(options: ClientOptions) {
  const base = options.url.replace(/\/+$/, '');
  const send = options.fetch ?? ((request: Request) => fetch(request));
  const defaultTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  /** Sends one request; rejects only when the service cannot be reached (any answer resolves). */
  async function request(r: RawRequest): Promise<ApiAnswer> {
    const signals = [AbortSignal.timeout(r.timeoutMs ?? defaultTimeout)];
    if (r.signal) signals.push(r.signal);
    let res: Response;
    try {
      res = await send(
        new Request(`${base}${r.path}`, {
          method: r.method,
          headers: {
            authorization: `Bearer ${options.key}`,
            ...(r.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: r.body === undefined ? undefined : JSON.stringify(r.body),
          signal: AbortSignal.any(signals),
        }),
      );
    } catch (cause) {
      const why = (cause as Error).name === 'TimeoutError' ? 'no answer in time' : (cause as Error).message;
      throw new GitsyncUnreachableError(base, why, { cause });
    }
    return readAnswer(res);
  }

  /**
   * Calls one operation of the API (its id in the OpenAPI document): the answer's body when its
   * status is one of the operation's successes, else a GitsyncApiError.
   */
  async function call<I extends OperationId>(
    id: I,
    parts: Partial<RequestOf<I>> = {},
    timeoutMs?: number,
  ): Promise<SuccessOf<I>> {
    const op = OPERATIONS[id];
    const method = op.method.toUpperCase() as RawRequest['method'];
    const path = pathOf(
      id,
      parts.params as Record<string, string> | undefined,
      parts.query as Query | undefined,
    );
    const answer = await request({ method, path, body: parts.body, timeoutMs });
    if (answer.status in op.responses) return (answer.json ?? undefined) as SuccessOf<I>;
    const e = (answer.json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const retry = answer.retryAfter === null ? Number.NaN : Number(answer.retryAfter);
    throw new GitsyncApiError(
      answer.status,
      typeof e?.code === 'string' ? (e.code as ApiErrorCode) : null,
      typeof e?.message === 'string' ? e.message : `HTTP ${answer.status}`,
      method,
      path,
      Number.isFinite(retry) ? retry : null,
    );
  }

  return {
    /** The service this client calls. */
    url: base,
    request,
    call,

    // Chats
    putChat: (id: string, body: RequestOf<'putChat'>['body']) => call('putChat', { params: { id }, body }),
    getChat: (id: string) => call('getChat', { params: { id } }),
    listChats: (query: RequestOf<'listChats'>['query'] = {}) => call('listChats', { query }),
    archiveChat: (id: string) => call('archiveChat', { params: { id } }),
    unarchiveChat: (id: string) => call('unarchiveChat', { params: { id } }),
    deleteChat: (id: string) => call('deleteChat', { params: { id } }),
    reportRef: (body: RequestOf<'reportRef'>['body']) => call('reportRef', { body }),
    refreshNow: (id: string, body: RequestOf<'refreshNow'>['body'] = {}) =>
      call('refreshNow', { params: { id }, body }),

    // Agents
    getFeedback: (id: string, query: RequestOf<'getFeedback'>['query'] = {}) =>
      call('getFeedback', { params: { id }, query }),
    /** Answers when the chat changes after `after`, or at `timeout_s` (1–60 s, 50 by default). */
    waitForChange: (id: string, query: { after?: string; timeout_s?: number } = {}) =>
      call(
        'waitForChange',
        { params: { id }, query: { after: query.after, timeout_s: query.timeout_s?.toString() } },
        (query.timeout_s ?? 60) * 1000 + defaultTimeout,
      ),

    // Events
    createStreamTicket: () => call('createStreamTicket'),

    // Owners
    setToken: (owner_id: string, provider_id: string, body: RequestOf<'setToken'>['body']) =>
      call('setToken', { params: { owner_id, provider_id }, body }),
    removeToken: (owner_id: string, provider_id: string) =>
      call('removeToken', { params: { owner_id, provider_id } }),
    getBudget: (owner_id: string) => call('getBudget', { params: { owner_id } }),

    // Keys (admin only)
    createKey: (body: RequestOf<'createKey'>['body']) => call('createKey', { body }),
    listKeys: () => call('listKeys'),
    deleteKey: (id: string) => call('deleteKey', { params: { id } }),

    // Operations
    healthz: () => call('healthz'),
    readyz: () => call('readyz'),
    openapi: () => call('openapi'),
  };
}

export type GitsyncClient = ReturnType<typeof createClient>;
