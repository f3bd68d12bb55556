import type { PullRef, RepoRef } from './types.ts';

/**
 * What the hosts whose `fetchPulls` reads one list per repository share (Gitea, Bitbucket, Azure
 * DevOps): the asked PRs by repository (names compare without case), and bounded side-by-side work.
 */
export function byRepository<T extends { pull: PullRef }>(
  items: readonly T[],
): { repo: RepoRef; items: T[] }[] {
  const groups = new Map<string, { repo: RepoRef; items: T[] }>();
  for (const item of items) {
    const key = `${item.pull.repo.owner}/${item.pull.repo.name}`.toLowerCase();
    const group = groups.get(key) ?? { repo: item.pull.repo, items: [] };
    group.items.push(item);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/**
 * Runs `work` on every item, at most `limit` at a time. The first failure fails the whole: no item
 * is started after it, and it is thrown once those under way have ended.
 */
export async function eachAtMost<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      try {
        await work(items[next++]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, lane));
  const failure = lanes.find((l) => l.status === 'rejected');
  if (failure) throw failure.reason;
}
