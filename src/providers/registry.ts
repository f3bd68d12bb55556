import { ConfigError } from '../core/errors.ts';
import { AZURE_DEVOPS_TYPE } from './azure-devops/defaults.ts';
import { BITBUCKET_TYPE } from './bitbucket/defaults.ts';
import { FORGEJO_TYPE, GITEA_TYPE } from './gitea/defaults.ts';
import { GITHUB_TYPE } from './github/defaults.ts';
import { GITLAB_TYPE } from './gitlab/defaults.ts';
import type { Provider, ProviderConfig, ProviderDeps, ProviderType, RepoRef } from './types.ts';

/**
 * Code-host types, one folder each under `src/providers/` (Gitea's serves Forgejo too; `fake/` is
 * for tests and is constructed directly, never from configuration).
 */
export const PROVIDER_TYPES: Readonly<Record<string, ProviderType>> = {
  github: GITHUB_TYPE,
  gitlab: GITLAB_TYPE,
  gitea: GITEA_TYPE,
  forgejo: FORGEJO_TYPE,
  bitbucket: BITBUCKET_TYPE,
  'azure-devops': AZURE_DEVOPS_TYPE,
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

/** Builds providers from configuration. */
export function createProviders(configs: readonly ProviderConfig[], deps: ProviderDeps): Provider[] {
  return configs.map((config) => {
    const type = PROVIDER_TYPES[config.type];
    if (!type) throw new ConfigError(`provider ${config.id}: unknown type ${JSON.stringify(config.type)}`);
    return type.create(config, deps);
  });
}
