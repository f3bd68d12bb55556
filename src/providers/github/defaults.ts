import type { ProviderType } from '../types.ts';
import { createGitHubProvider } from './github-provider.ts';

/** github.com, GitHub Enterprise Server and GHE.com. */
export const GITHUB_TYPE: ProviderType = {
  create: createGitHubProvider,
  defaultApiUrl(webUrl) {
    const url = new URL(webUrl);
    if (url.host === 'github.com') return 'https://api.github.com';
    // GHE.com (GitHub Enterprise Cloud with data residency): `https://SUB.ghe.com` has its API at
    // `https://api.SUB.ghe.com` (GraphQL at `/graphql`), not `/api/v3` (GitHub docs, "Network
    // details for GHE.com").
    if (/^[a-z0-9-]+\.ghe\.com$/i.test(url.host)) return `${url.protocol}//api.${url.host.toLowerCase()}`;
    // Enterprise Server serves its REST API under /api/v3 (GitHub docs, "REST API endpoints").
    return `${webUrl}/api/v3`;
  },
  tokenEnv: 'GITHUB_TOKEN',
};
