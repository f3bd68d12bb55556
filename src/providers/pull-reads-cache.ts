import { tokenFingerprint } from '../core/fingerprint.ts';

/**
 * How long a kept read stands at most: what no signal of the PR shows (a build re-run on the same
 * commit, a thread resolved) is seen within this. The same hour as GitHub's `PullDetailsCache`.
 */
export const READS_MAX_AGE_MS = 60 * 60_000;
/**
 * How long a head's checks must have read the same before they are kept: a CI posts its first
 * status a while after a push (its queue), a second stage (deploy, analysis) after the first
 * finished, and no signal of the PR shows either. Until then they are read on every refresh.
 */
export const CHECKS_SETTLE_MS = 10 * 60_000;
/** Entries kept at most per cache (least recently used out first)… */
export const READS_CACHE_ENTRIES = 20_000;
/** …and bytes, as estimated: keys, heads, stamps and values at two bytes a character, plus overhead. */
export const READS_CACHE_BYTES = 16 * 1024 * 1024;

export interface PullReadsPolicy<T> {
  maxAgeMs: number;
  /** How long a value must have read the same on one head before it may stand in (0: at once). */
  settleMs: number;
  /** Whether a value may stand in at all: false for checks still running, which move unseen. */
  settled(value: T): boolean;
  maxEntries?: number;
  maxBytes?: number;
}

interface Entry {
  head: string;
  stamp: string;
  /**
   * The value as JSON: compact (V8 keeps such strings at a byte a character), compared as is,
   * and parsed anew for each use, so no caller shares an object with another.
   */
  json: string;
  /** `policy.settled(value)`. */
  settled: boolean;
  /** When it was last read from the host. */
  readAt: number;
  /** Since when reads on this head have answered this same value. */
  since: number;
  bytes: number;
}

/**
 * The Map slot, the entry object and its numbers: set so that the estimate stays above the heap
 * measured (Node 20, 64-bit: 20,000 small checks entries took 16.1 MB, about 820 bytes each).
 */
const ENTRY_OVERHEAD = 256;

/**
 * What a refresh reads besides a PR itself — its head commit's checks, its threads — kept per
 * (token, PR) on hosts where each costs requests of its own (Bitbucket, Azure DevOps, Gitea), so
 * that refreshing an unchanged PR costs about what it did before those fields existed. It is the
 * idea of GitHub's `PullDetailsCache` (src/providers/github/pull-details.ts) with each host's own
 * signals. A kept value stands in for a read only while all of these hold:
 *
 * - the PR's head commit is the one it was read on (after a push everything is read again);
 * - the `stamp` — what the PR's own answer shows that moves with activity on it (its update time,
 *   comment count, votes…; each provider says which) — is the one it was read with;
 * - `policy.settled(value)`: checks still running change without the PR showing anything;
 * - it has read the same on this head for `settleMs` (so a status posted late is not missed);
 * - it was read less than `maxAgeMs` ago.
 *
 * Each replica keeps its own; a restart forgets (costing one read per PR). Bounded by entries and
 * by estimated bytes, least recently used out first.
 */
export class PullReadsCache<T> {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(readonly policy: PullReadsPolicy<T>) {
    this.#maxEntries = policy.maxEntries ?? READS_CACHE_ENTRIES;
    this.#maxBytes = policy.maxBytes ?? READS_CACHE_BYTES;
  }

  /** The key of one PR (`pull`: its URL or another name unique on the host) as read with `token`. */
  static key(token: string, pull: string): string {
    return `${tokenFingerprint(token)} ${pull.toLowerCase()}`;
  }

  /** The value read for this head and stamp, if it may stand in for a read at `now`. */
  get(key: string, head: string | null, stamp: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry || head === null || entry.head !== head || entry.stamp !== stamp || !entry.settled)
      return undefined;
    if (now - entry.since < this.policy.settleMs || now - entry.readAt >= this.policy.maxAgeMs)
      return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return JSON.parse(entry.json) as T;
  }

  /** Remembers what was just read on `head` with `stamp`. A PR without a known head is not kept. */
  set(key: string, head: string | null, stamp: string, value: T, now: number): void {
    const previous = this.#entries.get(key);
    if (previous) this.#drop(key, previous);
    if (head === null) return;
    const json = JSON.stringify(value);
    const same = previous !== undefined && previous.head === head && previous.json === json;
    const entry: Entry = {
      head,
      stamp,
      json,
      settled: this.policy.settled(value),
      readAt: now,
      since: same ? previous.since : now,
      bytes: 2 * (key.length + head.length + stamp.length + json.length) + ENTRY_OVERHEAD,
    };
    // A value larger than the whole budget is never kept: it would be read again each time anyway.
    if (entry.bytes > this.#maxBytes) return;
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.keys().next().value!;
      this.#drop(oldest, this.#entries.get(oldest)!);
    }
  }

  /**
   * Forgets what is kept of the PRs `match` names (by their `key`'s PR part and their head), on
   * this replica: a webhook said something moved that the PR's own answer does not show.
   */
  forget(match: (pull: string, head: string) => boolean): void {
    for (const [key, entry] of this.#entries) {
      if (match(key.slice(key.indexOf(' ') + 1), entry.head)) this.#drop(key, entry);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Estimated bytes held (the figure `maxBytes` bounds). */
  get bytes(): number {
    return this.#bytes;
  }

  #drop(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}
