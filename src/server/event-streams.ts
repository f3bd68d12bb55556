import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { EventHub, StoredEvent } from '../events/event-hub.ts';
import { HttpError } from './http-error.ts';
import type { KeyAuthority, Principal } from './keys.ts';

/** Events queued for one slow event-stream client before it is disconnected. */
const MAX_STREAM_BACKLOG = 10_000;

export interface EventStreamOptions {
  hub: EventHub;
  keys: KeyAuthority;
  /** Comment heartbeats keep proxies from closing a quiet stream, and re-check the key. */
  heartbeatMs: number;
  streamsPerKey: number;
  replayMaxBytes: number;
  logger: Logger;
}

/**
 * The server-sent event streams this replica holds, by key: opening one (replay from
 * `Last-Event-ID`, then live events, heartbeats), and closing them (a key deleted, shutdown).
 */
export class EventStreams {
  /** Open streams by key id (`admin` for the key from the environment), each with its closer. */
  readonly #byKey = new Map<string, Set<() => void>>();

  constructor(private readonly options: EventStreamOptions) {}

  get count(): number {
    let n = 0;
    for (const set of this.#byKey.values()) n += set.size;
    return n;
  }

  /** Ends a key's streams on this replica (the others notice at their next heartbeat). */
  closeKey(keyId: string): void {
    for (const close of [...(this.#byKey.get(keyId) ?? [])]) close();
  }

  closeAll(): void {
    for (const set of [...this.#byKey.values()]) for (const close of [...set]) close();
  }

  /** Streams `owner`'s events (every owner's when undefined) to the caller. */
  open(c: Context, principal: Principal, owner: string | undefined, lastId: string | undefined): Response {
    const { hub, keys, heartbeatMs } = this.options;
    const streamKey = principal.key_id ?? 'admin';
    const mine = this.#byKey.get(streamKey) ?? new Set<() => void>();
    if (mine.size >= this.options.streamsPerKey) {
      throw new HttpError(
        429,
        'too_many_streams',
        `a key may hold ${this.options.streamsPerKey} open event streams`,
        { 'retry-after': String(Math.ceil(heartbeatMs / 1000)) },
      );
    }
    this.#byKey.set(streamKey, mine);
    return streamSSE(
      c,
      async (stream) => {
        const queue: StoredEvent[] = [];
        let signal: (() => void) | null = null;
        let open = true;
        const close = () => {
          open = false;
          signal?.();
        };
        mine.add(close);
        const unsubscribe = hub.subscribe((event) => {
          if (owner !== undefined && event.owner_id !== owner) return;
          // A client this far behind is dropped; it reconnects and replays from its last id.
          if (queue.length >= MAX_STREAM_BACKLOG) return close();
          queue.push(event);
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
          if (lastId !== undefined) {
            const missed = await hub.replay(lastId, owner, this.options.replayMaxBytes);
            if (missed === 'reset') await stream.writeSSE({ event: 'reset', data: '{}' });
            else for (const event of missed) await send(event);
          }
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
            for (const event of queue.splice(0)) await send(event);
          }
        } finally {
          unsubscribe();
          mine.delete(close);
          if (mine.size === 0 && this.#byKey.get(streamKey) === mine) this.#byKey.delete(streamKey);
        }
      },
      async (error) => {
        // The stream ends (the client reconnects with its Last-Event-ID); the cause goes to our log.
        this.options.logger.error({ err: errorMessage(error) }, 'event stream failed');
      },
    );
  }
}
