import type { KeyObject } from 'node:crypto';
import type { BudgetShares } from '../core/budget.ts';
import type { Clock } from '../core/clock.ts';
import type { PrFields, StaleMatch } from '../core/types.ts';

/** A repository on a code host. `owner` may hold nested groups (`group/sub`) where the host has them. */
export interface RepoRef {
  owner: string;
  name: string;
}

export interface PullRef {
  repo: RepoRef;
  number: number;
  /**
   * For `fetchPulls`: when what the caller shows of this PR was last read from the host (a
   * refresh). A provider may answer PULL_UNCHANGED only for a PR it knows unchanged since then.
   */
  shownSince?: Date | null | undefined;
  /**
   * A signal asked for this read — a webhook delivery, "refresh now", a wait or a feedback
   * request: nothing kept may stand in for what the host answers now (no PULL_UNCHANGED, no kept
   * checks, threads or list answers). The read's answers may be kept for later reads as usual.
   */
  fresh?: boolean | undefined;
}

export interface CallOptions {
  token: string;
  signal?: AbortSignal | undefined;
  /**
   * Told of every answer the host gave with this token: what it says of the token's budget and
   * what the request cost (docs/operations.md, "The owner's budget"). Never given the token.
   */
  onBudget?: ((observation: BudgetObservation) => void) | undefined;
}

/** What one answer of a host says of a token's budget (rate limit), and what its request cost. */
export interface BudgetObservation {
  /**
   * The budget it speaks of, where a host keeps several per token (GitHub `core`, `graphql`); ''
   * for a host's one budget.
   */
  scope: string;
  /** The budget per window, what is left of it and when it is whole again; null where the answer does not say. */
  limit: number | null;
  remaining: number | null;
  reset_at: Date | null;
  /** Units this request spent (0: free, such as a conditional request answered 304). */
  charged: number;
}

/**
 * Whom a provider's service token serves when an owner has no token of its own
 * (`service_token_for`): no one, only repositories the host confirmed public, or everyone.
 */
export const SERVICE_TOKEN_POLICIES = ['none', 'public', 'all'] as const;
export type ServiceTokenPolicy = (typeof SERVICE_TOKEN_POLICIES)[number];
/** A service token must not lend its access to private repositories unless the operator says so. */
export const DEFAULT_SERVICE_TOKEN_POLICY: ServiceTokenPolicy = 'public';

/** What the configuration says about one code host. */
export interface ProviderConfig {
  id: string;
  type: string;
  /** Base web address without trailing slash, e.g. `https://github.com` or `https://host/gitlab`. */
  web_url: string;
  api_url: string;
  service_token?: string | undefined;
  /** Whom the service token serves; undefined means `DEFAULT_SERVICE_TOKEN_POLICY`. */
  service_token_for?: ServiceTokenPolicy | undefined;
  /**
   * The share of a token's budget gitsync may spend, for owners' tokens and for the service
   * token; undefined means `DEFAULT_BUDGET_SHARES` (0.5 and 0.9).
   */
  max_budget_share?: BudgetShares | undefined;
  webhook_secret?: string | undefined;
  /**
   * A GitHub App serving the repositories it is installed on, like the service token (SPEC §6.2
   * "GitHub App"). The private key is held parsed, never as its PEM text.
   */
  app?: GitHubAppConfig | undefined;
}

/** `app_id`, `app_private_key_env` (read and parsed) and `installation_id` of a `github` provider. */
export interface GitHubAppConfig {
  app_id: string;
  private_key: KeyObject;
  /** Serve every repository through this installation instead of asking each repository's. */
  installation_id?: number | undefined;
}

/**
 * A token the provider itself holds for one repository (a GitHub App's installation token),
 * lent to owners without a token of their own as the service token is (`service_token_for`).
 */
export interface RepoCredential {
  token: string;
  /**
   * What budgets and rate-limit pauses are keyed by instead of the token: the installation, which
   * keeps its budget while its tokens are renewed. Never the token.
   */
  budgetKey: string;
}

/** Credentials a provider holds per repository (see RepoCredential). */
export interface RepoCredentials {
  /**
   * The credential serving `repo`, or null when none covers it (the App is not installed there,
   * or its installation is suspended). Throws a typed error when the host cannot be asked.
   */
  forRepo(repo: RepoRef, signal?: AbortSignal): Promise<RepoCredential | null>;
  /** The host refused the credential of `budgetKey`: it is not used again (the next call asks afresh). */
  rejected?(budgetKey: string): void;
  /** The budget keys of the credentials held now (for the budget view). */
  budgetKeys?(): string[];
  /** A verified webhook delivery of the provider (see ProviderWebhooks.received). */
  received?(header: HeaderReader, payload: unknown): void;
}

/**
 * What a provider can do, declared so that the engine asks instead of holding one host's
 * constants.
 */
export interface ProviderCapabilities {
  /** PRs one `fetchPulls` call reads (0 without it). */
  pullsPerBatch: number;
  /**
   * `fetchPulls` reads a list per repository it is asked about (Gitea, Bitbucket, Azure DevOps):
   * the engine keeps a repository's PRs in one call where they fit.
   */
  listsPerRepository?: boolean | undefined;
  /** (repository, branch) pairs one `findPullsForBranches` call answers (0 without it). */
  branchesPerBatch: number;
  /**
   * Below this many rows of a kind in a group, batching saves nothing: single reads are as cheap
   * (GitHub: a conditional REST read answered 304 is free).
   */
  minBatch: number;
  /**
   * Where a host keeps several budgets per token: the one batch calls spend and the one single
   * calls spend (GitHub: `graphql`, `core`), so a pause of one leaves the other. Undefined: one budget.
   */
  rateLimitScopes?: { readonly batch: string; readonly single: string } | undefined;
}

export type { StaleMatch } from '../core/types.ts';

/**
 * Receiving a host's webhook deliveries, each host its own way. The server reads the body (with
 * its limits) only after `start` accepted the headers, feeding it to `update` as it arrives.
 */
export interface ProviderWebhooks {
  /**
   * A check of one delivery: null refuses it at once (no or malformed credentials in the
   * headers); otherwise `update` each chunk of the body, then `valid()` says whether it is genuine.
   * `proven`: the headers alone proved the credentials (a shared secret), before any of the body.
   */
  start(
    header: HeaderReader,
    secret: string,
  ): { update(chunk: Uint8Array): void; valid(): boolean; proven?: boolean } | null;
  /**
   * The host's id of this delivery (a redelivery repeats it), if it sends one: from the headers
   * (asked before the body is read), or, asked again with the verified `payload`, from the body.
   */
  deliveryId(header: HeaderReader, payload?: unknown): string | undefined;
  /**
   * The tracked refs a verified delivery concerns (none for events that say nothing about PRs or
   * branches); throws BadInputError for a delivery of a known event that lacks its fields.
   */
  staleRefs(header: HeaderReader, payload: unknown): StaleMatch[];
  /**
   * Optional: what a verified delivery changes in the provider itself (a GitHub App's installation
   * deleted or suspended drops its tokens). Called for every verified delivery, duplicates too.
   */
  received?(header: HeaderReader, payload: unknown): void;
}

/**
 * What an agent needs to act on one PR (`GET /api/v1/chats/{id}/feedback`): read from the host on
 * demand, never on a refresh. The server bounds its size; a provider reports `truncated` when the
 * host had more than it read.
 */
export interface PullFeedback {
  /** Failed checks of the PR's current head commit, with the text the host gives for each. */
  failing_checks: { name: string; url: string | null; summary: string | null }[];
  /** Review threads (discussions) not resolved yet, each by its first comment. */
  unresolved_threads: {
    path: string | null;
    line: number | null;
    author: string | null;
    /** The host's own word for how the author stands in the repository (GitHub `MEMBER`, GitLab `Developer`…), or null. */
    author_association: string | null;
    /** See `Trust`. */
    trusted: Trust;
    body: string;
    url: string | null;
  }[];
  /** Who asks for changes now (their latest review says so), by login, with their standing. */
  changes_requested_by: { name: string; trusted: Trust }[];
  truncated: boolean;
}

/**
 * Whether the host shows a person belongs to the repository (SPEC §6.2, "Feedback for agents"):
 * true — GitHub `OWNER`, `MEMBER`, `COLLABORATOR`, GitLab Developer or above, a collaborator with
 * write access or the owner elsewhere; false — the host shows they do not; null — it cannot say.
 */
export type Trust = boolean | null;

/** A request header by (case-insensitive) name. */
export type HeaderReader = (name: string) => string | undefined;

/**
 * One code host. Host vocabulary stays behind this interface: implementations map their states
 * to `open | closed | merged` and translate every failure into the errors of `core/errors.ts`.
 */
export interface Provider {
  readonly config: ProviderConfig;
  readonly capabilities: ProviderCapabilities;
  /** Receiving webhooks; absent where the host has none (or they are not supported yet). */
  readonly webhooks?: ProviderWebhooks | undefined;
  /** Optional: tokens the provider holds per repository (a GitHub App's installations). */
  readonly repoCredentials?: RepoCredentials | undefined;
  /**
   * Whether an origin is on this host (its host, and its path prefix where the host is served
   * under one), whether or not it names a repository: the registry asks each provider in order.
   */
  matches(origin: string): boolean;
  /** The repository an origin names, if it is on this host (https, ssh://, scp-like; credentials ignored). */
  parseOrigin(origin: string): RepoRef | null;
  /** The canonical origin stored for a repository: `web_url/owner/name`. */
  repoUrl(repo: RepoRef): string;
  parsePullUrl(url: string): PullRef | null;
  buildPullUrl(pull: PullRef): string;
  /** The PR whose head is `branch` (own repo or a fork), preferring an open one; null if none. */
  findPullForBranch(repo: RepoRef, branch: string, options: CallOptions): Promise<PrFields | null>;
  fetchPull(pull: PullRef, options: CallOptions): Promise<PrFields>;
  /**
   * Optional: many PRs in as few requests as the host allows, keyed by `pullKey`. An entry may be
   * an error of its own (a PR not found), or PULL_UNCHANGED: the host shows the PR as it was when
   * this provider last read it in full, so what the ref shows stands. An error thrown fails them
   * all (rate limit, outage).
   */
  fetchPulls?(
    pulls: readonly PullRef[],
    options: CallOptions,
  ): Promise<Map<string, PrFields | Error | typeof PULL_UNCHANGED>>;
  /**
   * Optional: the PR of many (repository, branch) pairs at once, as `findPullForBranch` would
   * answer each (null: none), keyed by `branchKey`; an error thrown fails them all.
   */
  findPullsForBranches?(
    items: readonly { repo: RepoRef; branch: string }[],
    options: CallOptions,
  ): Promise<Map<string, PrFields | null | Error>>;
  /**
   * Optional: whether the host says `repo` is public — readable by anyone, signed in or not.
   * False for private (and enterprise-internal) repositories and for ones it does not show
   * (a host answers "not found" for a private repository the token cannot see); throws on an
   * outage or a rate limit. The engine lends the service token to owners without a token of
   * their own only for repositories this confirms (`service_token_for: "public"`); a provider
   * without it confirms none.
   */
  isRepoPublic?(repo: RepoRef, options: CallOptions): Promise<boolean>;
  /**
   * Optional: the PR's feedback for an agent (failing checks of the current head, unresolved
   * threads, requested changes). A provider without it answers the feedback endpoint with 422.
   */
  fetchFeedback?(pull: PullRef, options: CallOptions): Promise<PullFeedback>;
}

/** A `fetchPulls` answer for a PR the host shows unchanged since it was last read in full. */
export const PULL_UNCHANGED = 'unchanged' as const;

/** Key of a (repository, branch) in `findPullsForBranches` results. */
export const branchKey = (repo: RepoRef, branch: string) =>
  `${repo.owner.toLowerCase()}/${repo.name.toLowerCase()}\u0000${branch}`;

/** Key of a repository: `owner/name` without case, as hosts compare names. */
export const repoKey = (repo: RepoRef) => `${repo.owner}/${repo.name}`.toLowerCase();

/** Key of a PR in `fetchPulls` results (host names compare without case). */
export const pullKey = (pull: PullRef) => `${pull.repo.owner}/${pull.repo.name}#${pull.number}`.toLowerCase();

/** What a provider may need from its surroundings. */
export interface ProviderDeps {
  /** For rate-limit reset times computed from relative headers (`retry-after`). */
  clock: Clock;
}

export type ProviderFactory = (config: ProviderConfig, deps: ProviderDeps) => Provider;

/** A code-host type as configuration knows it: its defaults, and (once implemented) its provider. */
export interface ProviderType {
  create: ProviderFactory;
  /** The API address for a web address (`https://github.com` → `https://api.github.com`). */
  defaultApiUrl(webUrl: string): string;
  /** The environment variable holding the service token when the configuration names none. */
  tokenEnv: string;
}
