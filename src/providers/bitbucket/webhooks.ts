import { z } from 'zod';
import { BadInputError } from '../../core/errors.ts';
import type { HeaderReader, Provider, ProviderWebhooks, StaleMatch } from '../types.ts';
import { hmacSha256Check } from '../webhooks.ts';

const repository = z.object({ full_name: z.string() }).nullish();
const pullPayload = z.object({
  pullrequest: z.object({
    id: z.number().int().nullish(),
    source: z.object({ branch: z.object({ name: z.string() }), repository }),
    destination: z.object({ repository }).nullish(),
    links: z.object({ html: z.object({ href: z.string() }).nullish() }).nullish(),
  }),
  repository,
});
const refState = z.object({ type: z.string().nullish(), name: z.string() }).nullish();
const pushPayload = z.object({
  repository,
  push: z.object({ changes: z.array(z.object({ new: refState, old: refState })) }),
});
/**
 * `refname`: "the name of the ref that pointed to this commit at the time the status object was
 * created", when set; the commit: `commit.hash`, and the end of `links.commit.href`.
 */
const statusPayload = z.object({
  repository,
  commit_status: z.object({
    refname: z.string().nullish(),
    commit: z.object({ hash: z.string().nullish() }).nullish(),
    links: z.object({ commit: z.object({ href: z.string() }).nullish() }).nullish(),
  }),
});

/**
 * Bitbucket Cloud webhooks (Atlassian, "Event payloads", "HTTP headers"; "Manage webhooks",
 * "Secure webhooks"): with a secret, `X-Hub-Signature` is `sha256=` and the hex HMAC-SHA256 of the
 * raw body keyed with the secret (compared in constant time, computed while the body streams); a
 * webhook without a secret sends no signature and is refused. `X-Event-Key` names the event;
 * `X-Request-UUID` the delivery (kept by the retries, which `X-Attempt-Number` counts) — not
 * `X-Hook-UUID`, which names the webhook and is the same on every delivery.
 *
 * `pullrequest:*` events (created, updated, approved, unapproved, changes_request_created,
 * changes_request_removed, fulfilled, rejected, comment_*) name the PR's source branch in its
 * source and destination repositories, and its URL; `repo:push` names every pushed (or deleted)
 * branch; `repo:commit_status_created` and `repo:commit_status_updated` (a build started or
 * finished) name the branch of the status's `refname`, when the build system set one, and tell
 * `statusPosted` the commit, so that this replica reads that commit's checks again. The comment
 * events — `pullrequest:comment_created`, `_updated`, `_deleted`, `_resolved`, `_reopened` (the
 * OpenAPI description's `hook_event.event` values) — also tell `threadsMoved` the PR's URL (as
 * `buildPullUrl` makes it), so that this replica counts its threads again: resolving or reopening
 * one shows nowhere in the PR answer.
 */
export function bitbucketWebhooks(
  provider: Provider,
  statusPosted?: (commit: string) => void,
  threadsMoved?: (pullUrl: string) => void,
): ProviderWebhooks {
  const canonical = (fullName: string | undefined | null) => {
    const at = fullName?.indexOf('/') ?? -1;
    if (!fullName || at <= 0) return null;
    const repo = provider.parseOrigin(`${provider.config.web_url}/${fullName}`);
    return repo ? provider.repoUrl(repo) : null;
  };
  return {
    start(header, secret) {
      return hmacSha256Check(/^sha256=(.*)$/i.exec(header('x-hub-signature') ?? '')?.[1], secret);
    },
    deliveryId: (header: HeaderReader) => header('x-request-uuid') || undefined,
    staleRefs(header, payload): StaleMatch[] {
      const event = header('x-event-key') ?? '';
      if (event.startsWith('pullrequest:')) {
        const parsed = pullPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError(`${event} delivery lacks pullrequest fields`);
        const pr = parsed.data.pullrequest;
        const url = pr.links?.html?.href ?? undefined;
        if (event.startsWith('pullrequest:comment_')) {
          const destination = pr.destination?.repository?.full_name ?? parsed.data.repository?.full_name;
          const repo = destination ? provider.parseOrigin(`${provider.config.web_url}/${destination}`) : null;
          const pull =
            (url ? provider.parsePullUrl(url) : null) ?? (repo && pr.id ? { repo, number: pr.id } : null);
          if (pull) threadsMoved?.(provider.buildPullUrl(pull));
        }
        const matches: StaleMatch[] = [];
        // The agent's origin may be the source repository (a fork) or the destination.
        for (const origin of new Set([
          canonical(pr.source.repository?.full_name),
          canonical(pr.destination?.repository?.full_name ?? parsed.data.repository?.full_name),
        ])) {
          if (origin) matches.push({ origin, branch: pr.source.branch.name, url });
        }
        if (matches.length === 0 && url) matches.push({ origin: '', url });
        return matches;
      }
      if (event === 'repo:push') {
        const parsed = pushPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('repo:push delivery lacks repository or push.changes');
        const origin = canonical(parsed.data.repository?.full_name);
        if (!origin) return [];
        const branches = new Set<string>();
        for (const change of parsed.data.push.changes) {
          // `new` is null for a deleted branch, `old` for a created one; tags name no PR.
          const ref = change.new ?? change.old;
          if (ref && (ref.type ?? 'branch') === 'branch') branches.add(ref.name);
        }
        return [...branches].map((branch) => ({ origin, branch }));
      }
      if (event === 'repo:commit_status_created' || event === 'repo:commit_status_updated') {
        const parsed = statusPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError(`${event} delivery lacks repository or commit_status`);
        const status = parsed.data.commit_status;
        const commit =
          status.commit?.hash ??
          /\/commit\/([0-9a-f]{7,40})\/?$/i.exec(status.links?.commit?.href ?? '')?.[1];
        if (commit) statusPosted?.(commit);
        const origin = canonical(parsed.data.repository?.full_name);
        const branch = status.refname;
        // A status without a ref names a commit only, which no tracked ref is keyed by.
        return origin && branch ? [{ origin, branch }] : [];
      }
      return [];
    },
  };
}
