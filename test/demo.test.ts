import { describe, expect, it } from 'vitest';
import { startGitsync } from './helpers/processes.ts';
import { SseClient } from './helpers/sse.ts';

describe('gitsync demo', () => {
  it('starts offline, produces PR status changes, and stops cleanly on SIGINT', async () => {
    const demo = await startGitsync(['demo'], { GITSYNC_PORT: '0' });
    try {
      const key = /API key:\s+(\S+)/.exec(demo.stdout())?.[1];
      expect(key).toBeDefined();
      expect(demo.stdout()).toMatch(/dashboard: http:\/\/127\.0\.0\.1:\d+\/#key=/);
      const page = await fetch(`${demo.url}/`);
      expect(page.status).toBe(200);
      const stream = await SseClient.open(`${demo.url}/api/v1/events`, { authorization: `Bearer ${key}` });
      try {
        // The demo's agents push to its GitHub and GitLab emulators: a PR of each shows up.
        const found = (pattern: RegExp) =>
          stream.waitFor((e) => {
            if (e.event !== 'diff_status_change') return false;
            const status = JSON.parse(e.data).changed_diff_status;
            return status.pull_request_state !== null && pattern.test(status.url ?? '');
          }, 45_000);
        await found(/\/acme\/webapp\/pull\/\d+$/);
        await found(/\/-\/merge_requests\/\d+$/);
      } finally {
        await stream.close();
      }
    } finally {
      expect(await demo.stop('SIGINT')).toBe(0);
    }
    expect(demo.stdout()).toContain('demo stopped');
  }, 90_000);
});
