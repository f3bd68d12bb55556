import type { ProviderType } from '../types.ts';
import { createAzureDevOpsProvider } from './azure-devops-provider.ts';

/**
 * Azure DevOps Services (`https://dev.azure.com`). The REST API is served at the same address as
 * the web (`https://dev.azure.com/{org}/{project}/_apis/…`, Azure DevOps docs, "REST API
 * reference": "Construct the request"), so `api_url` defaults to `web_url`.
 */
export const AZURE_DEVOPS_TYPE: ProviderType = {
  create: createAzureDevOpsProvider,
  defaultApiUrl: (webUrl) => webUrl,
  tokenEnv: 'AZURE_DEVOPS_TOKEN',
};
