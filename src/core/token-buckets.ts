/**
 * Token buckets by key (API keys' request rates, owners' "refresh now" allowance): each key may
 * spend `burst` at once and regains `perSecond` each second. In memory, per replica; time comes
 * from the caller. Full buckets carry no information and are forgotten once many keys are
 * tracked, so memory stays bounded by the keys active recently.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perSecond: number;
  readonly #burst: number;

  constructor(perSecond: number, burst: number) {
    this.#perSecond = perSecond;
    this.#burst = Math.max(1, burst);
  }

  /** Takes one token; returns 0 when allowed, else the milliseconds until one is available. */
  take(key: string, nowMs: number): number {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: nowMs };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * this.#perSecond);
    bucket.at = nowMs;
    if (bucket.tokens < 1) {
      this.#buckets.set(key, bucket);
      return Math.ceil(((1 - bucket.tokens) / this.#perSecond) * 1000);
    }
    bucket.tokens -= 1;
    this.#buckets.set(key, bucket);
    if (this.#buckets.size > 10_000) this.#forgetFull(nowMs);
    return 0;
  }

  #forgetFull(nowMs: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((nowMs - bucket.at) / 1000) * this.#perSecond >= this.#burst)
        this.#buckets.delete(key);
    }
  }
}
