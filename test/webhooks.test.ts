import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Provider } from '../src/providers/types.ts';
import { handleWebhook, MAX_WEBHOOK_MATCHES, UploadSlots } from '../src/server/webhooks.ts';
import { createServiceHarness, type ServiceHarness, WEBHOOK_SECRET } from './helpers/service.ts';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples') as {
  name: string;
  examples: Record<string, unknown>[];
}[];
const deliveries = (name: string) => examples.find((e) => e.name === name)?.examples ?? [];
/** What the check events' examples are read for. */
type Payload = { check_run?: { head_sha: string }; check_suite?: { head_sha: string }; sha?: string };

const sign = (body: string, secret = WEBHOOK_SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('GitHub webhooks', () => {
  let s: ServiceHarness;
  beforeEach(async () => {
    s = await createServiceHarness();
  });
  afterEach(() => s.close());

  const deliver = (
    event: string,
    payload: unknown,
    opts: { signature?: string | null; delivery?: string; provider?: string } = {},
  ) => {
    const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': opts.delivery ?? randomUUID(),
    };
    const signature = opts.signature === undefined ? sign(raw) : opts.signature;
    if (signature !== null) headers['x-hub-signature-256'] = signature;
    return s.call('POST', `/api/v1/webhooks/${opts.provider ?? 'github'}`, { key: null, raw, headers });
  };

  /** A chat tracking `branch` of the example repository, refreshed so it is not due. */
  const trackedRef = async (origin: string, branch: string) => {
    const chat = randomUUID();
    await s.call('PUT', `/api/v1/chats/${chat}`, { body: { owner_id: s.owner } });
    await s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin, branch } });
    // Not due: as after a successful refresh.
    await s.db.query('UPDATE diff_statuses SET stale_at = $1 WHERE chat_id = $2', [
      new Date(s.clock.now().getTime() + 600_000),
      chat,
    ]);
    return chat;
  };
  const staleAt = async (chat: string) =>
    (await s.db.query<{ stale_at: Date }>('SELECT stale_at FROM diff_statuses WHERE chat_id = $1', [chat]))
      .rows[0]!.stale_at;

  const prExamples = [
    ...deliveries('pull_request').map((p) => ['pull_request', p] as const),
    ...deliveries('pull_request_review').map((p) => ['pull_request_review', p] as const),
  ];

  it.each([
    ['check_run', (p: Payload) => p.check_run?.head_sha],
    ['check_suite', (p: Payload) => p.check_suite?.head_sha],
    ['status', (p: Payload) => p.sha],
  ] as const)(
    '%s deliveries mark the refs whose head is that commit due, and signal them',
    async (event, head) => {
      const examples = deliveries(event);
      expect(examples.length).toBeGreaterThan(2);
      for (const payload of examples) {
        const sha = head(payload) as string;
        const chat = await trackedRef('https://github.com/acme/app', `b-${randomUUID()}`);
        const other = await trackedRef('https://github.com/acme/app', `o-${randomUUID()}`);
        await s.db.query('UPDATE diff_statuses SET head_sha = $1 WHERE chat_id = $2', [sha, chat]);
        await s.db.query('UPDATE diff_statuses SET head_sha = $1 WHERE chat_id = $2', [
          '0'.repeat(40),
          other,
        ]);
        expect((await deliver(event, payload)).status).toBe(202);
        expect(await staleAt(chat)).toEqual(s.clock.now());
        expect(await staleAt(other)).not.toEqual(s.clock.now());
        const signals = await s.db.query<{ signal_at: Date | null }>(
          'SELECT signal_at FROM diff_statuses WHERE chat_id = ANY($1::uuid[]) ORDER BY chat_id = $2 DESC',
          [[chat, other], chat],
        );
        expect(signals.rows.map((r) => r.signal_at)).toEqual([s.clock.now(), null]);
      }
      // A delivery of such an event without its commit is refused, and changes nothing.
      expect((await deliver(event, { action: 'completed' })).status).toBe(400);
    },
  );

  it('has real example deliveries to test with', () => {
    expect(deliveries('pull_request').length).toBeGreaterThan(20);
    expect(deliveries('pull_request_review').length).toBeGreaterThan(2);
  });

  it.each(
    prExamples.map(([event, payload], i) => [
      `${event} #${i} (${(payload as { action: string }).action})`,
      event,
      payload,
    ]),
  )('accepts %s and marks the PR’s tracked refs due', async (_name, event, payload) => {
    const pr = (
      payload as {
        pull_request: {
          head: { ref: string; repo: { html_url: string } | null };
          base: { repo: { html_url: string } };
        };
      }
    ).pull_request;
    const chat = await trackedRef(pr.head.repo?.html_url ?? pr.base.repo.html_url, pr.head.ref);
    const bystander = await trackedRef(pr.base.repo.html_url, `${pr.head.ref}-other`);
    const r = await deliver(event, payload);
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ status: 'accepted' });
    expect((await staleAt(chat)).getTime()).toBeLessThanOrEqual(s.clock.now().getTime());
    expect((await staleAt(bystander)).getTime()).toBeGreaterThan(s.clock.now().getTime());
  });

  it('a delivery whose marking fails is not recorded, so the host’s redelivery is processed', async () => {
    const payload = deliveries('pull_request')[0]! as {
      pull_request: { head: { ref: string; repo: { html_url: string } } };
    };
    const chat = await trackedRef(payload.pull_request.head.repo.html_url, payload.pull_request.head.ref);
    // The next update of a tracked ref fails, as a database error mid-delivery would.
    await s.db.exec(`
      CREATE TABLE fail_next (x int);
      INSERT INTO fail_next VALUES (1);
      CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM fail_next) THEN
          DELETE FROM fail_next;
          RAISE EXCEPTION 'simulated failure';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_once BEFORE UPDATE ON diff_statuses FOR EACH ROW EXECUTE FUNCTION fail_once();`);
    const delivery = randomUUID();
    const failed = await deliver('pull_request', payload, { delivery });
    expect(failed.status).toBe(500);
    // The trigger's own DELETE was rolled back with the delivery: let the next update through.
    await s.db.exec('DROP TRIGGER fail_once ON diff_statuses');
    const retried = await deliver('pull_request', payload, { delivery });
    expect(retried.json).toEqual({ status: 'accepted' });
    expect((await staleAt(chat)).getTime()).toBeLessThanOrEqual(s.clock.now().getTime());
    expect((await deliver('pull_request', payload, { delivery })).json).toEqual({ status: 'duplicate' });
  });

  it('matches the repository without regard to case, as GitHub does', async () => {
    const payload = deliveries('pull_request')[0]! as {
      pull_request: { head: { ref: string; repo: { html_url: string } } };
    };
    const chat = await trackedRef(
      payload.pull_request.head.repo.html_url.toLowerCase(),
      payload.pull_request.head.ref,
    );
    expect((await deliver('pull_request', payload)).json).toEqual({ status: 'accepted' });
    expect((await staleAt(chat)).getTime()).toBeLessThanOrEqual(s.clock.now().getTime());
  });

  it('a push marks the pushed branch due; tags are ignored', async () => {
    const push = deliveries('push').find((p) => String(p.ref).startsWith('refs/heads/'));
    expect(push).toBeDefined();
    const repo = (push as { repository: { html_url: string } }).repository.html_url;
    const chat = await trackedRef(repo, String(push!.ref).slice(11));
    expect((await deliver('push', push)).json).toEqual({ status: 'accepted' });
    expect((await staleAt(chat)).getTime()).toBeLessThanOrEqual(s.clock.now().getTime());
    const later = new Date(s.clock.now().getTime() + 600_000);
    await s.db.query('UPDATE diff_statuses SET stale_at = $1 WHERE chat_id = $2', [later, chat]);
    const tag = deliveries('push').find((p) => String(p.ref).startsWith('refs/tags/'));
    expect((await deliver('push', tag)).json).toEqual({ status: 'accepted' });
    expect(await staleAt(chat)).toEqual(later);
  });

  it('bad or missing signatures get 401 and change nothing', async () => {
    const payload = deliveries('pull_request')[0]!;
    const pr = (payload as { pull_request: { head: { ref: string; repo: { html_url: string } } } })
      .pull_request;
    const chat = await trackedRef(pr.head.repo.html_url, pr.head.ref);
    const before = await staleAt(chat);
    const delivery = randomUUID();
    expect((await deliver('pull_request', payload, { signature: null, delivery })).status).toBe(401);
    expect((await deliver('pull_request', payload, { signature: sign('{}'), delivery })).status).toBe(401);
    expect(
      (
        await deliver('pull_request', payload, {
          signature: sign(JSON.stringify(payload), 'wrong secret'),
          delivery,
        })
      ).status,
    ).toBe(401);
    expect((await deliver('pull_request', payload, { signature: 'sha256=zz', delivery })).status).toBe(401);
    expect(await staleAt(chat)).toEqual(before);
    // The rejected attempts did not burn the delivery id.
    expect((await deliver('pull_request', payload, { delivery })).status).toBe(202);
  });

  it('a duplicate delivery is answered 200 "duplicate" and changes nothing', async () => {
    const payload = deliveries('pull_request')[0]!;
    const pr = (payload as { pull_request: { head: { ref: string; repo: { html_url: string } } } })
      .pull_request;
    const chat = await trackedRef(pr.head.repo.html_url, pr.head.ref);
    const delivery = randomUUID();
    expect((await deliver('pull_request', payload, { delivery })).status).toBe(202);
    const later = new Date(s.clock.now().getTime() + 600_000);
    await s.db.query('UPDATE diff_statuses SET stale_at = $1 WHERE chat_id = $2', [later, chat]);
    const again = await deliver('pull_request', payload, { delivery });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ status: 'duplicate' });
    expect(await staleAt(chat)).toEqual(later);
  });

  it('unknown events are accepted and ignored; unknown providers and providers without a secret are 404', async () => {
    expect((await deliver('star', { action: 'created' })).json).toEqual({ status: 'accepted' });
    expect((await deliver('ping', { zen: 'Keep it logically awesome.' })).status).toBe(202);
    expect((await deliver('pull_request', {}, { provider: 'nope' })).status).toBe(404);
    expect((await deliver('pull_request', {}, { provider: 'nosecret' })).status).toBe(404);
  });

  it('answers say nothing of what matched: a delivery that marks a ref and one that marks none answer alike', async () => {
    const push = deliveries('push').find((p) => String(p.ref).startsWith('refs/heads/'))!;
    const repo = (push as { repository: { html_url: string } }).repository.html_url;
    const chat = await trackedRef(repo, String(push.ref).slice(11));
    const hit = await deliver('push', push);
    const miss = await deliver('push', { ...push, ref: 'refs/heads/nobody-tracks-this' });
    expect((await staleAt(chat)).getTime()).toBeLessThanOrEqual(s.clock.now().getTime());
    expect([hit.status, hit.json]).toEqual([202, { status: 'accepted' }]);
    expect([miss.status, miss.json]).toEqual([hit.status, hit.json]);
  });

  it('a delivery marks only refs of the provider it was delivered to', async () => {
    // A ref of the fake provider with an open PR: a signed GitHub delivery naming that PR's URL
    // (anyone holding the GitHub secret can name any URL) must not touch it.
    const chat = await trackedRef('https://fake.test/acme/app', 'feature');
    const url = 'https://fake.test/acme/app/pull/7';
    await s.db.query('UPDATE diff_statuses SET url = $1 WHERE chat_id = $2', [url, chat]);
    const before = await staleAt(chat);
    const payload = structuredClone(deliveries('pull_request')[0]!) as {
      pull_request: { html_url: string; head: { ref: string; repo: unknown }; base: { repo: unknown } };
      repository?: unknown;
    };
    payload.pull_request.html_url = url;
    payload.pull_request.head.ref = 'feature';
    payload.pull_request.head.repo = null;
    payload.pull_request.base.repo = null;
    delete payload.repository;
    expect((await deliver('pull_request', payload)).json).toEqual({ status: 'accepted' });
    expect(await staleAt(chat)).toEqual(before);
  });

  it('a captured signed body replayed under a new delivery id is a duplicate', async () => {
    const payload = deliveries('pull_request')[0]! as {
      pull_request: { head: { ref: string; repo: { html_url: string } } };
    };
    const chat = await trackedRef(payload.pull_request.head.repo.html_url, payload.pull_request.head.ref);
    expect((await deliver('pull_request', payload)).status).toBe(202);
    const later = new Date(s.clock.now().getTime() + 600_000);
    await s.db.query('UPDATE diff_statuses SET stale_at = $1 WHERE chat_id = $2', [later, chat]);
    const replay = await deliver('pull_request', payload, { delivery: randomUUID() });
    expect([replay.status, replay.json]).toEqual([200, { status: 'duplicate' }]);
    expect(await staleAt(chat)).toEqual(later);
  });

  it(`a delivery marks at most ${MAX_WEBHOOK_MATCHES} refs, in one statement`, async () => {
    // A push naming 1,500 tracked branches (Bitbucket's push.changes, Azure DevOps' refUpdates can).
    const chat = await trackedRef('https://fake.test/acme/app', 'b0');
    const later = new Date(s.clock.now().getTime() + 600_000);
    await s.db.query(
      `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, provider_id, stale_at, created_at, updated_at)
       SELECT $1, 'https://fake.test/acme/app', 'b' || g, 'fake', $2, $3, $3 FROM generate_series(1, 1499) g`,
      [chat, later, s.clock.now()],
    );
    await s.db.exec(`
      CREATE TABLE update_statements (n int);
      CREATE FUNCTION count_update() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO update_statements VALUES (1); RETURN NULL; END $$;
      CREATE TRIGGER count_update AFTER UPDATE ON diff_statuses FOR EACH STATEMENT EXECUTE FUNCTION count_update();`);
    const provider = {
      config: { id: 'fake', webhook_secret: 'secret' },
      webhooks: {
        start: () => ({ update: () => {}, valid: () => true, proven: true }),
        deliveryId: () => randomUUID(),
        staleRefs: () =>
          Array.from({ length: 1500 }, (_, i) => ({ origin: 'https://fake.test/acme/app', branch: `b${i}` })),
      },
    } as unknown as Provider;
    const result = await handleWebhook(
      { store: s.store, clock: s.clock },
      provider,
      () => undefined,
      new Response('{}').body,
      { maxBytes: 1024, timeoutMs: 10_000, minBytesPerSecond: 1 },
      { slots: new UploadSlots(4, 4), client: 'test' },
    );
    expect(result.body).toEqual({ status: 'accepted' });
    const due = await s.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM diff_statuses WHERE chat_id = $1 AND stale_at <= $2',
      [chat, s.clock.now()],
    );
    expect(Number(due.rows[0]!.n)).toBe(MAX_WEBHOOK_MATCHES);
    expect((await s.db.query('SELECT n FROM update_statements')).rows).toHaveLength(1);
  });

  it('a signed body that is not JSON is a 400; an oversized one 413', async () => {
    expect((await deliver('pull_request', 'not json')).status).toBe(400);
    const huge = JSON.stringify({ padding: 'x'.repeat(26 * 1024 * 1024) });
    expect((await deliver('push', huge)).status).toBe(413);
  });
});
