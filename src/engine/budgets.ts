import { type BudgetVerdict, budgetVerdict, ownerShareVerdict, PACE_WINDOW_MS } from '../core/budget.ts';
import type { Clock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { BudgetObservation } from '../providers/types.ts';
import type {
  BudgetRecord,
  BudgetState,
  OwnerSpendState,
  OwnerUsageRecord,
  Store,
  UsageRecord,
} from '../store/store.ts';

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
const ownerKey = (provider: string, fp: string, owner: string) => `${provider}\u0000${fp}\u0000${owner}`;
const HOUR_MS = 3_600_000;

/** A token to read the budget of; with `owner_id`, a service token's spend on that owner's behalf too. */
export interface BudgetKey {
  provider_id: string;
  token_fp: string;
  owner_id?: string | undefined;
}

/** What the database said of an owner's service spend, and which window it counted from. */
interface OwnerKnown extends OwnerSpendState {
  basis: Date | null;
}

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
  readonly #ownerUsage = new Map<string, OwnerUsageRecord>();
  readonly #known = new Map<string, BudgetState>();
  readonly #ownerKnown = new Map<string, OwnerKnown>();
  readonly #loadedAt = new Map<string, number>();
  readonly #ownerLoadedAt = new Map<string, number>();
  #prunedAt = 0;
  #flushedAt = Number.NEGATIVE_INFINITY;
  /** A pause is waiting to be written: the next flush writes, however soon. */
  #urgent = false;

  constructor(
    private readonly deps: {
      store: Pick<Store, 'recordBudgets' | 'getBudgets' | 'getOwnerSpend'>;
      clock: Clock;
      logger?: Logger | undefined;
    },
  ) {}

  /**
   * An answer's word on a token's budget, and what the request cost — with `owner`, a service
   * token's request on that owner's behalf (counted against the owner's `service_per_owner`).
   */
  observe(providerId: string, fp: string, o: BudgetObservation, owner?: string): void {
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
      // Told of a later reset once the known one passed: a new window began at the known reset
      // (as UPSERT_BUDGETS_SQL decides for the database).
      const renewed =
        o.reset_at && known?.reset_at && now >= known.reset_at && o.reset_at > known.reset_at
          ? known.reset_at
          : null;
      this.#known.set(k, {
        ...(known ?? { paused_until: null, used_last_hour: 0, used_recent: 0, window_start: null }),
        window_start: renewed ?? known?.window_start ?? null,
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
      if (owner !== undefined) {
        const ou = `${u}\u0000${owner}`;
        const spent = this.#ownerUsage.get(ou) ?? { ...entry, owner_id: owner, units: 0 };
        spent.units += o.charged;
        this.#ownerUsage.set(ou, spent);
      }
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

  /**
   * Reads what all replicas know of these tokens, unless read within RELOAD_MS; for a key with an
   * owner, also what the service token spent on that owner's behalf.
   */
  async load(tokens: readonly BudgetKey[]): Promise<void> {
    const now = this.deps.clock.now();
    const fresh = (at: number | undefined) => at !== undefined && now.getTime() - at < RELOAD_MS;
    // Once per token: a service token serving many owners would count its spend once per owner.
    const distinct = new Map(
      tokens.map((t) => [
        `${t.provider_id}\u0000${t.token_fp}`,
        { provider_id: t.provider_id, token_fp: t.token_fp },
      ]),
    );
    const wanted = [...distinct.entries()].filter(([k]) => !fresh(this.#loadedAt.get(k))).map(([, t]) => t);
    const owners = new Map(
      tokens.flatMap((t) =>
        t.owner_id === undefined ? [] : [[ownerKey(t.provider_id, t.token_fp, t.owner_id), t] as const],
      ),
    );
    const wantedOwners = [...owners.entries()]
      .filter(([k]) => !fresh(this.#ownerLoadedAt.get(k)))
      .map(([, t]) => ({ provider_id: t.provider_id, token_fp: t.token_fp, owner_id: t.owner_id! }));
    if (wanted.length === 0 && wantedOwners.length === 0) return;
    try {
      const [rows, spends] = await Promise.all([
        wanted.length > 0 ? this.deps.store.getBudgets(wanted, now) : Promise.resolve([]),
        wantedOwners.length > 0 ? this.deps.store.getOwnerSpend(wantedOwners, now) : Promise.resolve([]),
      ]);
      for (const t of wanted) this.#loadedAt.set(`${t.provider_id}\u0000${t.token_fp}`, now.getTime());
      for (const row of rows) this.#known.set(key(row.provider_id, row.token_fp, row.scope), row);
      for (const t of wantedOwners) {
        const k = ownerKey(t.provider_id, t.token_fp, t.owner_id);
        this.#ownerLoadedAt.set(k, now.getTime());
        // Nothing spent in the last hours reads as no row: forget what was known.
        for (const known of this.#ownerKnown.keys())
          if (known.startsWith(`${k}\u0000`)) this.#ownerKnown.delete(known);
      }
      for (const spend of spends)
        this.#ownerKnown.set(
          `${ownerKey(spend.provider_id, spend.token_fp, spend.owner_id)}\u0000${spend.scope}`,
          {
            ...spend,
            basis: this.#known.get(key(spend.provider_id, spend.token_fp, spend.scope))?.window_start ?? null,
          },
        );
      if (this.#loadedAt.size > 100_000) this.#loadedAt.clear();
      if (this.#ownerLoadedAt.size > 100_000) {
        this.#ownerLoadedAt.clear();
        this.#ownerKnown.clear();
      }
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
    const ownerUsage = byKey(this.#ownerUsage);
    const now = this.deps.clock.now().getTime();
    const prune = now - this.#prunedAt > 600_000 ? new Date(now - USAGE_KEPT_MS) : undefined;
    if (observed.length === 0 && usage.length === 0 && ownerUsage.length === 0 && !prune) return;
    if (!options.force && !this.#urgent && now - this.#flushedAt < FLUSH_EVERY_MS) return;
    this.#flushedAt = now;
    this.#urgent = false;
    this.#observed.clear();
    this.#usage.clear();
    this.#ownerUsage.clear();
    // What was spent on an owner's behalf counts from now on through what the database says: it
    // is read back before the owner's next verdict.
    for (const [, v] of ownerUsage)
      this.#ownerLoadedAt.delete(ownerKey(v.provider_id, v.token_fp, v.owner_id));
    try {
      await this.deps.store.recordBudgets(
        observed.map(([, v]) => v),
        usage.map(([, v]) => v),
        prune,
        ownerUsage.map(([, v]) => v),
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
      for (const [k, v] of ownerUsage) {
        const later = this.#ownerUsage.get(k);
        if (later) later.units += v.units;
        else this.#ownerUsage.set(k, v);
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

  /**
   * What the service token spent on one owner's behalf in one scope — all replicas' (as last read)
   * with this one's not written yet — and the verdict on the owner's allowance, `share` of the
   * token's budget per window (`service_per_owner`).
   */
  ownerSpend(
    providerId: string,
    fp: string,
    scope: string,
    owner: string,
    share: number,
  ): { in_window: number; last_hour: number; allowance: number | null; verdict: BudgetVerdict } {
    const now = this.deps.clock.now();
    const budget = this.#known.get(key(providerId, fp, scope));
    const windowStart = budget?.window_start ?? null;
    const from = Math.max(windowStart?.getTime() ?? 0, now.getTime() - HOUR_MS);
    const known = this.#ownerKnown.get(`${ownerKey(providerId, fp, owner)}\u0000${scope}`);
    // Counted from an earlier window than the one now known: none of it is this window's.
    const stale = known && (windowStart?.getTime() ?? 0) > (known.basis?.getTime() ?? 0);
    let inWindow = known && !stale ? known.used_in_window : 0;
    let lastHour = known?.used_last_hour ?? 0;
    let recent = known?.used_recent ?? 0;
    for (const u of this.#ownerUsage.values()) {
      if (u.provider_id !== providerId || u.token_fp !== fp || u.scope !== scope || u.owner_id !== owner)
        continue;
      const at = u.minute.getTime();
      if (at >= (windowStart && !stale ? windowStart.getTime() : from)) inWindow += u.units;
      if (at >= now.getTime() - HOUR_MS) lastHour += u.units;
      if (at >= now.getTime() - PACE_WINDOW_MS) recent += u.units;
    }
    const limit = budget?.limit ?? null;
    return {
      in_window: inWindow,
      last_hour: lastHour,
      allowance: limit === null ? null : share * limit,
      verdict: ownerShareVerdict(
        { limit, reset_at: budget?.reset_at ?? null },
        share,
        { in_window: inWindow, recent },
        now,
      ),
    };
  }
}

function laterOf(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a > b ? a : b;
}
