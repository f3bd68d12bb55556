import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';

const REPO = 'https://fake.test/acme/app';
const PER_MINUTE = DEFAULT_WORKER_SETTINGS.refresh_now_per_minute;

/** POST /api/v1/chats/{id}/diff-status/refresh, limited per chat owner (worker.refresh_now_per_minute). */
describe('refresh now is limited per owner', () => {
  let s: ServiceHarness;
  beforeEach(async () => {
    s = await createServiceHarness();
  });
  afterEach(() => s.close());

  const trackedChat = async (owner: string, token: string) => {
    const chat = randomUUID();
    expect((await s.call('PUT', `/api/v1/chats/${chat}`, { body: { owner_id: owner } })).status).toBe(201);
    await s.call('PUT', `/api/v1/owners/${owner}/tokens/fake`, { body: { token } });
    await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin: REPO, branch: 'feature' } });
    return chat;
  };
  const hostCalls = () => s.host.calls.find + s.host.calls.fetch;

  it(`${PER_MINUTE} a minute, then 429 rate_limited with Retry-After, without asking the host`, async () => {
    s.host.openPull('acme/app', { head_branch: 'feature' });
    const chat = await trackedChat(s.owner, 'tok');
    const refresh = (key?: string) =>
      s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`, key ? { key } : {});
    for (let i = 0; i < PER_MINUTE; i++) expect((await refresh(s.ownerKey)).status).toBe(200);

    const before = hostCalls();
    const limited = await refresh(s.ownerKey);
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({
      error: { code: 'rate_limited', message: expect.stringMatching(/limited to 30 a minute per owner/) },
    });
    // One call comes back every 60 / 30 = 2 seconds.
    expect(limited.headers.get('retry-after')).toBe('2');
    // The admin key spends the chat owner's allowance too.
    expect((await refresh()).status).toBe(429);
    expect(hostCalls()).toBe(before);

    // Another owner's allowance is its own.
    const theirs = await trackedChat(randomUUID(), 'tok2');
    expect((await s.call('POST', `/api/v1/chats/${theirs}/diff-status/refresh`)).status).toBe(200);

    s.clock.advance(2_000);
    expect((await refresh(s.ownerKey)).status).toBe(200);
    expect((await refresh(s.ownerKey)).status).toBe(429);
  });

  it('0 a minute turns asking the host now off: 429 for refresh and feedback, the host never asked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitsync-config-'));
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify({ worker: { refresh_now_per_minute: 0 } }));
    const off = await createServiceHarness({ env: { GITSYNC_CONFIG: path } });
    try {
      off.host.openPull('acme/app', { head_branch: 'feature' });
      const chat = randomUUID();
      await off.call('PUT', `/api/v1/chats/${chat}`, { body: { owner_id: off.owner } });
      await off.call('PUT', `/api/v1/owners/${off.owner}/tokens/fake`, { body: { token: 'tok' } });
      await off.call('POST', '/api/v1/git-refs', {
        body: { chat_id: chat, origin: REPO, branch: 'feature' },
      });
      const before = off.host.calls.find + off.host.calls.fetch;
      const refresh = await off.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`);
      expect(refresh.status, JSON.stringify(refresh.json)).toBe(429);
      expect(refresh.json).toMatchObject({
        error: { code: 'rate_limited', message: expect.stringMatching(/off/) },
      });
      expect(off.host.calls.find + off.host.calls.fetch).toBe(before);
      // The worker's schedule still reads the host; feedback on the PR it found is off too.
      await off.engine.tick();
      expect((await off.call('GET', `/api/v1/chats/${chat}`)).json.diff_status.pull_request_state).toBe(
        'open',
      );
      const afterTick = off.host.calls.find + off.host.calls.fetch;
      const feedback = await off.call('GET', `/api/v1/chats/${chat}/feedback`);
      expect(feedback.status).toBe(429);
      expect(off.host.calls.find + off.host.calls.fetch).toBe(afterTick);
    } finally {
      await off.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown ref or chat spends nothing', async () => {
    const chat = await trackedChat(s.owner, 'tok');
    for (let i = 0; i < PER_MINUTE + 5; i++) {
      const r = await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {
        key: s.ownerKey,
        body: { branch: 'unknown' },
      });
      expect(r.status).toBe(404);
    }
    expect(
      (await s.call('POST', `/api/v1/chats/${chat}/diff-status/refresh`, { key: s.ownerKey })).status,
    ).toBe(200);
  });
});
