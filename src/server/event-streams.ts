import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { EventHub, StoredEvent } from '../events/event-hub.ts';
import { HttpError } from './http-error.ts';
import type { KeyAuthority, Principal } from './keys.ts';

/** Live events queued for one slow event-stream client before it is disconnected. */
const MAX_STREAM_BACKLOG = 10_000;
/**
 * Bytes of live events queued for one slow client before it is disconnected (it reconnects and
 * replays from its last id, within its key's replay budget). With `streams_per_key` streams (50)
 * a key's live backlogs stay within 50 MiB at worst.
 */
const MAX_STREAM_BACKLOG_BYTES = 1024 * 1024;
/** A replay is read from the event log this many payload bytes at a time (one page per stream). */
const REPLAY_PAGE_BYTES = 64 * 1024;

export interface EventStreamOptions {
  hub: EventHub;
  keys: KeyAuthority;
  /** Comment heartbeats keep proxies from closing a quiet stream, and re-check the key. */
  heartbeatMs: number;
  streamsPerKey: number;
  /** Bounds the replays of one key's streams together (SPEC §6.2), not of each stream. */
  replayMaxBytes: number;
  logger: Logger;
}

/**
 * Replay bytes one key's streams hold (read from the event log, not yet handed to the socket),
 * all together. A stream takes a page's worth before reading the page and gives each event's bytes
 * back once it is written, so a client that does not read holds at most one page, and the key's
 * other streams wait for their turn while the budget is spent.
 */
class ReplayBudget {
  held = 0;
  /** Streams of the key waiting for bytes to be given back. */
  readonly #waiters = new Set<() => void>();

  constructor(readonly max: number) {}

  get waiting(): number {
    return this.#waiters.size;
  }

  /** Takes `bytes` when they fit (or nothing else is held); false when `wake` came first. */
  async take(bytes: number, wake: Promise<void>): Promise<boolean> {
    while (this.held > 0 && this.held + bytes > this.max) {
      let resolve!: () => void;
      const freed = new Promise<void>((r) => {
        resolve = r;
      });
      this.#waiters.add(resolve);
      const woken = await Promise.race([freed.then(() => false), wake.then(() => true)]);
      this.#waiters.delete(resolve);
      if (woken) return false;
    }
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    if (bytes <= 0) return;
    this.held = Math.max(0, this.held - bytes);
    for (const wake of [...this.#waiters]) wake();
  }
}

/** What a key's streams hold in memory on this replica (figures for tests and metrics). */
export interface StreamBytes {
  /** Replay bytes read from the event log and not yet handed to the client's socket. */
  replay: number;
  /** Live event bytes queued for slow clients. */
  live: number;
  /** Streams waiting for the key's replay budget. */
  waiting: number;
}

/**
 * The server-sent event streams this replica holds, by key: opening one (replay from
 * `Last-Event-ID`, then live events, heartbeats), and closing them (a key deleted, shutdown).
 */
export class EventStreams {
  /** Open streams by key id (`admin` for the key from the environment), each with its closer. */
  readonly #byKey = new Map<string, Set<() => void>>();
  readonly #budgets = new Map<string, ReplayBudget>();
  readonly #live = new Map<string, number>();

  constructor(private readonly options: EventStreamOptions) {}

  get count(): number {
    let n = 0;
    for (const set of this.#byKey.values()) n += set.size;
    return n;
  }

  /** Bytes a key's streams hold now (`admin` for the key from the environment). */
  bytes(keyId: string): StreamBytes {
    const budget = this.#budgets.get(keyId);
    return { replay: budget?.held ?? 0, live: this.#live.get(keyId) ?? 0, waiting: budget?.waiting ?? 0 };
  }

  /** Ends a key's streams on this replica (the others notice at their next heartbeat). */
  closeKey(keyId: string): void {
    for (const close of [...(this.#byKey.get(keyId) ?? [])]) close();
  }

  closeAll(): void {
    for (const set of [...this.#byKey.values()]) for (const close of [...set]) close();
  }

  /**
   * Takes one of the key's stream slots for something other than a stream (an open wait,
   * `GET /api/v1/chats/{id}/wait`): 429 `too_many_streams` when they are all taken. `close` is
   * called when the key's streams are ended (key deleted, shutdown); the returned function gives
   * the slot back.
   */
  hold(principal: Principal, close: () => void): () => void {
    const streamKey = principal.key_id ?? 'admin';
    const mine = this.#byKey.get(streamKey) ?? new Set<() => void>();
    if (mine.size >= this.options.streamsPerKey) {
      throw new HttpError(
        429,
        'too_many_streams',
        `a key may hold ${this.options.streamsPerKey} open event streams and waits together`,
        { 'retry-after': String(Math.ceil(this.options.heartbeatMs / 1000)) },
      );
    }
    this.#byKey.set(streamKey, mine);
    const closer = () => close();
    mine.add(closer);
    return () => {
      mine.delete(closer);
      if (mine.size === 0 && this.#byKey.get(streamKey) === mine) this.#byKey.delete(streamKey);
    };
  }

  /** Streams `owner`'s events (every owner's when undefined) to the caller. */
  open(c: Context, principal: Principal, owner: string | undefined, lastId: string | undefined): Response {
    const { hub, keys, heartbeatMs } = this.options;
    const streamKey = principal.key_id ?? 'admin';
    // The slot is taken now (429 when the key has none left); the stream below is what it ends.
    let closeStream = () => {};
    const release = this.hold(principal, () => closeStream());
    const budget = this.#budgets.get(streamKey) ?? new ReplayBudget(this.options.replayMaxBytes);
    this.#budgets.set(streamKey, budget);
    const addLive = (bytes: number) => {
      const n = (this.#live.get(streamKey) ?? 0) + bytes;
      if (n > 0) this.#live.set(streamKey, n);
      else this.#live.delete(streamKey);
    };
    return streamSSE(
      c,
      async (stream) => {
        const queue: StoredEvent[] = [];
        let queuedBytes = 0;
        let signal: (() => void) | null = null;
        let open = true;
        let closed!: () => void;
        const whenClosed = new Promise<void>((r) => {
          closed = r;
        });
        const close = () => {
          open = false;
          signal?.();
          closed();
        };
        closeStream = close;
        const unsubscribe = hub.subscribe((event) => {
          if (!open || (owner !== undefined && event.owner_id !== owner)) return;
          // A client this far behind is dropped; it reconnects and replays from its last id.
          if (
            queue.length >= MAX_STREAM_BACKLOG ||
            queuedBytes + event.data.length > MAX_STREAM_BACKLOG_BYTES
          )
            return close();
          queue.push(event);
          queuedBytes += event.data.length;
          addLive(event.data.length);
          signal?.();
        });
        stream.onAbort(close);
        // Events from several replicas may arrive slightly out of id order: de-duplicate by id
        // (replay and live overlap) rather than dropping anything below the highest id sent.
        const sent = new Set<string>();
        const send = async (event: StoredEvent) => {
          if (sent.has(event.id)) return;
          sent.add(event.id);
          if (sent.size > MAX_STREAM_BACKLOG) sent.delete(sent.values().next().value!);
          await stream.writeSSE({ id: event.id, event: event.kind, data: event.data });
        };
        try {
          // A comment opens the stream at once (no event); `retry` sets the client's reconnect delay.
          await stream.write('retry: 2000\n: connected\n\n');
          if (lastId !== undefined)
            await this.#replay(stream, budget, lastId, owner, send, () => open, whenClosed);
          // A key deleted on another replica ends its streams here too, within a heartbeat period,
          // however busy the stream is.
          let checkedAt = Date.now();
          const keyRevoked = async (quiet = false) => {
            if (!quiet && Date.now() - checkedAt < heartbeatMs) return false;
            checkedAt = Date.now();
            return !(await keys.stillValid(principal).catch(() => true));
          };
          while (open) {
            if (await keyRevoked()) break;
            if (queue.length === 0) {
              let timer: NodeJS.Timeout | undefined;
              await new Promise<void>((resolve) => {
                signal = resolve;
                timer = setTimeout(resolve, heartbeatMs);
              });
              clearTimeout(timer);
              signal = null;
              if (!open) break;
              if (queue.length === 0) {
                if (await keyRevoked(true)) break;
                await stream.write(': heartbeat\n\n');
                continue;
              }
            }
            for (const event of queue.splice(0)) {
              queuedBytes -= event.data.length;
              addLive(-event.data.length);
              await send(event);
            }
          }
        } finally {
          open = false;
          unsubscribe();
          addLive(-queuedBytes);
          queue.length = 0;
          release();
          if (!this.#byKey.has(streamKey) && budget.held === 0 && budget.waiting === 0)
            this.#budgets.delete(streamKey);
        }
      },
      async (error) => {
        // The stream ends (the client reconnects with its Last-Event-ID); the cause goes to our log.
        this.options.logger.error({ err: errorMessage(error) }, 'event stream failed');
      },
    );
  }

  /**
   * Sends what followed `lastId`, page by page as the client drains it, within the key's replay
   * budget; `event: reset` when it cannot (pruned, or larger than the whole budget).
   */
  async #replay(
    stream: SSEStreamingApi,
    budget: ReplayBudget,
    lastId: string,
    owner: string | undefined,
    send: (event: StoredEvent) => Promise<void>,
    isOpen: () => boolean,
    whenClosed: Promise<void>,
  ): Promise<void> {
    const { hub, heartbeatMs } = this.options;
    // Sized first: a replay larger than the key's whole budget could never be sent.
    const size = await hub.replaySize(lastId, owner, budget.max);
    if (size === 'reset') {
      await stream.writeSSE({ event: 'reset', data: '{}' });
      return;
    }
    let after = lastId;
    let left = size.count;
    while (left > 0 && isOpen()) {
      const want = Math.min(REPLAY_PAGE_BYTES, budget.max);
      // Waiting for the key's other streams to give bytes back; a heartbeat now and then keeps
      // proxies from closing this one meanwhile.
      let timer: NodeJS.Timeout | undefined;
      const beat = new Promise<void>((r) => {
        timer = setTimeout(r, heartbeatMs);
      });
      const took = await budget.take(want, Promise.race([whenClosed, beat]));
      clearTimeout(timer);
      if (!took) {
        if (isOpen()) await stream.write(': heartbeat\n\n');
        continue;
      }
      let held = want;
      try {
        const page = await hub.replayPage(after, owner, want, Math.min(left, 500));
        if (page.length === 0) break;
        // What was read is what is held (a single event may be larger than a page).
        const bytes = page.reduce((n, e) => n + e.data.length, 0);
        if (bytes < held) budget.give(held - bytes);
        else budget.held += bytes - held;
        held = bytes;
        for (const event of page) {
          if (!isOpen()) break;
          await send(event);
          budget.give(event.data.length);
          held -= event.data.length;
          after = event.id;
          left--;
        }
      } finally {
        budget.give(held);
      }
    }
  }
}
