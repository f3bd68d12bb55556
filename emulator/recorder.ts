import { createHash } from 'node:crypto';

/**
 * What every code-host emulator keeps about the requests it answered, and the faults a test
 * scripts: the same bookkeeping for each host, so each emulator holds only its host's behaviour.
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

export abstract class EmulatorRecorder<Route extends string, Fault extends ScriptedFault, Logged> {
  readonly faults: Fault[] = [];
  /** Requests answered, oldest first (tokens only as fingerprints). */
  readonly log: Logged[] = [];
  counters: EmulatorCounters = { routes: {}, total: 0, unexpected: [] };

  constructor(private readonly faultSchema: { parse(value: unknown): Fault }) {}

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
