import type { ProviderType } from '../types.ts';
import { createGiteaProvider } from './gitea-provider.ts';

/**
 * Gitea: REST under `/api/v1` of the instance, which may itself be served under a path (Gitea docs,
 * "API Usage": the API is at `/api/v1`; the swagger's `basePath` is `{{AppSubUrl}}/api/v1`).
 */
export const GITEA_TYPE: ProviderType = {
  create: (config, deps) => createGiteaProvider(config, deps, 'gitea'),
  defaultApiUrl: (webUrl) => `${webUrl}/api/v1`,
  tokenEnv: 'GITEA_TOKEN',
};

/** Forgejo: Gitea's API at the same place (Forgejo docs, "API Usage"), its own webhook headers. */
export const FORGEJO_TYPE: ProviderType = {
  create: (config, deps) => createGiteaProvider(config, deps, 'forgejo'),
  defaultApiUrl: (webUrl) => `${webUrl}/api/v1`,
  tokenEnv: 'FORGEJO_TOKEN',
};
