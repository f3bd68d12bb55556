import { describe, expect, it } from 'vitest';
import { type ReadinessInput, readinessOf } from './readiness.ts';
import { BLOCKER_KINDS, type ChecksSummary } from './types.ts';

const READ_AT = new Date('2026-03-01T12:00:00.000Z');

/** An open PR nothing holds back: clean, no checks, no threads, the host wants no approval. */
const clean = (over: Partial<ReadinessInput> = {}): ReadinessInput => ({
  url: 'https://host.test/acme/app/pull/1',
  pull_request_state: 'open',
  pull_request_draft: false,
  merge_state: 'clean',
  merge_state_reason: null,
  checks_state: 'none',
  checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
  changes_requested: false,
  approved: false,
  awaiting_approval: false,
  unresolved_threads: 0,
  refreshed_at: READ_AT,
  ...over,
});

const kinds = (s: ReadinessInput) => readinessOf(s).blockers.map((b) => b.kind);

describe('readinessOf (SPEC §6.2 "Merge readiness")', () => {
  it('an open PR with nothing against it is ready', () => {
    expect(readinessOf(clean())).toEqual({ ready: true, blockers: [] });
  });

  it('before the first read nothing is known: ready null, one unknown', () => {
    const none = { ...clean(), url: null, pull_request_state: null, refreshed_at: null };
    expect(readinessOf(none)).toEqual({ ready: null, blockers: [{ kind: 'unknown', detail: null }] });
  });

  it('a branch read and found without a PR: ready false, no_pr alone', () => {
    const none = { ...clean(), url: null, pull_request_state: null, merge_state: null, checks_state: null };
    expect(readinessOf(none)).toEqual({ ready: false, blockers: [{ kind: 'no_pr', detail: null }] });
  });

  it('a merged or closed PR: not_open alone, whatever else it shows', () => {
    for (const state of ['merged', 'closed'] as const)
      expect(
        readinessOf(clean({ pull_request_state: state, merge_state: null, changes_requested: true })),
      ).toEqual({ ready: false, blockers: [{ kind: 'not_open', detail: state }] });
  });

  it('every blocker at once comes in the order SPEC lists them', () => {
    // conflicts and behind never come from one merge state; each is checked in its own case below.
    const all = clean({
      pull_request_draft: true,
      merge_state: 'conflicting',
      checks_state: 'failing',
      changes_requested: true,
      unresolved_threads: 2,
      awaiting_approval: true,
    });
    expect(kinds(all)).toEqual([
      'draft',
      'conflicts',
      'checks_failing',
      'changes_requested',
      'unresolved_threads',
      'needs_approval',
    ]);
    const order = (ks: string[]) => ks.map((k) => BLOCKER_KINDS.indexOf(k as never));
    for (const s of [
      all,
      clean({ merge_state: 'behind', checks_state: 'pending', awaiting_approval: null }),
    ]) {
      const o = order(kinds(s));
      expect(o).toEqual([...o].sort((a, b) => a - b));
    }
  });

  it('conflicts and behind carry the host word', () => {
    expect(readinessOf(clean({ merge_state: 'conflicting', merge_state_reason: 'DIRTY' })).blockers).toEqual([
      { kind: 'conflicts', detail: 'DIRTY' },
    ]);
    expect(readinessOf(clean({ merge_state: 'behind', merge_state_reason: 'need_rebase' })).blockers).toEqual(
      [{ kind: 'behind', detail: 'need_rebase' }],
    );
  });

  it('a draft by the flag or by the merge state', () => {
    expect(kinds(clean({ pull_request_draft: true }))).toEqual(['draft']);
    expect(kinds(clean({ merge_state: 'draft' }))).toEqual(['draft']);
  });

  it('failing checks are named (the first three, the rest counted); pending ones counted', () => {
    const checks: ChecksSummary = {
      passed: 1,
      failed: 5,
      pending: 0,
      skipped: 0,
      failing: ['lint', 'test', 'build', 'e2e'].map((name) => ({ name, url: null })),
    };
    expect(readinessOf(clean({ checks_state: 'failing', checks })).blockers).toEqual([
      { kind: 'checks_failing', detail: 'lint, test, build and 2 more' },
    ]);
    expect(
      readinessOf(
        clean({ checks_state: 'pending', checks: { ...checks, failed: 0, failing: [], pending: 2 } }),
      ).blockers,
    ).toEqual([{ kind: 'checks_pending', detail: '2 pending' }]);
    expect(readinessOf(clean({ checks_state: 'failing', checks: null })).blockers[0]).toEqual({
      kind: 'checks_failing',
      detail: null,
    });
  });

  it('a host word is cut short: a detail stays a short text', () => {
    const long = 'x'.repeat(1000);
    const [b] = readinessOf(clean({ merge_state: 'blocked', merge_state_reason: long })).blockers;
    expect(b?.detail?.length).toBe(200);
  });

  it('no checks at all (none) is no blocker; checks not told are unknown, never passing', () => {
    expect(readinessOf(clean({ checks_state: 'none' })).ready).toBe(true);
    expect(readinessOf(clean({ checks_state: null, checks: null }))).toEqual({
      ready: false,
      blockers: [{ kind: 'unknown', detail: 'checks_state' }],
    });
  });

  it('threads: some open blocks; none counted is unknown', () => {
    expect(readinessOf(clean({ unresolved_threads: 3 })).blockers).toEqual([
      { kind: 'unresolved_threads', detail: '3 unresolved' },
    ]);
    expect(readinessOf(clean({ unresolved_threads: null })).blockers).toEqual([
      { kind: 'unknown', detail: 'unresolved_threads' },
    ]);
  });

  it('needs_approval: the host says so; it says not; it cannot say and no approval stands', () => {
    expect(readinessOf(clean({ awaiting_approval: true, approved: true })).blockers).toEqual([
      { kind: 'needs_approval', detail: 'the host requires approval' },
    ]);
    expect(readinessOf(clean({ awaiting_approval: false, approved: false })).ready).toBe(true);
    expect(readinessOf(clean({ awaiting_approval: null, approved: false })).blockers).toEqual([
      { kind: 'needs_approval', detail: 'no standing approval' },
    ]);
    expect(readinessOf(clean({ awaiting_approval: null, approved: null })).ready).toBe(false);
    expect(readinessOf(clean({ awaiting_approval: null, approved: true })).ready).toBe(true);
  });

  it('blocked only when no earlier blocker explains it, with the host word', () => {
    expect(readinessOf(clean({ merge_state: 'blocked', merge_state_reason: 'BLOCKED' })).blockers).toEqual([
      { kind: 'blocked', detail: 'BLOCKED' },
    ]);
    expect(kinds(clean({ merge_state: 'blocked', checks_state: 'pending' }))).toEqual(['checks_pending']);
    expect(kinds(clean({ merge_state: 'blocked', awaiting_approval: true }))).toEqual(['needs_approval']);
    expect(kinds(clean({ merge_state: 'blocked', changes_requested: true }))).toEqual(['changes_requested']);
    expect(kinds(clean({ merge_state: 'blocked', unresolved_threads: 1 }))).toEqual(['unresolved_threads']);
  });

  it('an unknown or untold merge state is unknown, with the host word where it gives one', () => {
    expect(readinessOf(clean({ merge_state: 'unknown', merge_state_reason: 'UNKNOWN' })).blockers).toEqual([
      { kind: 'unknown', detail: 'UNKNOWN' },
    ]);
    expect(readinessOf(clean({ merge_state: null })).blockers).toEqual([
      { kind: 'unknown', detail: 'merge_state' },
    ]);
    expect(
      readinessOf(
        clean({
          merge_state: 'unknown',
          merge_state_reason: null,
          checks_state: null,
          unresolved_threads: null,
        }),
      ).blockers,
    ).toEqual([{ kind: 'unknown', detail: 'merge_state, checks_state, unresolved_threads' }]);
  });

  it('unknown comes last and does not hide what is known', () => {
    expect(
      kinds(clean({ merge_state: 'unknown', checks_state: 'failing', awaiting_approval: null })),
    ).toEqual(['checks_failing', 'needs_approval', 'unknown']);
  });
});
