import type { Clock } from '../core/clock.ts';
import type { PrFields } from '../core/types.ts';

/** A repository on a code host. `owner` may hold nested groups (`group/sub`) where the host has them. */
export interface RepoRef {
  owner: string;
  name: string;
}

export interface PullRef {
  repo: RepoRef;
  number: number;
}

export interface CallOptions {
  token: string;
  signal?: AbortSignal | undefined;
}

/** What the configuration says about one code host (SPEC §2 "provider"). */
export interface ProviderConfig {
  id: string;
  type: string;
  /** Base web address without trailing slash, e.g. `https://github.com` or `https://host/gitlab`. */
  web_url: string;
  api_url: string;
  service_token?: string | undefined;
  webhook_secret?: string | undefined;
}

/**
 * One code host. Host vocabulary stays behind this interface: implementations map their states
 * to `open | closed | merged` and translate every failure into the errors of `core/errors.ts`.
 */
export interface Provider {
  readonly config: ProviderConfig;
  /** The repository an origin names, if it is on this host (https, ssh://, scp-like; credentials ignored). */
  parseOrigin(origin: string): RepoRef | null;
  /** The canonical origin stored for a repository: `web_url/owner/name`. */
  repoUrl(repo: RepoRef): string;
  parsePullUrl(url: string): PullRef | null;
  buildPullUrl(pull: PullRef): string;
  /** The PR whose head is `branch` (own repo or a fork), preferring an open one; null if none. */
  findPullForBranch(repo: RepoRef, branch: string, options: CallOptions): Promise<PrFields | null>;
  fetchPull(pull: PullRef, options: CallOptions): Promise<PrFields>;
  /**
   * Optional: many PRs in as few requests as the host allows, keyed by `pullKey`. An entry may be
   * an error of its own (a PR not found); an error thrown fails them all (rate limit, outage).
   */
  fetchPulls?(pulls: readonly PullRef[], options: CallOptions): Promise<Map<string, PrFields | Error>>;
  /**
   * Optional: the PR of many (repository, branch) pairs at once, as `findPullForBranch` would
   * answer each (null: none), keyed by `branchKey`; an error thrown fails them all.
   */
  findPullsForBranches?(
    items: readonly { repo: RepoRef; branch: string }[],
    options: CallOptions,
  ): Promise<Map<string, PrFields | null | Error>>;
}

/** Key of a (repository, branch) in `findPullsForBranches` results. */
export const branchKey = (repo: RepoRef, branch: string) =>
  `${repo.owner.toLowerCase()}/${repo.name.toLowerCase()}\u0000${branch}`;

/** Key of a PR in `fetchPulls` results (host names compare without case). */
export const pullKey = (pull: PullRef) => `${pull.repo.owner}/${pull.repo.name}#${pull.number}`.toLowerCase();

/** What a provider may need from its surroundings. */
export interface ProviderDeps {
  /** For rate-limit reset times computed from relative headers (`retry-after`). */
  clock: Clock;
}

export type ProviderFactory = (config: ProviderConfig, deps: ProviderDeps) => Provider;
