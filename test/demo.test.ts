import { describe, expect, it } from 'vitest';
import { startGitsync } from './helpers/processes.ts';
import { SseClient } from './helpers/sse.ts';
import { waitFor } from './helpers/wait.ts';

interface Status {
  git_branch: string;
  url: string | null;
  pull_request_state: string | null;
  ready: boolean | null;
  blockers: { kind: string; detail: string | null }[];
}

const has = (kind: string) => (s: Status) => s.blockers.some((b) => b.kind === kind);
const isReady = (s: Status) => s.ready === true;

describe('gitsync demo', () => {
  it('runs CI and reviews on its hosts, and its agents follow their PRs to ready through POST /mcp', async () => {
    // Five times the default pace: the story below takes seconds, not a minute.
    const demo = await startGitsync(['demo', '--pace', '0.2'], { GITSYNC_PORT: '0' });
    try {
      const key = /API key:\s+(\S+)/.exec(demo.stdout())?.[1];
      expect(key).toBeDefined();
      expect(demo.stdout()).toMatch(/dashboard: http:\/\/127\.0\.0\.1:\d+\/#key=/);
      // GitHub through a GitHub App's installation, no personal token.
      expect(demo.stdout()).toMatch(/GitHub is read through GitHub App \d+ installed on acme/);
      const page = await fetch(`${demo.url}/`);
      expect(page.status).toBe(200);
      const stream = await SseClient.open(`${demo.url}/api/v1/events`, { authorization: `Bearer ${key}` });
      try {
        // What gitsync published of one branch's PR, in order (the dashboard shows the same).
        const statuses = (branch: string): Status[] =>
          stream.events
            .filter((e) => e.event === 'diff_status_change')
            .map((e) => JSON.parse(e.data).changed_diff_status as Status)
            .filter((s) => s.git_branch === branch && s.pull_request_state !== null);
        const inOrder = (branch: string, steps: ((s: Status) => boolean)[]) => {
          let i = 0;
          for (const s of statuses(branch)) if (i < steps.length && steps[i]!(s)) i++;
          return i === steps.length;
        };
        const seen = (branch: string) =>
          statuses(branch)
            .map((s) => (s.ready ? 'ready' : s.blockers.map((b) => b.kind).join('+')))
            .join(' → ');
        const throughCi = (branch: string) =>
          waitFor(
            () => inOrder(branch, [has('checks_pending'), has('checks_failing'), isReady]),
            90_000,
            `${branch} going checks_pending → checks_failing → ready`,
          ).catch((error) => {
            throw new Error(`${(error as Error).message}; seen: ${seen(branch)}`);
          });

        // GitHub: CI fails on the PR's first head, the agent reads why and pushes a fix, CI
        // passes, a collaborator approves: the PR turns ready (and is merged after).
        await throughCi('agent/flaky-ci-1');
        const flaky = statuses('agent/flaky-ci-1');
        expect(flaky[0]!.url).toMatch(/\/acme\/webapp\/pull\/\d+$/);
        // Before the approval, the host's approval rule held it.
        expect(flaky.some(has('needs_approval'))).toBe(true);
        // GitLab: the MR's pipeline fails, then passes; a review thread is resolved; approved.
        await throughCi('agent/orders-pagination-1');
        const orders = statuses('agent/orders-pagination-1');
        expect(orders[0]!.url).toMatch(/\/-\/merge_requests\/\d+$/);
        expect(orders.some(has('unresolved_threads'))).toBe(true);

        // The agent's side: every step of its loop was a tool call over POST /mcp, and what it
        // printed is what the tools answered.
        const agent = (what: string) => `agent "Fix the flaky CI job": ${what}`;
        // (Whether a wait sees the checks pending before they fail depends on how fast the
        // machine is: CI may have failed already when the agent's first wait answers.)
        const loop = [
          agent('pushed agent/flaky-ci-1, report_push'),
          agent('wait_for_pr_change → PR #N checks_failing (test)'),
          agent('pr_feedback → failing check test: "1 test failed"'),
          agent('pushed agent/flaky-ci-1, report_push'),
          agent('pr_status → PR #N ready'),
        ];
        const lines = () =>
          demo
            .stdout()
            .split('\n')
            .map((l) => l.trim().replace(/#\d+/, '#N'));
        await waitFor(
          () => {
            let i = 0;
            for (const line of lines()) if (i < loop.length && line.startsWith(loop[i]!)) i++;
            return i === loop.length;
          },
          30_000,
          "the flaky-CI agent's MCP loop in the demo's output",
        ).catch((error) => {
          throw new Error(`${(error as Error).message}:\n${demo.stdout()}`);
        });
      } finally {
        await stream.close();
      }
    } finally {
      expect(await demo.stop('SIGINT')).toBe(0);
    }
    expect(demo.stdout()).toContain('demo stopped');
    const calls = /the agents made (\d+) MCP tool calls \((.*)\)/.exec(demo.stdout());
    expect(calls).not.toBeNull();
    for (const tool of ['report_push', 'wait_for_pr_change', 'pr_feedback', 'pr_status'])
      expect(calls![2]).toMatch(new RegExp(`${tool} [1-9]`));
  }, 180_000);
});
