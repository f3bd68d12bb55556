import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.ts';
import { NOT_PUBLIC_ANSWER_TTL_MS, PUBLIC_ANSWER_TTL_MS, PublicRepos } from './public-repos.ts';

const repo = { owner: 'Acme', name: 'App' };

describe('PublicRepos', () => {
  it('asks once for concurrent questions, then remembers: public for longer than not public', async () => {
    const clock = new FakeClock();
    const cache = new PublicRepos(clock);
    let asked = 0;
    const ask = async () => {
      asked++;
      return true;
    };
    expect(await Promise.all([cache.isPublic('gh', repo, ask), cache.isPublic('gh', repo, ask)])).toEqual([
      true,
      true,
    ]);
    expect(asked).toBe(1);
    // Names compare without case; providers do not share answers.
    expect(cache.known('gh', { owner: 'acme', name: 'app' })).toBe(true);
    expect(cache.known('other', repo)).toBeUndefined();
    clock.advance(PUBLIC_ANSWER_TTL_MS - 1);
    expect(cache.known('gh', repo)).toBe(true);
    clock.advance(1);
    expect(cache.known('gh', repo)).toBeUndefined();

    await cache.isPublic('gh', repo, async () => false);
    clock.advance(NOT_PUBLIC_ANSWER_TTL_MS - 1);
    expect(cache.known('gh', repo)).toBe(false);
    clock.advance(1);
    expect(cache.known('gh', repo)).toBeUndefined();
  });

  it('does not remember a failure', async () => {
    const cache = new PublicRepos(new FakeClock());
    await expect(cache.isPublic('gh', repo, () => Promise.reject(new Error('503')))).rejects.toThrow('503');
    expect(cache.known('gh', repo)).toBeUndefined();
    expect(await cache.isPublic('gh', repo, async () => true)).toBe(true);
  });
});
