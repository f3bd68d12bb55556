import { z } from 'zod';
import { BadInputError } from '../../core/errors.ts';
import type { HeaderReader, Provider, ProviderWebhooks, RepoRef, StaleMatch } from '../types.ts';
import { branchOfRef, hmacSha256Check } from '../webhooks.ts';

const repository = z.object({ full_name: z.string() });
const pullRequest = z.object({
  number: z.number().int(),
  head: z.object({ ref: z.string(), label: z.string().nullish(), repo: repository.nullish() }),
  base: z.object({ repo: repository.nullish() }).nullish(),
});
const pullPayload = z.object({ pull_request: pullRequest, repository: repository.nullish() });
const commentPayload = z.object({
  is_pull: z.boolean().nullish(),
  issue: z.object({ number: z.number().int() }),
  pull_request: pullRequest.nullish(),
  repository,
});
const pushPayload = z.object({ ref: z.string(), repository });
/** A commit's full hash (SHA-1 or SHA-256 repositories). */
const commitHash = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/i);
/**
 * `CommitStatusPayload` (modules/structs/hook.go; services/webhook/notifier.go,
 * `CreateCommitStatus`): the commit by `sha`, the repository the status was posted to, no branch.
 */
const statusPayload = z.object({ sha: commitHash });
/** `WorkflowJobPayload`: an Actions job queued, started or finished on `workflow_job.head_sha`. */
const workflowJobPayload = z.object({ workflow_job: z.object({ head_sha: commitHash }) });
/** `refs/pull/{n}/head`: the head ref once the branch is deleted (services/convert/pull.go). */
const PULL_HEAD_REF = /^refs\/pull\/\d+\/head$/;

/**
 * Event header values that concern a PR (Gitea's `HookEventType.Event()`, sent as `X-Gitea-Event`;
 * the finer type comes as `X-Gitea-Event-Type`): `pull_request` (opened, edited, closed, reopened,
 * synchronized, assigned, labelled, review requested), `pull_request_approved`,
 * `pull_request_rejected` and `pull_request_comment` (reviews), and the `pull_request_review_*`
 * names some versions send.
 */
const PULL_EVENTS = new Set([
  'pull_request',
  'pull_request_approved',
  'pull_request_rejected',
  'pull_request_comment',
  'pull_request_sync',
  'pull_request_review_request',
  'pull_request_review_approved',
  'pull_request_review_rejected',
  'pull_request_review_comment',
]);

const splitFullName = (fullName: string): RepoRef | null => {
  const [owner, name, ...rest] = fullName.split('/');
  return owner && name && rest.length === 0 ? { owner, name } : null;
};

/**
 * Gitea and Forgejo webhooks (Gitea docs, "Webhooks"; Forgejo docs, "Webhooks"): the body is
 * signed with the hook's secret, HMAC-SHA256 as bare hex, in `X-Gitea-Signature` (Forgejo:
 * `X-Forgejo-Signature`, and `X-Gitea-Signature` too for compatibility); the delivery id
 * (`X-Gitea-Delivery` / `X-Forgejo-Delivery`) repeats on a redelivery; the event is
 * `X-Gitea-Event` / `X-Forgejo-Event`. Refs are named by repository `full_name`, not by
 * `html_url`, which follows the server's `ROOT_URL` and may differ from the configured `web_url`.
 */
export function giteaWebhooks(
  provider: Provider,
  kind: 'gitea' | 'forgejo',
  statusPosted?: (commit: string) => void,
): ProviderWebhooks {
  /** Forgejo's own header first, Gitea's name where a Forgejo sends only that. */
  const read = (header: HeaderReader, suffix: string) =>
    (kind === 'forgejo' ? header(`x-forgejo-${suffix}`) : undefined) ||
    header(`x-gitea-${suffix}`) ||
    undefined;
  const origin = (repo: z.infer<typeof repository> | null | undefined) => {
    const ref = repo ? splitFullName(repo.full_name) : null;
    return ref ? provider.repoUrl(ref) : null;
  };
  const pullRefs = (
    pull: z.infer<typeof pullRequest>,
    fallback: z.infer<typeof repository> | null | undefined,
  ) => {
    const baseRepo = pull.base?.repo ?? fallback;
    const base = baseRepo ? splitFullName(baseRepo.full_name) : null;
    const url = base ? provider.buildPullUrl({ repo: base, number: pull.number }) : undefined;
    const matches: StaleMatch[] = [];
    // Once the head branch is deleted, `ref` is `refs/pull/{n}/head` and `label` the branch.
    const branch = PULL_HEAD_REF.test(pull.head.ref) && pull.head.label ? pull.head.label : pull.head.ref;
    // The agent's origin may be the head's repository (a fork) or the base repository.
    for (const o of new Set([origin(pull.head.repo), origin(baseRepo)])) {
      if (o) matches.push({ origin: o, branch, url });
    }
    return matches;
  };
  /** Refs whose PR head is `commit`, whatever their repository; this replica reads its checks again. */
  const commitRefs = (commit: string): StaleMatch[] => {
    statusPosted?.(commit);
    return [{ origin: '', head_sha: commit.toLowerCase() }];
  };
  return {
    start(header, secret) {
      return hmacSha256Check(read(header, 'signature')?.trim(), secret);
    },
    deliveryId: (header) => read(header, 'delivery'),
    staleRefs(header, payload): StaleMatch[] {
      const event = (read(header, 'event') ?? '').toLowerCase();
      // A commit status (Gitea 1.23+): `HookEventType.Event()` has no name for it, so only
      // `X-Gitea-Event-Type` says `status` (modules/webhook/type.go). Forgejo sends none.
      const type = (read(header, 'event-type') ?? '').toLowerCase();
      if (type === 'status' || event === 'status') {
        const parsed = statusPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('status delivery lacks its sha');
        return commitRefs(parsed.data.sha);
      }
      if (type === 'workflow_job' || event === 'workflow_job') {
        const parsed = workflowJobPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('workflow_job delivery lacks its head_sha');
        return commitRefs(parsed.data.workflow_job.head_sha);
      }
      if (PULL_EVENTS.has(event)) {
        const parsed = pullPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError(`${event} delivery lacks its pull_request`);
        return pullRefs(parsed.data.pull_request, parsed.data.repository);
      }
      if (event === 'issue_comment') {
        const parsed = commentPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('issue_comment delivery lacks its issue or repository');
        if (parsed.data.pull_request) return pullRefs(parsed.data.pull_request, parsed.data.repository);
        if (!parsed.data.is_pull) return [];
        // A comment on a PR without the PR's branches: the ref is found by its URL.
        const repo = splitFullName(parsed.data.repository.full_name);
        return repo
          ? [{ origin: '', url: provider.buildPullUrl({ repo, number: parsed.data.issue.number }) }]
          : [];
      }
      if (event === 'push') {
        const parsed = pushPayload.safeParse(payload);
        if (!parsed.success) throw new BadInputError('push delivery lacks ref or repository');
        const o = origin(parsed.data.repository);
        const branch = branchOfRef(parsed.data.ref);
        return o && branch ? [{ origin: o, branch }] : [];
      }
      return [];
    },
  };
}
