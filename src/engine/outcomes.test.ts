import { describe, expect, it } from 'vitest';
import { addMs } from '../core/clock.ts';
import { DEFAULT_WORKER_SETTINGS } from '../core/schedule.ts';
import { emptyPrFields } from '../core/types.ts';
import type { ClaimedRef } from '../store/store.ts';
import { planWrite } from './outcomes.ts';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const settings = DEFAULT_WORKER_SETTINGS;

/** A row reported long ago (outside the no-PR window), as a claim or a plain read returns it. */
const row = (lease_until: Date | null, stale_at = lease_until ?? addMs(NOW, -1000)): ClaimedRef => ({
  id: '1',
  owner_id: '00000000-0000-4000-8000-000000000000',
  chat_id: '00000000-0000-4000-8000-000000000001',
  git_remote_origin: 'https://fake.test/acme/app',
  git_branch: 'feature',
  provider_id: 'fake',
  signal_at: null,
  ...emptyPrFields(),
  refreshed_at: null,
  stale_at,
  created_at: addMs(NOW, -3_600_000),
  updated_at: addMs(NOW, -3_600_000),
  last_error: null,
  last_error_at: null,
  error_count: 0,
  paused_until: null,
  pr_changed_at: null,
  previous_prs: [],
  ready: null,
  blockers: [{ kind: 'unknown', detail: null }],
  lease_until,
});

describe('planWrite and the claim lease', () => {
  it('a claimed row carries its lease, so a report landing mid-refresh keeps its due-now', () => {
    const lease = addMs(NOW, settings.lease_ms);
    const write = planWrite(row(lease), { kind: 'stale_pr' }, NOW, settings);
    expect(write.lease_until).toEqual(lease);
  });

  it('"no PR" outside the window: the lease stands as the retry interval, whatever stale_at says', () => {
    const lease = addMs(NOW, settings.lease_ms);
    expect(planWrite(row(lease), { kind: 'no_pr' }, NOW, settings).stale_at).toEqual(lease);
    // The lease, not a stale_at the caller may have read before the claim moved it.
    expect(planWrite(row(lease, addMs(NOW, -5000)), { kind: 'no_pr' }, NOW, settings).stale_at).toEqual(
      lease,
    );
  });

  it('a row read without a claim is written unconditionally and keeps its own stale_at', () => {
    const read = row(null);
    const write = planWrite(read, { kind: 'no_pr' }, NOW, settings);
    expect(write.lease_until).toBeNull();
    expect(write.stale_at).toEqual(read.stale_at);
  });
});

describe('planWrite and merge readiness', () => {
  it('a read that finds no PR is recorded (ready: null → no_pr), never published (SPEC §3)', () => {
    const first = planWrite(row(addMs(NOW, settings.lease_ms)), { kind: 'no_pr' }, NOW, settings);
    expect(first.refreshed_at).toEqual(NOW);
    expect(first.publish).toBe(false);
    const again = planWrite(
      { ...row(addMs(NOW, settings.lease_ms)), refreshed_at: addMs(NOW, -60_000) },
      { kind: 'no_pr' },
      NOW,
      settings,
    );
    expect(again.refreshed_at).toEqual(NOW);
    expect(again.publish).toBe(false);
  });
});

describe('planWrite and list fields', () => {
  const pr = (requested: { kind: 'user' | 'team'; name: string }[]) => ({
    url: 'https://fake.test/acme/app/pull/1',
    pull_request_state: 'open' as const,
    pull_request_title: 'PR',
    pull_request_draft: false,
    changes_requested: false,
    approved: false,
    reviewer_count: 0,
    additions: 1,
    deletions: 0,
    changed_files: 1,
    commits: 1,
    pr_number: 1,
    author_login: 'agent',
    author_avatar_url: null,
    base_branch: 'main',
    head_branch: 'feature',
    requested_reviewers: requested,
    head_sha: 'a'.repeat(40),
    checks_state: 'failing' as const,
    checks: { passed: 1, failed: 1, pending: 0, skipped: 0, failing: [{ name: 'lint', url: null }] },
    merge_state: 'clean' as const,
    merge_state_reason: 'CLEAN',
    awaiting_approval: false,
    unresolved_threads: 0,
    comments: 2,
  });
  const known = (requested: { kind: 'user' | 'team'; name: string }[]): ClaimedRef => ({
    ...row(addMs(NOW, settings.lease_ms)),
    ...pr(requested),
    refreshed_at: addMs(NOW, -120_000),
    pr_changed_at: addMs(NOW, -120_000),
  });

  it('an equal requested_reviewers list (a new array, as every read gives) is no change', () => {
    const list = [
      { kind: 'user' as const, name: 'alice' },
      { kind: 'team' as const, name: 'acme/core' },
    ];
    const write = planWrite(known(list), { kind: 'updated', pr: pr(structuredClone(list)) }, NOW, settings);
    expect(write.publish).toBe(false);
    expect(write.pr_changed_at).toEqual(addMs(NOW, -120_000));
  });

  it('a reviewer added, removed or renamed is a change', () => {
    const alice = { kind: 'user' as const, name: 'alice' };
    const bob = { kind: 'user' as const, name: 'bob' };
    const changed = (from: (typeof alice)[], to: (typeof alice)[]) =>
      planWrite(known(from), { kind: 'updated', pr: pr(to) }, NOW, settings).publish;
    expect(changed([alice], [alice, bob])).toBe(true);
    expect(changed([alice, bob], [alice])).toBe(true);
    expect(changed([alice], [bob])).toBe(true);
    expect(changed([alice], [{ kind: 'team', name: 'alice' } as unknown as typeof alice])).toBe(true);
    expect(changed([], [])).toBe(false);
  });
});

describe('planWrite and the PRs of a ref', () => {
  const at = (n: number, state: 'open' | 'merged' | 'closed') => ({
    url: `https://fake.test/acme/app/pull/${n}`,
    pr_number: n,
    pull_request_state: state,
  });
  const following = (
    n: number,
    state: 'open' | 'merged' | 'closed',
    previous = [] as ReturnType<typeof at>[],
  ) => ({
    ...row(addMs(NOW, settings.lease_ms)),
    ...at(n, state),
    head_branch: 'feature',
    previous_prs: previous,
  });
  const found = (n: number, state: 'open' | 'merged' | 'closed') => ({
    ...emptyPrFields(),
    ...at(n, state),
    pull_request_title: `PR ${n}`,
    pull_request_draft: false,
    changes_requested: false,
    approved: false,
    reviewer_count: 0,
    base_branch: 'main',
    head_branch: 'feature',
    requested_reviewers: [],
  });

  it('a new PR after a merged one keeps the merged one first in the history, and publishes', () => {
    const write = planWrite(following(1, 'merged'), { kind: 'updated', pr: found(2, 'open') }, NOW, settings);
    expect(write.previous_prs).toEqual([at(1, 'merged')]);
    expect(write.publish).toBe(true);
  });

  it('the same PR read again leaves the history alone', () => {
    const write = planWrite(
      following(2, 'open', [at(1, 'merged')]),
      { kind: 'updated', pr: found(2, 'open') },
      NOW,
      settings,
    );
    expect(write.previous_prs).toEqual([at(1, 'merged')]);
  });

  it('a PR the ref comes back to leaves the history; the history is bounded', () => {
    const back = planWrite(
      following(2, 'closed', [at(1, 'merged')]),
      { kind: 'updated', pr: found(1, 'merged') },
      NOW,
      settings,
    );
    expect(back.previous_prs).toEqual([at(2, 'closed')]);
    const long = Array.from({ length: 40 }, (_, i) => at(100 + i, 'closed'));
    const bounded = planWrite(
      following(2, 'merged', long),
      { kind: 'updated', pr: found(3, 'open') },
      NOW,
      settings,
    );
    expect(bounded.previous_prs).toHaveLength(20);
    expect(bounded.previous_prs[0]).toEqual(at(2, 'merged'));
  });

  it('a PR that is gone (stale) joins the history', () => {
    const write = planWrite(following(4, 'open'), { kind: 'stale_pr' }, NOW, settings);
    expect(write.previous_prs).toEqual([at(4, 'open')]);
  });

  it('an open PR whose mergeability is still being computed is asked again soon', () => {
    const pr = { ...found(2, 'open'), merge_state: 'unknown' as const };
    const write = planWrite(following(2, 'open'), { kind: 'updated', pr }, NOW, settings);
    expect(write.stale_at).toEqual(addMs(NOW, settings.merge_unknown_ttl_ms));
    const settled = planWrite(
      following(2, 'open'),
      { kind: 'updated', pr: { ...pr, merge_state: 'clean' } },
      NOW,
      settings,
    );
    expect(settled.stale_at).toEqual(addMs(NOW, settings.fresh_ttl_ms));
  });
});
