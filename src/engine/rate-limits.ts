import { tokenFingerprint } from '../core/fingerprint.ts';

/** A pause that names no scope covers every budget of its (API, token). */
const ALL_SCOPES = '*';

/**
 * Pauses per (code-host API, token, budget): once a host says "rate limited until T", nothing is
 * sent with that token to that host's limited budget before T, whatever owner or row asks. A host
 * may keep several budgets per token (GitHub: REST's `core` and `graphql` are separate), so a
 * pause of one leaves the others usable; a limit that names no scope pauses them all. Tokens are
 * kept hashed.
 */
export class RateLimitPauses {
  readonly #until = new Map<string, number>();
  /** Why a key is paused, where it is not the host's rate limit (gitsync's budget share). */
  readonly #reasons = new Map<string, string>();

  /** The key of one budget; `scope` undefined: every budget of that (API, token). */
  static key(apiUrl: string, token: string, scope?: string): string {
    return `${apiUrl}\u0000${tokenFingerprint(token)}\u0000${scope ?? ALL_SCOPES}`;
  }

  /** Until when calls on `key`'s budget must wait: its own pause or one of the whole token. */
  pausedUntil(key: string, now: Date): Date | null {
    const all = `${key.slice(0, key.lastIndexOf('\u0000'))}\u0000${ALL_SCOPES}`;
    const until = Math.max(this.#live(key, now), this.#live(all, now));
    return until > 0 ? new Date(until) : null;
  }

  pause(key: string, until: Date, reason?: string): void {
    this.#until.set(key, Math.max(until.getTime(), this.#until.get(key) ?? 0));
    if (reason) this.#reasons.set(key, reason);
    else this.#reasons.delete(key);
  }

  /** Why `key` is paused, when gitsync paused it itself; undefined for a host's rate limit. */
  reason(key: string): string | undefined {
    return this.#until.has(key) ? this.#reasons.get(key) : undefined;
  }

  #live(key: string, now: Date): number {
    const until = this.#until.get(key);
    if (until === undefined) return 0;
    if (until <= now.getTime()) {
      this.#until.delete(key);
      this.#reasons.delete(key);
      return 0;
    }
    return until;
  }
}
