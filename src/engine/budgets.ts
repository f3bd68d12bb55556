import { type BudgetVerdict, budgetVerdict, PACE_WINDOW_MS } from '../core/budget.ts';
import type { Clock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { BudgetObservation } from '../providers/types.ts';
import type { BudgetRecord, BudgetState, Store, UsageRecord } from '../store/store.ts';

/** How long what the database says of a token's budget is used before it is read again. */
const RELOAD_MS = 2_000;
/** How long a budget observation without a reset time is believed. */
const STALE_WITHOUT_RESET_MS = 300_000;
/**
 * What answers say of budgets and what was spent is written at most this often (a pause at once):
 * every replica serving one token writes the same rows, and they read them back every RELOAD_MS.
 */
const FLUSH_EVERY_MS = 1_000;
/** Usage is kept this long (the longest window shown, an hour, and a margin). */
const USAGE_KEPT_MS = 2 * 3_600_000;

const key = (provider: string, fp: string, scope: string) => `${provider}\u0000${fp}\u0000${scope}`;

/**
 * Every replica's view of the owners' budgets on the code hosts (docs/operations.md, "The owner's
 * budget"): what each answer said of a token's budget and what gitsync spent are gathered here
 * and written to the database (at most every FLUSH_EVERY_MS, a pause at once); before refreshing
 * with a token, what all replicas wrote is read back (at most every RELOAD_MS), so a rate limit
 * one replica meets pauses them all and the shares add up across replicas. Tokens appear only as
 * fingerprints.
 */
export class TokenBudgets {
  readonly #observed = new Map<string, BudgetRecord>();
  readonly #usage = new Map<string, UsageRecord>();
  readonly #known = new Map<string, BudgetState>();
  readonly #loadedAt = new Map<string, number>();
  #prunedAt = 0;
  #flushedAt = Number.NEGATIVE_INFINITY;
  /** A pause is waiting to be written: the next flush writes, however soon. */
  #urgent = false;

  constructor(
    private readonly deps: {
      store: Pick<Store, 'recordBudgets' | 'getBudgets'>;
      clock: Clock;
      logger?: Logger | undefined;
    },
  ) {}

  /** An answer's word on a token's budget, and what the request cost. */
  observe(providerId: string, fp: string, o: BudgetObservation): void {
    const now = this.deps.clock.now();
    const k = key(providerId, fp, o.scope);
    if (o.limit !== null || o.remaining !== null || o.reset_at !== null) {
      const seen = this.#observed.get(k);
      this.#observed.set(k, {
        provider_id: providerId,
        token_fp: fp,
        scope: o.scope,
        limit: o.limit ?? seen?.limit ?? null,
        remaining: o.remaining ?? seen?.remaining ?? null,
        reset_at: o.reset_at ?? seen?.reset_at ?? null,
        observed_at: now,
        paused_until: seen?.paused_until ?? null,
      });
      const known = this.#known.get(k);
      this.#known.set(k, {
        ...(known ?? { paused_until: null, used_last_hour: 0, used_recent: 0 }),
        provider_id: providerId,
        token_fp: fp,
        scope: o.scope,
        limit: o.limit ?? known?.limit ?? null,
        remaining: o.remaining ?? known?.remaining ?? null,
        reset_at: o.reset_at ?? known?.reset_at ?? null,
        observed_at: now,
      });
    }
    if (o.charged > 0) {
      const minute = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
      const u = `${k}\u0000${minute.getTime()}`;
      const entry = this.#usage.get(u) ?? {
        provider_id: providerId,
        token_fp: fp,
        scope: o.scope,
        minute,
        units: 0,
      };
      entry.units += o.charged;
      this.#usage.set(u, entry);
    }
  }

  /** The host refuses the token in `scope` ('' : every scope) until `until`: every replica waits. */
  notePause(providerId: string, fp: string, scope: string, until: Date): void {
    const k = key(providerId, fp, scope);
    const seen = this.#observed.get(k);
    const record: BudgetRecord = seen
      ? { ...seen, paused_until: laterOf(seen.paused_until, until) }
      : {
          provider_id: providerId,
          token_fp: fp,
          scope,
          limit: null,
          remaining: null,
          reset_at: null,
          observed_at: this.deps.clock.now(),
          paused_until: until,
        };
    this.#observed.set(k, record);
    this.#urgent = true;
  }

  /** Reads what all replicas know of these tokens, unless read within RELOAD_MS. */
  async load(tokens: readonly { provider_id: string; token_fp: string }[]): Promise<void> {
    const now = this.deps.clock.now();
    // Once per token: a service token serving many owners would count its spend once per owner.
    const distinct = new Map(tokens.map((t) => [`${t.provider_id}\u0000${t.token_fp}`, t]));
    const wanted = [...distinct.values()].filter((t) => {
      const at = this.#loadedAt.get(`${t.provider_id}\u0000${t.token_fp}`);
      return at === undefined || now.getTime() - at >= RELOAD_MS;
    });
    if (wanted.length === 0) return;
    try {
      const rows = await this.deps.store.getBudgets(wanted, now);
      for (const t of wanted) this.#loadedAt.set(`${t.provider_id}\u0000${t.token_fp}`, now.getTime());
      for (const row of rows) this.#known.set(key(row.provider_id, row.token_fp, row.scope), row);
      if (this.#loadedAt.size > 100_000) this.#loadedAt.clear();
    } catch (error) {
      // The database is away: go on with what this replica knows.
      this.deps.logger?.warn({ err: errorMessage(error) }, 'reading token budgets failed');
    }
  }

  /**
   * Writes what was gathered since the last write (called after each tick): at once when a pause
   * is among it or `force` is given, else once FLUSH_EVERY_MS has passed since the last write.
   */
  async flush(options: { force?: boolean } = {}): Promise<void> {
    // In key order, so that replicas writing the same rows at once take their locks in one order.
    const byKey = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const observed = byKey(this.#observed);
    const usage = byKey(this.#usage);
    const now = this.deps.clock.now().getTime();
    const prune = now - this.#prunedAt > 600_000 ? new Date(now - USAGE_KEPT_MS) : undefined;
    if (observed.length === 0 && usage.length === 0 && !prune) return;
    if (!options.force && !this.#urgent && now - this.#flushedAt < FLUSH_EVERY_MS) return;
    this.#flushedAt = now;
    this.#urgent = false;
    this.#observed.clear();
    this.#usage.clear();
    try {
      await this.deps.store.recordBudgets(
        observed.map(([, v]) => v),
        usage.map(([, v]) => v),
        prune,
      );
      if (prune) this.#prunedAt = now;
    } catch (error) {
      // Kept for the next flush (newer observations of a key win; spend adds up).
      if (observed.some(([, v]) => v.paused_until !== null)) this.#urgent = true;
      for (const [k, v] of observed) if (!this.#observed.has(k)) this.#observed.set(k, v);
      for (const [k, v] of usage) {
        const later = this.#usage.get(k);
        if (later) later.units += v.units;
        else this.#usage.set(k, v);
      }
      this.deps.logger?.warn({ err: errorMessage(error) }, 'writing token budgets failed');
    }
  }

  /** What is known of a token's budget in each scope (this replica's view). */
  states(providerId: string, fp: string): BudgetState[] {
    const prefix = `${providerId}\u0000${fp}\u0000`;
    return [...this.#known.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
  }

  /** Every budget this replica knows (for metrics). */
  all(): BudgetState[] {
    return [...this.#known.values()];
  }

  /** The verdict for one scope of a token, given the share gitsync may spend. */
  verdict(providerId: string, fp: string, scope: string, share: number): BudgetVerdict {
    const now = this.deps.clock.now();
    const known = this.#known.get(key(providerId, fp, scope));
    const local = this.#observed.get(key(providerId, fp, scope));
    // Spend not written yet counts too: a replica on its own sees its pace at once.
    const recentFrom = now.getTime() - PACE_WINDOW_MS;
    let unwritten = 0;
    for (const u of this.#usage.values())
      if (
        u.provider_id === providerId &&
        u.token_fp === fp &&
        u.scope === scope &&
        u.minute.getTime() >= recentFrom
      )
        unwritten += u.units;
    // Numbers with no reset time that nobody has renewed for a while say nothing any more (a
    // pause based on them would never end: no request is sent that could renew them).
    const stale =
      !known?.reset_at &&
      known?.observed_at != null &&
      now.getTime() - known.observed_at.getTime() > STALE_WITHOUT_RESET_MS;
    return budgetVerdict(
      {
        limit: stale ? null : (known?.limit ?? null),
        remaining: stale ? null : (known?.remaining ?? null),
        reset_at: known?.reset_at ?? null,
        paused_until: laterOf(known?.paused_until ?? null, local?.paused_until ?? null),
        used_recent: (known?.used_recent ?? 0) + unwritten,
      },
      share,
      now,
    );
  }
}

function laterOf(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a > b ? a : b;
}
