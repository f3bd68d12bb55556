import { parseRemote, trimTrailingSlash } from '../core/origin.ts';
import type { Provider, PullRef, RepoRef } from './types.ts';

/**
 * The repository path of a remote on `webUrl`'s instance, or null when it is elsewhere. Hosts
 * compare case-insensitively. An http(s) remote must name the web port too (`https://host` is
 * not `https://host:8443`) and sit under the path prefix of an instance served below one
 * (`https://host/gitlab`), which is removed; ssh remotes carry neither the web port nor the prefix
 * (`git@host:group/repo.git`) and match on the bare hostname. `.` and `..` are never a segment.
 */
function segmentsOnHost(origin: string, webUrl: string): string[] | null {
  const remote = parseRemote(origin);
  if (!remote) return null;
  const base = new URL(webUrl);
  const web = /^https?:/i.test(origin.trim());
  if (remote.host !== (web ? base.host : base.hostname).toLowerCase()) return null;
  let segments = remote.segments;
  const prefix = base.pathname.split('/').filter((s) => s !== '');
  if (web && prefix.length > 0) {
    if (!prefix.every((p, i) => segments[i]?.toLowerCase() === p.toLowerCase())) return null;
    segments = segments.slice(prefix.length);
  }
  return segments.some((s) => s === '.' || s === '..') ? null : segments;
}

/** Whether a remote is on `webUrl`'s instance (see `segmentsOnHost`). */
export function isOnHost(origin: string, webUrl: string): boolean {
  return segmentsOnHost(origin, webUrl) !== null;
}

/**
 * Splits a remote on `webUrl`'s instance into the repository path. `nested` allows owners made of
 * several segments (GitLab groups). Never throws.
 */
export function matchRepoOnHost(origin: string, webUrl: string, nested: boolean): RepoRef | null {
  const segments = segmentsOnHost(origin, webUrl);
  if (!segments || segments.length < 2 || (!nested && segments.length !== 2)) return null;
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

/**
 * The web URL a host gave for `pull` when it is one of this provider's PR URLs for that number
 * (a renamed repository's new path is fine), else the one the provider builds: a URL gitsync
 * cannot read back (a GitLab `external_url` other than `web_url`, or anything but http(s)) would
 * cost a branch lookup on every refresh, and is never shown.
 */
export function hostPullUrl(
  provider: Pick<Provider, 'parsePullUrl' | 'buildPullUrl'>,
  given: string | null | undefined,
  pull: PullRef,
): string {
  const read = given ? provider.parsePullUrl(given) : null;
  return read !== null && read.number === pull.number ? given! : provider.buildPullUrl(pull);
}
