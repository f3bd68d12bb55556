/** A minimal SSE reader over fetch, for tests: collects events and comments as they arrive. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  status = 0;
  readonly #controller = new AbortController();
  #done: Promise<void> = Promise.resolve();

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    const res = await fetch(url, {
      headers: { accept: 'text/event-stream', ...headers },
      signal: client.#controller.signal,
    });
    client.status = res.status;
    if (res.ok && res.body) client.#done = client.#read(res.body);
    return client;
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          this.#parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted
    }
  }

  #parse(block: string): void {
    const e: SseEvent = { event: 'message', data: '' };
    let hasData = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        this.comments++;
        continue;
      }
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'id') e.id = value;
      else if (field === 'event') e.event = value;
      else if (field === 'data') {
        e.data = hasData ? `${e.data}\n${value}` : value;
        hasData = true;
      }
    }
    if (hasData) this.events.push(e);
  }

  /** Waits until an event satisfies `predicate` (or throws after `timeoutMs`). */
  async waitFor(predicate: (e: SseEvent) => boolean, timeoutMs = 5000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(
          `no matching event within ${timeoutMs} ms; got ${this.events.map((x) => x.event).join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.#controller.abort();
    await this.#done;
  }
}
