import type { ProviderType } from '../types.ts';
import { createBitbucketProvider } from './bitbucket-provider.ts';

/**
 * Bitbucket Cloud: the web at `https://bitbucket.org`, the REST API at
 * `https://api.bitbucket.org/2.0` (Atlassian, "Bitbucket Cloud REST API": every resource is under
 * `/2.0`). Another web address (a test double) keeps its own address as the API base.
 */
export const BITBUCKET_TYPE: ProviderType = {
  create: createBitbucketProvider,
  defaultApiUrl: (webUrl) =>
    new URL(webUrl).host.toLowerCase() === 'bitbucket.org' ? 'https://api.bitbucket.org/2.0' : webUrl,
  tokenEnv: 'BITBUCKET_TOKEN',
};
