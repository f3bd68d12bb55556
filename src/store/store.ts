import type { Limits } from '../core/limits.ts';
import { readinessOf } from '../core/readiness.ts';
import {
  type ChangeEvent,
  type Chat,
  type ChatView,
  type DiffStatus,
  PR_FIELD_NAMES,
  type PreviousPr,
  type PrFields,
  type StaleMatch,
} from '../core/types.ts';
import { withHttpUrls } from '../core/url.ts';
import type { Tx } from './database.ts';

export type { StaleMatch };

export type ChatLimits = Pick<
  Limits,
  'chats_per_owner' | 'chat_depth' | 'children_per_chat' | 'descendants_per_root'
>;

/** What a host last said of a token's budget in one scope (tokens only as fingerprints). */
export interface BudgetRecord {
  provider_id: string;
  token_fp: string;
  scope: string;
  limit: number | null;
  remaining: number | null;
  reset_at: Date | null;
  observed_at: Date;
  /** Until when the host refuses the token (a rate limit), seen by any replica. */
  paused_until: Date | null;
}

/** Units gitsync spent of a token's budget in one minute. */
export interface UsageRecord {
  provider_id: string;
  token_fp: string;
  scope: string;
  minute: Date;
  units: number;
}

/** Units the service token spent on one owner's behalf in one minute. */
export interface OwnerUsageRecord extends UsageRecord {
  owner_id: string;
}

/** What the service token spent on one owner's behalf in one scope, all replicas together. */
export interface OwnerSpendState {
  provider_id: string;
  token_fp: string;
  owner_id: string;
  scope: string;
  /** Since the scope's current window began (`BudgetState.window_start`; unknown: the last hour). */
  used_in_window: number;
  used_last_hour: number;
  /** In the last five minutes: the owner's pace. */
  used_recent: number;
}

/** A token's budget in one scope as all replicas know it, with gitsync's spend. */
export interface BudgetState extends Omit<BudgetRecord, 'observed_at'> {
  /** null: spent, but the host has not said anything of the budget yet. */
  observed_at: Date | null;
  /** When the current window began (the reset before it); null until a reset was seen. */
  window_start: Date | null;
  used_last_hour: number;
  /** Spent in the last five minutes: gitsync's current pace. */
  used_recent: number;
}

/** Key of `getTokens` results. */
export const tokenKey = (owner: string, provider: string) => `${owner}\u0000${provider}`;

/**
 * The fields of a ref that clients see, in the order the API shows them. Anything else a ref row
 * holds (its id, `chat_archived`, `pr_changed_at`, a claim's lease) is internal.
 */
export const DIFF_STATUS_FIELDS = [
  'chat_id',
  'git_remote_origin',
  'git_branch',
  'provider_id',
  ...PR_FIELD_NAMES,
  'refreshed_at',
  'stale_at',
  'created_at',
  'updated_at',
  'last_error',
  'last_error_at',
  'error_count',
  'paused_until',
  'previous_prs',
] as const satisfies readonly (keyof DiffStatus)[];

/**
 * Only the public fields of `row` (a stored row, a `ClaimedRef`): what may leave the service,
 * with its merge readiness (`ready`, `blockers`) derived from them — every diff status served (API,
 * events, SSE) passes here, so each carries readiness computed by the one rule.
 */
export function diffStatusOf(row: DiffStatus | Record<string, unknown>): DiffStatus {
  const out: Record<string, unknown> = {};
  for (const f of DIFF_STATUS_FIELDS) out[f] = (row as Record<string, unknown>)[f];
  // Every URL served is http(s) or null (SPEC §6.2), whenever the row was stored.
  const status = withHttpUrls(out as unknown as DiffStatus);
  const { ready, blockers } = readinessOf(status);
  status.ready = ready;
  status.blockers = blockers;
  return status;
}

/** A row handed to the worker by a claim (or read for "refresh now"): the ref, its internal id and its chat's owner. */
export interface ClaimedRef extends DiffStatus {
  id: string;
  owner_id: string;
  /** When the PR last changed visibly (internal, for scheduling); null before the first PR. */
  pr_changed_at: Date | null;
  /**
   * When a signal (a webhook delivery naming this ref) last asked for it to be read from the host,
   * not answered yet; null: none. The refresh reads it fresh (`PullRef.fresh`).
   */
  signal_at: Date | null;
  /**
   * When this claim's lease ends: the claim set the row's `stale_at` to it, so the row is due
   * again then if this worker never writes. null: the row was read, not claimed ("refresh now").
   */
  lease_until: Date | null;
}

/**
 * Where the store's change events go. They are written in the transaction of the change they
 * describe (an outbox), so a change is never committed without its event, nor an event without its
 * change; what `write` returns runs once that transaction has committed (in-process delivery).
 */
export interface Outbox {
  write(tx: Tx, events: readonly ChangeEvent[]): Promise<(() => void) | undefined>;
}

/** The complete new state of a refreshed row (everything a refresh may change). */
export interface RefWrite {
  id: string;
  /**
   * The lease of the claim this write ends (`ClaimedRef.lease_until`). The claim set `stale_at`
   * to it; if the row's `stale_at` is something else now, a report landed during the refresh and
   * its "check now" wins: `stale_at` is left alone. `null`: write unconditionally (refresh now).
   */
  lease_until: Date | null;
  pr: { [K in keyof PrFields]: PrFields[K] | null };
  provider_id: string | null;
  refreshed_at: Date | null;
  stale_at: Date;
  last_error: string | null;
  last_error_at: Date | null;
  error_count: number;
  paused_until: Date | null;
  pr_changed_at: Date | null;
  /** The ref's earlier PRs, newest first. */
  previous_prs: PreviousPr[];
  /** Publish a `diff_status_change` with the written row (something visible changed). */
  publish: boolean;
  /**
   * The signal this write answers (the claimed row's `signal_at`, read fresh): the row's is cleared
   * unless a later signal came during the refresh. null or absent: it answers none (a failure);
   * left as is.
   */
  signal_at?: Date | null | undefined;
}

export interface WriteResult {
  /** Rows written, as they now are. */
  written: Map<string, DiffStatus>;
  /** Rows whose write failed, with the reason; the others were written regardless. */
  failed: Map<string, unknown>;
  /** Change events published with the writes. */
  published: number;
}

export interface ChatInput {
  id: string;
  owner_id: string;
  /** `undefined` keeps the stored value. */
  workspace_id?: string | null | undefined;
  parent_chat_id?: string | null | undefined;
  title?: string | undefined;
}

/** `admin`: everything; `owner`: its owner's chats, tokens and events; `report`: only ref reports. */
export const KEY_SCOPES = ['admin', 'owner', 'report'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** null for admin keys. */
  owner_id: string | null;
  admin: boolean;
  scope: KeyScope;
  created_at: Date;
}

export interface ListChatsQuery {
  owner_id?: string | undefined;
  archived: boolean;
  limit: number;
  cursor?: string | undefined;
}

export interface RefReport {
  chat_id: string;
  origin: string;
  branch: string;
  provider_id: string | null;
}

/**
 * The persistence port. Times come from the caller's clock (never the database's `now()`), so a
 * fake clock in tests moves SQL time too. Calls scoped by `owner` treat another owner's chat as
 * missing. Every change that clients see is published by the store itself, through its outbox, in
 * the same transaction: chats created, updated, archived, unarchived and deleted, ref reports, and
 * refresh writes marked `publish`.
 */
export interface Store {
  /**
   * Creates or updates; `changed` is false when an update changed nothing. New chats respect
   * `limits`. With `owner`, an existing chat of another owner is "not found".
   */
  putChat(
    input: ChatInput,
    now: Date,
    limits?: ChatLimits,
    owner?: string,
  ): Promise<{ chat: ChatView; created: boolean; changed: boolean }>;
  archiveChat(id: string, now: Date, owner?: string): Promise<ChatView>;
  unarchiveChat(id: string, now: Date, owner?: string): Promise<ChatView>;
  deleteChat(id: string, owner?: string): Promise<Pick<Chat, 'id' | 'owner_id'>>;
  getChat(id: string, owner?: string): Promise<ChatView | null>;
  getChats(ids: readonly string[]): Promise<Map<string, ChatView>>;
  listChats(query: ListChatsQuery): Promise<{ chats: ChatView[]; next_cursor: string | null }>;
  /** Ids of the workspace's chats that are not archived. */
  activeWorkspaceChatIds(workspaceId: string, owner?: string): Promise<string[]>;

  /**
   * Upserts the ref as just reported (due now, primary); `null` if the chat does not exist.
   * Refused with a quota error when the ref is new and its chat already has `maxRefs` refs, or
   * its chat's owner already tracks `maxOwnerRefs` refs (`refs_per_owner`).
   */
  recordRefReport(
    report: RefReport,
    now: Date,
    maxRefs?: number,
    maxOwnerRefs?: number,
  ): Promise<DiffStatus | null>;
  /**
   * Up to `limit` due rows, shared between owners in turns, leased until `leaseUntil`; an owner's
   * first turn may be filled with its rows due by `fillUntil` (default `now`: none early).
   */
  claimStaleRefs(now: Date, limit: number, leaseUntil: Date, fillUntil?: Date): Promise<ClaimedRef[]>;
  /** The chat's ref by origin and branch, or its primary ref when both are omitted. */
  getRef(chatId: string, origin?: string, branch?: string): Promise<ClaimedRef | null>;
  writeRefreshes(writes: readonly RefWrite[]): Promise<WriteResult>;
  /** Marks due now an owner's tracked refs on one provider; returns how many. */
  markOwnerRefsDue(owner: string, providerId: string, now: Date): Promise<number>;
  /** Marks due now every tracked ref of a repository branch or PR URL (webhooks). */
  markRefsStale(match: StaleMatch, now: Date): Promise<DiffStatus[]>;

  putToken(owner: string, providerId: string, token: string, now: Date): Promise<void>;
  deleteToken(owner: string, providerId: string): Promise<boolean>;
  /**
   * Many owners' tokens in one query, keyed `owner + "\u0000" + provider`; an entry that cannot be
   * opened (wrong encryption key) holds the error instead, so only that owner's refs fail.
   */
  getTokens(pairs: readonly { owner: string; provider: string }[]): Promise<Map<string, string | Error>>;
  /** Owners' "paused" switch per provider: nothing is sent with their token while it is on. */
  setOwnerPause(owner: string, providerId: string, paused: boolean, now: Date): Promise<void>;
  /** Which of these (owner, provider) pairs are paused, keyed like `getTokens`. */
  getOwnerPauses(pairs: readonly { owner: string; provider: string }[]): Promise<Set<string>>;
  /**
   * Budget observations and gitsync's spend (and the service token's per owner), written together;
   * usage older than `pruneBefore` goes.
   */
  recordBudgets(
    budgets: readonly BudgetRecord[],
    usage: readonly UsageRecord[],
    pruneBefore?: Date,
    ownerUsage?: readonly OwnerUsageRecord[],
  ): Promise<void>;
  /** These tokens' budgets in every known scope, with gitsync's spend up to `now`. */
  getBudgets(keys: readonly { provider_id: string; token_fp: string }[], now: Date): Promise<BudgetState[]>;
  /** What the service tokens spent on these owners' behalf, per scope, up to `now`. */
  getOwnerSpend(
    keys: readonly { provider_id: string; token_fp: string; owner_id: string }[],
    now: Date,
  ): Promise<OwnerSpendState[]>;
  /**
   * Seals again, with the current cipher, every token stored in clear or in the format without
   * associated data; tokens that cannot be opened are counted and left as they are.
   */
  resealTokens(): Promise<{ resealed: number; unreadable: number }>;

  createApiKey(key: ApiKeyRecord & { key_hash: string }): Promise<void>;
  findApiKey(keyHash: string): Promise<ApiKeyRecord | null>;
  /** Whether the key still exists (open event streams re-check this: a deleted key ends them). */
  apiKeyExists(id: string): Promise<boolean>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  deleteApiKey(id: string): Promise<boolean>;
  hasAdminKey(): Promise<boolean>;
  /** Stores the one generated admin key; false when one exists already (another replica won). */
  createGeneratedAdminKey(
    key: Pick<ApiKeyRecord, 'id' | 'name' | 'created_at'> & { key_hash: string },
  ): Promise<boolean>;
  /** Deletes every stored admin key (GITSYNC_ADMIN_TOKEN replaces them); returns how many. */
  deleteAdminKeys(): Promise<number>;

  /**
   * One webhook delivery in one transaction: records its id and its body's digest and marks due
   * now the matching refs of its provider (only). `duplicate` when the id or the digest was already
   * recorded (nothing marked): a captured body does not replay under a new id. If marking fails
   * nothing is recorded, so the host's retry is processed rather than answered "duplicate".
   */
  recordWebhookDelivery(
    delivery: {
      provider_id: string;
      delivery_id: string;
      body_digest?: string;
      matches: readonly StaleMatch[];
    },
    now: Date,
  ): Promise<{ duplicate: boolean; marked: DiffStatus[] }>;
  pruneWebhookDeliveries(before: Date): Promise<number>;

  /** Rows due now, and rows due since before `overdueBefore` (the worker is behind). */
  countDueRefs(now: Date, overdueBefore: Date): Promise<{ due: number; overdue: number }>;

  /**
   * Stores the refs of every origin in the form `canonical` now gives it (a provider configured or
   * implemented since they were reported stores origins differently), due at once. Returns how many
   * refs moved.
   */
  recanonicalizeOrigins(
    canonical: (origin: string) => { origin: string; provider_id: string | null },
    now: Date,
  ): Promise<number>;
  /** True when the database answers and every migration is applied. */
  ready(): Promise<boolean>;

  close(): Promise<void>;
}
