import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What every code-host emulator shares: an HTTP server on 127.0.0.1 (started, stopped, with the
 * responses a fault leaves hanging), the requests it answered and the faults a test scripts — so
 * each emulator holds only its host's behaviour.
 */

export interface EmulatorCounters {
  /** By route, then HTTP status as a string (e.g. "200", "304"). */
  routes: Record<string, Record<string, number>>;
  total: number;
  unexpected: { method: string; path: string }[];
}

/** First 12 hex digits of sha256(secret): lets tests check which token was sent, without the token. */
export const fingerprint = (secret: string) => createHash('sha256').update(secret).digest('hex').slice(0, 12);

/** A fault a test scripts: for requests whose path matches `match`, `times` times or until cleared. */
export interface ScriptedFault {
  match?: string | undefined;
  times?: number | undefined;
}

export abstract class HostEmulator<Route extends string, Fault extends ScriptedFault, Logged> {
  readonly faults: Fault[] = [];
  /** Requests answered, oldest first (tokens only as fingerprints). */
  readonly log: Logged[] = [];
  counters: EmulatorCounters = { routes: {}, total: 0, unexpected: [] };
  readonly #server: Server;
  readonly #hanging = new Set<ServerResponse>();
  #origin = '';

  /** `port` 0: any free port. */
  constructor(
    private readonly faultSchema: { parse(value: unknown): Fault },
    private readonly port = 0,
  ) {
    this.#server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        if (!res.headersSent) this.answerCrash(res, error);
        else res.end();
      });
    });
  }

  /** Answers one request as the host would. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;

  /** Answers a request whose handling threw, in the host's error shape (status 500). */
  protected abstract answerCrash(res: ServerResponse, error: unknown): void;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(this.port, '127.0.0.1', resolve));
    this.#origin = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** `http://127.0.0.1:{port}` once started. */
  protected get origin(): string {
    return this.#origin;
  }

  /** Leaves `res` unanswered (a timeout fault) until the client gives up or the emulator closes. */
  protected hang(res: ServerResponse): void {
    this.#hanging.add(res);
    res.on('close', () => this.#hanging.delete(res));
  }

  resetCounters(): void {
    this.counters = { routes: {}, total: 0, unexpected: [] };
    this.log.length = 0;
  }

  /** Counts one answered request: by route and status, or as unexpected when no route matched. */
  protected countAnswer(route: Route | null, method: string, path: string, status: number): void {
    this.counters.total++;
    if (route === null) {
      this.counters.unexpected.push({ method, path });
      return;
    }
    this.counters.routes[route] ??= {};
    const byStatus = this.counters.routes[route];
    byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
  }

  /** Requests answered for `route`, optionally only those with `status`. */
  count(route: Route, status?: number): number {
    const byStatus = this.counters.routes[route] ?? {};
    if (status !== undefined) return byStatus[String(status)] ?? 0;
    return Object.values(byStatus).reduce((a, b) => a + b, 0);
  }

  /** Adds faults in-process (the same rules as the emulator's `/_emulator/faults`). */
  addFaults(...faults: Fault[]): void {
    this.faults.push(...faults.map((f) => this.faultSchema.parse(f)));
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The first fault for `path`, counting one of its `times` down (and dropping it when spent). */
  protected takeFault(path: string): Fault | null {
    for (let i = 0; i < this.faults.length; i++) {
      const fault = this.faults[i]!;
      if (fault.match && !new RegExp(fault.match).test(path)) continue;
      if (fault.times !== undefined) {
        if (fault.times <= 1) this.faults.splice(i, 1);
        else this.faults[i] = { ...fault, times: fault.times - 1 };
      }
      return fault;
    }
    return null;
  }
}
