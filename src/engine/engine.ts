import { performance } from 'node:perf_hooks';
import { budgetVerdict, DEFAULT_BUDGET_SHARES, ownerShareVerdict } from '../core/budget.ts';
import { addMs, type Clock } from '../core/clock.ts';
import {
  BadInputError,
  errorFromCode,
  errorMessage,
  NotFoundError,
  RateLimitedError,
} from '../core/errors.ts';
import { tokenFingerprint } from '../core/fingerprint.ts';
import { DEFAULT_LIMITS, type Limits } from '../core/limits.ts';
import type { Logger } from '../core/logger.ts';
import { canonicalUnmatchedOrigin } from '../core/origin.ts';
import { TickPacer, type WorkerSettings } from '../core/schedule.ts';
import { TokenBuckets } from '../core/token-buckets.ts';
import type { DiffStatus } from '../core/types.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Provider } from '../providers/types.ts';
import { type BudgetState, type ClaimedRef, diffStatusOf, type Store, tokenKey } from '../store/store.ts';
import { TokenBudgets } from './budgets.ts';
import { type RefFeedback, refFeedback } from './feedback.ts';
import { type CursorState, decodeCursor, encodeCursor, refTag } from './feedback-cursor.ts';
import { planWrite, type RefreshFailure, type RefreshOutcome } from './outcomes.ts';
import { Refresher } from './refresher.ts';

/**
 * Refs one feedback call reads from the host (SPEC §6.2): a chat may track 200, and each read is
 * a host request on the owner's (or the service token's) budget.
 */
export const FEEDBACK_MAX_REFS = 20;

/** `GET /api/v1/chats/{id}/feedback` (docs/api.md, "Feedback"). */
export interface FeedbackAnswer {
  chat_id: string;
  /** Threads and people `trusted_only` left out (the host shows they do not belong); 0 without it. */
  hidden_untrusted: number;
  /** Pass as `since` to be shown only what is new or changed after this answer. */
  cursor: string;
  refs: RefFeedback[];
}

/**
 * How far ahead of its due time (a share of `fresh_ttl_ms`: 12 s of the default 120 s) a ref may
 * be claimed to fill its owner's batch (`CLAIM_DUE_SQL`'s filled turns): each owner's token then
 * reads a batch's worth at a time, not the few rows of it that came due since the last tick. A
 * batch fills with the owner's next rows, so a row is early by about half the time a batch's worth
 * of the owner's rows take to come due (1,000 refs of one owner at 120 s: 49 rows in 6 s, about
 * 3 s early, 2.5 % more refreshes); never more than this share, and never later.
 */
export const FILL_TTL_FRACTION = 1 / 10;

/**
 * How far ahead a fill may claim: `FILL_TTL_FRACTION` of the TTL, but never as far as a row claimed
 * by a tick still within its deadline (its `stale_at` is its lease's end): so a row is never
 * claimed twice within a lease, whatever the TTL is set to.
 */
const fillAhead = (s: WorkerSettings) =>
  Math.max(0, Math.min(s.fresh_ttl_ms * FILL_TTL_FRACTION, s.lease_ms - s.tick_timeout_ms));

/** Byte bounds of a stored ref's origin and branch (see `reportRef`). */
const MAX_ORIGIN_BYTES = 1024;
const MAX_BRANCH_BYTES = 512;

/** Hooks for metrics; every method optional. */
export interface EngineObserver {
  tick?(result: TickResult, timings: { claim_ms: number; total_ms: number }): void;
}

export interface EngineDeps {
  observer?: EngineObserver;
  store: Store;
  providers: ProviderRegistry;
  clock: Clock;
  settings: WorkerSettings;
  logger: Logger;
  /**
   * Tells every replica's worker (this one's too) that rows are due now — with PostgreSQL a
   * NOTIFY. Without it only this replica's worker is woken.
   */
  announceDue?: () => void;
}

export interface TickResult {
  claimed: number;
  outcomes: Record<RefreshOutcome['kind'], number>;
  published: number;
  write_failures: number;
}

export interface RefReportInput {
  chat_id?: string | undefined;
  workspace_id?: string | undefined;
  origin: string;
  branch: string;
}

export interface RefreshNowResult {
  outcome: 'updated' | 'no_pr' | 'stale_pr';
  diff_status: DiffStatus;
}

/**
 * The sync engine: claims due refs, refreshes them through providers, writes outcomes in
 * batches and publishes what changed; also records ref reports and serves "refresh now".
 * The poll loop is the source of truth; `wake()` only cuts the wait.
 */
export class Engine {
  readonly refresher: Refresher;
  #running = false;
  #loop: Promise<void> | null = null;
  #wakeRequested = false;
  #wakeSleeper: (() => void) | null = null;
  #sleepTimer: NodeJS.Timeout | null = null;
  /** Aborted by stop(): the tick in flight releases what it has not finished. */
  #shutdown = new AbortController();

  /** The owners' budgets on the code hosts, shared with every replica through the store. */
  readonly budgets: TokenBudgets;

  constructor(private readonly deps: EngineDeps) {
    this.budgets = new TokenBudgets({ store: deps.store, clock: deps.clock, logger: deps.logger });
    this.refresher = new Refresher({
      providers: deps.providers,
      ownerTokens: (pairs) => deps.store.getTokens(pairs),
      ownerPauses: (pairs) => deps.store.getOwnerPauses(pairs),
      budgets: this.budgets,
      clock: deps.clock,
      logger: deps.logger,
    });
  }

  // ---- the loop ----------------------------------------------------------------------------

  /** Starts the worker loop (ticks never overlap; see `#run`). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#shutdown = new AbortController();
    this.#loop = this.#run();
  }

  /**
   * Stops claiming and ends the tick in flight quickly: calls still running are abandoned, and
   * every row not finished is released (due again at once) for other workers; finished rows'
   * outcomes are written. Then resolves.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#shutdown.abort();
    this.wake();
    await this.#loop;
    this.#loop = null;
    // What the last ticks learned of the tokens' budgets is not left behind.
    await this.budgets.flush({ force: true });
  }

  /**
   * Rows became due now (a report, a webhook, an unarchive, a new token): every replica's worker
   * looks at once — announced once, whoever made them due.
   */
  rowsDue(): void {
    if (this.deps.announceDue) this.deps.announceDue();
    else this.wake();
  }

  /** Ends this replica's current wait so the next tick starts now. */
  wake(): void {
    this.#wakeRequested = true;
    this.#wakeSleeper?.();
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * Ticks one after another, never overlapping (one tick's limiter bounds every call in flight),
   * sized and spaced by `TickPacer` (`nextTick`): claims grow while a backlog is due, and the wait
   * after a tick that caught up shrinks while rows keep coming due fast.
   */
  async #run(): Promise<void> {
    const { settings, logger } = this.deps;
    const pacer = new TickPacer(settings, performance.now());
    while (this.#running) {
      this.#wakeRequested = false;
      let waitMs = settings.tick_interval_ms;
      const claimAt = performance.now();
      try {
        const result = await this.tick(pacer.limit);
        waitMs = pacer.after(
          { claimed: result.claimed, released: result.outcomes.released },
          claimAt,
          performance.now() - claimAt,
        );
      } catch (error) {
        logger.error({ err: errorMessage(error) }, 'tick failed; retrying after the interval');
      }
      if (!this.#running) break;
      if (waitMs <= 0 || this.#wakeRequested) continue;
      await new Promise<void>((resolve) => {
        this.#wakeSleeper = resolve;
        this.#sleepTimer = setTimeout(resolve, waitMs);
      });
      if (this.#sleepTimer) clearTimeout(this.#sleepTimer);
      this.#wakeSleeper = null;
    }
  }

  /**
   * One pass: claim up to `limit` rows (the loop sizes it; `batch_size` by default) → refresh →
   * write outcomes in one batch → publish.
   */
  async tick(limit = this.deps.settings.batch_size): Promise<TickResult> {
    const { store, clock, settings } = this.deps;
    const t0 = performance.now();
    const started = clock.now();
    const rows = await store.claimStaleRefs(
      started,
      limit,
      addMs(started, settings.lease_ms),
      addMs(started, fillAhead(settings)),
    );
    const claimMs = performance.now() - t0;
    const result: TickResult = {
      claimed: rows.length,
      outcomes: { updated: 0, no_pr: 0, stale_pr: 0, failed: 0, released: 0 },
      published: 0,
      write_failures: 0,
    };
    if (rows.length === 0) {
      this.deps.observer?.tick?.(result, { claim_ms: claimMs, total_ms: performance.now() - t0 });
      return result;
    }
    const deadline = AbortSignal.timeout(settings.tick_timeout_ms);
    const outcomes = await this.refresher.refreshBatch(rows, {
      concurrency: settings.concurrency,
      deadline,
      shutdown: this.#running ? this.#shutdown.signal : undefined,
    });
    const written = await this.#apply(rows, outcomes);
    await this.budgets.flush();
    for (const outcome of outcomes.values()) result.outcomes[outcome.kind]++;
    result.published = written.published;
    result.write_failures = written.failed.size;
    this.deps.observer?.tick?.(result, { claim_ms: claimMs, total_ms: performance.now() - t0 });
    return result;
  }

  async #apply(
    rows: readonly ClaimedRef[],
    outcomes: Map<string, RefreshOutcome>,
  ): Promise<{ published: number; failed: Map<string, unknown>; statuses: Map<string, DiffStatus> }> {
    const { store, clock, settings, logger } = this.deps;
    const now = clock.now();
    const writes = rows.map((row) =>
      planWrite(row, outcomes.get(row.id) ?? { kind: 'released' }, now, settings),
    );
    // The store publishes what changed visibly, in the same transaction as the write.
    const { written, failed, published } = await store.writeRefreshes(writes);
    for (const [id, error] of failed) {
      logger.error({ ref_id: id, err: errorMessage(error) }, 'writing a refresh outcome failed');
    }
    return { published, failed, statuses: written };
  }

  // ---- reports -----------------------------------------------------------------------------

  /** The stored form of a reported origin: the provider's repository URL, else credentials stripped. */
  canonicalOrigin(origin: string): { origin: string; provider_id: string | null } {
    const match = this.deps.providers.match(origin);
    if (match?.repo)
      return { origin: match.provider.repoUrl(match.repo), provider_id: match.provider.config.id };
    return { origin: canonicalUnmatchedOrigin(origin), provider_id: match?.provider.config.id ?? null };
  }

  /**
   * A ref report ("mark stale"): upserts the ref as due now on the named chat, or on every
   * non-archived chat of the workspace, and publishes at once. `owner` scopes the chats.
   */
  async reportRef(
    input: RefReportInput,
    owner?: string,
    limits: Pick<Limits, 'refs_per_chat' | 'refs_per_owner' | 'workspace_report_chats'> = DEFAULT_LIMITS,
  ): Promise<{ chat_ids: string[] }> {
    const branch = input.branch.trim();
    const rawOrigin = input.origin.trim();
    if (branch === '') throw new BadInputError('branch must not be empty');
    if (rawOrigin === '') throw new BadInputError('origin must not be empty');
    if (!input.chat_id && !input.workspace_id) throw new BadInputError('give chat_id or workspace_id');
    const { origin, provider_id } = this.canonicalOrigin(rawOrigin);
    // Both are indexed together (with lower(origin), which can grow a character by a byte): these
    // bounds keep an index entry under PostgreSQL's limit of about 2,700 bytes.
    if (Buffer.byteLength(origin) > MAX_ORIGIN_BYTES)
      throw new BadInputError(`origin must be at most ${MAX_ORIGIN_BYTES} bytes`);
    if (Buffer.byteLength(branch) > MAX_BRANCH_BYTES)
      throw new BadInputError(`branch must be at most ${MAX_BRANCH_BYTES} bytes`);
    const now = this.deps.clock.now();

    const single = input.chat_id !== undefined;
    let chatIds: string[];
    if (input.chat_id) {
      const chat = await this.deps.store.getChat(input.chat_id, owner);
      if (!chat) throw new NotFoundError(`chat ${input.chat_id} not found`);
      chatIds = [input.chat_id];
    } else {
      chatIds = await this.deps.store.activeWorkspaceChatIds(input.workspace_id!, owner);
      if (chatIds.length > limits.workspace_report_chats) {
        throw new BadInputError(
          `workspace ${input.workspace_id} has ${chatIds.length} active chats; a workspace report reaches at most ${limits.workspace_report_chats} (report by chat_id instead)`,
        );
      }
    }
    const reported: DiffStatus[] = [];
    for (const chat_id of chatIds) {
      try {
        const status = await this.deps.store.recordRefReport(
          { chat_id, origin, branch, provider_id },
          now,
          limits.refs_per_chat,
          limits.refs_per_owner,
        );
        if (status) reported.push(status);
        else if (single) throw new NotFoundError(`chat ${chat_id} not found`);
      } catch (error) {
        if (single) throw error;
        // One chat failing (deleted meanwhile, database hiccup) must not stop the others.
        this.deps.logger.warn({ chat_id, err: errorMessage(error) }, 'recording a ref report failed');
      }
    }
    if (reported.length > 0) this.rowsDue();
    return { chat_ids: reported.map((s) => s.chat_id) };
  }

  // ---- refresh now -------------------------------------------------------------------------

  /** Per chat owner: `refresh_now_per_minute` at once, refilled evenly over the minute. */
  #refreshNowLimit: TokenBuckets | null = null;

  /** Throws 429 when the chat owner's "ask the host now" budget (`refresh_now_per_minute`) is spent. */
  #takeAskNow(ownerId: string, what: string): void {
    const refused = this.#askNow(ownerId, what);
    if (refused) throw refused;
  }

  /** Takes one of the chat owner's "ask the host now" units; the 429 to answer when none is left. */
  #askNow(ownerId: string, what: string): RateLimitedError | null {
    const perMinute = this.deps.settings.refresh_now_per_minute;
    const now = this.deps.clock.now();
    // 0 turns asking the host now off (the worker's schedule alone reads the host).
    if (perMinute === 0)
      return new RateLimitedError(
        new Date(now.getTime() + 60_000),
        `${what} is off on this service (refresh_now_per_minute: 0)`,
        { code: 'rate_limited' },
      );
    this.#refreshNowLimit ??= new TokenBuckets(perMinute / 60, perMinute);
    const waitMs = this.#refreshNowLimit.take(ownerId, now.getTime());
    if (waitMs <= 0) return null;
    const next = new Date(now.getTime() + waitMs);
    return new RateLimitedError(
      next,
      `${what} is limited to ${perMinute} a minute per owner; retry after ${next.toISOString()}`,
      { code: 'rate_limited' },
    );
  }

  /**
   * What an agent needs to act on, per ref of the chat (`GET /api/v1/chats/{id}/feedback`): read
   * from the host now, never on a refresh. Refs without an open PR read nothing; of the others, at
   * most FEEDBACK_MAX_REFS are read (primary first; the rest are `truncated`), each taking one of
   * the owner's "refresh now" units: with none left for the first, the call is refused (429); a
   * later ref without one says so (`rate_limited`). A ref whose read failed says why and the
   * others still answer. `trusted_only` and `since` filter as `refFeedback` says; the answer's
   * `cursor` holds what the caller has now been shown (a ref not read this time keeps what the
   * `since` cursor held for it, so its items do not come back as new once it is read again).
   */
  async feedback(
    chatId: string,
    owner?: string,
    options: { trusted_only?: boolean | undefined; since?: string | undefined } = {},
  ): Promise<FeedbackAnswer> {
    const chat = await this.deps.store.getChat(chatId, owner);
    if (!chat) throw new NotFoundError(`chat ${chatId} not found`);
    // A bad cursor is refused before anything is read from the host (400).
    const since = options.since === undefined ? null : decodeCursor(chat.id, options.since);
    const rows = chat.diff_statuses.map((ref, i) => ({
      ...ref,
      id: String(i),
      owner_id: chat.owner_id,
      pr_changed_at: null,
      signal_at: null,
      lease_until: null,
    }));
    const toRead: typeof rows = [];
    const unread = new Map<string, RefreshFailure>();
    const truncated = new Set<string>();
    let candidates = 0;
    for (const row of rows) {
      if (row.url === null || row.pull_request_state !== 'open') continue;
      if (++candidates > FEEDBACK_MAX_REFS) {
        truncated.add(row.id);
        continue;
      }
      const refused = this.#askNow(chat.owner_id, 'feedback (each ref read)');
      if (refused && toRead.length === 0) throw refused;
      if (refused)
        unread.set(row.id, { code: 'rate_limited', message: refused.message, paused_until: refused.resetAt });
      else toRead.push(row);
    }
    const read = await this.refresher.feedback(
      toRead,
      AbortSignal.timeout(this.deps.settings.tick_timeout_ms),
    );
    await this.budgets.flush();
    const state: CursorState = new Map();
    let hidden_untrusted = 0;
    const refs = rows.map((row): RefFeedback => {
      const tag = refTag(row.git_remote_origin, row.git_branch);
      const got = truncated.has(row.id) ? undefined : (read.get(row.id) ?? unread.get(row.id));
      const filter = { trustedOnly: options.trusted_only === true, since: since?.get(tag) ?? null };
      const result = refFeedback(row, got ?? null, filter);
      hidden_untrusted += result.hidden_untrusted;
      const readNow = got !== undefined && got !== null && !('code' in got);
      const kept = readNow ? result.seen : since?.get(tag);
      if (kept && kept.size > 0) state.set(tag, new Set(kept));
      return truncated.has(row.id) ? { ...result.feedback, truncated: true } : result.feedback;
    });
    return { chat_id: chat.id, hidden_untrusted, cursor: encodeCursor(chat.id, state), refs };
  }

  /**
   * Refreshes one chat's ref now through the same pipeline. "No PR" writes nothing; a failure
   * writes nothing either (no backoff) and is thrown as a typed error for the caller.
   */
  async refreshNow(
    chatId: string,
    which: { origin?: string | undefined; branch?: string | undefined } = {},
    owner?: string,
  ): Promise<RefreshNowResult> {
    const { store } = this.deps;
    const chat = await store.getChat(chatId, owner);
    if (!chat) throw new NotFoundError(`chat ${chatId} not found`);
    const origin = which.origin?.trim() ? this.canonicalOrigin(which.origin).origin : undefined;
    const found = await store.getRef(chatId, origin, which.branch?.trim() || undefined);
    if (!found) throw new NotFoundError('no tracked ref matches', { code: 'no_ref' });
    // Asking now is a signal: the host is read with nothing kept standing in (PullRef.fresh), and
    // the write answers any signal the row was waiting on as well.
    const row = { ...found, signal_at: this.deps.clock.now() };
    // Limited per chat owner whoever calls, the admin key included: what it protects is that
    // owner's budget on the host (or the shared service token's), and the host is not asked.
    this.#takeAskNow(chat.owner_id, 'refresh now');
    const [outcome] = (await this.refresher.refreshBatch([row], { concurrency: 1 })).values();
    await this.budgets.flush();
    if (!outcome || outcome.kind === 'released') throw new Error('refresh produced no outcome');
    if (outcome.kind === 'failed') {
      const { code, message, paused_until } = outcome.failure;
      if (code === 'token_rejected') {
        // A person must act: the ref shows why, but no backoff is written (the caller decides).
        // `row` was read, not claimed (no lease): the write is unconditional.
        const write = planWrite(row, outcome, this.deps.clock.now(), this.deps.settings);
        await store.writeRefreshes([{ ...write, stale_at: row.stale_at }]);
      }
      // SPEC: a refresh that failed for any other reason is a 502 `provider_error`.
      throw errorFromCode(code === 'internal' ? 'provider_error' : code, message, paused_until);
    }
    // Only the public fields: the row also carries scheduling state (pr_changed_at, the lease).
    // Nothing is written for "no PR", but the answer says what was just learnt: `no_pr`.
    if (outcome.kind === 'no_pr') {
      const status = diffStatusOf(row);
      if (status.url === null)
        Object.assign(status, { ready: false, blockers: [{ kind: 'no_pr', detail: null }] });
      return { outcome: 'no_pr', diff_status: status };
    }
    const { statuses, failed } = await this.#apply([row], new Map([[row.id, outcome]]));
    // A write that failed (the database went away) is not a deleted ref: its error is the answer.
    if (failed.has(row.id)) throw failed.get(row.id);
    const status = statuses.get(row.id);
    if (!status) throw new NotFoundError('the ref was deleted during the refresh', { code: 'no_ref' });
    return { outcome: outcome.kind, diff_status: status };
  }

  // ---- the owner's budget --------------------------------------------------------------------

  /**
   * Per provider, what the owner's calls spend (`GET /api/v1/owners/{owner_id}/budget`): which
   * token serves them, what the host last said of its budget in each scope, what gitsync spent in
   * the last hour (all replicas), the share it may spend, and whether next checks are stretched
   * or nothing is sent (the owner paused tracking, the host refuses the token, or the share is spent).
   * The service token serves every owner: the owner's view of it (the default) shows only the
   * owner's own use and allowance on it (`service_per_owner` of its budget per window), never the
   * token's totals, which the admin's view (`admin`) shows.
   */
  async budget(ownerId: string, options: { admin?: boolean } = {}): Promise<{ providers: ProviderBudget[] }> {
    const { store, providers, clock } = this.deps;
    const all = providers.providers;
    const pairs = all.map((p) => ({ owner: ownerId, provider: p.config.id }));
    const [tokens, paused] = await Promise.all([store.getTokens(pairs), store.getOwnerPauses(pairs)]);
    // A GitHub App's installations are budgets apart, each keyed by the installation (budgetKey).
    const resolved = all.flatMap((provider) => {
      const r = this.refresher.resolveToken(provider, tokens.get(tokenKey(ownerId, provider.config.id)));
      if ('kind' in r || !r.perRepo) return [{ provider, resolved: r }];
      const each = this.refresher.credentialBudgets(provider, r);
      return each.length > 0
        ? each.map((one) => ({ provider, resolved: one as typeof r | RefreshOutcome }))
        : // No installation token held yet: nothing spent, shown as no token.
          [
            {
              provider,
              resolved: { kind: 'failed', failure: { code: 'no_token', message: '' } } as RefreshOutcome,
            },
          ];
    });
    const fpOf = (r: { token: string; budgetKey?: string | undefined }) =>
      tokenFingerprint(r.budgetKey ?? r.token);
    const keys = resolved.flatMap(({ provider, resolved: r }) =>
      'kind' in r ? [] : [{ provider_id: provider.config.id, token_fp: fpOf(r) }],
    );
    const serviceKeys = resolved.flatMap(({ provider, resolved: r }) =>
      'kind' in r || !r.service
        ? []
        : [{ provider_id: provider.config.id, token_fp: fpOf(r), owner_id: ownerId }],
    );
    const [states, spends] = await Promise.all([
      store.getBudgets(keys, clock.now()),
      store.getOwnerSpend(serviceKeys, clock.now()),
    ]);
    const out: ProviderBudget[] = [];
    for (const { provider, resolved: r } of resolved) {
      const id = provider.config.id;
      const shares = provider.config.max_budget_share ?? DEFAULT_BUDGET_SHARES;
      const ownerPaused = paused.has(tokenKey(ownerId, id));
      // Every budget the provider keeps per token (GitHub `graphql` and `core`; '' for a host's
      // one), whether or not the host has spoken of it yet, and any other it spoke of.
      const scopes = scopesOf(provider);
      if ('kind' in r) {
        for (const scope of scopes)
          out.push({
            provider_id: id,
            scope,
            token: 'none',
            limit: null,
            remaining: null,
            reset_at: null,
            used_last_hour: 0,
            max_share: shares.owner,
            stretched: false,
            paused: ownerPaused,
            paused_by_owner: ownerPaused,
            paused_until: null,
          });
        continue;
      }
      const fp = fpOf(r);
      const share = r.service ? shares.service : shares.owner;
      const perOwner = shares.service_per_owner ?? DEFAULT_BUDGET_SHARES.service_per_owner;
      const mine = states.filter((b) => b.provider_id === id && b.token_fp === fp);
      const whole = mine.find((b) => b.scope === '');
      // The owner's spend on the service token, per scope (none: nothing spent lately).
      const spentIn = (scope: string) =>
        spends.find((x) => x.provider_id === id && x.token_fp === fp && x.scope === scope);
      const ownerVerdict = (x: BudgetState | null | undefined, scope: string) => {
        const spent = spentIn(scope);
        return ownerShareVerdict(
          { limit: x?.limit ?? null, reset_at: x?.reset_at ?? null },
          perOwner,
          { in_window: spent?.used_in_window ?? 0, recent: spent?.used_recent ?? 0 },
          clock.now(),
        );
      };
      for (const scope of new Set([...scopes, ...mine.map((x) => x.scope)])) {
        const b = mine.find((x) => x.scope === scope) ?? null;
        const view = (x: typeof b) => ({
          limit: x?.limit ?? null,
          remaining: x?.remaining ?? null,
          reset_at: x?.reset_at ?? null,
          paused_until: x?.paused_until ?? null,
          used_recent: x?.used_recent ?? 0,
        });
        const v = budgetVerdict(view(b), share, clock.now());
        const w = whole && b !== whole ? budgetVerdict(view(whole), share, clock.now()) : v;
        const own = r.service ? [ownerVerdict(b, scope), ownerVerdict(whole, '')] : [];
        const until = [v.paused_until, w.paused_until, ...own.map((o) => o.paused_until)]
          .filter((d): d is Date => d !== null)
          .sort((x, y) => +y - +x)[0];
        const stretched = [v, w, ...own].some((x) => x.stretch > 1);
        if (r.service && !options.admin) {
          // The owner's own use and allowance on the service token, never its totals.
          const spent = spentIn(scope);
          const allowance = b?.limit == null ? null : perOwner * b.limit;
          out.push({
            provider_id: id,
            scope,
            token: 'service',
            limit: allowance === null ? null : Math.floor(allowance),
            remaining:
              allowance === null ? null : Math.max(0, Math.floor(allowance - (spent?.used_in_window ?? 0))),
            reset_at: b?.reset_at ?? null,
            used_last_hour: spent?.used_last_hour ?? 0,
            max_share: perOwner,
            stretched,
            paused: ownerPaused || until !== undefined,
            paused_by_owner: ownerPaused,
            paused_until: until ?? null,
          });
          continue;
        }
        out.push({
          provider_id: id,
          scope,
          token: r.service ? 'service' : 'own',
          limit: b?.limit ?? null,
          remaining: b?.remaining ?? null,
          reset_at: b?.reset_at ?? null,
          used_last_hour: b?.used_last_hour ?? 0,
          max_share: share,
          stretched,
          paused: ownerPaused || until !== undefined,
          paused_by_owner: ownerPaused,
          paused_until: until ?? null,
        });
      }
    }
    return { providers: out };
  }

  /**
   * The owner's pause switch for one provider: while on, nothing is sent with the owner's token
   * (or the service token on the owner's behalf). Resuming makes the owner's refs there due at once.
   */
  async setPaused(ownerId: string, providerId: string, paused: boolean): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.store.setOwnerPause(ownerId, providerId, paused, now);
    if (!paused && (await this.deps.store.markOwnerRefsDue(ownerId, providerId, now)) > 0) this.rowsDue();
  }
}

/** The budgets a provider keeps per token: its rate-limit scopes, or its one budget (''). */
const scopesOf = (provider: Provider): string[] => {
  const scopes = provider.capabilities.rateLimitScopes;
  return scopes ? [...new Set([scopes.batch, scopes.single])] : [''];
};

/** One entry of `GET /api/v1/owners/{owner_id}/budget` (docs/api.md, "Budget"). */
export interface ProviderBudget {
  provider_id: string;
  /**
   * The budget (GitHub `core`, `graphql`; '' for a host's one budget): each the provider keeps is
   * listed, with null numbers until the host speaks of it.
   */
  scope: string;
  /** Whose token serves the owner here: their own, the provider's service token, or none. */
  token: 'own' | 'service' | 'none';
  limit: number | null;
  remaining: number | null;
  reset_at: Date | null;
  used_last_hour: number;
  max_share: number;
  stretched: boolean;
  paused: boolean;
  /** The owner's own switch (`PUT …/tokens/{provider_id}` `{"paused": true}`). */
  paused_by_owner: boolean;
  /** Until when the host refuses the token or gitsync's share is spent. */
  paused_until: Date | null;
}
