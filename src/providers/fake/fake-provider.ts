import { AuthError, NotFoundError } from '../../core/errors.ts';
import { trimTrailingSlash } from '../../core/origin.ts';
import { type PrFields, sortRequestedReviewers } from '../../core/types.ts';
import { isOnHost, matchRepoOnHost } from '../origin-match.ts';
import type { CallOptions, Provider, ProviderConfig, PullFeedback, PullRef, RepoRef } from '../types.ts';

export interface FakePull extends PrFields {
  repo: string;
  /** What `fetchFeedback` answers for this PR. */
  feedback: PullFeedback;
  /** Last change, for "most recently updated" preference among several PRs of one branch. */
  updated_seq: number;
}

export type FakeVisibility = 'public' | 'private' | 'unknown';

export interface FakeCall {
  kind: 'find' | 'fetch' | 'feedback';
  repo: string;
  branch?: string;
  number?: number;
  /** A `fetch` a signal asked for (`PullRef.fresh`). */
  fresh?: boolean;
}

/**
 * An in-memory, scriptable code host for engine and API tests and benchmarks: holds PRs, counts
 * calls, injects latency and failures. Shared by any number of `FakeProvider`s.
 */
export class FakeCodeHost {
  latencyMs = 0;
  /** Return an error to make a call fail (checked before the call is answered). */
  failWith: ((call: FakeCall, token: string) => Error | undefined) | undefined;
  readonly revokedTokens = new Set<string>();
  readonly calls = { find: 0, fetch: 0, feedback: 0 };
  /** The last calls made, newest last (bounded so benchmarks can run millions). */
  readonly recent: FakeCall[] = [];
  /**
   * Repository visibility as the host reports it, by `owner/repo`; repositories not listed are
   * `defaultVisibility`. `unknown` answers as a host does for a repository it does not show.
   */
  readonly visibility = new Map<string, FakeVisibility>();
  defaultVisibility: FakeVisibility = 'public';
  /** Make a visibility check fail (outage, rate limit); `failWith` scripts the PR calls only. */
  failVisibilityWith: ((repo: string, token: string) => Error | undefined) | undefined;
  /** Visibility checks made, oldest first (bounded like `recent`). */
  readonly visibilityChecks: { repo: string; token: string }[] = [];
  readonly #pulls = new Map<string, FakePull[]>();
  #seq = 0;

  constructor(readonly webUrl = 'https://fake.test') {}

  openPull(
    repo: string,
    input: Partial<Omit<FakePull, 'repo' | 'updated_seq'>> & { head_branch: string },
  ): FakePull {
    const list = this.#pulls.get(repo) ?? [];
    const number = input.pr_number ?? list.length + 1;
    const pull: FakePull = {
      repo,
      url: `${this.webUrl}/${repo}/pull/${number}`,
      pull_request_state: 'open',
      pull_request_title: `PR ${number}`,
      pull_request_draft: false,
      changes_requested: false,
      approved: false,
      reviewer_count: 0,
      additions: 0,
      deletions: 0,
      changed_files: 0,
      commits: 1,
      author_login: 'agent',
      author_avatar_url: null,
      base_branch: 'main',
      requested_reviewers: [],
      head_sha: `${number}`.padStart(40, '0'),
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      merge_state: 'clean',
      merge_state_reason: null,
      // A repository that requires no approvals: the host says none holds the merge.
      awaiting_approval: false,
      unresolved_threads: 0,
      comments: 0,
      feedback: { failing_checks: [], unresolved_threads: [], changes_requested_by: [], truncated: false },
      ...input,
      pr_number: number,
      updated_seq: ++this.#seq,
    };
    list.push(pull);
    this.#pulls.set(repo, list);
    return pull;
  }

  updatePull(repo: string, number: number, patch: Partial<FakePull>): FakePull {
    const pull = this.#pulls.get(repo)?.find((p) => p.pr_number === number);
    if (!pull) throw new Error(`fake: no PR ${repo}#${number}`);
    Object.assign(pull, patch, { updated_seq: ++this.#seq });
    return pull;
  }

  /**
   * Answers one call: counted, delayed, failed as scripted. The fake keeps no budget: every
   * answer just costs one unit (`onBudget`).
   */
  async answer<T>(
    call: FakeCall,
    token: string,
    signal: AbortSignal | undefined,
    fn: () => T,
    onBudget?: CallOptions['onBudget'],
  ): Promise<T> {
    this.calls[call.kind]++;
    onBudget?.({ scope: '', limit: null, remaining: null, reset_at: null, charged: 1 });
    this.recent.push(call);
    if (this.recent.length > 1000) this.recent.splice(0, this.recent.length - 1000);
    if (this.latencyMs > 0) await delay(this.latencyMs, signal);
    if (this.revokedTokens.has(token)) throw new AuthError('fake: bad credentials (401)');
    const error = this.failWith?.(call, token);
    if (error) throw error;
    return fn();
  }

  /** Whether the host says `repo` is public (see `visibility`). */
  async isPublic(repo: string, token: string, signal: AbortSignal | undefined): Promise<boolean> {
    this.visibilityChecks.push({ repo, token });
    if (this.visibilityChecks.length > 1000)
      this.visibilityChecks.splice(0, this.visibilityChecks.length - 1000);
    if (this.latencyMs > 0) await delay(this.latencyMs, signal);
    if (this.revokedTokens.has(token)) throw new AuthError('fake: bad credentials (401)');
    const error = this.failVisibilityWith?.(repo, token);
    if (error) throw error;
    return (this.visibility.get(repo) ?? this.defaultVisibility) === 'public';
  }

  find(repo: string, branch: string): PrFields | null {
    const candidates = (this.#pulls.get(repo) ?? []).filter((p) => p.head_branch === branch);
    // Prefer an open PR, then the most recently updated.
    candidates.sort(
      (a, b) =>
        Number(b.pull_request_state === 'open') - Number(a.pull_request_state === 'open') ||
        b.updated_seq - a.updated_seq,
    );
    return candidates[0] ? toFields(candidates[0]) : null;
  }

  get(repo: string, number: number): PrFields {
    const pull = this.#pulls.get(repo)?.find((p) => p.pr_number === number);
    if (!pull) throw new NotFoundError(`fake: no PR ${repo}#${number}`, { code: 'provider_error' });
    return toFields(pull);
  }

  feedback(repo: string, number: number): PullFeedback {
    const pull = this.#pulls.get(repo)?.find((p) => p.pr_number === number);
    if (!pull) throw new NotFoundError(`fake: no PR ${repo}#${number}`, { code: 'provider_error' });
    return structuredClone(pull.feedback);
  }
}

/** A copy: what the engine is handed never aliases the host's state, so a later `updatePull` is a change. */
function toFields(pull: FakePull): PrFields {
  const { repo: _repo, updated_seq: _seq, feedback: _feedback, ...fields } = structuredClone(pull);
  return { ...fields, requested_reviewers: sortRequestedReviewers(fields.requested_reviewers) };
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A Provider backed by a FakeCodeHost; PR URLs look like `<web_url>/<owner>/<repo>/pull/<n>`. */
export class FakeProvider implements Provider {
  readonly config: ProviderConfig;
  /** One call at a time: the fake answers single reads only. */
  readonly capabilities = { pullsPerBatch: 0, branchesPerBatch: 0, minBatch: 1 };

  constructor(
    readonly host: FakeCodeHost,
    config: Partial<ProviderConfig> = {},
  ) {
    this.config = {
      id: 'fake',
      type: 'fake',
      web_url: trimTrailingSlash(host.webUrl),
      api_url: trimTrailingSlash(host.webUrl),
      ...config,
    };
  }

  matches(origin: string): boolean {
    return isOnHost(origin, this.config.web_url);
  }

  parseOrigin(origin: string): RepoRef | null {
    return matchRepoOnHost(origin, this.config.web_url, false);
  }

  repoUrl(repo: RepoRef): string {
    return `${this.config.web_url}/${repo.owner}/${repo.name}`;
  }

  parsePullUrl(url: string): PullRef | null {
    const prefix = `${this.config.web_url}/`;
    if (!url.startsWith(prefix)) return null;
    const m = /^([^/]+)\/([^/]+)\/pull\/(\d+)$/.exec(url.slice(prefix.length));
    if (!m) return null;
    return { repo: { owner: m[1]!, name: m[2]! }, number: Number(m[3]) };
  }

  buildPullUrl(pull: PullRef): string {
    return `${this.repoUrl(pull.repo)}/pull/${pull.number}`;
  }

  findPullForBranch(repo: RepoRef, branch: string, options: CallOptions): Promise<PrFields | null> {
    const key = `${repo.owner}/${repo.name}`;
    return this.host.answer(
      { kind: 'find', repo: key, branch },
      options.token,
      options.signal,
      () => this.host.find(key, branch),
      options.onBudget,
    );
  }

  isRepoPublic(repo: RepoRef, options: CallOptions): Promise<boolean> {
    return this.host.isPublic(`${repo.owner}/${repo.name}`, options.token, options.signal);
  }

  fetchPull(pull: PullRef, options: CallOptions): Promise<PrFields> {
    const key = `${pull.repo.owner}/${pull.repo.name}`;
    return this.host.answer(
      { kind: 'fetch', repo: key, number: pull.number, ...(pull.fresh ? { fresh: true } : {}) },
      options.token,
      options.signal,
      () => this.host.get(key, pull.number),
      options.onBudget,
    );
  }

  fetchFeedback(pull: PullRef, options: CallOptions): Promise<PullFeedback> {
    const key = `${pull.repo.owner}/${pull.repo.name}`;
    return this.host.answer(
      { kind: 'feedback', repo: key, number: pull.number },
      options.token,
      options.signal,
      () => this.host.feedback(key, pull.number),
      options.onBudget,
    );
  }
}
