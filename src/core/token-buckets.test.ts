import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './token-buckets.ts';

describe('TokenBuckets', () => {
  it('a burst, then one every 1/perSecond seconds, per key', () => {
    const buckets = new TokenBuckets(3 / 60, 3);
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 3; i++) expect(buckets.take('a', t0)).toBe(0);
    expect(buckets.take('a', t0)).toBe(20_000);
    expect(buckets.take('b', t0)).toBe(0);
    expect(buckets.take('a', t0 + 19_999)).toBeGreaterThan(0);
    expect(buckets.take('a', t0 + 20_000)).toBe(0);
  });

  it('forgets full buckets once many keys are tracked, keeping the others', () => {
    const buckets = new TokenBuckets(1, 1);
    const t0 = 1_000_000;
    expect(buckets.take('busy', t0)).toBe(0);
    for (let i = 0; i < 10_001; i++) buckets.take(`k${i}`, t0 - 10_000);
    // 'busy' is still empty: forgetting it would have let it through.
    expect(buckets.take('busy', t0)).toBeGreaterThan(0);
  });
});
