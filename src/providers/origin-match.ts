import { parseRemote } from '../core/origin.ts';
import type { RepoRef } from './types.ts';

/**
 * Splits a remote on `webUrl`'s host into the repository path. Hosts compare case-insensitively;
 * a path prefix in `webUrl` (self-hosted under `/gitlab`) is removed when present. `nested`
 * allows owners made of several segments (GitLab groups). Never throws.
 */
export function matchRepoOnHost(origin: string, webUrl: string, nested: boolean): RepoRef | null {
  const remote = parseRemote(origin);
  if (!remote) return null;
  const base = new URL(webUrl);
  const webHost = base.host.toLowerCase();
  // ssh remotes carry no web port; match them on the bare hostname.
  if (remote.host !== webHost && remote.host !== base.hostname.toLowerCase()) return null;
  let segments = remote.segments;
  const prefix = base.pathname.split('/').filter((s) => s !== '');
  if (prefix.length > 0 && prefix.every((p, i) => segments[i]?.toLowerCase() === p.toLowerCase())) {
    segments = segments.slice(prefix.length);
  }
  if (segments.length < 2 || (!nested && segments.length !== 2)) return null;
  const name = segments.at(-1)!;
  return { owner: segments.slice(0, -1).join('/'), name };
}

export const trimTrailingSlash = (url: string): string => url.replace(/\/+$/, '');
