/** GitHub review states that decide a reviewer's position; COMMENTED and PENDING do not. */
const DECISIVE = new Set(['APPROVED', 'CHANGES_REQUESTED', 'DISMISSED']);

export interface ReviewInput {
  id: number;
  state: string;
  /** Null for deleted ("ghost") users. */
  login: string | null;
}

export interface ReviewSummary {
  approved: boolean;
  changes_requested: boolean;
  reviewer_count: number;
}

/**
 * SPEC §5: per reviewer (login, case-insensitive) only the latest decisive review counts (highest
 * id). `changes_requested` if any latest requests changes; `approved` if any latest approves and
 * none requests changes; `reviewer_count` counts reviewers that have a decisive review.
 */
export function summarizeReviews(reviews: readonly ReviewInput[]): ReviewSummary {
  const latest = latestDecisive(reviews);
  const states = latest.map((r) => r.state);
  const changesRequested = states.includes('CHANGES_REQUESTED');
  return {
    changes_requested: changesRequested,
    approved: !changesRequested && states.includes('APPROVED'),
    reviewer_count: latest.length,
  };
}

/**
 * Where GitHub reports a `reviewDecision` (the repository requires reviews), `approved` and
 * `changes_requested` follow it (SPEC §5): only reviews of people with write access count there,
 * and enough approvals are needed. Null (reviews not required): the summary stands.
 * GraphQL reference, enum PullRequestReviewDecision: APPROVED, CHANGES_REQUESTED, REVIEW_REQUIRED.
 * `approved` still needs one standing approval among `reviews` (SPEC §5, every host): a rule that
 * requires none makes the host's verdict say nothing about anyone having approved.
 */
export function applyReviewDecision(
  reviews: readonly ReviewInput[],
  decision: string | null,
): Pick<ReviewSummary, 'approved' | 'changes_requested'> {
  const summary = summarizeReviews(reviews);
  if (decision === null) return { approved: summary.approved, changes_requested: summary.changes_requested };
  return {
    approved: decision === 'APPROVED' && latestDecisive(reviews).some((r) => r.state === 'APPROVED'),
    changes_requested: decision === 'CHANGES_REQUESTED',
  };
}

/** Each reviewer's latest decisive review (highest id; login case-insensitive), state upper-cased. */
function latestDecisive(reviews: readonly ReviewInput[]): ReviewInput[] {
  const latest = new Map<string, ReviewInput>();
  for (const review of reviews) {
    const state = review.state.toUpperCase();
    if (!review.login || !DECISIVE.has(state)) continue;
    const key = review.login.toLowerCase();
    const seen = latest.get(key);
    if (!seen || review.id > seen.id) latest.set(key, { ...review, state });
  }
  return [...latest.values()];
}

/** Merge states in which GitHub lets the PR merge (GraphQL enum `MergeStateStatus`; see `mergeStateOf`). */
const MERGEABLE_STATES = new Set(['CLEAN', 'HAS_HOOKS', 'UNSTABLE']);

/** Whether GitHub lets the PR merge as it is, by its merge state (REST `mergeable_state` in any case). */
export const letsMerge = (mergeStatus: string | null | undefined) =>
  MERGEABLE_STATES.has((mergeStatus ?? '').toUpperCase());

/**
 * Whether GitHub says the merge waits for approvals (`awaiting_approval`, SPEC §6.2
 * `needs_approval`). A merge state in which GitHub lets the PR merge (CLEAN, HAS_HOOKS, UNSTABLE)
 * says approvals do not hold it → false. Otherwise `reviewDecision` (GraphQL reference, enum
 * `PullRequestReviewDecision`) is GitHub's word: REVIEW_REQUIRED ("a review is required before the
 * pull request can be merged") → true; APPROVED → false; null — the repository requires no
 * reviews — → false; CHANGES_REQUESTED → null (the request for changes holds the merge; whether
 * the approvals would then suffice GitHub does not say). `decision` undefined: not read → null.
 * The `mergeable` fallback of Enterprise Servers (MERGEABLE) cannot tell BLOCKED, so there
 * `reviewDecision` alone decides.
 */
export function awaitingApproval(
  decision: string | null | undefined,
  mergeStatus: string | null | undefined,
): boolean | null {
  if (letsMerge(mergeStatus)) return false;
  if (decision === undefined) return null;
  switch (decision?.toUpperCase() ?? null) {
    case 'REVIEW_REQUIRED':
      return true;
    case 'APPROVED':
    case null:
      return false;
    default:
      return null;
  }
}
