/** Domain records. Field names are snake_case because they are the HTTP/JSON contract (docs/api.md). */

/** Ids are UUIDs in their canonical text form (any letter case). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const PR_STATES = ['open', 'closed', 'merged'] as const;
export type PrState = (typeof PR_STATES)[number];

/** Who may be asked to review: a person (or app), or a team (`org/slug`, GitHub only). */
export const REVIEWER_KINDS = ['user', 'team'] as const;
export type ReviewerKind = (typeof REVIEWER_KINDS)[number];

/** Someone the PR's author asked to review who has not reviewed yet (SPEC §6.1). */
export interface RequestedReviewer {
  kind: ReviewerKind;
  name: string;
}

/**
 * The one order of `requested_reviewers` (users, then teams; by name without case, then exactly),
 * so that every way a host is read gives the same value and an unchanged list compares equal.
 */
export function sortRequestedReviewers(list: readonly RequestedReviewer[]): RequestedReviewer[] {
  const rank = (k: ReviewerKind) => REVIEWER_KINDS.indexOf(k);
  const key = (s: string) => s.toLowerCase();
  return list
    .map((r) => ({ kind: r.kind, name: r.name }))
    .sort(
      (a, b) =>
        rank(a.kind) - rank(b.kind) ||
        (key(a.name) < key(b.name) ? -1 : key(a.name) > key(b.name) ? 1 : 0) ||
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
}

/** The head commit's checks as one word (SPEC §6.1): any failed → failing, else any pending → pending, else passing; none without checks. */
export const CHECKS_STATES = ['pending', 'passing', 'failing', 'none'] as const;
export type ChecksState = (typeof CHECKS_STATES)[number];

/** A check that did not pass, as the host names it, with its page where the host gives one. */
export interface FailingCheck {
  name: string;
  url: string | null;
}

/** Counts of the head commit's checks (check runs and commit statuses alike). */
export interface ChecksSummary {
  passed: number;
  failed: number;
  pending: number;
  skipped: number;
  /** The failed ones, by name, at most `MAX_FAILING_CHECKS` (the counts hold them all). */
  failing: FailingCheck[];
}

/**
 * Whether the PR can be merged as it is (SPEC §6.1). `unknown`: the host has not computed it yet
 * (normal right after a push: shown as "checking" and asked again soon); `blocked`: something
 * other than conflicts or an out-of-date branch stops it (required reviews or checks, policies).
 */
export const MERGE_STATES = ['clean', 'conflicting', 'behind', 'blocked', 'unknown', 'draft'] as const;
export type MergeState = (typeof MERGE_STATES)[number];

/**
 * What stands between an open PR and its merge (SPEC §6.2 "Merge readiness"), in the order an
 * agent should fix them; `no_pr` alone for a ref whose branch has no PR.
 */
export const BLOCKER_KINDS = [
  'no_pr',
  'not_open',
  'draft',
  'conflicts',
  'behind',
  'checks_failing',
  'checks_pending',
  'changes_requested',
  'unresolved_threads',
  'needs_approval',
  'blocked',
  'unknown',
] as const;
export type BlockerKind = (typeof BLOCKER_KINDS)[number];

/** One blocker: its kind and a short text (the host's word, what failed) or null. */
export interface Blocker {
  kind: BlockerKind;
  detail: string | null;
}

/** History kept per ref: enough for an agent's branch over a long life, bounded. */
export const MAX_PREVIOUS_PRS = 20;
/** Failing checks named per ref (the counts hold them all). */
export const MAX_FAILING_CHECKS = 20;

/** A PR a ref followed before its current one (SPEC §6.1 `previous_prs`, newest first). */
export interface PreviousPr {
  url: string;
  pr_number: number | null;
  pull_request_state: PrState | null;
}

/** Everything the code host tells us about one pull request. */
export interface PrFields {
  url: string;
  pull_request_state: PrState;
  pull_request_title: string;
  pull_request_draft: boolean;
  changes_requested: boolean;
  approved: boolean;
  reviewer_count: number;
  /** Sizes a host does not tell (yet) are null, never a made-up 0. */
  additions: number | null;
  deletions: number | null;
  changed_files: number | null;
  commits: number | null;
  pr_number: number;
  author_login: string | null;
  author_avatar_url: string | null;
  base_branch: string;
  head_branch: string;
  /** Asked to review and not reviewed yet, in `sortRequestedReviewers` order; `[]` when none. */
  requested_reviewers: RequestedReviewer[];
  /** The commit the PR's head points at; the checks below are always this commit's. */
  head_sha: string | null;
  /** null where the host tells nothing of checks. */
  checks_state: ChecksState | null;
  checks: ChecksSummary | null;
  merge_state: MergeState | null;
  /** The host's own word for `merge_state` (GitHub `BEHIND`, GitLab `need_rebase`…), where it gives one. */
  merge_state_reason: string | null;
  /**
   * Whether the host says the merge waits for approvals: true (it blocks for want of them), false
   * (approvals do not hold it back: none required, or enough given), null (it cannot say — then
   * readiness asks for a standing approval). Each provider documents how it knows.
   */
  awaiting_approval: boolean | null;
  /** Review threads (discussions) still open, and all comments, where the host counts them. */
  unresolved_threads: number | null;
  comments: number | null;
}

export const PR_FIELD_NAMES = [
  'url',
  'pull_request_state',
  'pull_request_title',
  'pull_request_draft',
  'changes_requested',
  'approved',
  'reviewer_count',
  'additions',
  'deletions',
  'changed_files',
  'commits',
  'pr_number',
  'author_login',
  'author_avatar_url',
  'base_branch',
  'head_branch',
  'requested_reviewers',
  'head_sha',
  'checks_state',
  'checks',
  'merge_state',
  'merge_state_reason',
  'awaiting_approval',
  'unresolved_threads',
  'comments',
] as const satisfies readonly (keyof PrFields)[];

type Nullable<T> = { [K in keyof T]: T[K] | null };

/** One tracked (chat, origin, branch). While no PR is known every PR field is null. */
export interface DiffStatus extends Nullable<PrFields> {
  chat_id: string;
  git_remote_origin: string;
  git_branch: string;
  provider_id: string | null;
  refreshed_at: Date | null;
  stale_at: Date;
  created_at: Date;
  updated_at: Date;
  last_error: string | null;
  last_error_at: Date | null;
  error_count: number;
  paused_until: Date | null;
  /** The PRs this ref followed before its current one, newest first (at most `MAX_PREVIOUS_PRS`). */
  previous_prs: PreviousPr[];
  /**
   * Merge readiness, derived from the fields above by `readinessOf` (core/readiness.ts) whenever a
   * diff status leaves the store: true exactly when the PR is open and `blockers` is empty; null
   * before the ref's first read.
   */
  ready: boolean | null;
  blockers: Blocker[];
}

export interface Chat {
  id: string;
  owner_id: string;
  workspace_id: string | null;
  parent_chat_id: string | null;
  root_chat_id: string;
  title: string;
  archived: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A chat as the API shows it: its refs (primary first) and its children. */
export interface ChatView extends Chat {
  diff_status: DiffStatus | null;
  diff_statuses: DiffStatus[];
  children: ChatView[];
}

/**
 * Refs a code-host notification concerns: a repository branch, a PR by its URL, or the refs whose
 * PR's head commit is `head_sha` (a commit status names a commit, no branch), in any repository:
 * a fork's PR shares its commits with its parent. `origin` may be '' when only the others apply.
 */
export interface StaleMatch {
  origin: string;
  branch?: string | undefined;
  url?: string | undefined;
  head_sha?: string | undefined;
}

/**
 * A chat as an event carries it: without its subtree (SPEC §6.2 "Tenants"); its `parent_chat_id`
 * and `root_chat_id` place it. `GET /api/v1/chats/{id}` gives the whole tree.
 */
export type EventChat = Omit<ChatView, 'children'>;

/** Change events (docs/api.md, "Events"). Payloads are serialised as JSON; Dates become RFC 3339 UTC strings. */
export type ChangeEvent =
  | { kind: 'diff_status_change'; chat: EventChat; changed_diff_status: DiffStatus }
  | { kind: 'chat_created' | 'chat_updated' | 'chat_archived' | 'chat_unarchived'; chat: EventChat }
  | { kind: 'chat_deleted'; chat: Pick<Chat, 'id' | 'owner_id'> };

export type ChangeEventKind = ChangeEvent['kind'];

export const emptyPrFields = (): Nullable<PrFields> => ({
  url: null,
  pull_request_state: null,
  pull_request_title: null,
  pull_request_draft: null,
  changes_requested: null,
  approved: null,
  reviewer_count: null,
  additions: null,
  deletions: null,
  changed_files: null,
  commits: null,
  pr_number: null,
  author_login: null,
  author_avatar_url: null,
  base_branch: null,
  head_branch: null,
  requested_reviewers: null,
  head_sha: null,
  checks_state: null,
  checks: null,
  merge_state: null,
  merge_state_reason: null,
  awaiting_approval: null,
  unresolved_threads: null,
  comments: null,
});
