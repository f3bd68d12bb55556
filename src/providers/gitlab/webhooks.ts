import { z } from 'zod';
import { BadInputError } from '../../core/errors.ts';
import type { HeaderReader, Provider, ProviderWebhooks, StaleMatch } from '../types.ts';
import { branchOfRef, sharedSecretCheck } from '../webhooks.ts';

const project = z.object({ web_url: z.string() }).nullish();
const mergeRequest = z.object({
  source_branch: z.string(),
  url: z.string().nullish(),
  source: project,
  target: project,
});
const mergeRequestPayload = z.object({ object_attributes: mergeRequest, project });
const pushPayload = z.object({ ref: z.string(), project });
const notePayload = z.object({ merge_request: mergeRequest.nullish(), project });
/**
 * A pipeline changed status: its branch (`ref`, a plain branch name; a merge request pipeline's is
 * `refs/merge-requests/:iid/head`, and it names the MR instead), or a tag.
 */
const pipelinePayload = z.object({
  object_attributes: z.object({ ref: z.string().nullish(), tag: z.boolean().nullish() }),
  merge_request: z.object({ source_branch: z.string(), url: z.string().nullish() }).nullish(),
  project,
});

/**
 * GitLab webhooks (GitLab docs, "Webhooks" and "Webhook events"): the secret token comes back as
 * `X-Gitlab-Token` (compared in constant time — no signature: the body is not covered), the event
 * in `X-Gitlab-Event`. `Idempotency-Key` is made once per event and passed to every retry of it
 * (`WebHookService#async_execute` → `WebHookWorker`): the delivery id. `X-Gitlab-Event-UUID` is
 * made anew for every attempt (`WebHookService#build_headers`, `SecureRandom.uuid`): from a GitLab
 * that sends no `Idempotency-Key` it tells events apart, not a retry from its first attempt. Merge request, push, note (comment) and pipeline events name refs: a
 * pipeline finishing changes an MR's checks without any merge request event.
 */
export function gitlabWebhooks(provider: Provider): ProviderWebhooks {
  const canonical = (webUrl: string | undefined | null) => {
    const repo = webUrl ? provider.parseOrigin(webUrl) : null;
    return repo ? provider.repoUrl(repo) : null;
  };
  const mergeRequestRefs = (mr: z.infer<typeof mergeRequest>, fallback: string | undefined): StaleMatch[] => {
    const url = mr.url ?? undefined;
    const matches: StaleMatch[] = [];
    // The agent's origin may be the source project (a fork) or the target project.
    for (const origin of new Set([
      canonical(mr.source?.web_url),
      canonical(mr.target?.web_url ?? fallback),
    ])) {
      if (origin) matches.push({ origin, branch: mr.source_branch, url });
    }
    if (matches.length === 0 && url) matches.push({ origin: '', url });
    return matches;
  };
  return {
    start(header, secret) {
      // An empty token is refused like a wrong one.
      return sharedSecretCheck(header('x-gitlab-token') || null, secret);
    },
    deliveryId: (header: HeaderReader) =>
      header('idempotency-key') || header('x-gitlab-event-uuid') || undefined,
    staleRefs(header, payload): StaleMatch[] {
      const event = header('x-gitlab-event') ?? '';
      if (event === 'Merge Request Hook') {
        const parsed = mergeRequestPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('merge request delivery lacks object_attributes');
        return mergeRequestRefs(parsed.data.object_attributes, parsed.data.project?.web_url);
      }
      if (event === 'Push Hook') {
        const parsed = pushPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('push delivery lacks ref or project');
        const origin = canonical(parsed.data.project?.web_url);
        const branch = branchOfRef(parsed.data.ref);
        return origin && branch ? [{ origin, branch }] : [];
      }
      if (event === 'Note Hook') {
        const parsed = notePayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('note delivery lacks its project');
        // Only comments on merge requests say anything about one.
        return parsed.data.merge_request
          ? mergeRequestRefs(parsed.data.merge_request, parsed.data.project?.web_url)
          : [];
      }
      if (event === 'Pipeline Hook') {
        const parsed = pipelinePayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('pipeline delivery lacks object_attributes');
        const origin = canonical(parsed.data.project?.web_url);
        const mr = parsed.data.merge_request;
        if (mr) {
          const url = mr.url ?? undefined;
          if (origin) return [{ origin, branch: mr.source_branch, url }];
          return url ? [{ origin: '', url }] : [];
        }
        const { ref, tag } = parsed.data.object_attributes;
        return origin && ref && !tag && !ref.startsWith('refs/') ? [{ origin, branch: ref }] : [];
      }
      return [];
    },
  };
}
