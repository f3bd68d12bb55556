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
        const change = await stream.waitFor(
          (e) =>
            e.event === 'diff_status_change' &&
            JSON.parse(e.data).changed_diff_status.pull_request_state !== null,
          45_000,
        );
        expect(JSON.parse(change.data).changed_diff_status.url).toMatch(/\/acme\/webapp\/pull\/\d+$/);
      } finally {
        await stream.close();
      }
    } finally {
      expect(await demo.stop('SIGINT')).toBe(0);
    }
    expect(demo.stdout()).toContain('demo stopped');
  }, 90_000);
});
