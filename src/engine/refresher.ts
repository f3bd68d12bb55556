import { setMaxListeners } from 'node:events';
import { type BudgetVerdict, DEFAULT_BUDGET_SHARES } from '../core/budget.ts';
import type { Clock } from '../core/clock.ts';
import {
  type ErrorCode,
  errorMessage,
  GitsyncError,
  NotFoundError,
  RateLimitedError,
} from '../core/errors.ts';
import { tokenFingerprint } from '../core/fingerprint.ts';
import type { Logger } from '../core/logger.ts';
import { NO_STRETCH, type Stretch } from '../core/schedule.ts';
import type { PrFields } from '../core/types.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import {
  branchKey,
  type CallOptions,
  DEFAULT_SERVICE_TOKEN_POLICY,
  type Provider,
  PULL_UNCHANGED,
  type PullFeedback,
  type PullRef,
  pullKey,
  type RepoRef,
  repoKey,
} from '../providers/types.ts';
import { type ClaimedRef, tokenKey } from '../store/store.ts';
import { batchesOf } from './batches.ts';
import type { TokenBudgets } from './budgets.ts';
import { Limiter } from './limiter.ts';
import { prOf, type RefreshFailure, type RefreshOutcome } from './outcomes.ts';
import { PublicRepos } from './public-repos.ts';
import { RateLimitPauses } from './rate-limits.ts';

/** Owners' own tokens for many (owner, provider) pairs at once, keyed by `tokenKey`; errors per entry. */
export type TokenSource = (
  pairs: readonly { owner: string; provider: string }[],
) => Promise<Map<string, string | Error>>;

export interface RefresherDeps {
  providers: ProviderRegistry;
  ownerTokens: TokenSource;
  /** Which (owner, provider) pairs the owner paused (keyed `tokenKey`): nothing is sent for them. */
  ownerPauses?: ((pairs: readonly { owner: string; provider: string }[]) => Promise<Set<string>>) | undefined;
  /** The owners' budgets, shared by every replica; without it only host rate limits hold calls back. */
  budgets?: TokenBudgets | undefined;
  clock: Clock;
  logger: Logger;
}

/** The token a group's calls use, and whose it is. */
interface ResolvedToken {
  token: string;
  /** Lent for public repositories only (`service_token_for: "public"`). */
  onlyPublic: boolean;
  /** The provider's service token rather than the owner's own. */
  service: boolean;
  /**
   * What budgets and pauses are keyed by where it is not the token: a GitHub App installation's
   * (RepoCredential.budgetKey), whose tokens are renewed while its budget stays.
   */
  budgetKey?: string | undefined;
  /**
   * No token yet: the provider's own credential of each row's repository serves (a GitHub App's
   * installations, `Provider.repoCredentials`), the service token (if any) where none covers it.
   */
  perRepo?: boolean | undefined;
}

/** What a resolved token's budgets and pauses are keyed by (never stored as it is: fingerprinted). */
const budgetIdentity = (r: ResolvedToken) => r.budgetKey ?? r.token;

/** A group of rows to refresh with one token (or the failure every row of it gets). */
interface Plan {
  provider: Provider | null;
  rows: ClaimedRef[];
  resolved: ResolvedToken | RefreshOutcome;
}

/**
 * What a batch read for one row: its known PR (or that the host shows it unchanged), or the PR of
 * its branch (null: none), or the error.
 */
interface Prefetched {
  pull?: PrFields | Error | typeof PULL_UNCHANGED;
  lookup?: PrFields | null | Error;
}

/** The pause keys of one (provider, token): the batch reads' budget and the single reads'. */
interface PauseKeys {
  batch: string;
  single: string;
}

/**
 * One item per key. Chats of one workspace often track the same PR: asked once, as the row that
 * shows the oldest read (`shownSince`), so that "unchanged since then" is true for every row, and
 * fresh if a signal asked for any of them.
 */
function dedupe<T extends { row: ClaimedRef; pull?: PullRef }>(
  items: readonly T[],
  key: (item: T) => string,
): T[] {
  const out = new Map<string, T>();
  for (const item of items) {
    const seen = out.get(key(item));
    const older = (a: T, b: T) => (a.pull?.shownSince?.getTime() ?? 0) < (b.pull?.shownSince?.getTime() ?? 0);
    const kept = !seen || older(item, seen) ? item : seen;
    const fresh = item.pull?.fresh === true || seen?.pull?.fresh === true;
    out.set(
      key(item),
      fresh && kept.pull && !kept.pull.fresh ? { ...kept, pull: { ...kept.pull, fresh } } : kept,
    );
  }
  return [...out.values()];
}

/** The PR a row follows, as a provider is asked for it: fresh when a signal asked (`PullRef.fresh`). */
const pullOf = (provider: Provider, row: ClaimedRef): PullRef | null => {
  const pull = row.url ? provider.parsePullUrl(row.url) : null;
  return pull && { ...pull, shownSince: row.refreshed_at, fresh: row.signal_at !== null };
};

/**
 * Whether a row's refresh reads its stored PR: an open one. A merged or closed PR is found again
 * through its branch, so that a newer PR of the branch (SPEC §6.1 `previous_prs`) is followed.
 */
const followsOpenPull = (row: ClaimedRef) => row.url !== null && row.pull_request_state === 'open';

/** Why an owner's refs wait while the service token serves other owners (`service_per_owner`). */
export const SERVICE_SHARE_SPENT = "this owner's share of the service token's budget is spent";

const fail = (code: ErrorCode, message: string, paused_until?: Date): RefreshOutcome => ({
  kind: 'failed',
  failure: { code, message, paused_until },
});

/**
 * Refreshes claimed rows: grouped by (owner, provider), provider and token resolved once per
 * group, provider calls run under one concurrency limit shared by every group, and a rate limit
 * stops the rest of its group (other groups go on).
 */
export class Refresher {
  readonly pauses = new RateLimitPauses();
  /** Repositories the hosts confirmed public, for lending the service token (`service_token_for`). */
  readonly publicRepos: PublicRepos;

  constructor(private readonly deps: RefresherDeps) {
    this.publicRepos = new PublicRepos(deps.clock);
  }

  async refreshBatch(
    rows: readonly ClaimedRef[],
    options: {
      concurrency: number;
      /** The tick's deadline: rows not started by then are released, calls in flight fail as timed out. */
      deadline?: AbortSignal;
      /** Shutdown: calls in flight are abandoned and every unfinished row is released to other workers. */
      shutdown?: AbortSignal;
    },
  ): Promise<Map<string, RefreshOutcome>> {
    const limiter = new Limiter(options.concurrency);
    const outcomes = new Map<string, RefreshOutcome>();
    const groups = new Map<string, { provider: Provider | null; rows: ClaimedRef[] }>();
    for (const row of rows) {
      const provider = this.deps.providers.match(row.git_remote_origin)?.provider ?? null;
      const key = `${row.owner_id}\u0000${provider?.config.id ?? ''}`;
      const group = groups.get(key) ?? { provider, rows: [] };
      group.rows.push(row);
      groups.set(key, group);
    }
    // Every group's owner token (and whether the owner paused it) in one round trip, not one per group.
    const pairs = [...groups.values()]
      .filter((g) => g.provider)
      .map((g) => ({ owner: g.rows[0]!.owner_id, provider: g.provider!.config.id }));
    let tokens: Map<string, string | Error>;
    let paused = new Set<string>();
    try {
      [tokens, paused] = await Promise.all([
        this.deps.ownerTokens(pairs),
        this.deps.ownerPauses?.(pairs) ?? Promise.resolve(paused),
      ]);
    } catch (error) {
      tokens = new Map();
      for (const p of pairs) tokens.set(tokenKey(p.owner, p.provider), error as Error);
    }
    const owned = [...groups.values()].map(({ provider, rows: groupRows }): Plan => {
      const owner = groupRows[0]!.owner_id;
      if (!provider)
        return { provider, rows: groupRows, resolved: fail('no_provider', 'no provider for origin') };
      if (paused.has(tokenKey(owner, provider.config.id)))
        return {
          provider,
          rows: groupRows,
          resolved: fail(
            'paused',
            `tracking on ${provider.config.id} is paused by the owner: nothing is sent until it is resumed`,
          ),
        };
      const resolved = this.resolveToken(provider, tokens.get(tokenKey(owner, provider.config.id)));
      return { provider, rows: groupRows, resolved };
    });
    // A group served by the provider's own credentials splits by the credential of each row's repository.
    const plans = (
      await Promise.all(
        owned.map((plan) =>
          plan.provider && !('kind' in plan.resolved) && plan.resolved.perRepo
            ? this.#byCredential(plan.provider, plan.rows, plan.resolved, options.deadline)
            : [plan],
        ),
      )
    ).flat();
    // What every replica knows of these tokens' budgets, in one read.
    await this.deps.budgets?.load(
      plans.flatMap((p) =>
        p.provider && !('kind' in p.resolved)
          ? [
              {
                provider_id: p.provider.config.id,
                token_fp: tokenFingerprint(budgetIdentity(p.resolved)),
                // The service token: what it spent on this owner's behalf too.
                owner_id: p.resolved.service ? p.rows[0]!.owner_id : undefined,
              },
            ]
          : [],
      ),
    );
    await Promise.all(
      plans.map(async ({ provider, rows: groupRows, resolved }) => {
        const results =
          !provider || 'kind' in resolved
            ? new Map(groupRows.map((row) => [row.id, resolved as RefreshOutcome]))
            : await this.#refreshGroup(provider, resolved, groupRows, limiter, options);
        for (const [id, outcome] of results) outcomes.set(id, outcome);
      }),
    );
    return outcomes;
  }

  /**
   * The budget verdicts for a group's token: a scope whose share is spent, or which the host (seen
   * by any replica) refuses, is paused here; the stretch to apply to the group's next checks. With
   * the service token, also the owner's allowance on it (`service_per_owner`): past it, until when
   * that owner's calls wait — theirs only (the token's pauses are every owner's).
   */
  #applyBudget(
    provider: Provider,
    resolved: ResolvedToken,
    keys: PauseKeys,
    owner: string,
  ): { stretch: Stretch; ownerPausedUntil: Date | null } {
    const budgets = this.deps.budgets;
    if (!budgets) return { stretch: NO_STRETCH, ownerPausedUntil: null };
    const id = provider.config.id;
    const fp = tokenFingerprint(budgetIdentity(resolved));
    const shares = provider.config.max_budget_share ?? DEFAULT_BUDGET_SHARES;
    const share = resolved.service ? shares.service : shares.owner;
    const scopes = provider.capabilities.rateLimitScopes;
    const inUse: [string, string][] = scopes
      ? [
          [scopes.batch, keys.batch],
          [scopes.single, keys.single],
        ]
      : [['', keys.single]];
    let stretch = NO_STRETCH;
    // The most stretched verdict sets the factor; the latest reset among those stretching, the end.
    const stretchBy = (...verdicts: BudgetVerdict[]) => {
      for (const v of verdicts) {
        if (v.stretch <= 1) continue;
        const until =
          stretch.until && v.stretch_until && stretch.until > v.stretch_until
            ? stretch.until
            : v.stretch_until;
        stretch = { factor: Math.max(stretch.factor, v.stretch), until };
      }
    };
    let ownerPausedUntil: Date | null = null;
    const perOwner = shares.service_per_owner ?? DEFAULT_BUDGET_SHARES.service_per_owner;
    const ownerWhole = resolved.service ? budgets.ownerSpend(id, fp, '', owner, perOwner).verdict : null;
    const whole = budgets.verdict(id, fp, '', share);
    for (const [scope, pauseKey] of inUse) {
      if (ownerWhole) {
        const mine = scope === '' ? ownerWhole : budgets.ownerSpend(id, fp, scope, owner, perOwner).verdict;
        for (const until of [mine.paused_until, ownerWhole.paused_until])
          if (until && (!ownerPausedUntil || until > ownerPausedUntil)) ownerPausedUntil = until;
        stretchBy(mine, ownerWhole);
      }
      const v = scope === '' ? whole : budgets.verdict(id, fp, scope, share);
      const until = [v.paused_until, whole.paused_until]
        .filter((d): d is Date => d !== null)
        .sort((a, b) => +b - +a)[0];
      if (until)
        this.pauses.pause(
          pauseKey,
          until,
          v.share_spent || whole.share_spent ? "gitsync's share of the token's budget is spent" : undefined,
        );
      stretchBy(v, whole);
    }
    return { stretch, ownerPausedUntil };
  }

  async #refreshGroup(
    provider: Provider,
    resolved: ResolvedToken,
    rows: ClaimedRef[],
    limiter: Limiter,
    { deadline, shutdown }: { deadline?: AbortSignal | undefined; shutdown?: AbortSignal | undefined },
  ): Promise<Map<string, RefreshOutcome>> {
    const signal = deadline && shutdown ? AbortSignal.any([deadline, shutdown]) : (deadline ?? shutdown);
    if (signal) setMaxListeners(0, signal);
    const out = new Map<string, RefreshOutcome>();
    const { onlyPublic } = resolved;
    const owner = rows[0]!.owner_id;
    const keys = this.#pauseKeys(provider, budgetIdentity(resolved));
    const { stretch, ownerPausedUntil } = this.#applyBudget(provider, resolved, keys, owner);
    if (ownerPausedUntil) {
      // This owner's allowance on the service token is spent: their refs wait, nothing is sent.
      for (const row of rows)
        out.set(
          row.id,
          fail(
            'rate_limited',
            `skipped: ${SERVICE_SHARE_SPENT} until ${ownerPausedUntil.toISOString()}`,
            ownerPausedUntil,
          ),
        );
      return out;
    }
    const call = this.#call(provider, resolved, signal, resolved.service ? owner : undefined);
    const served = onlyPublic
      ? await this.#onlyPublic(provider, rows, limiter, call, keys.single, out)
      : rows;
    const prefetched = await this.#prefetch(provider, served, limiter, call, keys.batch);
    await Promise.all(
      served.map((row) =>
        limiter.run(async () => {
          if (signal?.aborted) {
            out.set(row.id, { kind: 'released' });
            return;
          }
          const early = prefetched.get(row.id);
          // Rows fully answered by a batch need no further call (so no pause applies to them);
          // the rest make single reads, which wait while that budget is paused.
          const failed = early?.pull instanceof Error || early?.lookup instanceof Error;
          const done =
            early?.pull === PULL_UNCHANGED ||
            (early?.pull !== undefined &&
              !(early.pull instanceof Error) &&
              early.pull.head_branch === row.git_branch) ||
            (early?.lookup !== undefined && !(early.lookup instanceof Error));
          const paused = done || failed ? null : this.pauses.pausedUntil(keys.single, this.deps.clock.now());
          if (paused) {
            const why = this.pauses.reason(keys.single) ?? 'rate limited';
            out.set(row.id, fail('rate_limited', `skipped: ${why} until ${paused.toISOString()}`, paused));
            return;
          }
          const outcome = await this.refreshRow(provider, row, call, early);
          if (outcome.kind === 'failed' && shutdown?.aborted) {
            // Cut off by shutdown, not by the host: another worker takes the row at once.
            out.set(row.id, { kind: 'released' });
            return;
          }
          // Stretched next checks while the owner's budget share would not last at this pace.
          out.set(
            row.id,
            stretch.factor > 1 && (outcome.kind === 'updated' || outcome.kind === 'no_pr')
              ? { ...outcome, stretch }
              : outcome,
          );
        }),
      ),
    );
    return out;
  }

  /**
   * The calls of one (provider, token): every answer's word on the budget is gathered — for the
   * service token, as spent on `owner`'s behalf.
   */
  #call(
    provider: Provider,
    resolved: ResolvedToken,
    signal: AbortSignal | undefined,
    owner?: string,
  ): CallOptions {
    const { token } = resolved;
    const budgets = this.deps.budgets;
    const fp = tokenFingerprint(budgetIdentity(resolved));
    const call: CallOptions = budgets
      ? { token, signal, onBudget: (o) => budgets.observe(provider.config.id, fp, o, owner) }
      : { token, signal };
    if (resolved.budgetKey) this.#identities.set(call, resolved.budgetKey);
    return call;
  }

  /** What a call's rate limits pause, where it is not its token (see ResolvedToken.budgetKey). */
  readonly #identities = new WeakMap<CallOptions, string>();

  /**
   * A group served by the provider's own credentials (`perRepo`), split by the credential of each
   * row's repository — its PR's once it has one (a fork's PR lives in the parent), else its
   * origin's. A repository no credential covers is served as the owner's would be without one:
   * by the service token where the provider has one, else "no token"; a credential that could
   * not be had fails its rows with why.
   */
  async #byCredential(
    provider: Provider,
    rows: readonly ClaimedRef[],
    resolved: ResolvedToken,
    signal: AbortSignal | undefined,
  ): Promise<Plan[]> {
    const credentials = provider.repoCredentials!;
    const repoOf = (row: ClaimedRef) =>
      (row.url ? provider.parsePullUrl(row.url)?.repo : null) ?? provider.parseOrigin(row.git_remote_origin);
    const byRepo = new Map<string, { repo: RepoRef | null; rows: ClaimedRef[] }>();
    for (const row of rows) {
      const repo = repoOf(row);
      const key = repo ? repoKey(repo) : '';
      const entry = byRepo.get(key) ?? { repo, rows: [] };
      entry.rows.push(row);
      byRepo.set(key, entry);
    }
    const plans = new Map<string, Plan>();
    const service = provider.config.service_token;
    await Promise.all(
      [...byRepo.values()].map(async ({ repo, rows: repoRows }) => {
        let plan: Plan;
        try {
          const credential = repo ? await credentials.forRepo(repo, signal) : null;
          if (credential) {
            plan = {
              provider,
              rows: [],
              resolved: {
                ...resolved,
                perRepo: false,
                token: credential.token,
                budgetKey: credential.budgetKey,
              },
            };
          } else if (service) {
            plan = { provider, rows: [], resolved: { ...resolved, perRepo: false, token: service } };
          } else {
            const where = repo ? `${repo.owner}/${repo.name}` : 'the repository';
            plan = {
              provider,
              rows: [],
              resolved: fail(
                'no_token',
                `no token for ${provider.config.id}: ${where} is in no installation of its App (or the installation is suspended); link a token of your own`,
              ),
            };
          }
        } catch (error) {
          plan = { provider, rows: [], resolved: { kind: 'failed', failure: this.#describe(error, '') } };
        }
        const key =
          'kind' in plan.resolved ? `failed ${repo?.owner}/${repo?.name}` : budgetIdentity(plan.resolved);
        const same = plans.get(key) ?? plan;
        same.rows.push(...repoRows);
        plans.set(key, same);
      }),
    );
    return [...plans.values()];
  }

  /**
   * The token an owner's calls to `provider` use (`ownToken`: the owner's own, as the store
   * answered it): the owner's own for this provider, else — as far
   * as the provider's `service_token_for` allows — its own service token, never another
   * provider's (`onlyPublic`: lent for public repositories only). A provider with credentials of
   * its own per repository (a GitHub App's installations) serves before its service token, under
   * the same policy: `perRepo`, resolved per row's repository by the refresh. A failure when there
   * is none.
   */
  resolveToken(provider: Provider, ownToken: string | Error | undefined): ResolvedToken | RefreshOutcome {
    if (ownToken instanceof Error) {
      // A token sealed with another key says so (misconfigured); anything else is ours to fix.
      const code = ownToken instanceof GitsyncError ? ownToken.code : 'internal';
      return fail(code, `token lookup failed: ${errorMessage(ownToken)}`);
    }
    const service = ownToken ? '' : (provider.config.service_token ?? '');
    const policy = provider.config.service_token_for ?? DEFAULT_SERVICE_TOKEN_POLICY;
    if (!ownToken && provider.repoCredentials && policy !== 'none')
      return { token: service, onlyPublic: policy === 'public', service: true, perRepo: true };
    const token = ownToken || (policy === 'none' ? '' : service);
    if (token === '') {
      const why = service ? ': link a token of your own (the service token serves no owner here)' : '';
      return fail('no_token', `no token for ${provider.config.id}${why}`);
    }
    return { token, onlyPublic: service !== '' && policy === 'public', service: service !== '' };
  }

  /**
   * The budgets a `perRepo` resolution stands for, for the budget view: each credential the
   * provider holds now (a GitHub App's installations with a token), and its service token if any.
   */
  credentialBudgets(provider: Provider, resolved: ResolvedToken): ResolvedToken[] {
    if (!resolved.perRepo) return [resolved];
    const held = (provider.repoCredentials?.budgetKeys?.() ?? []).map(
      (budgetKey): ResolvedToken => ({ ...resolved, perRepo: false, token: '', budgetKey }),
    );
    const service = provider.config.service_token;
    return service ? [...held, { ...resolved, perRepo: false, token: service }] : held;
  }

  /** A host with several budgets per token (`capabilities.rateLimitScopes`) is paused per budget. */
  #pauseKeys(provider: Provider, identity: string): PauseKeys {
    const scopes = provider.capabilities.rateLimitScopes;
    return {
      batch: RateLimitPauses.key(provider.config.api_url, identity, scopes?.batch),
      single: RateLimitPauses.key(provider.config.api_url, identity, scopes?.single),
    };
  }

  /**
   * What an agent needs to act on each row's open PR (`GET …/feedback`), read from the host now
   * with the token a refresh would use, within the same pauses. Rows without an open PR read
   * nothing (`null`); a failure is the row's own.
   */
  async feedback(
    rows: readonly ClaimedRef[],
    signal?: AbortSignal,
  ): Promise<Map<string, PullFeedback | RefreshFailure | null>> {
    const out = new Map<string, PullFeedback | RefreshFailure | null>();
    const limiter = new Limiter(4);
    await Promise.all(
      rows.map(async (row) => {
        const provider = this.deps.providers.match(row.git_remote_origin)?.provider ?? null;
        const pull = provider && followsOpenPull(row) ? provider.parsePullUrl(row.url!) : null;
        if (!provider || !pull) {
          out.set(row.id, null);
          return;
        }
        if (!provider.fetchFeedback) {
          out.set(row.id, {
            code: 'no_provider',
            message: `${provider.config.id} (${provider.config.type}) does not give feedback`,
          });
          return;
        }
        const own = await this.deps
          .ownerTokens([{ owner: row.owner_id, provider: provider.config.id }])
          .then((m) => m.get(tokenKey(row.owner_id, provider.config.id)))
          .catch((error: Error) => error);
        let resolved = this.resolveToken(provider, own);
        if (!('kind' in resolved) && resolved.perRepo)
          resolved = (await this.#byCredential(provider, [row], resolved, signal))[0]!.resolved;
        if ('kind' in resolved) {
          out.set(row.id, (resolved as Extract<RefreshOutcome, { kind: 'failed' }>).failure);
          return;
        }
        const ownerPaused = await this.deps.ownerPauses?.([
          { owner: row.owner_id, provider: provider.config.id },
        ]);
        if (ownerPaused?.size) {
          out.set(row.id, {
            code: 'paused',
            message: `tracking on ${provider.config.id} is paused by the owner`,
          });
          return;
        }
        await this.deps.budgets?.load([
          {
            provider_id: provider.config.id,
            token_fp: tokenFingerprint(budgetIdentity(resolved)),
            owner_id: resolved.service ? row.owner_id : undefined,
          },
        ]);
        const call = this.#call(provider, resolved, signal, resolved.service ? row.owner_id : undefined);
        const keys = this.#pauseKeys(provider, budgetIdentity(resolved));
        const { ownerPausedUntil } = this.#applyBudget(provider, resolved, keys, row.owner_id);
        if (ownerPausedUntil) {
          out.set(row.id, {
            code: 'rate_limited',
            message: `${SERVICE_SHARE_SPENT} until ${ownerPausedUntil.toISOString()}`,
            paused_until: ownerPausedUntil,
          });
          return;
        }
        if (resolved.onlyPublic) {
          const refused = new Map<string, RefreshOutcome>();
          const served = await this.#onlyPublic(provider, [row], limiter, call, keys.single, refused);
          const outcome = refused.get(row.id);
          if (served.length === 0) {
            out.set(
              row.id,
              outcome?.kind === 'failed'
                ? outcome.failure
                : { code: 'provider_error', message: 'timed out: the request was cut off' },
            );
            return;
          }
        }
        // Feedback may use either budget (GitHub's is GraphQL): it waits while either is paused.
        const paused =
          this.pauses.pausedUntil(keys.single, this.deps.clock.now()) ??
          this.pauses.pausedUntil(keys.batch, this.deps.clock.now());
        if (paused) {
          out.set(row.id, {
            code: 'rate_limited',
            message: `rate limited until ${paused.toISOString()}`,
            paused_until: paused,
          });
          return;
        }
        try {
          out.set(row.id, await limiter.run(() => provider.fetchFeedback!(pull, call)));
        } catch (error) {
          this.#noteLimit(provider, call, error);
          this.#noteRejected(provider, call, error);
          out.set(row.id, this.#describe(error, call.token));
        }
      }),
    );
    return out;
  }

  /**
   * `service_token_for: "public"`: the rows whose repositories the host confirmed public; every
   * other row gets its outcome in `out` — "no token" when the host says private or does not show
   * the repository (the same words for both, so an owner cannot learn through the service token
   * which private repositories exist), the check's own failure when it could not be asked.
   * A row reads its origin's repository and, once it has a PR, the PR's (a fork's PR lives in
   * the parent): both must be public. A public repository's parent is public too (GitHub: forks
   * of private repositories are private, and public forks are detached when their parent turns
   * private), so the fork lookup reads nothing private.
   *
   * The host is asked with the service token itself, not without a token: anonymous calls share
   * a tiny per-address budget (GitHub: 60 an hour), and the answer is right either way — a
   * private repository the service token can see says `private: true`, one it cannot see is
   * "not found" — while only the public bit is kept.
   */
  async #onlyPublic(
    provider: Provider,
    rows: readonly ClaimedRef[],
    limiter: Limiter,
    call: CallOptions,
    pauseKey: string,
    out: Map<string, RefreshOutcome>,
  ): Promise<ClaimedRef[]> {
    const id = provider.config.id;
    const reposOf = (row: ClaimedRef): RepoRef[] => {
      const pull = row.url ? provider.parsePullUrl(row.url) : null;
      const origin = provider.parseOrigin(row.git_remote_origin);
      return [pull?.repo ?? null, origin].filter((r): r is RepoRef => r !== null);
    };
    const wanted = rows.map(reposOf);
    const repos = new Map(wanted.flat().map((repo) => [PublicRepos.key(id, repo), repo]));
    // true/false: the host's answer; an Error: the check failed; null: not asked (deadline, pause).
    const answers = new Map<string, boolean | Error | null>();
    await Promise.all(
      [...repos].map(async ([key, repo]) => {
        const known = this.publicRepos.known(id, repo);
        if (known !== undefined || !provider.isRepoPublic) {
          answers.set(key, known ?? false);
          return;
        }
        await limiter.run(async () => {
          if (call.signal?.aborted || this.pauses.pausedUntil(pauseKey, this.deps.clock.now())) {
            answers.set(key, null);
            return;
          }
          try {
            answers.set(
              key,
              await this.publicRepos.isPublic(id, repo, () => provider.isRepoPublic!(repo, call)),
            );
          } catch (error) {
            const failure = error instanceof Error ? error : new Error(String(error));
            this.#noteLimit(provider, call, failure);
            answers.set(key, failure);
          }
        });
      }),
    );
    const served: ClaimedRef[] = [];
    rows.forEach((row, i) => {
      const got = wanted[i]!.map((repo) => answers.get(PublicRepos.key(id, repo)) ?? null);
      const failed = got.find((a): a is Error => a instanceof Error);
      const paused = this.pauses.pausedUntil(pauseKey, this.deps.clock.now());
      // A row with no repository to read (its origin names none) goes on to its clear config error.
      if (got.every((a) => a === true)) served.push(row);
      else if (got.includes(false))
        out.set(
          row.id,
          fail(
            'no_token',
            `no token for ${id}: the repository is not confirmed public, and the service token serves only public repositories; link a token of your own`,
          ),
        );
      else if (call.signal?.aborted) out.set(row.id, { kind: 'released' });
      else if (failed) {
        const failure = this.#describe(failed, call.token);
        // A rate limit or a provider that cannot serve the origin says so as it is; anything else
        // names the check.
        if (failure.code !== 'rate_limited' && failure.code !== 'no_provider')
          failure.message = `could not confirm that the repository is public: ${failure.message}`;
        out.set(row.id, { kind: 'failed', failure });
      } else if (paused)
        out.set(row.id, fail('rate_limited', `skipped: rate limited until ${paused.toISOString()}`, paused));
      else out.set(row.id, { kind: 'released' });
    });
    return served;
  }

  /**
   * Reads in as few requests as the provider allows (`capabilities`: GitHub, one GraphQL query per
   * 50) what the group's rows need: the PRs they already know, and the PR of each branch not yet
   * linked to one. Fewer than `minBatch` of a kind are left to the per-row path, where conditional
   * requests can make a single read free. Returns, per row, the result or its batch's error — except a rate limit:
   * its budget is paused and the rows are left to the single reads, which may spend another one.
   */
  async #prefetch(
    provider: Provider,
    rows: readonly ClaimedRef[],
    limiter: Limiter,
    call: CallOptions,
    pauseKey: string,
  ): Promise<Map<string, Prefetched>> {
    const out = new Map<string, Prefetched>();
    const known: { row: ClaimedRef; pull: PullRef }[] = [];
    const unknown: { row: ClaimedRef; repo: RepoRef }[] = [];
    for (const row of rows) {
      const pull = followsOpenPull(row) ? pullOf(provider, row) : null;
      const repo = pull ? null : provider.parseOrigin(row.git_remote_origin);
      if (pull) known.push({ row, pull });
      else if (repo) unknown.push({ row, repo });
    }
    const batches: Promise<void>[] = [];
    const { minBatch } = provider.capabilities;
    const run = <T extends { row: ClaimedRef }, R>(
      items: T[],
      size: number,
      fetch: ((part: T[]) => Promise<Map<string, R | Error>>) | null,
      key: (item: T) => string,
      store: (row: ClaimedRef, result: R | Error) => void,
      groupOf?: (item: T) => string,
    ) => {
      if (!fetch || size <= 0 || items.length < Math.max(2, minBatch)) return;
      for (const part of batchesOf(items, size, groupOf)) {
        batches.push(
          limiter.run(async () => {
            if (call.signal?.aborted || this.pauses.pausedUntil(pauseKey, this.deps.clock.now())) return;
            try {
              // Chats of one workspace often track the same branch: ask once per key.
              const unique = dedupe(part, key);
              const got = await fetch(unique);
              for (const item of part)
                store(
                  item.row,
                  got.has(key(item)) ? got.get(key(item))! : new NotFoundError('missing from the batch'),
                );
            } catch (error) {
              const failure = error instanceof Error ? error : new Error(String(error));
              if (this.#noteLimit(provider, call, failure)) return;
              for (const item of part) store(item.row, failure);
            }
          }),
        );
      }
    };
    run(
      known,
      provider.capabilities.pullsPerBatch,
      provider.fetchPulls
        ? (part) =>
            provider.fetchPulls!(
              part.map((k) => k.pull),
              call,
            )
        : null,
      (k) => pullKey(k.pull),
      (row, pull) => out.set(row.id, { pull }),
      provider.capabilities.listsPerRepository ? (k) => repoKey(k.pull.repo) : undefined,
    );
    run(
      unknown,
      provider.capabilities.branchesPerBatch,
      provider.findPullsForBranches
        ? (part) =>
            provider.findPullsForBranches!(
              part.map((u) => ({ repo: u.repo, branch: u.row.git_branch })),
              call,
            )
        : null,
      (u) => branchKey(u.repo, u.row.git_branch),
      (row, lookup) => out.set(row.id, { lookup }),
    );
    await Promise.all(batches);
    return out;
  }

  /**
   * SPEC §3 "Refresh one row"; never throws: failures come back as a `failed` outcome.
   * `early` is what a batch already read for this row: its PR, or its branch's PR (or the error).
   */
  async refreshRow(
    provider: Provider,
    row: ClaimedRef,
    call: CallOptions,
    early?: Prefetched,
  ): Promise<RefreshOutcome> {
    try {
      const lookUp = async (): Promise<RefreshOutcome> => {
        const repo = provider.parseOrigin(row.git_remote_origin);
        if (!repo)
          return fail(
            'no_provider',
            `origin ${row.git_remote_origin} names no repository on ${provider.config.id}`,
          );
        const looked = early?.lookup;
        if (looked instanceof Error) throw looked;
        const pr =
          looked !== undefined ? looked : await provider.findPullForBranch(repo, row.git_branch, call);
        return pr ? { kind: 'updated', pr } : { kind: 'no_pr' };
      };
      const pull = pullOf(provider, row);
      if (!pull) return await lookUp();
      if (!followsOpenPull(row)) {
        // A merged or closed PR: the branch may have a newer one (an open one wins); the lookup
        // answers the stored PR itself when there is none.
        const newest = await lookUp();
        if (newest.kind === 'updated') return newest;
      }
      let pr: PrFields | null;
      try {
        if (early?.pull instanceof Error) throw early.pull;
        // The host shows the PR as it was last read: the row's fields stand (a refresh all the same).
        if (early?.pull === PULL_UNCHANGED) return { kind: 'updated', pr: prOf(row) as PrFields };
        pr = early?.pull ?? (await provider.fetchPull(pull, call));
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
        pr = null; // the PR is gone; look the branch up again
      }
      if (pr && pr.head_branch === row.git_branch) return { kind: 'updated', pr };
      // The agent switched branches (or the PR vanished): the stored URL is stale.
      const again = await lookUp();
      return again.kind === 'no_pr' ? { kind: 'stale_pr' } : again;
    } catch (error) {
      this.#noteLimit(provider, call, error);
      this.#noteRejected(provider, call, error);
      return { kind: 'failed', failure: this.#describe(error, call.token) };
    }
  }

  /**
   * A rate limit pauses the budget it names (its `scope`; none: every budget of the token) on
   * that provider's API until its reset. Returns whether `error` was one.
   */
  #noteLimit(provider: Provider, call: CallOptions, error: unknown): boolean {
    if (!(error instanceof RateLimitedError)) return false;
    const identity = this.#identities.get(call) ?? call.token;
    this.pauses.pause(RateLimitPauses.key(provider.config.api_url, identity, error.scope), error.resetAt);
    // Every replica waits too: the pause is written with the budgets after the tick.
    this.deps.budgets?.notePause(
      provider.config.id,
      tokenFingerprint(identity),
      error.scope ?? '',
      error.resetAt,
    );
    return true;
  }

  /**
   * A provider's own credential the host refused (an installation token revoked with its
   * installation, whose webhook delivery reached another replica) is given up: the next call asks afresh.
   */
  #noteRejected(provider: Provider, call: CallOptions, error: unknown): void {
    const identity = this.#identities.get(call);
    if (identity && error instanceof GitsyncError && error.code === 'token_rejected')
      provider.repoCredentials?.rejected?.(identity);
  }

  #describe(error: unknown, token: string): RefreshFailure {
    // Providers never put tokens in messages; scrub anyway so a slip cannot reach the database.
    const message = token ? errorMessage(error).replaceAll(token, '[redacted]') : errorMessage(error);
    if (error instanceof RateLimitedError) {
      return {
        code: 'rate_limited',
        message: `rate limited until ${error.resetAt.toISOString()}`,
        paused_until: error.resetAt,
      };
    }
    // The code set where the error was raised is kept (a host's 404 says provider_error there).
    if (error instanceof GitsyncError) {
      // Whatever the host's words, the row says plainly that the token was refused.
      if (error.code === 'token_rejected' && !/rejected/i.test(message))
        return { code: error.code, message: `the token was rejected: ${message}` };
      return { code: error.code, message };
    }
    if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
      return { code: 'provider_error', message: 'timed out: the tick deadline passed' };
    }
    this.deps.logger.error({ err: message }, 'unexpected error while refreshing a ref');
    return { code: 'internal', message: `internal error: ${message}` };
  }
}
