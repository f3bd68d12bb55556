import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addMs } from '../src/core/clock.ts';
import { RateLimitedError, UnavailableError } from '../src/core/errors.ts';
import { PR_FIELD_NAMES, type RequestedReviewer } from '../src/core/types.ts';
import { FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { DATABASE_KINDS } from './helpers/databases.ts';
import { createEngineHarness, type EngineHarness, REPO } from './helpers/engine-harness.ts';
import { waitFor } from './helpers/wait.ts';

describe.each(DATABASE_KINDS)('engine on %s', (kind) => {
  let h: EngineHarness;
  beforeEach(async () => {
    h = await createEngineHarness(kind);
  });
  afterEach(async () => {
    await h.engine.stop();
    await h.drop();
  });

  const diffEvents = () => h.events.filter((e) => e.kind === 'diff_status_change');

  describe('claim', () => {
    it('skips fresh rows', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      expect((await h.engine.tick()).claimed).toBe(1);
      h.clock.advance(h.settings.fresh_ttl_ms - 1);
      expect((await h.engine.tick()).claimed).toBe(0);
      h.clock.advance(1);
      expect((await h.engine.tick()).claimed).toBe(1);
      expect((await h.ref(chat)).refreshed_at).toEqual(h.clock.now());
    });

    it('honours the batch limit', async () => {
      const small = await createEngineHarness(kind, { settings: { batch_size: 3 } });
      try {
        for (let i = 0; i < 5; i++) await small.trackedChat(`b${i}`);
        expect((await small.engine.tick()).claimed).toBe(3);
        expect((await small.engine.tick()).claimed).toBe(2);
        expect((await small.engine.tick()).claimed).toBe(0);
      } finally {
        await small.drop();
      }
    });

    it('never claims the refs of archived chats, and claims them again once unarchived', async () => {
      const chat = await h.trackedChat('feature');
      await h.store.archiveChat(chat, h.clock.now());
      expect((await h.engine.tick()).claimed).toBe(0);
      await h.store.unarchiveChat(chat, h.clock.now());
      expect((await h.engine.tick()).claimed).toBe(1);
    });
  });

  describe('outcomes', () => {
    it('success writes every field, stale_at = now + TTL exactly, and publishes', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', {
        head_branch: 'feature',
        pull_request_title: 'Add a thing',
        pull_request_draft: true,
        changes_requested: true,
        approved: false,
        reviewer_count: 2,
        additions: 10,
        deletions: 3,
        changed_files: 4,
        commits: 5,
        author_login: 'octo',
        author_avatar_url: 'https://fake.test/octo.png',
        base_branch: 'develop',
      });
      h.events.length = 0;
      h.clock.advance(1000);
      const now = h.clock.now();
      await h.engine.tick();
      const status = await h.ref(chat);
      expect(status).toMatchObject({
        url: 'https://fake.test/acme/app/pull/1',
        pull_request_state: 'open',
        pull_request_title: 'Add a thing',
        pull_request_draft: true,
        changes_requested: true,
        approved: false,
        reviewer_count: 2,
        additions: 10,
        deletions: 3,
        changed_files: 4,
        commits: 5,
        pr_number: 1,
        author_login: 'octo',
        author_avatar_url: 'https://fake.test/octo.png',
        base_branch: 'develop',
        head_branch: 'feature',
        provider_id: 'fake',
        last_error: null,
        error_count: 0,
        paused_until: null,
      });
      expect(status.refreshed_at).toEqual(now);
      expect(status.stale_at).toEqual(addMs(now, h.settings.fresh_ttl_ms));
      const events = diffEvents();
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ chat: { id: chat }, changed_diff_status: { pr_number: 1 } });
    });

    it('a refresh that changes nothing visible publishes nothing', async () => {
      await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick();
      h.events.length = 0;
      h.clock.advance(h.settings.fresh_ttl_ms);
      expect((await h.engine.tick()).outcomes.updated).toBe(1);
      expect(h.events).toEqual([]);
    });

    it('requested reviewers: stored and published when they change, and an unchanged list publishes nothing', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', {
        head_branch: 'feature',
        requested_reviewers: [
          { kind: 'team', name: 'acme/core' },
          { kind: 'user', name: 'zed' },
          { kind: 'user', name: 'Alice' },
        ],
      });
      await h.engine.tick();
      const sorted: RequestedReviewer[] = [
        { kind: 'user', name: 'Alice' },
        { kind: 'user', name: 'zed' },
        { kind: 'team', name: 'acme/core' },
      ];
      expect((await h.ref(chat)).requested_reviewers).toEqual(sorted);
      const changedAt = (await h.store.getRef(chat))!.pr_changed_at;
      // Refreshes of the same list (read back from the database as a new array each time) are no change.
      h.events.length = 0;
      for (let i = 0; i < 3; i++) {
        h.clock.advance(h.settings.fresh_ttl_ms);
        expect((await h.engine.tick()).outcomes.updated).toBe(1);
      }
      expect(h.events).toEqual([]);
      expect((await h.store.getRef(chat))!.pr_changed_at).toEqual(changedAt);
      // Alice reviewed: her request is gone, and that is published.
      h.host.updatePull('acme/app', 1, { requested_reviewers: sorted.slice(1) });
      h.clock.advance(h.settings.fresh_ttl_ms);
      await h.engine.tick();
      expect(diffEvents()).toHaveLength(1);
      expect(diffEvents()[0]).toMatchObject({
        changed_diff_status: { requested_reviewers: sorted.slice(1) },
      });
    });

    it('an open PR that stays unchanged for an hour is checked less often, until it changes again', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick();
      // Unchanged refreshes every TTL for an hour: still the fresh TTL until the hour is up.
      for (let elapsed = 0; elapsed < h.settings.quiet_after_ms; elapsed += h.settings.fresh_ttl_ms) {
        expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), h.settings.fresh_ttl_ms));
        h.clock.set((await h.ref(chat)).stale_at);
        await h.engine.tick();
      }
      expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), h.settings.quiet_ttl_ms));
      h.host.updatePull('acme/app', 1, { additions: 5 });
      h.clock.set((await h.ref(chat)).stale_at);
      await h.engine.tick();
      expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), h.settings.fresh_ttl_ms));
    });

    it('merged and closed PRs are checked less often than open ones', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature', pull_request_state: 'merged' });
      await h.engine.tick();
      expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), h.settings.settled_ttl_ms));
    });

    it('a new PR after a merged one: the ref follows it, keeps the merged one as history, and publishes', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature', pull_request_state: 'merged' });
      await h.engine.tick();
      expect((await h.ref(chat)).previous_prs).toEqual([]);
      // The agent opens a second PR from the same branch.
      h.host.openPull('acme/app', { head_branch: 'feature' });
      h.events.length = 0;
      h.clock.set((await h.ref(chat)).stale_at);
      await h.engine.tick();
      const ref = await h.ref(chat);
      expect(ref).toMatchObject({ pr_number: 2, pull_request_state: 'open' });
      expect(ref.previous_prs).toEqual([
        { url: 'https://fake.test/acme/app/pull/1', pr_number: 1, pull_request_state: 'merged' },
      ]);
      expect(diffEvents()).toHaveLength(1);
      expect(diffEvents()[0]).toMatchObject({
        changed_diff_status: { pr_number: 2, previous_prs: [{ pr_number: 1 }] },
      });
      // An open PR beats a merged one: refreshes stay on #2 and the history does not grow.
      h.clock.set((await h.ref(chat)).stale_at);
      await h.engine.tick();
      expect((await h.ref(chat)).pr_number).toBe(2);
      expect((await h.ref(chat)).previous_prs).toHaveLength(1);
    });

    it('checks, mergeability and threads are stored, and a force-push with new checks publishes the new head', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', {
        head_branch: 'feature',
        head_sha: 'a'.repeat(40),
        checks_state: 'passing',
        checks: { passed: 3, failed: 0, pending: 0, skipped: 1, failing: [] },
        merge_state: 'clean',
        unresolved_threads: 2,
        comments: 5,
      });
      await h.engine.tick();
      expect(await h.ref(chat)).toMatchObject({
        head_sha: 'a'.repeat(40),
        checks_state: 'passing',
        checks: { passed: 3, skipped: 1 },
        merge_state: 'clean',
        unresolved_threads: 2,
        comments: 5,
      });
      h.host.updatePull('acme/app', 1, {
        head_sha: 'b'.repeat(40),
        checks_state: 'pending',
        checks: { passed: 0, failed: 0, pending: 3, skipped: 0, failing: [] },
        merge_state: 'unknown',
      });
      h.events.length = 0;
      h.clock.advance(h.settings.fresh_ttl_ms);
      await h.engine.tick();
      expect(diffEvents()[0]).toMatchObject({
        changed_diff_status: { head_sha: 'b'.repeat(40), checks_state: 'pending', merge_state: 'unknown' },
      });
      // The host is still computing mergeability: asked again soon.
      expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), h.settings.merge_unknown_ttl_ms));
    });

    it('no PR inside the retry window: retried after the no-PR backoff, no event; the ref reads no_pr', async () => {
      const chat = await h.trackedChat('feature');
      expect(await h.ref(chat)).toMatchObject({ ready: null, blockers: [{ kind: 'unknown', detail: null }] });
      h.events.length = 0;
      h.clock.advance(h.settings.no_pr_window_ms - 1);
      await h.engine.tick();
      const status = await h.ref(chat);
      expect(status.stale_at).toEqual(addMs(h.clock.now(), h.settings.no_pr_backoff_ms));
      expect(status.url).toBeNull();
      // Read, so no longer "not read yet": no PR. SPEC §3: no PR yet publishes nothing.
      expect(status).toMatchObject({ ready: false, blockers: [{ kind: 'no_pr', detail: null }] });
      expect(h.events).toEqual([]);
      h.clock.advance(h.settings.no_pr_backoff_ms);
      await h.engine.tick();
      expect(h.events).toEqual([]);
    });

    it('merge readiness rides on every diff status event: ready, then blockers in order', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick();
      expect(diffEvents().at(-1)?.changed_diff_status).toMatchObject({ ready: true, blockers: [] });
      h.host.updatePull('acme/app', 1, {
        checks_state: 'failing',
        checks: { passed: 0, failed: 1, pending: 0, skipped: 0, failing: [{ name: 'lint', url: null }] },
        awaiting_approval: true,
        pull_request_draft: true,
      });
      h.clock.advance(h.settings.fresh_ttl_ms);
      await h.engine.tick();
      const blockers = [
        { kind: 'draft', detail: null },
        { kind: 'checks_failing', detail: 'lint' },
        { kind: 'needs_approval', detail: 'the host requires approval' },
      ];
      expect(diffEvents().at(-1)?.changed_diff_status).toMatchObject({ ready: false, blockers });
      expect(await h.ref(chat)).toMatchObject({ ready: false, blockers });
    });

    it('no PR at exactly the window edge: the claim lease stands as the retry interval', async () => {
      const chat = await h.trackedChat('feature');
      h.clock.advance(h.settings.no_pr_window_ms);
      await h.engine.tick();
      expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), h.settings.lease_ms));
    });

    it('no PR beyond the window: the claim lease stands as the retry interval', async () => {
      const chat = await h.trackedChat('feature');
      h.clock.advance(h.settings.no_pr_window_ms + 60_000);
      await h.engine.tick();
      expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), h.settings.lease_ms));
    });

    it('a refresher error backs off 120 s and records the error; a later success clears it', async () => {
      const chat = await h.trackedChat('feature');
      h.host.failWith = () => new UnavailableError('fake: 502 bad gateway');
      h.events.length = 0;
      await h.engine.tick();
      let status = await h.ref(chat);
      expect(status.stale_at).toEqual(addMs(h.clock.now(), h.settings.error_backoff_ms));
      expect(status).toMatchObject({ last_error: 'fake: 502 bad gateway', error_count: 1 });
      expect(status.last_error_at).toEqual(h.clock.now());
      expect(diffEvents()).toHaveLength(1);
      // The same error again is not a visible change; the next wait is twice as long.
      h.clock.advance(h.settings.error_backoff_ms);
      await h.engine.tick();
      expect((await h.ref(chat)).error_count).toBe(2);
      expect((await h.ref(chat)).stale_at).toEqual(addMs(h.clock.now(), 2 * h.settings.error_backoff_ms));
      expect(diffEvents()).toHaveLength(1);
      h.host.failWith = undefined;
      h.host.openPull('acme/app', { head_branch: 'feature' });
      h.clock.advance(2 * h.settings.error_backoff_ms);
      await h.engine.tick();
      status = await h.ref(chat);
      expect(status).toMatchObject({ last_error: null, last_error_at: null, error_count: 0, pr_number: 1 });
    });

    it('a ref that keeps failing backs off exponentially up to an hour; a report brings it back at once', async () => {
      const chat = await h.trackedChat('feature');
      h.host.failWith = () => new UnavailableError('fake: 422 unprocessable');
      const waits: number[] = [];
      for (let i = 0; i < 8; i++) {
        await h.engine.tick();
        const due = (await h.ref(chat)).stale_at.getTime() - h.clock.now().getTime();
        waits.push(due / 1000);
        h.clock.advance(due);
      }
      expect(waits).toEqual([120, 240, 480, 960, 1920, 3600, 3600, 3600]);
      await h.engine.reportRef({ chat_id: chat, origin: REPO, branch: 'feature' });
      expect((await h.ref(chat)).stale_at.getTime()).toBeLessThan(h.clock.now().getTime());
    });

    it('no token: backs off 10 minutes with a clear message', async () => {
      const chat = await h.trackedChat('feature', { owner: randomUUID() });
      await h.engine.tick();
      const status = await h.ref(chat);
      expect(status.stale_at).toEqual(addMs(h.clock.now(), h.settings.no_token_backoff_ms));
      expect(status.last_error).toBe('no token for fake');
      expect(h.host.calls.find + h.host.calls.fetch).toBe(0);
    });

    it('a token that cannot be opened fails only its owner’s refs, with the reason', async () => {
      const chat = await h.trackedChat('feature');
      const otherOwner = randomUUID();
      await h.store.putToken(otherOwner, 'fake', 'token-owner-2', h.clock.now());
      const fine = await h.trackedChat('feature', { owner: otherOwner });
      h.host.openPull('acme/app', { head_branch: 'feature' });
      // As if the row had been sealed with a key this process does not have.
      await h.db.query("UPDATE owner_tokens SET secret = 'aes256gcm:AAAA' WHERE owner_id = $1", [h.owner]);
      await h.engine.tick();
      expect((await h.ref(chat)).last_error).toBe(
        'token lookup failed: stored token is encrypted but GITSYNC_ENCRYPTION_KEY is not set',
      );
      expect((await h.ref(fine)).pr_number).toBe(1);
    });

    it("falls back to the provider's service token, and never uses another provider's", async () => {
      const other = await createEngineHarness(kind, {
        providers: (host) => [
          new FakeProvider(host, { id: 'withservice', service_token: 'service-token' }),
          new FakeProvider(host, {
            id: 'second',
            web_url: 'https://second.test',
            api_url: 'https://second.test',
          }),
        ],
      });
      try {
        const stranger = randomUUID();
        const a = await other.trackedChat('feature', { owner: stranger });
        const b = await other.trackedChat('feature', {
          owner: stranger,
          origin: 'https://second.test/acme/app',
        });
        const tokens: string[] = [];
        other.host.failWith = (_call, token) => {
          tokens.push(token);
          return undefined;
        };
        await other.engine.tick();
        expect(tokens).toEqual(['service-token']);
        expect((await other.ref(a)).last_error).toBeNull();
        expect((await other.ref(b)).last_error).toBe('no token for second');
      } finally {
        await other.drop();
      }
    });

    it('a rate limit fast-fails the rest of its group only, and the group waits until the reset', async () => {
      const serial = await createEngineHarness(kind, { settings: { concurrency: 1 } });
      try {
        const limited = [];
        for (let i = 0; i < 3; i++) limited.push(await serial.trackedChat(`b${i}`));
        const otherOwner = randomUUID();
        await serial.store.putToken(otherOwner, 'fake', 'token-owner-2', serial.clock.now());
        const unaffected = await serial.trackedChat('feature', { owner: otherOwner });
        serial.host.openPull('acme/app', { head_branch: 'feature' });
        const reset = addMs(serial.clock.now(), 900_000);
        serial.host.failWith = (_call, token) =>
          token === 'token-owner-1' ? new RateLimitedError(reset, 'fake: 403 rate limit') : undefined;
        await serial.engine.tick();
        expect(serial.host.calls.find).toBe(2); // one call hit the limit, one for the other owner
        for (const chat of limited) {
          const status = await serial.ref(chat);
          expect(status.paused_until).toEqual(reset);
          expect(status.stale_at).toEqual(reset);
          expect(status.last_error).toMatch(/rate limited until 2026-03-01T12:15:00.000Z/);
        }
        const skipped = await Promise.all(limited.map((c) => serial.ref(c)));
        expect(skipped.filter((s) => s.last_error?.startsWith('skipped: ')).length).toBe(2);
        expect((await serial.ref(unaffected)).pr_number).toBe(1);
        // A new report of a paused ref makes it due, but nothing is sent to the host before the reset.
        await serial.engine.reportRef({ chat_id: limited[0]!, origin: REPO, branch: 'b0' });
        await serial.engine.tick();
        expect(serial.host.calls.find).toBe(2);
      } finally {
        await serial.drop();
      }
    });

    it("one row's store failure does not stop the next row", async () => {
      const bad = await h.trackedChat('bad');
      const good = await h.trackedChat('good');
      // PostgreSQL text cannot hold NUL, so this row's write fails in the database itself.
      h.host.openPull('acme/app', { head_branch: 'bad', pull_request_title: 'nul \u0000 here' });
      h.host.openPull('acme/app', { head_branch: 'good', pull_request_title: 'fine' });
      const result = await h.engine.tick();
      expect(result.write_failures).toBe(1);
      expect((await h.ref(good)).pull_request_title).toBe('fine');
      expect((await h.ref(bad)).pull_request_title).toBeNull();
    });

    it('stale PR: the branch changed under a stored URL and no PR has it: every PR field cleared, published', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick();
      // The PR's head moves to another branch: the stored URL no longer belongs to this ref.
      h.host.updatePull('acme/app', 1, { head_branch: 'elsewhere' });
      h.events.length = 0;
      h.clock.advance(h.settings.fresh_ttl_ms);
      expect((await h.engine.tick()).outcomes.stale_pr).toBe(1);
      const status = await h.ref(chat);
      for (const field of PR_FIELD_NAMES) expect(status[field], field).toBeNull();
      expect(status.stale_at).toEqual(addMs(h.clock.now(), h.settings.no_pr_backoff_ms));
      expect(diffEvents()).toHaveLength(1);
    });

    it('stale URL but another PR has the branch: that PR and its URL are used', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick();
      h.host.updatePull('acme/app', 1, { head_branch: 'elsewhere' });
      h.host.openPull('acme/app', { head_branch: 'feature' });
      h.clock.advance(h.settings.fresh_ttl_ms);
      await h.engine.tick();
      expect((await h.ref(chat)).url).toBe('https://fake.test/acme/app/pull/2');
    });

    it('a refresh never changes which ref is primary', async () => {
      const chat = await h.trackedChat('first');
      h.clock.advance(1000);
      await h.engine.reportRef({ chat_id: chat, origin: REPO, branch: 'second' });
      h.host.openPull('acme/app', { head_branch: 'first' });
      h.host.openPull('acme/app', { head_branch: 'second' });
      h.clock.advance(1000);
      await h.engine.tick();
      h.host.updatePull('acme/app', 1, { pull_request_title: 'changed later' });
      h.clock.advance(h.settings.fresh_ttl_ms);
      await h.engine.tick();
      const view = await h.store.getChat(chat);
      expect(view?.diff_status?.git_branch).toBe('second');
      expect(view?.diff_statuses.map((s) => s.git_branch)).toEqual(['second', 'first']);
    });

    it('an origin no provider matches gets a clear error and a long backoff, revived by the next report', async () => {
      const chat = await h.trackedChat('feature', { origin: 'https://unknown.example/acme/app.git' });
      await h.engine.tick();
      let status = await h.ref(chat);
      expect(status.git_remote_origin).toBe('https://unknown.example/acme/app');
      expect(status).toMatchObject({ last_error: 'no provider for origin', provider_id: null });
      expect(status.stale_at).toEqual(addMs(h.clock.now(), h.settings.misconfigured_backoff_ms));
      h.clock.advance(5000);
      await h.engine.reportRef({
        chat_id: chat,
        origin: 'https://unknown.example/acme/app',
        branch: 'feature',
      });
      status = await h.ref(chat);
      expect(status.stale_at).toEqual(addMs(h.clock.now(), -1000));
    });

    it('a provider that never answers is cut off by the tick deadline, and the worker goes on', async () => {
      const slow = await createEngineHarness(kind, { settings: { tick_timeout_ms: 50, concurrency: 1 } });
      try {
        const a = await slow.trackedChat('a');
        const b = await slow.trackedChat('b');
        slow.host.latencyMs = 60_000;
        const result = await slow.engine.tick();
        expect(result.outcomes.failed + result.outcomes.released).toBe(2);
        expect((await slow.ref(a)).last_error).toMatch(/timed out/);
        // The second row never started: it is due again at once rather than waiting out the lease.
        expect((await slow.ref(b)).stale_at).toEqual(slow.clock.now());
      } finally {
        await slow.drop();
      }
    });
  });

  describe('signals', () => {
    const fetches = () => h.host.recent.filter((c) => c.kind === 'fetch');

    it('a ref a webhook delivery names is read fresh by the next refresh, and only that one', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick(); // finds the PR
      h.clock.advance(h.settings.fresh_ttl_ms);
      await h.engine.tick(); // a plain refresh
      expect(fetches().at(-1)).not.toHaveProperty('fresh');
      await h.store.recordWebhookDelivery(
        { provider_id: 'fake', delivery_id: 'd1', matches: [{ origin: REPO, branch: 'feature' }] },
        h.clock.now(),
      );
      expect((await h.engine.tick()).claimed).toBe(1);
      expect(fetches().at(-1)).toMatchObject({ fresh: true });
      expect((await h.ref(chat)).refreshed_at).toEqual(h.clock.now());
      h.clock.advance(h.settings.fresh_ttl_ms);
      await h.engine.tick(); // the signal was answered
      expect(fetches().at(-1)).not.toHaveProperty('fresh');
    });

    it('a signal outlives a failed refresh: the retry still reads fresh', async () => {
      await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick();
      await h.store.recordWebhookDelivery(
        { provider_id: 'fake', delivery_id: 'd2', matches: [{ origin: REPO, branch: 'feature' }] },
        h.clock.now(),
      );
      h.host.failWith = () => new UnavailableError('fake: down');
      await h.engine.tick();
      h.host.failWith = undefined;
      h.clock.advance(h.settings.error_backoff_ms);
      expect((await h.engine.tick()).claimed).toBe(1);
      expect(fetches().at(-1)).toMatchObject({ fresh: true });
    });

    it('refresh now reads fresh', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      await h.engine.tick();
      await h.engine.refreshNow(chat);
      expect(fetches().at(-1)).toMatchObject({ fresh: true });
    });
  });

  describe('mark stale (ref reports)', () => {
    it('rejects an empty branch or origin, and a report naming no chat or workspace', async () => {
      const chat = await h.newChat();
      await expect(h.engine.reportRef({ chat_id: chat, origin: REPO, branch: '  ' })).rejects.toMatchObject({
        kind: 'bad_input',
      });
      await expect(h.engine.reportRef({ chat_id: chat, origin: '', branch: 'b' })).rejects.toMatchObject({
        kind: 'bad_input',
      });
      await expect(h.engine.reportRef({ origin: REPO, branch: 'b' })).rejects.toMatchObject({
        kind: 'bad_input',
      });
      expect((await h.store.getChat(chat))?.diff_statuses).toEqual([]);
    });

    it('with a chat id touches only that chat and publishes at once', async () => {
      const ws = randomUUID();
      const a = await h.newChat({ workspace: ws });
      const b = await h.newChat({ workspace: ws });
      h.events.length = 0;
      expect(await h.engine.reportRef({ chat_id: a, workspace_id: ws, origin: REPO, branch: 'x' })).toEqual({
        chat_ids: [a],
      });
      expect((await h.store.getChat(b))?.diff_statuses).toEqual([]);
      expect(diffEvents()).toHaveLength(1);
      expect(diffEvents()[0]).toMatchObject({
        chat: { id: a },
        changed_diff_status: { git_branch: 'x', url: null },
      });
    });

    it('an unknown chat id is not found', async () => {
      await expect(
        h.engine.reportRef({ chat_id: randomUUID(), origin: REPO, branch: 'x' }),
      ).rejects.toMatchObject({
        kind: 'not_found',
      });
    });

    it('a workspace report reaches every chat of the workspace except archived ones', async () => {
      const ws = randomUUID();
      const a = await h.newChat({ workspace: ws });
      const b = await h.newChat({ workspace: ws });
      const archived = await h.newChat({ workspace: ws });
      await h.store.archiveChat(archived, h.clock.now());
      const result = await h.engine.reportRef({ workspace_id: ws, origin: REPO, branch: 'x' });
      expect(result.chat_ids.sort()).toEqual([a, b].sort());
      expect((await h.store.getChat(archived))?.diff_statuses).toEqual([]);
      expect(await h.engine.reportRef({ workspace_id: randomUUID(), origin: REPO, branch: 'x' })).toEqual({
        chat_ids: [],
      });
    });

    it('an archived chat named by id is recorded but not refreshed until unarchived', async () => {
      const chat = await h.newChat();
      await h.store.archiveChat(chat, h.clock.now());
      await h.engine.reportRef({ chat_id: chat, origin: REPO, branch: 'x' });
      expect((await h.engine.tick()).claimed).toBe(0);
      await h.store.unarchiveChat(chat, h.clock.now());
      expect((await h.engine.tick()).claimed).toBe(1);
    });

    it('stores origins canonical and without credentials', async () => {
      const chat = await h.newChat();
      for (const origin of [
        'https://x-access-token:secret123@fake.test/acme/app.git',
        'git@fake.test:acme/app.git',
        'ssh://git@fake.test:22/acme/app/',
      ]) {
        await h.engine.reportRef({ chat_id: chat, origin, branch: 'main' });
      }
      await h.engine.reportRef({
        chat_id: chat,
        origin: 'https://user:pw@Other.Example/x/y.git/',
        branch: 'main',
      });
      const origins = (await h.store.getChat(chat))!.diff_statuses.map((s) => s.git_remote_origin).sort();
      expect(origins).toEqual(['https://fake.test/acme/app', 'https://other.example/x/y']);
    });

    it('a report during a refresh keeps the ref due: the refresh does not push it back', async () => {
      const chat = await h.trackedChat('feature');
      h.host.openPull('acme/app', { head_branch: 'feature' });
      h.host.failWith = () => {
        // The agent pushes again while the host is being asked.
        void h.engine.reportRef({ chat_id: chat, origin: REPO, branch: 'feature' });
        return undefined;
      };
      await h.engine.tick();
      h.host.failWith = undefined;
      await new Promise((r) => setTimeout(r, 50));
      expect((await h.ref(chat)).stale_at.getTime()).toBeLessThanOrEqual(h.clock.now().getTime());
      expect((await h.ref(chat)).pr_number).toBe(1);
    });
  });

  describe('refresh now', () => {
    it('returns the new status and publishes; "no PR" writes nothing; a failure writes no backoff', async () => {
      const chat = await h.trackedChat('feature');
      const before = await h.ref(chat);
      const none = await h.engine.refreshNow(chat);
      expect(none.outcome).toBe('no_pr');
      expect(await h.ref(chat)).toEqual(before);
      // The answer is the public diff status, nothing internal.
      expect(Object.keys(none.diff_status).sort()).toEqual(Object.keys(before).sort());
      // Nothing written, but the answer tells what was learnt: the branch has no PR.
      expect(before).toMatchObject({ ready: null });
      expect(none.diff_status).toMatchObject({ ready: false, blockers: [{ kind: 'no_pr', detail: null }] });

      h.host.failWith = () => new UnavailableError('fake: 503');
      await expect(h.engine.refreshNow(chat)).rejects.toMatchObject({ code: 'provider_error' });
      expect(await h.ref(chat)).toEqual(before);
      h.host.failWith = undefined;

      h.host.openPull('acme/app', { head_branch: 'feature', pull_request_title: 'Now' });
      h.events.length = 0;
      const done = await h.engine.refreshNow(chat, {
        origin: 'git@fake.test:acme/app.git',
        branch: 'feature',
      });
      expect(done).toMatchObject({
        outcome: 'updated',
        diff_status: { pull_request_title: 'Now', pr_number: 1 },
      });
      expect(diffEvents()).toHaveLength(1);
    });

    it('names what is missing: chat, ref, token', async () => {
      await expect(h.engine.refreshNow(randomUUID())).rejects.toMatchObject({ kind: 'not_found' });
      const empty = await h.newChat();
      await expect(h.engine.refreshNow(empty)).rejects.toMatchObject({ code: 'no_ref' });
      const tokenless = await h.trackedChat('x', { owner: randomUUID() });
      await expect(h.engine.refreshNow(tokenless)).rejects.toMatchObject({ code: 'no_token' });
      const rate = await h.trackedChat('y');
      h.host.failWith = () => new RateLimitedError(addMs(h.clock.now(), 60_000));
      await expect(h.engine.refreshNow(rate)).rejects.toMatchObject({
        code: 'rate_limited',
        kind: 'rate_limited',
      });
    });
  });

  describe('feedback', () => {
    it('reads at most 20 refs from the host (the rest truncated), each taking a refresh-now unit', async () => {
      // One chat tracking 25 branches, each with an open PR.
      const chat = await h.trackedChat('b0');
      for (let i = 0; i < 25; i++) h.host.openPull('acme/app', { head_branch: `b${i}` });
      for (let i = 1; i < 25; i++) await h.engine.reportRef({ chat_id: chat, origin: REPO, branch: `b${i}` });
      await h.engine.tick();
      const read = async () => {
        const before = h.host.calls.feedback;
        const answer = await h.engine.feedback(chat);
        return { answer, asked: h.host.calls.feedback - before };
      };
      const first = await read();
      expect(first.asked).toBe(20);
      expect(first.answer.refs).toHaveLength(25);
      expect(first.answer.refs.filter((r) => r.truncated)).toHaveLength(5);
      expect(first.answer.refs.filter((r) => r.error !== null)).toHaveLength(0);
      // 30 a minute by default: 10 are left for the next call; its other refs say so, unread.
      const second = await read();
      expect(second.asked).toBe(10);
      const limited = second.answer.refs.filter((r) => r.error?.code === 'rate_limited');
      expect(limited).toHaveLength(10);
      expect(second.answer.refs.filter((r) => r.truncated)).toHaveLength(5);
      // None left: the whole call is refused, and the host is not asked.
      await expect(h.engine.feedback(chat)).rejects.toBeInstanceOf(RateLimitedError);
      expect(h.host.calls.feedback).toBe(30);
    });
  });

  describe('the loop', () => {
    it('stopping mid-tick abandons calls in flight and releases their rows at once, without an error', async () => {
      const looped = await createEngineHarness(kind, { settings: { tick_interval_ms: 60_000 } });
      try {
        looped.host.latencyMs = 3_600_000; // the host never answers
        looped.engine.start();
        const chat = await looped.trackedChat('feature');
        await waitFor(() => looped.host.calls.find === 1);
        await looped.engine.stop();
        const status = await looped.ref(chat);
        expect(status.last_error).toBeNull();
        expect(status.stale_at.getTime()).toBeLessThanOrEqual(looped.clock.now().getTime());
      } finally {
        await looped.drop();
      }
    });

    it('runs ticks by itself, wakes early on a report, and stops cleanly', async () => {
      const looped = await createEngineHarness(kind, { settings: { tick_interval_ms: 60_000 } });
      try {
        looped.host.openPull('acme/app', { head_branch: 'feature' });
        looped.engine.start();
        const chat = await looped.trackedChat('feature');
        // The interval is a minute: only the report's wake-up can make this happen soon.
        await waitFor(async () => (await looped.ref(chat)).pr_number === 1);
        await looped.engine.stop();
        expect(looped.engine.running).toBe(false);
        const calls = looped.host.calls.find;
        await looped.engine.reportRef({ chat_id: chat, origin: REPO, branch: 'other' });
        await new Promise((r) => setTimeout(r, 100));
        expect(looped.host.calls.find).toBe(calls);
      } finally {
        await looped.engine.stop();
        await looped.drop();
      }
    });
  });
});
