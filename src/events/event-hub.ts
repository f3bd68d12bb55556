import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Clock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Database, Tx } from '../store/database.ts';
import {
  countEventsAfter,
  deleteEventsBefore,
  insertEvents,
  maxEventId,
  minEventId,
  type NewEvent,
  notify,
  type StoredEvent,
  selectEventsAfter,
  selectEventsByIds,
  selectLatestChatEvent,
  selectReplayPage,
} from '../store/sql/events.ts';
import {
  deleteExpiredStreamTickets,
  insertStreamTicket,
  type StreamTicketRow,
  takeStreamTicket,
} from '../store/sql/stream-tickets.ts';
import type { Outbox } from '../store/store.ts';
import type { ChangeEvent, Publisher } from './publisher.ts';

export type { StoredEvent };

export type EventListener = (event: StoredEvent) => void;

export interface EventHubOptions {
  db: Database;
  clock: Clock;
  logger: Logger;
  /**
   * PostgreSQL: opens a dedicated connection for LISTEN, so every replica receives every event
   * (and wake-ups). Without it (PGlite, one process) events are delivered in-process.
   */
  connectListener?: (() => Promise<pg.Client>) | undefined;
  /** NOTIFY channel; replicas sharing a database must use the same one. */
  channel?: string;
  /** How long events stay available for `Last-Event-ID` replay. */
  retentionMs?: number;
  /** A replay longer than this is answered with `reset` instead. */
  maxReplay?: number;
}

/** NOTIFY payloads must stay under 8,000 bytes (PostgreSQL docs, NOTIFY). */
const MAX_NOTIFY_PAYLOAD = 7_900;
const RECONNECT_DELAYS_MS = [100, 500, 1000, 2000, 5000];
/** A stream ticket is good for this long (the page asks for one just before it connects). */
export const STREAM_TICKET_TTL_MS = 30_000;
const hashTicket = (ticket: string) => createHash('sha256').update(ticket).digest('hex');
/** How far below the highest delivered id a catch-up looks (see #reconnect). */
const CATCH_UP_MARGIN = 1000n;

/**
 * Change events: each is written to the `events` table (which gives it its id and makes it
 * replayable on any replica) — as the store's outbox, in the transaction of the change it
 * describes — and announced with NOTIFY so every replica delivers it to its subscribers. If the
 * LISTEN connection drops it reconnects and catches up from the table.
 */
export class EventHub implements Publisher, Outbox {
  readonly #db: Database;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #connectListener: EventHubOptions['connectListener'];
  readonly #channel: string;
  readonly #retentionMs: number;
  readonly #maxReplay: number;
  readonly #listeners = new Set<EventListener>();
  readonly #wakeListeners = new Set<() => void>();
  readonly #delivered = new Set<string>();
  #lastDelivered = 0n;
  #pending: ChangeEvent[] = [];
  #flushing: Promise<void> | null = null;
  #client: pg.Client | null = null;
  #stopped = false;
  #pruneTimer: NodeJS.Timeout | null = null;
  #reconnecting: Promise<void> | null = null;
  #reading: Promise<void> = Promise.resolve();

  constructor(options: EventHubOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#connectListener = options.connectListener;
    this.#channel = options.channel ?? 'gitsync';
    this.#retentionMs = options.retentionMs ?? 15 * 60_000;
    this.#maxReplay = options.maxReplay ?? 10_000;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.#channel))
      throw new Error(`invalid channel name ${this.#channel}`);
  }

  async start(): Promise<void> {
    this.#lastDelivered = BigInt((await maxEventId(this.#db)) ?? 0);
    if (this.#connectListener) await this.#listen();
    this.#pruneTimer = setInterval(() => void this.prune().catch(() => {}), 60_000);
    this.#pruneTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    await this.flush();
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  publish(event: ChangeEvent): void {
    this.#pending.push(event);
    if (this.#pending.length === 1) setImmediate(() => void this.flush());
  }

  /** Writes (and announces) everything published so far. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = this.#writeOwn(batch).finally(() => {
      this.#flushing = null;
    });
    await this.#flushing;
  }

  /** `publish`ed events, outside any change's transaction: written in one of their own. */
  async #writeOwn(events: ChangeEvent[]): Promise<void> {
    try {
      let afterCommit: (() => void) | undefined;
      await this.#db.transaction(async (tx) => {
        afterCommit = await this.write(tx, events);
      });
      afterCommit?.();
    } catch (error) {
      // The poll loop stays the source of truth: a UI that missed this refetches on reconnect.
      this.#logger.error({ err: errorMessage(error), events: events.length }, 'publishing events failed');
    }
  }

  /**
   * The store's outbox: writes `events` in `tx`, the transaction of the change they describe, so
   * the two commit together. With PostgreSQL the NOTIFY that announces them to every replica is
   * part of the transaction too (PostgreSQL sends it on commit). In-process delivery (PGlite) is
   * returned, to run once `tx` has committed.
   */
  async write(tx: Tx, events: readonly ChangeEvent[]): Promise<(() => void) | undefined> {
    // Serialised one by one: an event that cannot be (say, a cycle in bad data) is logged and
    // dropped alone, not with every other owner's events of the same turn.
    const now = this.#clock.now();
    const batch: NewEvent[] = [];
    for (const event of events) {
      try {
        batch.push({
          owner_id: event.chat.owner_id,
          kind: event.kind,
          payload: JSON.stringify(event),
          created_at: now,
        });
      } catch (error) {
        this.#logger.error(
          { err: errorMessage(error), kind: event.kind },
          'an event could not be serialised',
        );
      }
    }
    if (batch.length === 0) return undefined;
    const stored = await insertEvents(tx, batch);
    stored.sort((a, b) => compareIds(a.id, b.id));
    if (this.#connectListener) {
      await this.#notify(tx, `e:${stored.map((e) => e.id).join(',')}`);
      return undefined;
    }
    return () => {
      for (const e of stored) this.#deliver(e);
    };
  }

  async #notify(tx: Tx, payload: string): Promise<void> {
    // Long id lists go out in several notifications, split on commas.
    let rest = payload;
    while (rest.length > 0) {
      let cut = rest.length <= MAX_NOTIFY_PAYLOAD ? rest.length : rest.lastIndexOf(',', MAX_NOTIFY_PAYLOAD);
      if (cut <= 2) cut = Math.min(rest.length, MAX_NOTIFY_PAYLOAD);
      const chunk = rest.slice(0, cut);
      rest = rest.slice(cut + 1);
      if (rest.length > 0) rest = `e:${rest}`;
      await notify(tx, this.#channel, chunk);
    }
  }

  /** Asks every replica's worker to look for due rows now (a report or webhook arrived here). */
  async wakeAll(): Promise<void> {
    if (this.#connectListener) await notify(this.#db, this.#channel, 'w').catch(() => {});
    else for (const fn of this.#wakeListeners) fn();
  }

  onWake(fn: () => void): () => void {
    this.#wakeListeners.add(fn);
    return () => this.#wakeListeners.delete(fn);
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * How many events (and payload bytes) a replay after `afterId` (for one owner, or all) would
   * send; `reset` when some of them may have been pruned, or there are more than `maxReplay` or
   * `maxBytes` — the client should then refetch. Sized without reading a payload.
   */
  async replaySize(
    afterId: string,
    ownerId?: string,
    maxBytes = Infinity,
  ): Promise<{ count: number; bytes: number } | 'reset'> {
    if (!/^\d{1,18}$/.test(afterId)) return 'reset';
    const min = await minEventId(this.#db);
    if (min === null ? afterId !== '0' : BigInt(afterId) < BigInt(min) - 1n) return 'reset';
    const size = await countEventsAfter(this.#db, afterId, ownerId ?? null);
    return size.count > this.#maxReplay || size.bytes > maxBytes ? 'reset' : size;
  }

  /**
   * The next page of a replay: events after `afterId`, oldest first, at most `maxEvents` and
   * `maxBytes` of payload (at least one event when there is one). A stream reads its replay page
   * by page as its client drains it, never the whole backlog at once.
   */
  replayPage(
    afterId: string,
    ownerId: string | undefined,
    maxBytes: number,
    maxEvents = 500,
  ): Promise<StoredEvent[]> {
    return selectReplayPage(this.#db, afterId, ownerId ?? null, maxEvents, maxBytes);
  }

  /** The ids the log holds now, oldest and newest (null when it is empty): for waits. */
  async idRange(): Promise<{ oldest: string | null; newest: string | null }> {
    const [oldest, newest] = await Promise.all([minEventId(this.#db), maxEventId(this.#db)]);
    return {
      oldest: oldest === null ? null : String(oldest),
      newest: newest === null ? null : String(newest),
    };
  }

  /** The newest stored event about one chat (or its refs) after `afterId`; null when none. */
  latestChatEvent(afterId: string, ownerId: string, chatId: string): Promise<StoredEvent | null> {
    return selectLatestChatEvent(this.#db, afterId, ownerId, chatId);
  }

  /**
   * A ticket that opens one event stream for `who` within STREAM_TICKET_TTL_MS: the URL of a
   * browser's EventSource carries it instead of the key. Stored hashed in the database, so any
   * replica may take it; taken once.
   */
  async issueStreamTicket(
    who: Omit<StreamTicketRow, 'expires_at'>,
  ): Promise<{ ticket: string; expires_at: Date }> {
    const ticket = `gst_${randomBytes(32).toString('base64url')}`;
    const now = this.#clock.now();
    const expires_at = new Date(now.getTime() + STREAM_TICKET_TTL_MS);
    await deleteExpiredStreamTickets(this.#db, now);
    await insertStreamTicket(this.#db, hashTicket(ticket), { ...who, expires_at });
    return { ticket, expires_at };
  }

  /** Takes a ticket (it cannot be used again); null when unknown, used or expired. */
  async takeStreamTicket(ticket: string): Promise<Omit<StreamTicketRow, 'expires_at'> | null> {
    if (!/^gst_[A-Za-z0-9_-]{43}$/.test(ticket)) return null;
    const row = await takeStreamTicket(this.#db, hashTicket(ticket));
    if (!row || new Date(row.expires_at).getTime() <= this.#clock.now().getTime()) return null;
    return { key_id: row.key_id, admin: row.admin, owner_id: row.owner_id, scope: row.scope };
  }

  /** Deletes events older than the retention window. */
  async prune(): Promise<number> {
    const before = new Date(this.#clock.now().getTime() - this.#retentionMs);
    return deleteEventsBefore(this.#db, before);
  }

  #deliver(event: StoredEvent): void {
    if (this.#delivered.has(event.id)) return;
    this.#delivered.add(event.id);
    if (this.#delivered.size > 20_000) {
      for (const id of this.#delivered) {
        this.#delivered.delete(id);
        if (this.#delivered.size <= 10_000) break;
      }
    }
    const id = BigInt(event.id);
    if (id > this.#lastDelivered) this.#lastDelivered = id;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#logger.warn({ err: errorMessage(error) }, 'an event subscriber failed');
      }
    }
  }

  /** Delivers events read from the table (announced by another replica, or missed), oldest first. */
  async #deliverAll(read: Promise<StoredEvent[]>): Promise<void> {
    for (const event of await read) this.#deliver(event);
  }

  async #listen(): Promise<void> {
    const client = await this.#connectListener!();
    client.on('notification', (msg) => {
      if (msg.channel !== this.#channel || !msg.payload) return;
      if (msg.payload === 'w') {
        for (const fn of this.#wakeListeners) fn();
        return;
      }
      const ids = msg.payload
        .slice(2)
        .split(',')
        .filter((id) => /^\d+$/.test(id));
      if (ids.length > 0) {
        // One read at a time, in announcement order: two changes of one ref must not swap.
        this.#reading = this.#reading
          .then(() => this.#deliverAll(selectEventsByIds(this.#db, ids, this.#maxReplay)))
          .catch((error) =>
            this.#logger.warn({ err: errorMessage(error) }, 'reading announced events failed'),
          );
      }
    });
    const lost = (error?: unknown) => {
      if (this.#client !== client || this.#stopped) return;
      this.#client = null;
      client.end().catch(() => {});
      this.#logger.warn(
        { err: error ? errorMessage(error) : 'connection ended' },
        'event listener lost; reconnecting',
      );
      void this.#reconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    await client.query(`LISTEN ${this.#channel}`);
    this.#client = client;
  }

  #reconnect(): Promise<void> {
    this.#reconnecting ??= (async () => {
      for (let attempt = 0; !this.#stopped; attempt++) {
        await new Promise((r) =>
          setTimeout(r, RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]),
        );
        if (this.#stopped) return;
        try {
          await this.#listen();
          // Whatever was announced while we were away is in the table. Look a little below the
          // highest id seen: replicas commit concurrently, so ids may land out of order (the
          // delivered-id set drops what was already delivered).
          const from = this.#lastDelivered > CATCH_UP_MARGIN ? this.#lastDelivered - CATCH_UP_MARGIN : 0n;
          await this.#deliverAll(selectEventsAfter(this.#db, from.toString(), null, this.#maxReplay));
          for (const fn of this.#wakeListeners) fn();
          this.#logger.info({}, 'event listener reconnected');
          return;
        } catch (error) {
          this.#logger.warn({ err: errorMessage(error), attempt }, 'event listener reconnect failed');
        }
      }
    })().finally(() => {
      this.#reconnecting = null;
    });
    return this.#reconnecting;
  }

  /** For tests: drops the LISTEN connection as a network failure would. */
  simulateListenerLoss(): void {
    this.#client?.emit('error', new Error('simulated connection loss'));
  }
}

const compareIds = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
