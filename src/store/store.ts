import type { Chat, ChatView, DiffStatus, PrFields } from '../core/types.ts';

/** Key of `getTokens` results. */
export const tokenKey = (owner: string, provider: string) => `${owner}\u0000${provider}`;

/** A row handed to the worker by a claim: the ref, its internal id and its chat's owner. */
export interface ClaimedRef extends DiffStatus {
  id: string;
  owner_id: string;
  /** When the PR last changed visibly (internal, for scheduling); null before the first PR. */
  pr_changed_at: Date | null;
}

/** The complete new state of a refreshed row (everything a refresh may change). */
export interface RefWrite {
  id: string;
  /**
   * The `stale_at` the row had when it was claimed. If a report moved it meanwhile, the report's
   * "check now" wins and `stale_at` is left alone. `null`: write unconditionally (refresh now).
   */
  claimed_stale_at: Date | null;
  pr: { [K in keyof PrFields]: PrFields[K] | null };
  provider_id: string | null;
  refreshed_at: Date | null;
  stale_at: Date;
  last_error: string | null;
  last_error_at: Date | null;
  error_count: number;
  paused_until: Date | null;
  pr_changed_at: Date | null;
}

export interface WriteResult {
  /** Rows written, as they now are. */
  written: Map<string, DiffStatus>;
  /** Rows whose write failed, with the reason; the others were written regardless. */
  failed: Map<string, unknown>;
}

export interface ChatInput {
  id: string;
  owner_id: string;
  /** `undefined` keeps the stored value. */
  workspace_id?: string | null | undefined;
  parent_chat_id?: string | null | undefined;
  title?: string | undefined;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** null for admin keys. */
  owner_id: string | null;
  admin: boolean;
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
 * missing.
 */
export interface Store {
  /** Creates or updates; `changed` is false when an update changed nothing. */
  putChat(input: ChatInput, now: Date): Promise<{ chat: ChatView; created: boolean; changed: boolean }>;
  archiveChat(id: string, now: Date, owner?: string): Promise<ChatView>;
  unarchiveChat(id: string, now: Date, owner?: string): Promise<ChatView>;
  deleteChat(id: string, owner?: string): Promise<Pick<Chat, 'id' | 'owner_id'>>;
  getChat(id: string, owner?: string): Promise<ChatView | null>;
  getChats(ids: readonly string[]): Promise<Map<string, ChatView>>;
  listChats(query: ListChatsQuery): Promise<{ chats: ChatView[]; next_cursor: string | null }>;
  /** Ids of the workspace's chats that are not archived. */
  activeWorkspaceChatIds(workspaceId: string, owner?: string): Promise<string[]>;

  /** Upserts the ref as just reported (due now, primary); `null` if the chat does not exist. */
  recordRefReport(report: RefReport, now: Date): Promise<DiffStatus | null>;
  claimStaleRefs(now: Date, limit: number, leaseUntil: Date): Promise<ClaimedRef[]>;
  /** The chat's ref by origin and branch, or its primary ref when both are omitted. */
  getRef(chatId: string, origin?: string, branch?: string): Promise<ClaimedRef | null>;
  writeRefreshes(writes: readonly RefWrite[]): Promise<WriteResult>;
  /** Marks due now every tracked ref of a repository branch or PR URL (webhooks). */
  markRefsStale(match: { origin: string; branch?: string; url?: string }, now: Date): Promise<DiffStatus[]>;

  putToken(owner: string, providerId: string, token: string, now: Date): Promise<void>;
  deleteToken(owner: string, providerId: string): Promise<boolean>;
  getToken(owner: string, providerId: string): Promise<string | null>;
  /**
   * Many owners' tokens in one query, keyed `owner + "\u0000" + provider`; an entry that cannot be
   * opened (wrong encryption key) holds the error instead, so only that owner's refs fail.
   */
  getTokens(pairs: readonly { owner: string; provider: string }[]): Promise<Map<string, string | Error>>;

  createApiKey(key: ApiKeyRecord & { key_hash: string }): Promise<void>;
  findApiKey(keyHash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  deleteApiKey(id: string): Promise<boolean>;
  hasAdminKey(): Promise<boolean>;

  /** Records a webhook delivery id; false when it was already recorded (a redelivery). */
  recordWebhookDelivery(providerId: string, deliveryId: string, now: Date): Promise<boolean>;
  pruneWebhookDeliveries(before: Date): Promise<number>;

  /** Rows due now, and rows due since before `overdueBefore` (the worker is behind). */
  countDueRefs(now: Date, overdueBefore: Date): Promise<{ due: number; overdue: number }>;
  /** True when the database answers and every migration is applied. */
  ready(): Promise<boolean>;

  close(): Promise<void>;
}
