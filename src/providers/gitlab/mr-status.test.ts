import { describe, expect, it } from 'vitest';
import { summarizeChecks } from '../checks.ts';
import { jobOutcome, mergeState, pipelineChecks, pipelineOutcome, unresolvedThreads } from './mr-status.ts';

const absolute = (path: string | null) => (path ? `https://gl.example${path}` : null);
const job = (name: string, status: string, allowFailure = false) => ({
  name,
  status,
  allowFailure,
  webPath: `/g/r/-/jobs/${name}`,
});

describe('GitLab CI and mergeability words', () => {
  it('maps every job status, counting a job allowed to fail, or optional and manual, as skipped', () => {
    const table: [string, boolean, string][] = [
      ['SUCCESS', false, 'passed'],
      ['FAILED', false, 'failed'],
      ['FAILED', true, 'skipped'],
      ['CANCELED', false, 'failed'],
      ['CANCELED', true, 'skipped'],
      ['SKIPPED', false, 'skipped'],
      ['MANUAL', true, 'skipped'],
      ['MANUAL', false, 'pending'],
      ['CREATED', false, 'pending'],
      ['WAITING_FOR_RESOURCE', false, 'pending'],
      ['PREPARING', false, 'pending'],
      ['WAITING_FOR_CALLBACK', false, 'pending'],
      ['PENDING', false, 'pending'],
      ['RUNNING', false, 'pending'],
      ['CANCELING', false, 'pending'],
      ['SCHEDULED', false, 'pending'],
      ['SOMETHING_NEW', false, 'pending'],
      ['success', false, 'passed'],
    ];
    for (const [status, allow, outcome] of table) expect(jobOutcome(status, allow), status).toBe(outcome);
    expect(pipelineOutcome('SUCCESS')).toBe('passed');
    expect(pipelineOutcome('CANCELED')).toBe('failed');
    expect(pipelineOutcome('MANUAL')).toBe('pending');
    expect(pipelineOutcome('SKIPPED')).toBe('skipped');
  });

  it('counts the jobs read; adds the pipeline itself only where the jobs cannot show its verdict', () => {
    expect(pipelineChecks(null, absolute)).toEqual([]);
    const jobs = pipelineChecks(
      {
        status: 'FAILED',
        path: '/g/r/-/pipelines/1',
        jobs: {
          pageInfo: { hasNextPage: false },
          nodes: [job('lint', 'SUCCESS'), job('test', 'FAILED'), null],
        },
      },
      absolute,
    );
    expect(summarizeChecks(jobs)).toEqual({
      checks_state: 'failing',
      checks: {
        passed: 1,
        failed: 1,
        pending: 0,
        skipped: 0,
        failing: [{ name: 'test', url: 'https://gl.example/g/r/-/jobs/test' }],
      },
    });
    // A pipeline that failed before any job existed (a YAML error).
    expect(
      pipelineChecks({ status: 'FAILED', path: '/g/r/-/pipelines/2', jobs: { nodes: [] } }, absolute),
    ).toEqual([{ name: 'pipeline', url: 'https://gl.example/g/r/-/pipelines/2', outcome: 'failed' }]);
    // More jobs than a page: the failed one was not read, the pipeline's verdict stands.
    const paged = pipelineChecks(
      {
        status: 'FAILED',
        path: '/p',
        jobs: { pageInfo: { hasNextPage: true }, nodes: [job('a', 'SUCCESS')] },
      },
      absolute,
    );
    expect(summarizeChecks(paged).checks_state).toBe('failing');
    expect(paged.map((c) => c.name)).toEqual(['a', 'pipeline']);
    // …but not when a job read already shows it.
    const shown = pipelineChecks(
      {
        status: 'RUNNING',
        path: '/p',
        jobs: { pageInfo: { hasNextPage: true }, nodes: [job('a', 'RUNNING')] },
      },
      absolute,
    );
    expect(shown.map((c) => c.name)).toEqual(['a']);
    // All jobs read: they are the answer, whatever the pipeline says.
    const whole = pipelineChecks(
      {
        status: 'SUCCESS',
        path: '/p',
        jobs: { pageInfo: { hasNextPage: false }, nodes: [job('a', 'FAILED', true)] },
      },
      absolute,
    );
    expect(summarizeChecks(whole)).toMatchObject({
      checks_state: 'passing',
      checks: { skipped: 1, failed: 0 },
    });
  });

  it('maps detailed merge statuses: not computed is unknown, a draft is draft, anything else blocks', () => {
    const table: [string, string][] = [
      ['UNCHECKED', 'unknown'],
      ['CHECKING', 'unknown'],
      ['PREPARING', 'unknown'],
      ['APPROVALS_SYNCING', 'unknown'],
      ['MERGEABLE', 'clean'],
      ['CONFLICT', 'conflicting'],
      ['NEED_REBASE', 'behind'],
      ['DRAFT_STATUS', 'draft'],
      ['NOT_APPROVED', 'blocked'],
      ['DISCUSSIONS_NOT_RESOLVED', 'blocked'],
      ['CI_MUST_PASS', 'blocked'],
      ['CI_STILL_RUNNING', 'blocked'],
      ['REQUESTED_CHANGES', 'blocked'],
      ['BLOCKED_STATUS', 'blocked'],
      ['MERGE_REQUEST_BLOCKED', 'blocked'],
      ['EXTERNAL_STATUS_CHECKS', 'blocked'],
      ['STATUS_CHECKS_MUST_PASS', 'blocked'],
      ['JIRA_ASSOCIATION_MISSING', 'blocked'],
      ['SECURITY_POLICY_VIOLATIONS', 'blocked'],
      ['MERGE_TIME', 'blocked'],
      ['LOCKED_PATHS', 'blocked'],
      ['LOCKED_LFS_FILES', 'blocked'],
      ['COMMITS_STATUS', 'blocked'],
      ['TITLE_REGEX', 'blocked'],
      ['NOT_OPEN', 'blocked'],
      ['need_rebase', 'behind'],
    ];
    for (const [raw, state] of table) expect(mergeState(raw, false, 'open'), raw).toBe(state);
    // A draft is a draft whichever check GitLab reports first; nothing known stays null.
    expect(mergeState('CONFLICT', true, 'open')).toBe('draft');
    expect(mergeState('UNCHECKED', true, 'open')).toBe('draft');
    // Only an open MR has a merge state.
    expect(mergeState('NOT_OPEN', true, 'merged')).toBeNull();
    expect(mergeState('MERGEABLE', false, 'closed')).toBeNull();
    expect(mergeState(null, false, 'open')).toBeNull();
  });

  it('counts open threads from GitLab’s two discussion counts, null unless it gives both', () => {
    expect(unresolvedThreads(5, 3)).toBe(2);
    expect(unresolvedThreads(0, 0)).toBe(0);
    expect(unresolvedThreads(2, 3)).toBe(0);
    expect(unresolvedThreads(null, 0)).toBeNull();
    expect(unresolvedThreads(3, undefined)).toBeNull();
  });
});
