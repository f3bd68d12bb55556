import type { Chat, ChatView, DiffStatus } from '../core/types.ts';

/** Change events (SPEC §6). Payloads are serialised as JSON; Dates become RFC 3339 UTC strings. */
export type ChangeEvent =
  | { kind: 'diff_status_change'; chat: ChatView; changed_diff_status: DiffStatus }
  | { kind: 'chat_created' | 'chat_updated' | 'chat_archived' | 'chat_unarchived'; chat: ChatView }
  | { kind: 'chat_deleted'; chat: Pick<Chat, 'id' | 'owner_id'> };

export type ChangeEventKind = ChangeEvent['kind'];

export interface Publisher {
  publish(event: ChangeEvent): void;
}

export type Listener = (event: ChangeEvent) => void;

/** Delivers events to subscribers in this process, synchronously and in order. */
export class InProcessBus implements Publisher {
  readonly #listeners = new Set<Listener>();

  publish(event: ChangeEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A faulty subscriber must not stop delivery to the others or break the publisher.
      }
    }
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.#listeners.size;
  }
}
