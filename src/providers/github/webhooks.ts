import { z } from 'zod';
import { BadInputError } from '../../core/errors.ts';
import type { HeaderReader, Provider, ProviderWebhooks, StaleMatch } from '../types.ts';
import { branchOfRef, hmacSha256Check } from '../webhooks.ts';

const repoSchema = z.object({ html_url: z.string() }).nullish();
const pullPayload = z.object({
  pull_request: z.object({
    html_url: z.string(),
    head: z.object({ ref: z.string(), repo: repoSchema }),
    base: z.object({ repo: repoSchema }),
  }),
  repository: repoSchema,
});
const pushPayload = z.object({ ref: z.string(), repository: repoSchema });
const sha = z.string().regex(/^[0-9a-f]{40,64}$/i);
/** A check or commit status moved on a commit (run, re-run, finished): the refs whose head it is. */
const CHECK_EVENTS = {
  check_run: z.object({ check_run: z.object({ head_sha: sha }) }).transform((p) => p.check_run.head_sha),
  check_suite: z
    .object({ check_suite: z.object({ head_sha: sha }) })
    .transform((p) => p.check_suite.head_sha),
  status: z.object({ sha }).transform((p) => p.sha),
} as const;

/** GitHub's events that say something about a PR or a branch (GitHub docs, "Webhook events and payloads"). */
const PULL_EVENTS = new Set(['pull_request', 'pull_request_review', 'pull_request_review_comment']);

/**
 * GitHub webhooks: `X-Hub-Signature-256` is `sha256=` and the HMAC-SHA256 of the raw body with the
 * secret, compared in constant time; `X-GitHub-Delivery` names the delivery (a redelivery keeps
 * it); `X-GitHub-Event` the event (GitHub docs, "Validating webhook deliveries").
 */
export function githubWebhooks(provider: Provider): ProviderWebhooks {
  const canonical = (htmlUrl: string | undefined) => {
    const repo = htmlUrl ? provider.parseOrigin(htmlUrl) : null;
    return repo ? provider.repoUrl(repo) : null;
  };
  return {
    start(header, secret) {
      return hmacSha256Check(/^sha256=(.*)$/i.exec(header('x-hub-signature-256') ?? '')?.[1], secret);
    },
    deliveryId: (header: HeaderReader) => header('x-github-delivery') || undefined,
    // A GitHub App's deliveries (installation deleted, suspended…) change which tokens it holds.
    received: (header, payload) => provider.repoCredentials?.received?.(header, payload),
    staleRefs(header, payload): StaleMatch[] {
      const event = header('x-github-event') ?? '';
      if (PULL_EVENTS.has(event)) {
        const parsed = pullPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError(`${event} delivery lacks pull_request fields`);
        const pr = parsed.data.pull_request;
        const matches: StaleMatch[] = [];
        // The agent's origin may be the head repository (a fork) or the base repository.
        for (const origin of new Set([
          canonical(pr.head.repo?.html_url),
          canonical(pr.base.repo?.html_url ?? parsed.data.repository?.html_url),
        ])) {
          if (origin) matches.push({ origin, branch: pr.head.ref, url: pr.html_url });
        }
        if (matches.length === 0) matches.push({ origin: '', url: pr.html_url });
        return matches;
      }
      if (Object.hasOwn(CHECK_EVENTS, event)) {
        // A check re-run on the same commit changes nothing the PR shows: only its head commit
        // names the refs (the stored `head_sha`), in whichever repository they track it.
        const parsed = CHECK_EVENTS[event as keyof typeof CHECK_EVENTS].safeParse(payload);
        if (!parsed.success) throw new BadInputError(`${event} delivery lacks its commit`);
        return [{ origin: '', head_sha: parsed.data.toLowerCase() }];
      }
      if (event === 'push') {
        const parsed = pushPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('push delivery lacks ref or repository');
        const origin = canonical(parsed.data.repository?.html_url);
        const branch = branchOfRef(parsed.data.ref);
        return origin && branch ? [{ origin, branch }] : [];
      }
      return [];
    },
  };
}
