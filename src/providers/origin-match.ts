import { parseRemote } from '../core/origin.ts';
import type { RepoRef } from './types.ts';

/**
 * Whether a remote is on `webUrl`'s host (case-insensitive; ssh remotes carry no web port, so
 * the bare hostname counts too) and, for an instance served under a path prefix
 * (`https://host/gitlab`), whether an http(s) remote is under that prefix. ssh remotes of such an
 * instance carry no prefix (`git@host:group/repo.git`) and match on the host alone.
 */
export function isOnHost(origin: string, webUrl: string): boolean {
  const remote = parseRemote(origin);
  if (!remote) return false;
  const base = new URL(webUrl);
  if (remote.host !== base.host.toLowerCase() && remote.host !== base.hostname.toLowerCase()) return false;
  const prefix = base.pathname.split('/').filter((s) => s !== '');
  if (prefix.length === 0 || !/^https?:/i.test(origin.trim())) return true;
  return prefix.every((p, i) => remote.segments[i]?.toLowerCase() === p.toLowerCase());
}

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
