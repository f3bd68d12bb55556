import { z } from 'zod';
import { BadInputError } from '../../core/errors.ts';
import type { HeaderReader, Provider, ProviderWebhooks, RepoRef, StaleMatch } from '../types.ts';
import { branchOfRef, sharedSecretCheck } from '../webhooks.ts';
import { hostKind, splitOwner } from './origins.ts';

/**
 * Azure DevOps service hooks, Web Hooks consumer ("Create a service hook for Azure DevOps with
 * web hooks"; "Service hooks events"). There is no signature: the subscription's "Basic
 * authentication username / password" come back as `Authorization: Basic …` on every delivery,
 * so the password is the webhook secret and the user name may be anything. The body is not
 * covered (use HTTPS). Each event carries its own `id` (a GUID); a redelivery repeats the event.
 *
 * Events that name refs (Event IDs from "Service hooks events", Code):
 * - `git.push` ("Code pushed"): `resource.refUpdates[].name` of `resource.repository`;
 * - `git.pullrequest.created`, `git.pullrequest.updated` (status, reviewers, votes, or a push to
 *   the source branch), `git.pullrequest.merged` ("Pull request merge commit created"), and
 *   `ms.vss-code.git-pullrequest-comment-event` ("Pull request commented on"): the PR's source
 *   branch in its repository, and the PR by its URL.
 *
 * Build and release: `build.complete` ("Build completed", resource: the build as "Builds - Get"
 * renders it). A finished build changes no PR, so no PR event tells of it: the refs whose PR head
 * is the commit it built (`triggerInfo["pr.sourceSha"]` for a PR build — its `sourceVersion` is
 * the test merge, not the head — else `sourceVersion`), and, for a build of `refs/pull/{id}/merge`
 * in an Azure Repos repository named by its clone address, the PR by its URL.
 */
export interface AzureDevOpsWebhooks extends ProviderWebhooks {
  /** The event's `id`, the delivery id Azure DevOps gives (in the body, not in a header). */
  eventId(payload: unknown): string | undefined;
}

export const PULL_REQUEST_EVENTS = [
  'git.pullrequest.created',
  'git.pullrequest.updated',
  'git.pullrequest.merged',
  'ms.vss-code.git-pullrequest-comment-event',
] as const;
export const PUSH_EVENT = 'git.push';
export const BUILD_EVENT = 'build.complete';

const repository = z.object({
  name: z.string(),
  project: z.object({ name: z.string() }).nullish(),
  /** The REST address (`https://dev.azure.com/{org}/…/_apis/git/repositories/{id}`). */
  url: z.string().nullish(),
  remoteUrl: z.string().nullish(),
  webUrl: z.string().nullish(),
});
type RepositoryBlock = z.infer<typeof repository>;
const envelope = z.object({ id: z.string().nullish(), eventType: z.string(), resource: z.unknown() });
const pullRequest = z.object({
  repository,
  pullRequestId: z.number().int(),
  sourceRefName: z.string(),
  forkSource: z.object({ repository: repository.nullish() }).nullish(),
});
/** The comment event's resource holds the PR under `pullRequest`. */
const commentResource = z.object({ pullRequest });
const push = z.object({ repository, refUpdates: z.array(z.object({ name: z.string() })) });
/** A commit's full hash (SHA-1 or SHA-256 repositories). */
const commitHash = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/i);
/**
 * A `Build`: the branch it built (`refs/pull/{id}/merge` for a PR build), the commit, what
 * triggered it (PR builds: `pr.number`, `pr.sourceSha`, `pr.sourceBranch`), its repository
 * (`type` `TfsGit` for Azure Repos, with its clone address as `url`, which names its project —
 * the build's own project may be another).
 */
const build = z.object({
  sourceBranch: z.string().nullish(),
  sourceVersion: z.string().nullish(),
  triggerInfo: z.record(z.string(), z.unknown()).nullish(),
  repository: z
    .object({ type: z.string().nullish(), name: z.string().nullish(), url: z.string().nullish() })
    .nullish(),
});
/** `refs/pull/{id}/merge`: the test merge a build validation of PR `id` builds. */
const PULL_MERGE_REF = /^refs\/pull\/([1-9]\d{0,9})\/merge$/;

/** The password of an `Authorization: Basic` header, or null when it is absent or malformed. */
export function basicPassword(header: string | undefined): string | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/**
 * `commented`, when given, hears the URL of each PR a "Pull request commented on" event names: a
 * comment changes nothing in the PR itself, so the provider forgets what it keeps of its threads.
 */
export function azureDevOpsWebhooks(
  provider: Provider,
  commented?: (pullUrl: string) => void,
): AzureDevOpsWebhooks {
  const webUrl = () => provider.config.web_url;
  /** The organization of a repository block: from its web or clone address, else its REST address. */
  const orgOf = (r: RepositoryBlock): string | null => {
    for (const address of [r.webUrl, r.remoteUrl]) {
      const ref = address ? provider.parseOrigin(address) : null;
      const owner = ref ? splitOwner(ref) : null;
      if (owner) return owner.org;
    }
    try {
      const api = new URL(r.url ?? '');
      const kind = hostKind(api.host, webUrl());
      if (kind?.kind === 'vs') return kind.org ?? null;
      if (kind?.kind === 'web')
        return decodeURIComponent(api.pathname.split('/').filter((s) => s)[0] ?? '') || null;
    } catch {}
    return null;
  };
  /** The repository named by project and name (addresses in payloads may leave the project out). */
  const repoOf = (r: RepositoryBlock | null | undefined): RepoRef | null => {
    if (!r) return null;
    const org = orgOf(r);
    if (!org) return null;
    const fromAddress = [r.webUrl, r.remoteUrl]
      .map((a) => (a ? provider.parseOrigin(a) : null))
      .find((x) => x);
    const project = r.project?.name ?? (fromAddress ? splitOwner(fromAddress)?.project : undefined);
    return project ? { owner: `${org}/${project}`, name: r.name } : null;
  };
  const pullRefs = (pr: z.infer<typeof pullRequest>): StaleMatch[] => {
    const target = repoOf(pr.repository);
    const url = target ? provider.buildPullUrl({ repo: target, number: pr.pullRequestId }) : undefined;
    const branch = branchOfRef(pr.sourceRefName);
    // The source branch lives in the fork when there is one, else in the target repository.
    const source = pr.forkSource ? repoOf(pr.forkSource.repository) : target;
    const matches: StaleMatch[] = [];
    if (source && branch) matches.push({ origin: provider.repoUrl(source), branch, url });
    else if (url) matches.push({ origin: '', url });
    return matches;
  };
  /** The refs a finished build concerns (none when it names neither its head commit nor its PR). */
  const buildRefs = (b: z.infer<typeof build>): StaleMatch[] => {
    const prHead = b.triggerInfo?.['pr.sourceSha'];
    const merge = PULL_MERGE_REF.exec(b.sourceBranch ?? '');
    // A PR build's sourceVersion is the test merge: only `pr.sourceSha` names its head.
    const head = typeof prHead === 'string' ? prHead : merge ? undefined : b.sourceVersion;
    const matches: StaleMatch[] = [];
    if (head && commitHash.safeParse(head).success)
      matches.push({ origin: '', head_sha: head.toLowerCase() });
    const r = b.repository;
    if (merge && r?.type === 'TfsGit' && r.name && r.url) {
      const target = repoOf({ name: r.name, remoteUrl: r.url });
      if (target && target.name === r.name)
        matches.push({ origin: '', url: provider.buildPullUrl({ repo: target, number: Number(merge[1]) }) });
    }
    return matches;
  };
  return {
    start(header: HeaderReader, secret: string) {
      return sharedSecretCheck(basicPassword(header('authorization')), secret);
    },
    // Azure DevOps sends no delivery id header: the event's `id` in the body is the delivery id.
    deliveryId(_header, payload) {
      return payload === undefined ? undefined : this.eventId(payload);
    },
    eventId(payload) {
      const parsed = envelope.safeParse(payload);
      return parsed.success ? (parsed.data.id ?? undefined) : undefined;
    },
    staleRefs(_header, payload): StaleMatch[] {
      const event = envelope.safeParse(payload);
      if (!event.success) throw new BadInputError('service hook delivery lacks eventType');
      const type = event.data.eventType;
      if (type === PUSH_EVENT) {
        const parsed = push.safeParse(event.data.resource);
        if (!parsed.success) throw new BadInputError('git.push delivery lacks repository or refUpdates');
        const repo = repoOf(parsed.data.repository);
        if (!repo) return [];
        return parsed.data.refUpdates
          .map((u) => branchOfRef(u.name))
          .filter((b): b is string => b !== null)
          .map((branch) => ({ origin: provider.repoUrl(repo), branch }));
      }
      if ((PULL_REQUEST_EVENTS as readonly string[]).includes(type)) {
        const comment = type === 'ms.vss-code.git-pullrequest-comment-event';
        const parsed = comment
          ? commentResource.safeParse(event.data.resource)
          : pullRequest.safeParse(event.data.resource);
        if (!parsed.success) throw new BadInputError(`${type} delivery lacks its pull request`);
        const matches = pullRefs('pullRequest' in parsed.data ? parsed.data.pullRequest : parsed.data);
        if (comment) for (const url of new Set(matches.map((m) => m.url))) if (url) commented?.(url);
        return matches;
      }
      if (type === BUILD_EVENT) {
        const parsed = build.safeParse(event.data.resource);
        const matches = parsed.success ? buildRefs(parsed.data) : [];
        if (!matches.length)
          throw new BadInputError('build.complete delivery names neither the commit it built nor its PR');
        return matches;
      }
      return [];
    },
  };
}
