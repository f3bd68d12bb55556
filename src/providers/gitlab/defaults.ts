import type { ProviderType } from '../types.ts';
import { createGitLabProvider } from './gitlab-provider.ts';

/** gitlab.com and self-managed GitLab: REST under `/api/v4` of the instance (GitLab docs, "REST API"). */
export const GITLAB_TYPE: ProviderType = {
  create: createGitLabProvider,
  defaultApiUrl: (webUrl) => `${webUrl}/api/v4`,
  tokenEnv: 'GITLAB_TOKEN',
};
