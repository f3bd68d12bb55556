import { describe, expect, it } from 'vitest';
import { type ReadinessInput, readinessOf } from '../core/readiness.ts';
import type { BlockerKind, ChecksState } from '../core/types.ts';
import * as azure from './azure-devops/pull-state.ts';
import * as bitbucket from './bitbucket/bitbucket-provider.ts';
import * as gitea from './gitea/status-mapping.ts';
import { mergeStateOf as githubMergeState } from './github/checks.ts';
import {
  applyReviewDecision,
  awaitingApproval as githubAwaiting,
  type ReviewInput,
} from './github/review-summary.ts';
import * as gitlab from './gitlab/mr-status.ts';

/**
 * Merge readiness over every host's own mapping: each row is a state the host really answers,
 * put through that provider's mapping functions (merge state, reviews, whether it says approvals
 * hold the merge), then through the one rule. What is not the row's point is settled: checks
 * passing, no threads, no request for changes.
 */
type Mapped = Pick<
  ReadinessInput,
  'merge_state' | 'merge_state_reason' | 'awaiting_approval' | 'approved' | 'changes_requested'
> &
  Partial<ReadinessInput>;

const blockersOf = (m: Mapped, checks: ChecksState | null = 'passing') =>
  readinessOf({
    url: 'https://host.test/acme/app/pull/1',
    pull_request_state: 'open',
    pull_request_draft: false,
    checks_state: checks,
    checks: null,
    unresolved_threads: 0,
    refreshed_at: new Date('2026-03-01T12:00:00Z'),
    ...m,
  }).blockers.map((b) => (b.detail === null ? b.kind : `${b.kind}: ${b.detail}`));

type Row = [string, Mapped, ChecksState | null, (BlockerKind | string)[]];

describe('merge readiness per host', () => {
  describe('GitHub (mergeStateStatus, reviewDecision; the mergeable fallback; REST)', () => {
    const approval: ReviewInput[] = [{ id: 1, state: 'APPROVED', login: 'maria' }];
    const changes: ReviewInput[] = [{ id: 2, state: 'CHANGES_REQUESTED', login: 'maria' }];
    const gh = (
      status: string,
      decision: string | null | undefined,
      reviews: ReviewInput[] = [],
    ): Mapped => ({
      ...githubMergeState(status, false, true),
      ...applyReviewDecision(reviews, decision ?? null),
      awaiting_approval: githubAwaiting(decision, status),
    });
    const rows: Row[] = [
      ['CLEAN, no review required, no one approved', gh('CLEAN', null), 'passing', []],
      ['CLEAN, approved as required', gh('CLEAN', 'APPROVED', approval), 'passing', []],
      [
        'BLOCKED for want of a required review',
        gh('BLOCKED', 'REVIEW_REQUIRED'),
        'passing',
        ['needs_approval: the host requires approval'],
      ],
      ['BLOCKED by a required check still running', gh('BLOCKED', null), 'pending', ['checks_pending']],
      [
        'BLOCKED by another rule (reviews not required)',
        gh('BLOCKED', null),
        'passing',
        ['blocked: BLOCKED'],
      ],
      [
        'BLOCKED by a request for changes',
        gh('BLOCKED', 'CHANGES_REQUESTED', changes),
        'passing',
        ['changes_requested', 'needs_approval: no standing approval'],
      ],
      ['BEHIND, approved', gh('BEHIND', 'APPROVED', approval), 'passing', ['behind: BEHIND']],
      ['DIRTY', gh('DIRTY', null), 'passing', ['conflicts: DIRTY']],
      ['UNSTABLE: a check failed', gh('UNSTABLE', null), 'failing', ['checks_failing']],
      ['UNKNOWN right after a push', gh('UNKNOWN', null), 'pending', ['checks_pending', 'unknown: UNKNOWN']],
      [
        'Enterprise fallback: MERGEABLE, review required',
        gh('MERGEABLE', 'REVIEW_REQUIRED'),
        'passing',
        ['needs_approval: the host requires approval'],
      ],
      ['Enterprise fallback: MERGEABLE, no review required', gh('MERGEABLE', null), 'passing', []],
      ['Enterprise fallback: CONFLICTING', gh('CONFLICTING', null), 'passing', ['conflicts: CONFLICTING']],
      ['REST, no reviews (decision not asked): clean', gh('clean', undefined), 'passing', []],
      [
        'REST, no reviews (decision not asked): blocked',
        gh('blocked', undefined),
        'passing',
        ['needs_approval: no standing approval'],
      ],
    ];
    it.each(rows)('%s', (_, mapped, checks, expected) =>
      expect(blockersOf(mapped, checks)).toEqual(expected),
    );
  });

  describe('GitLab (detailedMergeStatus, approved)', () => {
    const gl = (
      status: string,
      approvedRules: boolean,
      over: Partial<Mapped> = {},
      mergeStatus: string | null = null,
    ): Mapped => ({
      merge_state: gitlab.mergeState(status, false, 'open', mergeStatus),
      merge_state_reason: mergeStatus === 'cannot_be_merged_recheck' ? mergeStatus : status,
      // gitsync's `approved`: GitLab's verdict with at least one approver; here no one approved.
      approved: false,
      changes_requested: false,
      awaiting_approval: gitlab.awaitingApproval(status.toUpperCase(), approvedRules),
      ...over,
    });
    const rows: Row[] = [
      [
        'mergeable, no approval rules (approved: true with no approver)',
        gl('mergeable', true),
        'passing',
        [],
      ],
      ['not_approved', gl('not_approved', false), 'passing', ['needs_approval: the host requires approval']],
      [
        'ci_still_running, rules not met yet',
        gl('ci_still_running', false),
        'pending',
        ['checks_pending', 'needs_approval: the host requires approval'],
      ],
      ['ci_must_pass with no pipeline at all', gl('ci_must_pass', true), 'none', ['blocked: ci_must_pass']],
      [
        'discussions_not_resolved',
        gl('discussions_not_resolved', true, { unresolved_threads: 2 }),
        'passing',
        ['unresolved_threads: 2 unresolved'],
      ],
      [
        'requested_changes',
        gl('requested_changes', true, { changes_requested: true }),
        'passing',
        ['changes_requested'],
      ],
      ['need_rebase', gl('need_rebase', true), 'passing', ['behind: need_rebase']],
      ['conflict', gl('conflict', true), 'passing', ['conflicts: conflict']],
      [
        'a stale CONFLICT awaiting its recheck',
        gl('conflict', true, {}, 'cannot_be_merged_recheck'),
        'passing',
        ['unknown: cannot_be_merged_recheck'],
      ],
      ['unchecked after a push', gl('unchecked', true), 'pending', ['checks_pending', 'unknown: unchecked']],
      [
        'approvals_syncing: the rules cannot be told',
        gl('approvals_syncing', false),
        'passing',
        ['needs_approval: no standing approval', 'unknown: approvals_syncing'],
      ],
      [
        'jira_association_missing',
        gl('jira_association_missing', true),
        'passing',
        ['blocked: jira_association_missing'],
      ],
    ];
    it.each(rows)('%s', (_, mapped, checks, expected) =>
      expect(blockersOf(mapped, checks)).toEqual(expected),
    );
  });

  describe('Gitea/Forgejo (mergeable; approvals never told)', () => {
    const gt = (mergeable: boolean | null, settled: boolean, approved: boolean): Mapped => ({
      ...gitea.mergeState({ mergeable }, false, settled),
      approved,
      changes_requested: false,
      awaiting_approval: null,
    });
    const rows: Row[] = [
      ['mergeable, someone approved', gt(true, true, true), 'passing', []],
      [
        'mergeable, no approval: Gitea cannot say whether one is required',
        gt(true, true, false),
        'passing',
        ['needs_approval: no standing approval'],
      ],
      [
        'mergeable=false just after a push (checking or conflict)',
        gt(false, false, true),
        'passing',
        ['unknown: checking'],
      ],
      ['mergeable=false held 2 minutes', gt(false, true, true), 'passing', ['conflicts: mergeable=false']],
    ];
    it.each(rows)('%s', (_, mapped, checks, expected) =>
      expect(blockersOf(mapped, checks)).toEqual(expected),
    );
  });

  describe('Bitbucket Cloud (mergeable, file conflicts)', () => {
    const bb = (
      mergeable: boolean | null,
      conflicted: boolean | null,
      approved: boolean,
      threads: number | null,
    ): Mapped => {
      const pr = { state: 'OPEN', draft: false, mergeable };
      return {
        ...bitbucket.mergeStateOf(
          pr,
          conflicted === null ? null : { conflicted, scenario: conflicted ? 'content' : null },
        ),
        approved,
        changes_requested: false,
        awaiting_approval: bitbucket.awaitingApproval(pr),
        unresolved_threads: threads,
      };
    };
    const rows: Row[] = [
      ['mergeable, no threads open', bb(true, false, false, 0), 'passing', []],
      ['mergeable, a thread open', bb(true, false, true, 1), 'passing', ['unresolved_threads: 1 unresolved']],
      [
        'mergeable, threads not counted',
        bb(true, false, true, null),
        'passing',
        ['unknown: unresolved_threads'],
      ],
      [
        'mergeable: false, no approval (which merge check fails is not said)',
        bb(false, false, false, 0),
        'passing',
        ['needs_approval: no standing approval'],
      ],
      ['mergeable: false, approved, builds passing', bb(false, false, true, 0), 'passing', ['blocked']],
      ['file conflicts', bb(null, true, true, 0), 'passing', ['conflicts: content']],
      ['no mergeable and no conflicts read', bb(null, null, true, 0), 'passing', ['unknown: merge_state']],
    ];
    it.each(rows)('%s', (_, mapped, checks, expected) =>
      expect(blockersOf(mapped, checks)).toEqual(expected),
    );
  });

  describe('Azure DevOps (mergeStatus, blocking policies)', () => {
    const az = (
      mergeStatus: string,
      blocking: string[],
      reviewers: boolean | null | 'unread',
      approved = false,
    ): Mapped => ({
      ...azure.mergeStateOf({ mergeStatus }, blocking),
      approved,
      changes_requested: false,
      awaiting_approval: azure.awaitingApproval(reviewers === 'unread' ? null : { reviewers }),
    });
    const rows: Row[] = [
      ['succeeded, no policy in force', az('succeeded', [], null), 'none', []],
      [
        'succeeded, minimum reviewers not met',
        az('succeeded', ['Minimum number of reviewers'], false),
        'passing',
        ['needs_approval: the host requires approval'],
      ],
      [
        'succeeded, reviewers met, work items not linked',
        az('succeeded', ['Work item linking'], true, true),
        'passing',
        ['blocked: Work item linking'],
      ],
      [
        'succeeded, build validation failed',
        az('succeeded', ['Build'], true, true),
        'failing',
        ['checks_failing'],
      ],
      ['rejectedByPolicy', az('rejectedByPolicy', [], true, true), 'passing', ['blocked: rejectedByPolicy']],
      ['conflicts', az('conflicts', [], true, true), 'passing', ['conflicts: conflicts']],
      ['queued (the test merge runs)', az('queued', [], true, true), 'passing', ['unknown: queued']],
      [
        'evaluations not read',
        az('succeeded', [], 'unread'),
        'passing',
        ['needs_approval: no standing approval'],
      ],
    ];
    it.each(rows)('%s', (_, mapped, checks, expected) =>
      expect(blockersOf(mapped, checks)).toEqual(expected),
    );
  });
});
