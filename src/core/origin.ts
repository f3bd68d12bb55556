/**
 * Git remote parsing shared by every provider, and the canonical form of an origin that no
 * provider matches. Credentials never survive either path.
 */
import { BadInputError } from './errors.ts';

/** `https://host/x///` → `https://host/x`: base addresses are kept without trailing slashes. */
export const trimTrailingSlash = (url: string): string => url.replace(/\/+$/, '');

export interface ParsedRemote {
  /** Lower-case host; with `:port` only for http(s), where the port is part of the web address. */
  host: string;
  /** Path segments, `.git` and empty segments removed. */
  segments: string[];
}

const URL_SCHEMES = new Set(['http:', 'https:', 'ssh:', 'git:', 'git+ssh:', 'ssh+git:']);
const WEB_SCHEMES = new Set(['http:', 'https:']);
/**
 * The one ssh login kept in a stored origin: the user every code host documents for its ssh
 * remotes (`git@github.com:o/r`). It names no one and is no secret; any other user-info may be
 * a token (`ghp_…@host:o/r`) and is dropped.
 */
const KEPT_LOGIN = 'git';

/** A remote taken apart, its user-info already gone (only the `git` login may remain). */
type Dissected =
  | { kind: 'url'; url: URL; login: string }
  | { kind: 'scp'; login: string; host: string; path: string }
  /** No host at all (a local path, or text that is no remote): nothing in it is user-info. */
  | { kind: 'other'; text: string };

/**
 * Splits a remote at the last `@` of its authority: everything before it is user-info and goes,
 * whatever it holds. The last `@`, not the first, and not only up to the first `/`: a password
 * may carry an unescaped `@` or `/` (`https://user:pa/ss@host/x`), which strict URL parsing
 * would read as part of the host or path and keep. No code host allows `@` in repository paths,
 * so an `@` after the host can only end a user-info. Returns null for a remote that carries
 * user-info but does not parse: it cannot be stored without risking the credential.
 */
function dissect(origin: string): Dissected | null {
  // The URL Standard reads `https:/host/x` and `https:host/x` as `https://host/x` for the
  // special schemes (https://url.spec.whatwg.org/#scheme-state); so do we, so that a
  // missing slash does not turn the user-info into a path (`https:/user:pass@host/x`).
  const text = origin.trim().replace(/^(https?):(?!\/\/)\/?/i, '$1://');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) {
    const rest = text.slice(scheme[0].length);
    const at = rest.lastIndexOf('@');
    let url: URL;
    try {
      url = new URL(`${scheme[1]}://${rest.slice(at + 1)}`);
    } catch {
      return null;
    }
    // In http(s) remotes the user part is where tokens go: none is kept.
    const login = WEB_SCHEMES.has(url.protocol) ? '' : keptLogin(at < 0 ? '' : rest.slice(0, at));
    return { kind: 'url', url, login };
  }
  // scp-like: `[user-info@]host:path`, the host without `/` (git's own rule for telling it
  // from a local path) and the path not starting with `//`.
  const at = text.lastIndexOf('@');
  const scp = /^([^:/\s]+):(?!\/\/)(.+)$/.exec(text.slice(at + 1));
  if (scp)
    return { kind: 'scp', login: keptLogin(text.slice(0, Math.max(at, 0))), host: scp[1]!, path: scp[2]! };
  return at < 0 ? { kind: 'other', text } : null;
}

const keptLogin = (userInfo: string) => (userInfo.split(':')[0] === KEPT_LOGIN ? `${KEPT_LOGIN}@` : '');

function splitPath(path: string): string[] {
  const segments = path.split('/').filter((s) => s !== '');
  const last = segments.at(-1);
  if (last?.toLowerCase().endsWith('.git')) {
    const trimmed = last.slice(0, -4);
    if (trimmed === '') segments.pop();
    else segments[segments.length - 1] = trimmed;
  }
  return segments.map((s) => safeDecode(s));
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Parses https, ssh://, git:// and scp-like (`git@host:o/r.git`) remotes. Never throws. */
export function parseRemote(origin: string): ParsedRemote | null {
  const text = origin.trim();
  if (text === '' || /\s/.test(text)) return null;
  const remote = dissect(text);
  if (!remote || remote.kind === 'other') return null;
  if (remote.kind === 'scp') return { host: remote.host.toLowerCase(), segments: splitPath(remote.path) };
  const { url } = remote;
  if (!URL_SCHEMES.has(url.protocol) || url.hostname === '') return null;
  const host = (WEB_SCHEMES.has(url.protocol) ? url.host : url.hostname).toLowerCase();
  return { host, segments: splitPath(url.pathname) };
}

/**
 * The stored form of an origin no provider matches: credentials, `.git` and trailing `/`
 * removed, host lower-cased; otherwise as reported. An origin with user-info that does not
 * parse is refused (BadInputError, a 400 at the API): storing it could keep the credential.
 */
export function canonicalUnmatchedOrigin(origin: string): string {
  const remote = dissect(origin);
  if (!remote) {
    // The origin itself is not echoed: it may hold the credential.
    throw new BadInputError(
      'origin is not a git remote gitsync can read (credentials may only precede the host, as in https://user:token@host/owner/repo)',
    );
  }
  switch (remote.kind) {
    case 'url': {
      const { url, login } = remote;
      return `${url.protocol}//${login}${url.host.toLowerCase()}${trimRepoSuffix(url.pathname)}`;
    }
    case 'scp':
      return `${remote.login}${remote.host.toLowerCase()}:${trimRepoSuffix(remote.path)}`;
    case 'other':
      return trimRepoSuffix(remote.text);
  }
}

function trimRepoSuffix(path: string): string {
  let out = path.replace(/\/+$/, '');
  if (out.toLowerCase().endsWith('.git')) out = out.slice(0, -4);
  return out.replace(/\/+$/, '');
}
