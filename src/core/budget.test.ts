import { describe, expect, it } from 'vitest';
import { budgetVerdict, MAX_STRETCH } from './budget.ts';
import { addMs } from './clock.ts';
import { DEFAULT_WORKER_SETTINGS, nextCheckAfterSuccess } from './schedule.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const view = (over: Partial<Parameters<typeof budgetVerdict>[0]> = {}) => ({
  limit: 5000,
  remaining: 5000,
  reset_at: addMs(NOW, 3_600_000),
  paused_until: null,
  used_recent: 0,
  ...over,
});

describe('budgetVerdict', () => {
  it('holds nothing back while the share lasts at the current pace', () => {
    expect(budgetVerdict(view({ remaining: 4000, used_recent: 100 }), 0.5, NOW)).toEqual({
      paused_until: null,
      share_spent: false,
      stretch: 1,
      stretch_until: null,
    });
  });

  it('stretches next checks by how much faster than the share allows gitsync spends', () => {
    // 1,000 units of headroom left (3,500 − 2,500 kept for the owner), an hour to the reset, and
    // a pace of 600 units per 5 minutes: 7,200 planned, 7.2 times too many.
    const v = budgetVerdict(view({ remaining: 3500, used_recent: 600 }), 0.5, NOW);
    expect(v.paused_until).toBeNull();
    expect(v.stretch).toBeCloseTo(7.2, 5);
    // Until the reset: the window is whole again then.
    expect(v.stretch_until).toEqual(addMs(NOW, 3_600_000));
    // A host that does not say when: an hour, as the pace was planned.
    expect(
      budgetVerdict(view({ remaining: 3500, used_recent: 600, reset_at: null }), 0.5, NOW).stretch_until,
    ).toEqual(addMs(NOW, 3_600_000));
  });

  it('a stretched next check is never put past the budget’s reset, nor sooner than unstretched', () => {
    const s = DEFAULT_WORKER_SETTINGS;
    const open = { pull_request_state: 'open', merge_state: 'clean' } as const;
    const merged = { pull_request_state: 'merged', merge_state: null } as const;
    const reset = addMs(NOW, 10 * 60_000);
    // 64 × 120 s is over two hours; the budget is whole again in ten minutes.
    expect(nextCheckAfterSuccess(open, NOW, s, NOW, { factor: 64, until: reset })).toEqual(reset);
    expect(nextCheckAfterSuccess(open, NOW, s, NOW, { factor: 2, until: reset })).toEqual(
      addMs(NOW, 2 * s.fresh_ttl_ms),
    );
    // A settled PR's usual wait is past the reset already: it is not brought forward.
    expect(nextCheckAfterSuccess(merged, NOW, s, NOW, { factor: 64, until: reset })).toEqual(
      addMs(NOW, s.settled_ttl_ms),
    );
    // No known end: a day at most.
    expect(nextCheckAfterSuccess(merged, NOW, s, NOW, { factor: 64, until: null })).toEqual(
      addMs(NOW, 86_400_000),
    );
  });

  it('stops until the reset once only the owner’s part is left, instead of running into the limit', () => {
    const v = budgetVerdict(view({ remaining: 2400, used_recent: 600 }), 0.5, NOW);
    expect(v).toEqual({
      paused_until: addMs(NOW, 3_600_000),
      share_spent: true,
      stretch: MAX_STRETCH,
      stretch_until: addMs(NOW, 3_600_000),
    });
    // Nothing left at all is the host's limit, whoever spent it.
    expect(budgetVerdict(view({ remaining: 0 }), 0.5, NOW)).toMatchObject({ share_spent: false });
    // A service token may use 90 %.
    expect(budgetVerdict(view({ remaining: 2400 }), 0.9, NOW).paused_until).toBeNull();
  });

  it('a pause seen by any replica stands; a window renewed since, or no numbers, hold nothing back', () => {
    const until = addMs(NOW, 60_000);
    expect(budgetVerdict(view({ paused_until: until }), 0.5, NOW).paused_until).toEqual(until);
    expect(budgetVerdict(view({ remaining: 0, reset_at: addMs(NOW, -1) }), 0.5, NOW).stretch).toBe(1);
    expect(budgetVerdict(view({ limit: null, remaining: null }), 0.5, NOW).stretch).toBe(1);
  });
});
