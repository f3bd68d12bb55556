import {
  type ChecksState,
  type ChecksSummary,
  type FailingCheck,
  MAX_FAILING_CHECKS,
} from '../core/types.ts';

/** One check of a head commit in gitsync's words; each provider maps its host's states to these. */
export type CheckOutcome = 'passed' | 'failed' | 'pending' | 'skipped';

export interface CheckResult {
  name: string;
  url: string | null;
  outcome: CheckOutcome;
}

/**
 * The head commit's checks as `checks_state` and `checks` (SPEC §6.1), the one rule for every
 * host: any failed → failing; else any pending → pending; else passing when something passed or
 * was skipped; none without checks. Failing names are sorted and bounded (`MAX_FAILING_CHECKS`),
 * so an unchanged set compares equal however the host orders it.
 */
export function summarizeChecks(results: readonly CheckResult[]): {
  checks_state: ChecksState;
  checks: ChecksSummary;
} {
  const checks: ChecksSummary = { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] };
  const failing: FailingCheck[] = [];
  for (const r of results) {
    checks[r.outcome]++;
    if (r.outcome === 'failed') failing.push({ name: r.name, url: r.url });
  }
  checks.failing = failing
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, MAX_FAILING_CHECKS);
  const checks_state: ChecksState =
    checks.failed > 0
      ? 'failing'
      : checks.pending > 0
        ? 'pending'
        : checks.passed + checks.skipped > 0
          ? 'passing'
          : 'none';
  return { checks_state, checks };
}

/** What a PR's checks are before the host has said anything about them (a host without checks). */
export const NO_CHECKS = { checks_state: null, checks: null } as const;
