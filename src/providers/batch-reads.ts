import { type PullRef, type RepoRef, repoKey } from './types.ts';

/**
 * How long before the time a host's answer says it was made (its `Date`, to the second) the PRs it
 * showed unchanged are taken as unchanged (Gitea, Bitbucket: their lists compare the host's own
 * update times): an update stamped just before the answer (a host stamps an update when it writes,
 * then commits) may not have been visible to it yet. A minute also covers a `Date` a little ahead
 * of the times the host stamps.
 */
export const ANSWER_SLACK_MS = 60_000;

/**
 * The host's time through which a PR is known unchanged, once an answer made at `answered` (its
 * `Date`; null: none) showed it unchanged since `through`: the later of the two, less
 * ANSWER_SLACK_MS for the answer.
 */
export const unchangedThrough = (through: number, answered: number | null): number =>
  answered === null ? through : Math.max(through, answered - ANSWER_SLACK_MS);

/** The time a host's answer says it was made (its `Date`, RFC 9110), or null when it sent none. */
export function answeredAt(headers: Headers): number | null {
  const at = Date.parse(headers.get('date') ?? '');
  return Number.isNaN(at) ? null : at;
}

/**
 * What the hosts whose `fetchPulls` reads one list per repository share (Gitea, Bitbucket, Azure
 * DevOps): the asked PRs by repository (names compare without case), and bounded side-by-side work.
 */
export function byRepository<T extends { pull: PullRef }>(
  items: readonly T[],
): { repo: RepoRef; items: T[] }[] {
  const groups = new Map<string, { repo: RepoRef; items: T[] }>();
  for (const item of items) {
    const key = repoKey(item.pull.repo);
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
