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
