/**
 * Cuts `items` into batches of at most `size`. With `groupOf`, items of one group (a repository)
 * stay in one batch where they fit: groups are packed whole, in the order they first appear, and
 * a group larger than a batch fills whole batches of its own first. For a host whose batch read
 * costs one list read per repository it holds (Gitea, Bitbucket, Azure DevOps), a repository cut in
 * two by a batch boundary would be listed twice.
 */
export function batchesOf<T>(items: readonly T[], size: number, groupOf?: (item: T) => string): T[][] {
  if (size <= 0) return [];
  const out: T[][] = [];
  if (!groupOf) {
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
  }
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = groupOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  let current: T[] = [];
  for (let group of groups.values()) {
    while (group.length >= size) {
      out.push(group.slice(0, size));
      group = group.slice(size);
    }
    if (group.length === 0) continue;
    if (current.length + group.length > size) {
      out.push(current);
      current = [];
    }
    current.push(...group);
  }
  if (current.length > 0) out.push(current);
  return out;
}
