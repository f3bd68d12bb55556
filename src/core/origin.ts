/**
 * Git remote parsing shared by every provider, and the canonical form of an origin that no
 * provider matches. Credentials never survive either path.
 */

export interface ParsedRemote {
  /** Lower-case host; with `:port` only for http(s), where the port is part of the web address. */
  host: string;
  /** Path segments, `.git` and empty segments removed. */
  segments: string[];
}

const SCP_LIKE = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/;
const URL_SCHEMES = new Set(['http:', 'https:', 'ssh:', 'git:', 'git+ssh:', 'ssh+git:']);

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
  if (text.includes('://')) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return null;
    }
    if (!URL_SCHEMES.has(url.protocol) || url.hostname === '') return null;
    const web = url.protocol === 'http:' || url.protocol === 'https:';
    const host = (web ? url.host : url.hostname).toLowerCase();
    return { host, segments: splitPath(url.pathname) };
  }
  const scp = SCP_LIKE.exec(text);
  if (!scp) return null;
  return { host: scp[1]!.toLowerCase(), segments: splitPath(scp[2]!) };
}

/**
 * The stored form of an origin no provider matches: credentials, `.git` and trailing `/`
 * removed, host lower-cased; otherwise as reported.
 */
export function canonicalUnmatchedOrigin(origin: string): string {
  const text = origin.trim();
  if (text.includes('://')) {
    try {
      const url = new URL(text);
      const web = url.protocol === 'http:' || url.protocol === 'https:';
      // In http(s) remotes the user part is where tokens go; in ssh it is the login, minus any password.
      const user = !web && url.username ? `${url.username}@` : '';
      const path = trimRepoSuffix(url.pathname);
      return `${url.protocol}//${user}${url.host.toLowerCase()}${path}`;
    } catch {
      return trimRepoSuffix(stripUserInfo(text));
    }
  }
  const scp = /^([^@/\s]+@)?([^:/\s]+):(.*)$/.exec(text);
  if (scp) {
    const user = scp[1]?.split(':')[0];
    return `${user ? `${user.replace(/@$/, '')}@` : ''}${scp[2]!.toLowerCase()}:${trimRepoSuffix(scp[3]!)}`;
  }
  return trimRepoSuffix(text);
}

function trimRepoSuffix(path: string): string {
  let out = path.replace(/\/+$/, '');
  if (out.toLowerCase().endsWith('.git')) out = out.slice(0, -4);
  return out.replace(/\/+$/, '');
}

function stripUserInfo(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
}
