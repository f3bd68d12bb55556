import { describe, expect, it } from 'vitest';
import { applyReviewDecision, type ReviewInput, summarizeReviews } from './review-summary.ts';

const r = (id: number, login: string | null, state: string): ReviewInput => ({ id, login, state });

describe('summarizeReviews (SPEC §5)', () => {
  it.each<[string, ReviewInput[], { approved: boolean; changes_requested: boolean; reviewer_count: number }]>(
    [
      ['no reviews', [], { approved: false, changes_requested: false, reviewer_count: 0 }],
      [
        'one CHANGES_REQUESTED',
        [r(1, 'alice', 'CHANGES_REQUESTED')],
        { approved: false, changes_requested: true, reviewer_count: 1 },
      ],
      [
        'one APPROVED',
        [r(1, 'alice', 'APPROVED')],
        { approved: true, changes_requested: false, reviewer_count: 1 },
      ],
      [
        'CHANGES_REQUESTED then APPROVED by the same reviewer',
        [r(1, 'alice', 'CHANGES_REQUESTED'), r(2, 'alice', 'APPROVED')],
        { approved: true, changes_requested: false, reviewer_count: 1 },
      ],
      [
        'APPROVED then CHANGES_REQUESTED by the same reviewer',
        [r(1, 'alice', 'APPROVED'), r(2, 'alice', 'CHANGES_REQUESTED')],
        { approved: false, changes_requested: true, reviewer_count: 1 },
      ],
      [
        'CHANGES_REQUESTED then DISMISSED',
        [r(1, 'alice', 'CHANGES_REQUESTED'), r(2, 'alice', 'DISMISSED')],
        { approved: false, changes_requested: false, reviewer_count: 1 },
      ],
      [
        'mixed reviewers: one approves, one requests changes',
        [r(1, 'alice', 'APPROVED'), r(2, 'bob', 'CHANGES_REQUESTED')],
        { approved: false, changes_requested: true, reviewer_count: 2 },
      ],
      [
        'mixed reviewers: both approve',
        [r(1, 'alice', 'APPROVED'), r(2, 'bob', 'APPROVED')],
        { approved: true, changes_requested: false, reviewer_count: 2 },
      ],
      [
        'COMMENTED is ignored, also after a decisive review',
        [r(1, 'alice', 'APPROVED'), r(2, 'alice', 'COMMENTED'), r(3, 'bob', 'COMMENTED')],
        { approved: true, changes_requested: false, reviewer_count: 1 },
      ],
      [
        'logins compare case-insensitively',
        [r(1, 'Alice', 'CHANGES_REQUESTED'), r(2, 'alice', 'APPROVED')],
        { approved: true, changes_requested: false, reviewer_count: 1 },
      ],
      [
        'order is by review id, not by list position',
        [r(5, 'alice', 'APPROVED'), r(3, 'alice', 'CHANGES_REQUESTED')],
        { approved: true, changes_requested: false, reviewer_count: 1 },
      ],
      [
        'a deleted (ghost) reviewer is ignored',
        [r(1, null, 'CHANGES_REQUESTED')],
        { approved: false, changes_requested: false, reviewer_count: 0 },
      ],
      [
        'PENDING is ignored',
        [r(1, 'alice', 'PENDING')],
        { approved: false, changes_requested: false, reviewer_count: 0 },
      ],
    ],
  )('%s', (_name, reviews, expected) => {
    expect(summarizeReviews(reviews)).toEqual(expected);
  });
});

describe('applyReviewDecision (SPEC §5)', () => {
  const r = (id: number, login: string | null, state: string): ReviewInput => ({ id, login, state });

  it('follows GitHub’s verdict where the repository requires reviews', () => {
    // A change request by someone without write access does not count for GitHub.
    const reviews = [r(1, 'maintainer', 'APPROVED'), r(2, 'passer-by', 'CHANGES_REQUESTED')];
    expect(applyReviewDecision(reviews, 'APPROVED')).toEqual({ approved: true, changes_requested: false });
    expect(applyReviewDecision(reviews, 'REVIEW_REQUIRED')).toEqual({
      approved: false,
      changes_requested: false,
    });
    expect(applyReviewDecision(reviews, null)).toEqual({ approved: false, changes_requested: true });
  });

  it('is never approved without a standing approval, whatever the verdict says', () => {
    expect(applyReviewDecision([], 'APPROVED')).toEqual({ approved: false, changes_requested: false });
    const dismissed = [r(1, 'alice', 'APPROVED'), r(2, 'alice', 'DISMISSED'), r(3, 'bob', 'COMMENTED')];
    expect(applyReviewDecision(dismissed, 'APPROVED').approved).toBe(false);
  });
});
