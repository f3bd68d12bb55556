import { ConfigError } from '../core/errors.ts';
import { BITBUCKET_TYPE } from './bitbucket/defaults.ts';
import { FORGEJO_TYPE, GITEA_TYPE } from './gitea/defaults.ts';
import { GITHUB_TYPE } from './github/defaults.ts';
import { GITLAB_TYPE } from './gitlab/defaults.ts';
import { isOnHost, matchRepoOnHost } from './origin-match.ts';
import type { Provider, ProviderConfig, ProviderDeps, ProviderType, RepoRef } from './types.ts';

/**
 * Code-host types, one folder each under `src/providers/` once implemented (`fake/` is for tests
 * and is constructed directly, never from configuration). Types recognised but not implemented
 * yet keep their defaults here; their refs get a clear error state.
 */
export const PROVIDER_TYPES: Readonly<Record<string, ProviderType>> = {
  github: GITHUB_TYPE,
  gitlab: GITLAB_TYPE,
  gitea: GITEA_TYPE,
  forgejo: FORGEJO_TYPE,
  bitbucket: BITBUCKET_TYPE,
  'azure-devops': { defaultApiUrl: (web) => web, tokenEnv: 'AZURE_DEVOPS_TOKEN' },
};

export const KNOWN_PROVIDER_TYPES: readonly string[] = Object.keys(PROVIDER_TYPES);

/** The type's defaults and factory; a ConfigError naming the type for one that does not exist. */
export function providerType(type: string): ProviderType {
  const known = PROVIDER_TYPES[type];
  if (!known) throw new ConfigError(`unknown code-host type ${JSON.stringify(type)}`);
  return known;
}

export interface OriginMatch {
  provider: Provider;
  /** The repository, or null when the host matches but the path names no repository. */
  repo: RepoRef | null;
}

/** The configured providers in order; an origin belongs to the first that says it is its own. */
export class ProviderRegistry {
  readonly #byId = new Map<string, Provider>();

  constructor(providers: readonly Provider[]) {
    for (const provider of providers) {
      if (this.#byId.has(provider.config.id))
        throw new ConfigError(`duplicate provider id ${provider.config.id}`);
      this.#byId.set(provider.config.id, provider);
    }
  }

  get providers(): Provider[] {
    return [...this.#byId.values()];
  }

  get(id: string): Provider | undefined {
    return this.#byId.get(id);
  }

  /**
   * The provider an origin belongs to: of those that say it is theirs, the one served under the
   * longest path (a GitLab at `https://host/gitlab` before a Gitea at `https://host/`), else the
   * first configured.
   */
  match(origin: string): OriginMatch | null {
    let best: Provider | null = null;
    for (const provider of this.#byId.values()) {
      if (!provider.matches(origin)) continue;
      if (!best || pathDepth(provider) > pathDepth(best)) best = provider;
    }
    return best ? { provider: best, repo: best.parseOrigin(origin) } : null;
  }
}

const pathDepth = (provider: Provider) =>
  new URL(provider.config.web_url).pathname.split('/').filter((s) => s !== '').length;

/** Builds providers from configuration; types without an implementation yet become `UnsupportedProvider`. */
export function createProviders(configs: readonly ProviderConfig[], deps: ProviderDeps): Provider[] {
  return configs.map((config) => {
    const type = PROVIDER_TYPES[config.type];
    if (!type) throw new ConfigError(`provider ${config.id}: unknown type ${JSON.stringify(config.type)}`);
    return type.create ? type.create(config, deps) : new UnsupportedProvider(config);
  });
}

/**
 * Stands in for a code-host type this version does not implement. Origins are still recognised
 * (so refs are attributed to the right provider and never to another host), and every call
 * fails with a ConfigError the engine turns into a long backoff with a clear message.
 */
export class UnsupportedProvider implements Provider {
  readonly capabilities = { pullsPerBatch: 0, branchesPerBatch: 0, minBatch: 1 };
  constructor(readonly config: ProviderConfig) {}

  matches(origin: string): boolean {
    return isOnHost(origin, this.config.web_url);
  }

  parseOrigin(origin: string): RepoRef | null {
    return matchRepoOnHost(origin, this.config.web_url, true);
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
