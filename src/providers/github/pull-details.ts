import type { ChecksState, ChecksSummary } from '../../core/types.ts';
import type { CheckResult } from '../checks.ts';
import { checkRunOutcome, checksOf, commitStatusOutcome } from './checks.ts';
import type { GraphqlDetails } from './graphql.ts';

/** What a PR's details say: its head commit's checks and its unresolved review threads. */
export interface PullDetails {
  checks_state: ChecksState;
  checks: ChecksSummary;
  unresolved_threads: number;
}

/**
 * Details of a GraphQL answer: every check run and commit status of the head commit's rollup
 * (the provider reads them through REST where the rollup holds more than one page), and the
 * review threads not resolved. Threads beyond the first page are not counted (a PR with
 * more than 100 threads shows at least that many open).
 */
export function detailsOf(node: GraphqlDetails): PullDetails {
  const rollup = node.statusCheckRollup ?? null;
  const contexts = rollup?.contexts ?? { totalCount: 0, nodes: [] };
  const results: CheckResult[] = [];
  for (const c of contexts.nodes) {
    if (c?.__typename === 'CheckRun' && c.name !== undefined && c.status !== undefined)
      results.push({
        name: c.name,
        url: c.detailsUrl ?? c.url ?? null,
        outcome: checkRunOutcome(c.status, c.conclusion),
      });
    else if (c?.__typename === 'StatusContext' && c.context !== undefined && c.state !== undefined)
      results.push({ name: c.context, url: c.targetUrl ?? null, outcome: commitStatusOutcome(c.state) });
  }
  const complete = contexts.totalCount <= contexts.nodes.length;
  const threads = node.reviewThreads?.nodes ?? [];
  return {
    ...checksOf(results, complete, rollup?.state),
    unresolved_threads: threads.filter((t) => t !== null && !t.isResolved).length,
  };
}

/**
 * Details once read, per (PR, token), kept while what GitHub says about the PR shows no change:
 * its head commit, its checks' rollup state, its comment count and its `updatedAt` (the `stamp`).
 * A refresh of an unchanged PR then reads only the cheap fields (three connections instead of
 * five). Checks still running are read again every time (their counts move without the stamp),
 * and every entry at least every `maxAgeMs`: resolving a review thread moves none of the stamp,
 * nor does a check re-run on the same head whose rollup state stays. A fresh read (`PullRef.fresh`)
 * does not use them: it reads the details and sets them here.
 */
export class PullDetailsCache {
  readonly #entries = new Map<string, { stamp: string; at: number; details: PullDetails }>();

  constructor(
    readonly maxAgeMs: number,
    readonly maxEntries: number,
  ) {}

  /** The stamp of a PR's cheap fields. */
  static stamp(pr: {
    headRefOid?: string | undefined;
    statusCheckRollup?: { state: string } | null | undefined;
    totalCommentsCount?: number | null | undefined;
    updatedAt?: string | undefined;
  }): string {
    return [pr.headRefOid, pr.statusCheckRollup?.state, pr.totalCommentsCount, pr.updatedAt].join('|');
  }

  /** Whether details known for `key` may serve the next read (else read them with it). */
  usable(key: string, now: number): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && now - entry.at < this.maxAgeMs && entry.details.checks_state !== 'pending';
  }

  /** The details for `key` if they were read for this very stamp and are still usable. */
  get(key: string, stamp: string, now: number): PullDetails | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.stamp === stamp && this.usable(key, now) ? entry.details : undefined;
  }

  set(key: string, stamp: string, details: PullDetails, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { stamp, at: now, details });
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
