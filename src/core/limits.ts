/**
 * What one key or one owner may use, so that no caller can exhaust the service for the others.
 * Every value is configurable (`limits` in the configuration file); these are the defaults.
 */
export interface Limits {
  /** Sustained requests per second per API key (the admin key included); bursts up to `request_burst`. */
  requests_per_second: number;
  request_burst: number;
  /** Open event streams per key (on each replica). */
  streams_per_key: number;
  /**
   * Bytes the `Last-Event-ID` replays of one key's streams hold together (each read page by page
   * as its client drains it); a replay larger than this is answered with `reset`.
   */
  replay_max_bytes: number;
  /** Chats one owner may have. */
  chats_per_owner: number;
  /** Tracked refs (origin + branch) one chat may have. */
  refs_per_chat: number;
  /** Tracked refs one owner may have over all their chats (the worker refreshes them all). */
  refs_per_owner: number;
  /** How deep sub-agent chats may nest (a root chat is depth 1). */
  chat_depth: number;
  /** Direct children one chat may have. */
  children_per_chat: number;
  /** Chats one tree may hold below its root (every level together). */
  descendants_per_root: number;
  /** Chats one workspace ref report may reach. */
  workspace_report_chats: number;
  /**
   * Webhook deliveries being received at once, for each provider apart. When they are all taken, the
   * oldest one that has not proven its credentials is cut for a newcomer (src/server/webhooks.ts).
   */
  concurrent_webhook_uploads: number;
  /** Of a provider's slots, how many uploads not proven yet one client address may hold. */
  webhook_uploads_per_client: number;
  /** A webhook delivery's body must arrive within this time. */
  webhook_upload_timeout_ms: number;
  /** After its first second, a webhook upload slower than this (bytes per second on average) is cut. */
  webhook_min_bytes_per_second: number;
}

export const DEFAULT_LIMITS: Limits = {
  requests_per_second: 100,
  request_burst: 500,
  streams_per_key: 50,
  replay_max_bytes: 4 * 1024 * 1024,
  chats_per_owner: 250_000,
  refs_per_chat: 200,
  refs_per_owner: 20_000,
  chat_depth: 32,
  children_per_chat: 1_000,
  descendants_per_root: 5_000,
  workspace_report_chats: 1_000,
  concurrent_webhook_uploads: 16,
  webhook_uploads_per_client: 4,
  webhook_upload_timeout_ms: 10_000,
  // Hosts send a delivery in one go; 16 KiB/s is far below any link they use, while an upload held
  // open byte by byte is cut after about a second.
  webhook_min_bytes_per_second: 16 * 1024,
};
