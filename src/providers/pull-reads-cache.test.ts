import { describe, expect, it } from 'vitest';
import { PullReadsCache } from './pull-reads-cache.ts';

type Checks = { state: string; names: string[] };
const policy = {
  maxAgeMs: 60_000,
  settleMs: 10_000,
  settled: (c: Checks) => c.state !== 'pending',
};
const passing: Checks = { state: 'passing', names: ['build'] };

describe('PullReadsCache', () => {
  it('stands in only for the same head and stamp, once settled, within the max age', () => {
    const cache = new PullReadsCache<Checks>(policy);
    const key = PullReadsCache.key('token', 'https://host/o/r/pulls/1');
    cache.set(key, 'aaa', 's1', passing, 0);
    // Not for ten seconds after it was first read so: a status may still be posted.
    expect(cache.get(key, 'aaa', 's1', 9_999)).toBeUndefined();
    cache.set(key, 'aaa', 's1', passing, 5_000);
    expect(cache.get(key, 'aaa', 's1', 10_000)).toEqual(passing);
    expect(cache.get(key, 'bbb', 's1', 10_000)).toBeUndefined();
    expect(cache.get(key, 'aaa', 's2', 10_000)).toBeUndefined();
    expect(cache.get(key, null, 's1', 10_000)).toBeUndefined();
    // The max age counts from the last read.
    expect(cache.get(key, 'aaa', 's1', 64_999)).toEqual(passing);
    expect(cache.get(key, 'aaa', 's1', 65_000)).toBeUndefined();
    // A different answer starts the settling again; a pending one never stands in.
    cache.set(key, 'aaa', 's1', { state: 'failing', names: [] }, 70_000);
    expect(cache.get(key, 'aaa', 's1', 79_999)).toBeUndefined();
    expect(cache.get(key, 'aaa', 's1', 80_000)).toEqual({ state: 'failing', names: [] });
    cache.set(key, 'aaa', 's1', { state: 'pending', names: [] }, 0);
    expect(cache.get(key, 'aaa', 's1', 1_000_000)).toBeUndefined();
  });

  it('hands out copies, keys by token, and forgets what a match names', () => {
    const cache = new PullReadsCache<Checks>({ ...policy, settleMs: 0 });
    const url = 'https://host/o/r/pulls/1';
    cache.set(PullReadsCache.key('a', url), 'aaa', 's', passing, 0);
    cache.set(PullReadsCache.key('b', url), 'aaa', 's', passing, 0);
    cache.set(PullReadsCache.key('a', `${url}0`), 'ccc', 's', passing, 0);
    const copy = cache.get(PullReadsCache.key('a', url), 'aaa', 's', 1)!;
    copy.names.push('changed');
    expect(cache.get(PullReadsCache.key('a', url), 'aaa', 's', 1)).toEqual(passing);
    expect(PullReadsCache.key('secret-token', url)).not.toContain('secret-token');
    cache.forget((pull) => pull === url);
    expect(cache.size).toBe(1);
    cache.forget((_, head) => head === 'ccc');
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('is bounded by entries and by bytes, least recently used out first', () => {
    const cache = new PullReadsCache<Checks>({ ...policy, settleMs: 0, maxEntries: 3, maxBytes: 100_000 });
    for (const n of [1, 2, 3]) cache.set(`k${n}`, 'h', 's', passing, 0);
    expect(cache.get('k1', 'h', 's', 1)).toBeDefined();
    cache.set('k4', 'h', 's', passing, 0);
    expect([cache.size, cache.get('k2', 'h', 's', 1)]).toEqual([3, undefined]);
    expect(cache.get('k1', 'h', 's', 1)).toBeDefined();
    const small = new PullReadsCache<Checks>({ ...policy, settleMs: 0, maxBytes: 2_000 });
    const big: Checks = { state: 'failing', names: ['x'.repeat(300)] };
    for (let n = 0; n < 10; n++) small.set(`k${n}`, 'h', 's', big, 0);
    expect(small.bytes).toBeLessThanOrEqual(2_000);
    expect(small.size).toBe(2);
    // A value over the whole budget is not kept at all.
    small.set('huge', 'h', 's', { state: 'failing', names: ['x'.repeat(2_000)] }, 0);
    expect(small.get('huge', 'h', 's', 1)).toBeUndefined();
    expect(small.size).toBe(2);
  });
});
