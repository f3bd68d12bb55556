import { describe, expect, it } from 'vitest';
import { batchesOf } from './batches.ts';

describe('batchesOf', () => {
  const items = (spec: Record<string, number>) =>
    Object.entries(spec).flatMap(([repo, n]) => Array.from({ length: n }, (_, i) => `${repo}#${i}`));
  const repoOf = (item: string) => item.split('#')[0]!;
  const shape = (batches: string[][]) =>
    batches.map((b) => `${[...new Set(b.map(repoOf))].join('+')}:${b.length}`);

  it('cuts in order without groups', () => {
    expect(batchesOf(items({ a: 3, b: 4 }), 3).map((b) => b.length)).toEqual([3, 3, 1]);
    expect(batchesOf(items({ a: 3 }), 0)).toEqual([]);
  });

  it('keeps each repository in one batch where it fits, so none is listed twice', () => {
    // 15 repositories of 20 in batches of 50: two repositories a batch, none cut.
    const batches = batchesOf(
      items(Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`r${i}`, 20]))),
      50,
      repoOf,
    );
    expect(batches).toHaveLength(8);
    expect(batches.every((b) => b.length <= 50)).toBe(true);
    const cut = new Set<string>();
    const seen = new Set<string>();
    for (const b of batches)
      for (const repo of new Set(b.map(repoOf))) {
        if (seen.has(repo)) cut.add(repo);
        seen.add(repo);
      }
    expect(cut.size).toBe(0);
    expect(batches.flat().sort()).toEqual(
      items(Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`r${i}`, 20]))).sort(),
    );
  });

  it('gives a repository larger than a batch whole batches of its own, then packs what is left', () => {
    expect(shape(batchesOf(items({ big: 7, a: 2, b: 2 }), 3, repoOf))).toEqual([
      'big:3',
      'big:3',
      'big+a:3',
      'b:2',
    ]);
    // Interleaved items are gathered by repository.
    expect(shape(batchesOf(['a#0', 'b#0', 'a#1', 'b#1'], 2, repoOf))).toEqual(['a:2', 'b:2']);
  });
});
