import type { ChatView } from '../core/types.ts';
import type { EventHub, StoredEvent } from '../events/event-hub.ts';

/** What a wait answers (docs/api.md, "Waiting for a change"). */
export type WaitAnswer =
  | { changed: true; event_id: string; chat: ChatView | { id: string; owner_id: string } }
  | { changed: false; event_id: string };

export interface WaitRequest {
  chat: ChatView;
  /** An event id (decimal digits); undefined: changes after the call began. */
  after: string | undefined;
  timeoutMs: number;
  /** Ends the wait early, answered as a timeout (the caller left, the key was deleted, shutdown). */
  signal: AbortSignal;
  /** The chat as it is now (null once deleted), read when the wait answers `changed`. */
  current: () => Promise<ChatView | null>;
}

const compareIds = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/** The `chat.id` every event payload carries (docs/api.md, "Events"); null when it has none. */
function eventChatId(event: StoredEvent): string | null {
  try {
    const id = (JSON.parse(event.data) as { chat?: { id?: unknown } }).chat?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/**
 * Long-poll waits for one chat's next event, on this replica. Served from the event log every
 * replica shares: a wait first looks in the `events` table for what followed `after`, then takes
 * the events this replica's hub delivers — which, on PostgreSQL, are every replica's (LISTEN/
 * NOTIFY) — so a change written anywhere answers a wait held anywhere.
 *
 * One hub subscription serves every wait: an event is parsed only when some wait is open for its
 * owner, and then once, whatever the number of waits.
 */
export class ChatWaits {
  /** Open waits by chat id: each is told of the chat's events as they are delivered. */
  readonly #byChat = new Map<string, Set<(event: StoredEvent) => void>>();
  /** Open waits per owner, so events of owners nobody waits for are never parsed. */
  readonly #owners = new Map<string, number>();
  #unsubscribe: (() => void) | null = null;

  constructor(private readonly hub: EventHub) {}

  /** Waits open on this replica. */
  get count(): number {
    let n = 0;
    for (const set of this.#byChat.values()) n += set.size;
    return n;
  }

  async wait(request: WaitRequest): Promise<WaitAnswer> {
    const { chat, signal } = request;
    let latest: StoredEvent | null = null;
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    // Ids given before `after` is known are kept and sorted out below.
    let threshold: string | null = null;
    const early: StoredEvent[] = [];
    const take = (event: StoredEvent) => {
      if (threshold === null) return void early.push(event);
      if (compareIds(event.id, threshold) <= 0) return;
      if (!latest || compareIds(event.id, latest.id) > 0) latest = event;
      wake();
    };
    // Listening before the log is read: an event committed in between is not missed.
    const stop = this.#listen(chat.owner_id, chat.id, take);
    const onAbort = () => wake();
    signal.addEventListener('abort', onAbort);
    let timer: NodeJS.Timeout | undefined;
    try {
      const after = request.after;
      if (after !== undefined) {
        const range = await this.hub.idRange();
        const newest = range.newest ?? '0';
        if (
          compareIds(after, newest) > 0 ||
          (range.oldest !== null && BigInt(after) < BigInt(range.oldest) - 1n)
        ) {
          // An id the log does not know (from before a pruning, or another database): what
          // followed it cannot be told, so the caller is told to look again, with an id it can
          // pass next.
          return this.#changed(request, newest);
        }
        const found = await this.hub.latestChatEvent(after, chat.owner_id, chat.id);
        if (found) return this.#changed(request, found.id);
      }
      // Without `after`, every event delivered since the wait began counts.
      threshold = after ?? '0';
      for (const event of early.splice(0)) take(event);
      if (!latest && !signal.aborted) {
        await Promise.race([
          woken,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, request.timeoutMs);
          }),
        ]);
      }
      const seen = latest as StoredEvent | null;
      if (seen) return this.#changed(request, seen.id);
      // The newest id now: passed as `after`, the next wait misses nothing that followed this one.
      const now = (await this.hub.idRange()).newest ?? '0';
      return { changed: false, event_id: after !== undefined && compareIds(after, now) > 0 ? after : now };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      stop();
    }
  }

  async #changed(request: WaitRequest, eventId: string): Promise<WaitAnswer> {
    const { id, owner_id } = request.chat;
    // One change often writes several events (the chat's, then its ref's): the answer covers the
    // newest there is, and the chat is read after it, so the next wait does not wake for them.
    const newer = await this.hub.latestChatEvent(eventId, owner_id, id);
    const event_id = newer?.id ?? eventId;
    const chat = await request.current();
    // Deleted since: what the deletion's event says of it (`{"id", "owner_id"}`).
    return { changed: true, event_id, chat: chat ?? { id, owner_id } };
  }

  #listen(owner: string, chatId: string, fn: (event: StoredEvent) => void): () => void {
    let set = this.#byChat.get(chatId);
    if (!set) {
      set = new Set();
      this.#byChat.set(chatId, set);
    }
    set.add(fn);
    this.#owners.set(owner, (this.#owners.get(owner) ?? 0) + 1);
    this.#unsubscribe ??= this.hub.subscribe((event) => this.#deliver(event));
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.#byChat.get(chatId) === set) this.#byChat.delete(chatId);
      const n = (this.#owners.get(owner) ?? 1) - 1;
      if (n > 0) this.#owners.set(owner, n);
      else this.#owners.delete(owner);
      if (this.#byChat.size === 0) {
        this.#unsubscribe?.();
        this.#unsubscribe = null;
      }
    };
  }

  #deliver(event: StoredEvent): void {
    if (!this.#owners.has(event.owner_id)) return;
    const chatId = eventChatId(event);
    const set = chatId === null ? undefined : this.#byChat.get(chatId);
    if (set) for (const fn of [...set]) fn(event);
  }
}
