import { ConfigError } from '../core/errors.ts';
import { parseRemote } from '../core/origin.ts';
import { createGitHubProvider } from './github/github-provider.ts';
import type { Provider, ProviderConfig, ProviderDeps, ProviderFactory, RepoRef } from './types.ts';

/**
 * Provider types that gitsync implements, one folder each under `src/providers/`.
 * (`fake/` is for tests and is constructed directly, never from configuration.)
 */
export const PROVIDER_FACTORIES: Readonly<Record<string, ProviderFactory>> = {
  github: createGitHubProvider,
};

/** Code-host types the configuration accepts that this version cannot talk to yet: their refs get a clear error state. */
export const PLANNED_PROVIDER_TYPES = [
  'github',
  'gitlab',
  'gitea',
  'forgejo',
  'bitbucket',
  'azure-devops',
] as const;

export const KNOWN_PROVIDER_TYPES: readonly string[] = [
  ...new Set([...Object.keys(PROVIDER_FACTORIES), ...PLANNED_PROVIDER_TYPES]),
];

export interface OriginMatch {
  provider: Provider;
  /** The repository, or null when the host matches but the path names no repository. */
  repo: RepoRef | null;
}

/** The configured providers in order; an origin belongs to the first whose host matches. */
export class ProviderRegistry {
  readonly #byId = new Map<string, Provider>();
  readonly #hosts: { host: string; hostname: string; provider: Provider }[] = [];

  constructor(providers: readonly Provider[]) {
    for (const provider of providers) {
      if (this.#byId.has(provider.config.id))
        throw new ConfigError(`duplicate provider id ${provider.config.id}`);
      this.#byId.set(provider.config.id, provider);
      const url = new URL(provider.config.web_url);
      this.#hosts.push({ host: url.host.toLowerCase(), hostname: url.hostname.toLowerCase(), provider });
    }
  }

  get providers(): Provider[] {
    return [...this.#byId.values()];
  }

  get(id: string): Provider | undefined {
    return this.#byId.get(id);
  }

  match(origin: string): OriginMatch | null {
    const remote = parseRemote(origin);
    if (!remote) return null;
    const entry = this.#hosts.find((h) => h.host === remote.host || h.hostname === remote.host);
    if (!entry) return null;
    return { provider: entry.provider, repo: entry.provider.parseOrigin(origin) };
  }
}

/** Builds providers from configuration; types without an implementation yet become `UnsupportedProvider`. */
export function createProviders(
  configs: readonly ProviderConfig[],
  deps: ProviderDeps,
  factories: Readonly<Record<string, ProviderFactory>> = PROVIDER_FACTORIES,
): Provider[] {
  return configs.map((config) => {
    const factory = factories[config.type];
    if (factory) return factory(config, deps);
    if ((PLANNED_PROVIDER_TYPES as readonly string[]).includes(config.type))
      return new UnsupportedProvider(config);
    throw new ConfigError(`provider ${config.id}: unknown type ${JSON.stringify(config.type)}`);
  });
}

/**
 * Stands in for a code-host type this version does not implement. Origins are still recognised
 * (so refs are attributed to the right provider and never to another host), and every call
 * fails with a ConfigError the engine turns into a long backoff with a clear message.
 */
export class UnsupportedProvider implements Provider {
  constructor(readonly config: ProviderConfig) {}

  parseOrigin(origin: string): RepoRef | null {
    const remote = parseRemote(origin);
    if (!remote || remote.segments.length < 2) return null;
    return { owner: remote.segments.slice(0, -1).join('/'), name: remote.segments.at(-1)! };
  }

  repoUrl(repo: RepoRef): string {
    return `${this.config.web_url}/${repo.owner}/${repo.name}`;
  }

  parsePullUrl(): null {
    return null;
  }

  buildPullUrl(): string {
    throw this.#unsupported();
  }

  async findPullForBranch(): Promise<never> {
    throw this.#unsupported();
  }

  async fetchPull(): Promise<never> {
    throw this.#unsupported();
  }

  /** Answers nothing either, so a ref served by the service token still shows "not supported yet". */
  async isRepoPublic(): Promise<never> {
    throw this.#unsupported();
  }

  #unsupported(): ConfigError {
    return new ConfigError(
      `provider ${this.config.id}: code-host type ${this.config.type} is not supported yet`,
      { code: 'no_provider' },
    );
  }
}
