import { createHash } from 'node:crypto';

/**
 * Pauses per (code-host API, token): once a host says "rate limited until T", nothing is sent
 * with that token to that host before T, whatever owner or row asks. Tokens are kept hashed.
 */
export class RateLimitPauses {
  readonly #until = new Map<string, number>();

  static key(apiUrl: string, token: string): string {
    return `${apiUrl}\u0000${createHash('sha256').update(token).digest('base64url')}`;
  }

  pausedUntil(key: string, now: Date): Date | null {
    const until = this.#until.get(key);
    if (until === undefined) return null;
    if (until <= now.getTime()) {
      this.#until.delete(key);
      return null;
    }
    return new Date(until);
  }

  pause(key: string, until: Date): void {
    this.#until.set(key, Math.max(until.getTime(), this.#until.get(key) ?? 0));
  }
}
