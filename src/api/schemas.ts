/**
 * The HTTP API's contract as zod schemas (SPEC §6, docs/api.md): what each route reads (bodies,
 * queries) and what it answers. The routes validate with these very schemas, the OpenAPI document
 * (`./openapi.ts`) is generated from them, and the typed client (`./client.ts`) takes its types
 * from them — one description, so none of the three can drift from the others.
 *
 * Imports nothing of the server: the client ships with only this, `./operations.ts` and zod.
 */
import { z } from 'zod';
import {
  BLOCKER_KINDS,
  CHECKS_STATES,
  MERGE_STATES,
  PR_STATES,
  REVIEWER_KINDS,
  UUID_PATTERN,
} from '../core/types.ts';

// ---------------------------------------------------------------------------------------------
// Building blocks

/**
 * UUIDs compare as the database prints them: lower-case. The JSON Schema pattern spells out both
 * cases (a regex flag does not carry over to JSON Schema).
 */
export const uuid = z
  .string()
  .regex(UUID_PATTERN, 'must be a UUID')
  .meta({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' })
  .transform((s) => s.toLowerCase());

/** Text the database can store: PostgreSQL text cannot hold NUL characters. */
export const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');

/** Ids as answers carry them (always lower-case). */
const id = z.string();
/** RFC 3339 in UTC, as `Date.toISOString()` writes it. */
const timestamp = z.iso.datetime().meta({ id: 'Timestamp' });
/** Every URL gitsync serves is http(s) or null (docs/api.md, "Links"). */
const link = z
  .string()
  .regex(/^https?:\/\//i)
  .nullable();

/** Path parameters, by the names the routes give them. */
export const chatIdParams = z.object({ id: uuid.describe('the chat (a UUID the client chose)') });
export const keyIdParams = z.object({ id: uuid.describe('the key') });
export const ownerParams = z.object({ owner_id: uuid.describe('the owner') });
export const ownerProviderParams = z.object({
  owner_id: uuid.describe('the owner'),
  provider_id: z.string().describe("a configured provider's id"),
});
export const providerParams = z.object({ provider_id: z.string().describe("a configured provider's id") });

// ---------------------------------------------------------------------------------------------
// Requests

/** `PUT /api/v1/chats/{id}`: create or update; omitted fields keep their value. */
export const chatBody = z.object({
  owner_id: uuid,
  workspace_id: uuid.nullable().optional(),
  parent_chat_id: uuid.nullable().optional(),
  title: text(1000).optional(),
});

/** `POST /api/v1/git-refs`: a ref report; `chat_id` wins over `workspace_id`. */
export const refBody = z.object({
  workspace_id: uuid.optional(),
  chat_id: uuid.optional(),
  owner_id: uuid.optional().describe('with the admin key and workspace_id: whose chats the report reaches'),
  branch: text(1000),
  origin: text(2000),
});

/** `POST /api/v1/chats/{id}/diff-status/refresh`: which ref (default: the primary one). */
export const refreshBody = z.object({
  origin: text(2000).optional(),
  branch: text(1000).optional(),
});

/** `GET /api/v1/chats`. */
export const listQuery = z.object({
  owner_id: uuid.optional(),
  archived: z.enum(['true', 'false']).default('false'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
});

/** `GET …/feedback`: `since` is a cursor of an earlier answer (engine/feedback-cursor.ts checks it). */
export const feedbackQuery = z.object({
  trusted_only: z.enum(['true', 'false']).optional(),
  since: z.string().min(1).optional(),
});

/** SPEC §6.2 "Waiting for a change": `timeout_s` is 1..60, 50 when omitted. */
export const WAIT_TIMEOUT_S = { min: 1, max: 60, default: 50 } as const;

/** `GET …/wait`. Strict: digits only (no `1e3`, ` 5`, `0x10`), and no parameter it does not know. */
export const waitQuery = z.strictObject({
  // Event ids are the log's bigint ids as decimal strings (the SSE `id:`).
  after: z
    .string()
    .regex(/^\d{1,18}$/, 'must be an event id (the SSE id:)')
    .transform((s) => s.replace(/^0+(?=\d)/, ''))
    .optional(),
  timeout_s: z
    .string()
    .regex(/^\d{1,3}$/, 'must be a whole number of seconds')
    .transform(Number)
    .pipe(z.number().int().min(WAIT_TIMEOUT_S.min).max(WAIT_TIMEOUT_S.max))
    .optional(),
});

/** `GET /api/v1/events`: whose events, where to resume, and the credentials a browser can send. */
export const eventsQuery = z.object({
  owner_id: uuid.optional(),
  last_event_id: z.string().optional().describe('like the Last-Event-ID header'),
  ticket: z.string().optional().describe('a stream ticket (POST /api/v1/events/tickets)'),
  access_token: z.string().optional().describe('the key, for clients that cannot send headers'),
});

/**
 * `PUT /api/v1/owners/{owner_id}/tokens/{provider_id}`: a token, the pause switch, or both.
 * `{"paused": true}` stops every call with the owner's token for that provider until
 * `{"paused": false}` (the token, if any, stays linked).
 */
export const tokenBody = z
  .strictObject({ token: text(4096).min(1).optional(), paused: z.boolean().optional() })
  .refine((b) => b.token !== undefined || b.paused !== undefined, {
    message: 'give a token, "paused", or both',
  });

/** `POST /api/v1/keys` (admin only). */
export const keyBody = z.object({
  owner_id: uuid,
  name: text(200).min(1),
  scope: z.enum(['owner', 'report']).default('owner'),
});

// ---------------------------------------------------------------------------------------------
// Answers

const blocker = z
  .object({ kind: z.enum(BLOCKER_KINDS), detail: z.string().nullable() })
  .meta({ id: 'Blocker' });

const checksSummary = z
  .object({
    passed: z.number().int(),
    failed: z.number().int(),
    pending: z.number().int(),
    skipped: z.number().int(),
    failing: z.array(z.object({ name: z.string(), url: link })),
  })
  .meta({ id: 'ChecksSummary' });

/** One tracked (chat, origin, branch) and its PR (docs/api.md, "A diff status"). */
export const diffStatus = z
  .object({
    chat_id: id,
    git_remote_origin: z.string(),
    git_branch: z.string(),
    provider_id: z.string().nullable(),
    url: link,
    pull_request_state: z.enum(PR_STATES).nullable(),
    pull_request_title: z.string().nullable(),
    pull_request_draft: z.boolean().nullable(),
    changes_requested: z.boolean().nullable(),
    approved: z.boolean().nullable(),
    reviewer_count: z.number().int().nullable(),
    additions: z.number().int().nullable(),
    deletions: z.number().int().nullable(),
    changed_files: z.number().int().nullable(),
    commits: z.number().int().nullable(),
    pr_number: z.number().int().nullable(),
    author_login: z.string().nullable(),
    author_avatar_url: link,
    base_branch: z.string().nullable(),
    head_branch: z.string().nullable(),
    requested_reviewers: z.array(z.object({ kind: z.enum(REVIEWER_KINDS), name: z.string() })).nullable(),
    head_sha: z.string().nullable(),
    checks_state: z.enum(CHECKS_STATES).nullable(),
    checks: checksSummary.nullable(),
    merge_state: z.enum(MERGE_STATES).nullable(),
    merge_state_reason: z.string().nullable(),
    awaiting_approval: z.boolean().nullable(),
    unresolved_threads: z.number().int().nullable(),
    comments: z.number().int().nullable(),
    refreshed_at: timestamp.nullable(),
    stale_at: timestamp,
    created_at: timestamp,
    updated_at: timestamp,
    last_error: z.string().nullable(),
    last_error_at: timestamp.nullable(),
    error_count: z.number().int(),
    paused_until: timestamp.nullable(),
    previous_prs: z.array(
      z.object({
        url: z.string(),
        pr_number: z.number().int().nullable(),
        pull_request_state: z.enum(PR_STATES).nullable(),
      }),
    ),
    ready: z.boolean().nullable(),
    blockers: z.array(blocker),
  })
  .meta({ id: 'DiffStatus' });

const chatFields = {
  id,
  owner_id: id,
  workspace_id: id.nullable(),
  parent_chat_id: id.nullable(),
  root_chat_id: id,
  title: z.string(),
  archived: z.boolean(),
  created_at: timestamp,
  updated_at: timestamp,
  diff_status: diffStatus.nullable(),
  diff_statuses: z.array(diffStatus),
};

/** A chat with its refs (primary first) and its children, nested. */
type ChatJson = z.output<z.ZodObject<typeof chatFields>> & { children: ChatJson[] };
export const chat: z.ZodType<ChatJson> = z.object({
  ...chatFields,
  children: z.array(z.lazy(() => chat)),
});
chat.register(z.globalRegistry, { id: 'Chat' });

/** A chat as an event carries it: without its subtree (SPEC §6.2 "Tenants"). */
export const eventChat = z.object(chatFields).meta({ id: 'EventChat' });

/** What remains of a deleted chat. */
const chatRef = z.object({ id, owner_id: id }).meta({ id: 'DeletedChat' });

export const chatList = z.object({ chats: z.array(chat), next_cursor: z.string().nullable() });

export const reportAnswer = z.object({ chat_ids: z.array(id) });

export const refreshAnswer = z.object({
  outcome: z.enum(['updated', 'no_pr', 'stale_pr']),
  diff_status: diffStatus,
});

const trust = z.boolean().nullable();

export const feedbackRef = z
  .object({
    git_remote_origin: z.string(),
    git_branch: z.string(),
    url: link,
    failing_checks: z.array(z.object({ name: z.string(), url: link, summary: z.string().nullable() })),
    unresolved_threads: z.array(
      z.object({
        path: z.string().nullable(),
        line: z.number().int().nullable(),
        author: z.string().nullable(),
        author_association: z.string().nullable(),
        trusted: trust,
        body: z.string(),
        url: link,
      }),
    ),
    changes_requested_by: z.array(z.object({ name: z.string(), trusted: trust })),
    truncated: z.boolean(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .meta({ id: 'RefFeedback' });

export const feedbackAnswer = z.object({
  chat_id: id,
  hidden_untrusted: z.number().int(),
  cursor: z.string(),
  refs: z.array(feedbackRef),
});

export const waitAnswer = z.union([
  z.object({ changed: z.literal(true), event_id: z.string(), chat: z.union([chat, chatRef]) }),
  z.object({ changed: z.literal(false), event_id: z.string() }),
]);

export const budgetAnswer = z.object({
  providers: z.array(
    z.object({
      provider_id: z.string(),
      scope: z.string(),
      token: z.enum(['own', 'service', 'none']),
      limit: z.number().nullable(),
      remaining: z.number().nullable(),
      reset_at: timestamp.nullable(),
      used_last_hour: z.number(),
      max_share: z.number(),
      stretched: z.boolean(),
      paused: z.boolean(),
      paused_by_owner: z.boolean(),
      paused_until: timestamp.nullable(),
    }),
  ),
});

const apiKeyFields = {
  id,
  name: z.string(),
  owner_id: id.nullable(),
  admin: z.boolean(),
  scope: z.enum(['admin', 'owner', 'report']),
  created_at: timestamp,
};
export const apiKey = z.object(apiKeyFields).meta({ id: 'ApiKey' });
/** The key itself is shown once, here. */
export const createdKey = z.object({ ...apiKeyFields, key: z.string() });
export const keyList = z.object({ keys: z.array(apiKey) });

export const streamTicket = z.object({ ticket: z.string(), expires_at: timestamp });

export const webhookAnswer = z.object({ status: z.enum(['accepted', 'duplicate']) });

export const healthAnswer = z.object({ status: z.literal('ok') });
export const readyAnswer = z.object({ status: z.literal('ready') });

/** What each server-sent event's `data:` holds (docs/api.md, "Events"). */
export const changeEvent = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('diff_status_change'), chat: eventChat, changed_diff_status: diffStatus }),
    z.object({
      kind: z.enum(['chat_created', 'chat_updated', 'chat_archived', 'chat_unarchived']),
      chat: eventChat,
    }),
    z.object({ kind: z.literal('chat_deleted'), chat: chatRef }),
  ])
  .meta({ id: 'ChangeEvent' });

// ---------------------------------------------------------------------------------------------
// Errors

/** Every error code the API answers with (docs/api.md, "Error codes"). */
export const API_ERROR_CODES = [
  'bad_request',
  'chat_too_deep',
  'unauthorized',
  'bad_signature',
  'forbidden',
  'not_found',
  'no_ref',
  'request_timeout',
  'payload_too_large',
  'conflict',
  'too_many_children',
  'paused',
  'misdirected_request',
  'no_provider',
  'no_token',
  'token_rejected',
  'encryption_key_required',
  'misconfigured',
  'rate_limited',
  'quota_exceeded',
  'too_many_streams',
  'internal',
  'provider_error',
  'unavailable',
  'busy',
  'not_ready',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** `{"error": {"code", "message"}}`, with the codes a route may answer at one status. */
export const errorEnvelope = (codes: readonly [ApiErrorCode, ...ApiErrorCode[]]) =>
  z.object({ error: z.object({ code: z.enum(codes), message: z.string() }) });

// ---------------------------------------------------------------------------------------------
// Types, as clients see them (JSON: timestamps are strings)

export type Chat = z.output<typeof chat>;
export type EventChat = z.output<typeof eventChat>;
export type DiffStatus = z.output<typeof diffStatus>;
export type ChatList = z.output<typeof chatList>;
export type ReportAnswer = z.output<typeof reportAnswer>;
export type RefreshAnswer = z.output<typeof refreshAnswer>;
export type FeedbackAnswer = z.output<typeof feedbackAnswer>;
export type WaitAnswer = z.output<typeof waitAnswer>;
export type BudgetAnswer = z.output<typeof budgetAnswer>;
export type ApiKey = z.output<typeof apiKey>;
export type CreatedKey = z.output<typeof createdKey>;
export type StreamTicket = z.output<typeof streamTicket>;
export type ChangeEvent = z.output<typeof changeEvent>;
