import type { ChangeEvent } from '../core/types.ts';
import type { Tx } from '../store/database.ts';
import type { Outbox } from '../store/store.ts';

export type { ChangeEvent, ChangeEventKind } from '../core/types.ts';

export interface Publisher {
  publish(event: ChangeEvent): void;
}

export type Listener = (event: ChangeEvent) => void;

/**
 * Delivers events to subscribers in this process, synchronously and in order. As the store's
 * outbox it delivers a transaction's events once that transaction has committed (nothing is
 * stored: for tests and embedding without replay).
 */
export class InProcessBus implements Publisher, Outbox {
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

  async write(_tx: Tx, events: readonly ChangeEvent[]): Promise<() => void> {
    return () => {
      for (const event of events) this.publish(event);
    };
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
