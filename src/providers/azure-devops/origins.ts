import { parseRemote } from '../../core/origin.ts';
import { pullNumber } from '../origin-match.ts';
import type { PullRef, RepoRef } from '../types.ts';

/**
 * Azure DevOps remotes and PR addresses. A repository is `{org}/{project}/{repo}`; gitsync keeps
 * it as RepoRef `owner = "{org}/{project}"`, `name = "{repo}"`, and stores every form of its
 * origin as `{web_url}/{org}/{project}/_git/{repo}`.
 *
 * The forms a checkout carries (Azure DevOps docs, "Clone an existing Git repo" and "Use SSH key
 * authentication"; "Azure DevOps Services URL change": `{org}.visualstudio.com` still answers
 * for organizations created before 2018):
 * - `https://dev.azure.com/{org}/{project}/_git/{repo}`, often as `https://{org}@dev.azure.com/…`
 * - `git@ssh.dev.azure.com:v3/{org}/{project}/{repo}` (also `ssh://git@ssh.dev.azure.com/v3/…`)
 * - `https://{org}.visualstudio.com/{project}/_git/{repo}`, also with `/DefaultCollection/`
 * - `{org}@vs-ssh.visualstudio.com:v3/{org}/{project}/{repo}`
 * - `…/{org}/_git/{repo}`: a repository named like its project, the project left out of the path
 *   (service-hook payloads and the web UI use it).
 */

/** A name Azure DevOps allows in an organization, project or repository: no `/` or `\`, no control characters. */
const isName = (s: string) =>
  s !== '' &&
  s !== '.' &&
  s !== '..' &&
  ![...s].some((c) => c === '/' || c === '\\' || c.charCodeAt(0) < 0x20);
const DEFAULT_COLLECTION = 'defaultcollection';
const VS_HOST = /^([a-z0-9][a-z0-9-]*)\.visualstudio\.com$/;

/** The parts of a repository path, decoded. */
export interface AzureRepoPath {
  org: string;
  project: string;
  repo: string;
}

export const repoRefOf = (p: AzureRepoPath): RepoRef => ({ owner: `${p.org}/${p.project}`, name: p.repo });

/** `{org}/{project}` of a RepoRef, or null when `owner` is not of that shape. */
export function splitOwner(repo: RepoRef): { org: string; project: string } | null {
  const parts = repo.owner.split('/');
  if (parts.length !== 2 || !parts.every(isName) || !isName(repo.name)) return null;
  return { org: parts[0]!, project: parts[1]! };
}

/** The hosts a provider at `webUrl` answers for: its web host, and the ssh hosts that go with it. */
export function hostKind(host: string, webUrl: string): { kind: 'web' | 'ssh' | 'vs'; org?: string } | null {
  const base = new URL(webUrl);
  const web = base.host.toLowerCase();
  const bare = base.hostname.toLowerCase();
  const h = host.toLowerCase();
  if (h === web || h === bare) return { kind: 'web' };
  // `ssh.dev.azure.com` for `dev.azure.com`; the same rule for any web host (an emulator).
  if (h === `ssh.${bare}`) return { kind: 'ssh' };
  if (bare === 'dev.azure.com') {
    if (h === 'vs-ssh.visualstudio.com') return { kind: 'ssh' };
    const vs = VS_HOST.exec(h);
    if (vs && vs[1] !== 'vs-ssh') return { kind: 'vs', org: vs[1]! };
  }
  return null;
}

/**
 * The repository in a path of the given kind, or null. Web paths: `[org, DefaultCollection?,
 * project?, _git, repo, …rest]`; `{org}.visualstudio.com` paths lack the org; ssh paths are
 * `[v3, org, project, repo]`. `rest` is what follows the repository (a PR path).
 */
export function readRepoPath(
  kind: 'web' | 'ssh' | 'vs',
  segments: readonly string[],
  vsOrg?: string,
): { repo: AzureRepoPath; rest: string[] } | null {
  let s = [...segments];
  if (kind === 'ssh') {
    if (s[0]?.toLowerCase() !== 'v3' || s.length !== 4) return null;
    const [, org, project, repo] = s as [string, string, string, string];
    return valid({ org, project, repo }, []);
  }
  let org: string;
  if (kind === 'vs') org = vsOrg!;
  else {
    if (s.length === 0) return null;
    org = s[0]!;
    s = s.slice(1);
  }
  if (s[0]?.toLowerCase() === DEFAULT_COLLECTION && s.length > 2) s = s.slice(1);
  const git = s.findIndex((x) => x.toLowerCase() === '_git');
  if (git < 0 || git > 1 || s.length < git + 2) return null;
  const repo = s[git + 1]!;
  const project = git === 1 ? s[0]! : repo;
  return valid({ org, project, repo }, s.slice(git + 2));
}

function valid(p: AzureRepoPath, rest: string[]) {
  return [p.org, p.project, p.repo].every((x) => isName(x) && !x.startsWith('_')) ? { repo: p, rest } : null;
}

/** The repository an origin names on this provider's hosts; null for another host or another path. */
export function parseAzureOrigin(origin: string, webUrl: string): RepoRef | null {
  const remote = parseRemote(origin);
  if (!remote) return null;
  const kind = hostKind(remote.host, webUrl);
  if (!kind) return null;
  const found = readRepoPath(kind.kind, remote.segments, kind.org);
  return found && found.rest.length === 0 ? repoRefOf(found.repo) : null;
}

const enc = encodeURIComponent;

/** `{webUrl}/{org}/{project}/_git/{repo}`, each name URL-encoded (project names may hold spaces). */
export function azureRepoUrl(webUrl: string, repo: RepoRef): string {
  const owner = splitOwner(repo);
  const [org, project] = owner ? [owner.org, owner.project] : repo.owner.split('/', 2);
  return `${webUrl}/${enc(org ?? '')}/${enc(project ?? '')}/_git/${enc(repo.name)}`;
}

/**
 * `{repository webUrl}/pullrequest/{id}` (Azure DevOps docs, "Pull Requests - Get Pull Request":
 * the web address of a PR), with any query, fragment or trailing path (`?_a=files`) ignored.
 */
export function parseAzurePullUrl(url: string, webUrl: string): PullRef | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (!/^https?:$/.test(parsed.protocol)) return null;
  const kind = hostKind(parsed.host, webUrl);
  if (!kind || kind.kind === 'ssh') return null;
  const segments = parsed.pathname
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  const found = readRepoPath(kind.kind, segments, kind.org);
  if (found?.rest[0]?.toLowerCase() !== 'pullrequest' || found.rest.length !== 2) return null;
  const number = pullNumber(found.rest[1]!);
  return number === null ? null : { repo: repoRefOf(found.repo), number };
}

export const azurePullUrl = (webUrl: string, pull: PullRef) =>
  `${azureRepoUrl(webUrl, pull.repo)}/pullrequest/${pull.number}`;
