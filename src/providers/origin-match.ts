import { parseRemote, trimTrailingSlash } from '../core/origin.ts';
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

/**
 * Matches `pattern` against the path of a web URL on `webUrl`'s host and scheme, with the path
 * prefix of a self-hosted instance (`https://host/gitlab`) removed first; query and fragment are
 * ignored. The match is null when the URL is unparseable, elsewhere, or does not fit. Never throws.
 */
export function matchWebPath(url: string, webUrl: string, pattern: RegExp): RegExpExecArray | null {
  let parsed: URL;
  let base: URL;
  try {
    parsed = new URL(url);
    base = new URL(webUrl);
  } catch {
    return null;
  }
  if (parsed.host.toLowerCase() !== base.host.toLowerCase() || parsed.protocol !== base.protocol) return null;
  const prefix = trimTrailingSlash(base.pathname);
  if (!parsed.pathname.toLowerCase().startsWith(`${prefix.toLowerCase()}/`)) return null;
  return pattern.exec(parsed.pathname.slice(prefix.length));
}

/** A PR/MR number from a URL path segment: a positive safe integer, else null. */
export function pullNumber(digits: string): number | null {
  const number = Number(digits);
  return /^\d+$/.test(digits) && Number.isSafeInteger(number) && number > 0 ? number : null;
}
