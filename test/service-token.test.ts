import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { loadConfig, parseConfigFile } from '../src/config/config.ts';
import { addMs, FakeClock } from '../src/core/clock.ts';
import { ConfigError, RateLimitedError, UnavailableError } from '../src/core/errors.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { PUBLIC_ANSWER_TTL_MS } from '../src/engine/public-repos.ts';
import { FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { ServiceTokenPolicy } from '../src/providers/types.ts';
import { createTestStore, DATABASE_KINDS, type TestDatabase } from './helpers/databases.ts';
import { createEngineHarness, type EngineHarness } from './helpers/engine-harness.ts';

const SERVICE = 'service-token';
const PUBLIC_REPO = 'https://fake.test/acme/app';
const PRIVATE_REPO = 'https://fake.test/acme/secret';
const UNKNOWN_REPO = 'https://fake.test/acme/ghost';
const NOT_PUBLIC = /^no token for fake: the repository is not confirmed public.*token of your own$/;

/** `service_token_for`: whom a provider's service token serves. */
describe.each(DATABASE_KINDS)('the service token on %s', (kind) => {
  let h: EngineHarness;
  const open = async (policy?: ServiceTokenPolicy) => {
    h = await createEngineHarness(kind, {
      providers: (host) => [
        new FakeProvider(host, {
          service_token: SERVICE,
          ...(policy ? { service_token_for: policy } : {}),
        }),
      ],
    });
    h.host.defaultVisibility = 'unknown';
    h.host.visibility.set('acme/app', 'public');
    h.host.visibility.set('acme/secret', 'private');
    for (const repo of ['acme/app', 'acme/secret', 'acme/ghost'])
      h.host.openPull(repo, { head_branch: 'feature', pull_request_title: `work in ${repo}` });
  };
  afterEach(async () => {
    await h.engine.stop();
    await h.drop();
  });
  /** An owner without a token of its own, tracking `feature` of each origin. */
  const strangerTracking = async (...origins: string[]) => {
    const stranger = randomUUID();
    const chats: string[] = [];
    for (const origin of origins) chats.push(await h.trackedChat('feature', { owner: stranger, origin }));
    return chats;
  };
  const prCallsFor = (repo: string) => h.host.recent.filter((c) => c.repo === repo);

  it('default "public": a public repository is served; private and unknown ones get "no token", unread', async () => {
    await open();
    const [pub, priv, unknown] = await strangerTracking(PUBLIC_REPO, PRIVATE_REPO, UNKNOWN_REPO);
    await h.engine.tick();

    expect(await h.ref(pub!)).toMatchObject({
      pr_number: 1,
      pull_request_title: 'work in acme/app',
      last_error: null,
    });
    for (const chat of [priv!, unknown!]) {
      const status = await h.ref(chat);
      expect(status.last_error).toMatch(NOT_PUBLIC);
      expect(status).toMatchObject({ url: null, pull_request_title: null, pr_number: null });
      expect(status.stale_at).toEqual(addMs(h.clock.now(), h.settings.no_token_backoff_ms));
    }
    // Private and unknown read the same, so the service token tells no one which private repositories exist.
    expect((await h.ref(priv!)).last_error).toBe((await h.ref(unknown!)).last_error);
    // The host was never asked for anything of them but whether they are public, with the service token.
    expect(prCallsFor('acme/secret')).toEqual([]);
    expect(prCallsFor('acme/ghost')).toEqual([]);
    expect(prCallsFor('acme/app')).toHaveLength(1);
    expect(h.host.visibilityChecks.map((c) => c.repo).sort()).toEqual([
      'acme/app',
      'acme/ghost',
      'acme/secret',
    ]);
    expect(new Set(h.host.visibilityChecks.map((c) => c.token))).toEqual(new Set([SERVICE]));
  });

  it('an owner with a token of its own reads private repositories, and nobody asks whether they are public', async () => {
    await open();
    const chat = await h.trackedChat('feature', { origin: PRIVATE_REPO }); // h.owner has a token
    await h.engine.tick();
    expect(await h.ref(chat)).toMatchObject({ pr_number: 1, last_error: null });
    expect(h.host.visibilityChecks).toEqual([]);
  });

  it('answers are remembered for a while; a repository turned private stops being served at the next check', async () => {
    await open();
    const [chat] = await strangerTracking(PUBLIC_REPO);
    await h.engine.tick();
    h.clock.advance(h.settings.fresh_ttl_ms);
    await h.engine.tick();
    expect(h.host.visibilityChecks).toHaveLength(1);
    expect(prCallsFor('acme/app')).toHaveLength(2);

    h.host.visibility.set('acme/app', 'private');
    h.clock.advance(PUBLIC_ANSWER_TTL_MS);
    await h.engine.tick();
    expect(h.host.visibilityChecks).toHaveLength(2);
    expect((await h.ref(chat!)).last_error).toMatch(NOT_PUBLIC);
    expect(prCallsFor('acme/app')).toHaveLength(2);
  });

  it('a check that fails reads nothing either: an outage is retried soon, a rate limit pauses the token', async () => {
    await open();
    const [chat] = await strangerTracking(PUBLIC_REPO);
    h.host.failVisibilityWith = () => new UnavailableError('fake: 503');
    await h.engine.tick();
    let status = await h.ref(chat!);
    expect(status.last_error).toBe('could not confirm that the repository is public: fake: 503');
    expect(status.stale_at).toEqual(addMs(h.clock.now(), h.settings.error_backoff_ms));

    const reset = addMs(h.clock.now(), h.settings.error_backoff_ms + 600_000);
    h.host.failVisibilityWith = () => new RateLimitedError(reset);
    h.clock.advance(h.settings.error_backoff_ms);
    await h.engine.tick();
    status = await h.ref(chat!);
    expect(status.paused_until).toEqual(reset);
    expect(status.stale_at).toEqual(reset);
    expect(prCallsFor('acme/app')).toEqual([]);
  });

  it('"none": owners without a token get "no token", and nothing is asked', async () => {
    await open('none');
    const [pub] = await strangerTracking(PUBLIC_REPO);
    await h.engine.tick();
    expect((await h.ref(pub!)).last_error).toBe(
      'no token for fake: link a token of your own (the service token serves no owner here)',
    );
    expect(h.host.recent).toEqual([]);
    expect(h.host.visibilityChecks).toEqual([]);
  });

  it('"all": the service token serves every repository (the behaviour before this setting)', async () => {
    await open('all');
    const [priv, unknown] = await strangerTracking(PRIVATE_REPO, UNKNOWN_REPO);
    await h.engine.tick();
    expect((await h.ref(priv!)).pull_request_title).toBe('work in acme/secret');
    expect((await h.ref(unknown!)).pull_request_title).toBe('work in acme/ghost');
    expect(h.host.visibilityChecks).toEqual([]);
  });

  it('refresh now of a private repository is "no token" (422 at the API), and reads nothing', async () => {
    await open();
    const [priv] = await strangerTracking(PRIVATE_REPO);
    const error = await h.engine.refreshNow(priv!).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'no_token', message: expect.stringMatching(NOT_PUBLIC) });
    expect(prCallsFor('acme/secret')).toEqual([]);
  });
});

/** Engine + store + GitHub provider + the GitHub emulator over real HTTP on 127.0.0.1. */
describe('the service token against GitHub (emulator)', () => {
  let gh: GitHubEmulator;
  let test: TestDatabase & Awaited<ReturnType<typeof createTestStore>>;
  let clock: FakeClock;
  const BOT = 'ghp_service_bot';
  const stranger = randomUUID();

  beforeEach(async () => {
    gh = await startGitHubEmulator();
    // The service token belongs to a bot that can see the private repository: lending it to
    // every owner is exactly what would leak that repository's PRs.
    gh.addToken(BOT, 'gitsync-bot');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    gh.model.createRepo({ owner: 'acme', name: 'secret', private: true, collaborators: ['gitsync-bot'] });
    gh.model.createRepo({ owner: 'acme', name: 'hidden', private: true });
    for (const repo of ['acme/app', 'acme/secret', 'acme/hidden'])
      gh.model.openPull(repo, { head: 'feature', title: `Secret plans of ${repo}`, author: 'ceo' });
    test = await createTestStore('pglite');
    clock = new FakeClock(new Date());
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await Promise.all([gh.close(), test.drop()]);
  });

  const engineWith = (policy?: ServiceTokenPolicy) =>
    new Engine({
      store: test.store,
      providers: new ProviderRegistry([
        new GitHubProvider(
          {
            id: 'github',
            type: 'github',
            web_url: gh.webUrl,
            api_url: gh.apiUrl,
            service_token: BOT,
            ...(policy ? { service_token_for: policy } : {}),
          },
          { clock, requestTimeoutMs: 2000 },
        ),
      ]),
      clock,
      settings: DEFAULT_WORKER_SETTINGS,
      logger: silentLogger,
    });
  const track = async (engine: Engine, repo: string) => {
    const id = randomUUID();
    await test.store.putChat({ id, owner_id: stranger }, clock.now());
    await engine.reportRef({ chat_id: id, origin: `${gh.webUrl}/${repo}.git`, branch: 'feature' });
    return id;
  };
  const status = async (chat: string) => (await test.store.getChat(chat))!.diff_status!;
  // Any GraphQL answer counts as a read of every repository: its body could hold any of them.
  const readsOf = (repo: string) =>
    gh.log.filter((r) => r.path.includes(`/repos/${repo}/`) || (r.route === 'graphql' && r.status === 200));

  it('default: the public repository is served; nothing of a private one is read, seen by the bot or not', async () => {
    const engine = engineWith();
    const app = await track(engine, 'acme/app');
    const secret = await track(engine, 'acme/secret');
    const hidden = await track(engine, 'acme/hidden');
    await engine.tick();

    expect(await status(app)).toMatchObject({ pr_number: 1, pull_request_title: 'Secret plans of acme/app' });
    for (const chat of [secret, hidden]) {
      expect(await status(chat)).toMatchObject({
        pull_request_title: null,
        author_login: null,
        last_error: expect.stringMatching(/not confirmed public/),
      });
    }
    expect((await status(secret)).last_error).toBe((await status(hidden)).last_error);
    expect(readsOf('acme/secret')).toEqual([]);
    expect(readsOf('acme/hidden')).toEqual([]);
    // Asked once each, with the service token: the bot's answer for the one it sees is `private: true`.
    const checks = gh.log.filter((r) => r.route === 'get_repo');
    expect(checks.map((r) => [r.path, r.status]).sort()).toEqual([
      ['/api/v3/repos/acme/app', 200],
      ['/api/v3/repos/acme/hidden', 404],
      ['/api/v3/repos/acme/secret', 200],
    ]);
    expect(new Set(checks.map((r) => r.token_fingerprint))).toEqual(new Set([fingerprint(BOT)]));
  });

  it('"all" lends the bot to everyone: the private PR is read (what "public" prevents)', async () => {
    const engine = engineWith('all');
    const secret = await track(engine, 'acme/secret');
    await engine.tick();
    expect(await status(secret)).toMatchObject({
      pull_request_title: 'Secret plans of acme/secret',
      author_login: 'ceo',
    });
  });
});

describe('configuration', () => {
  it('service_token_for: "public" unless set; only none, public or all', () => {
    expect(loadConfig({ GITHUB_TOKEN: 'x' }).providers.map((p) => p.service_token_for)).toEqual([
      'public',
      'public',
    ]);
    for (const policy of ['none', 'public', 'all']) {
      const file = parseConfigFile(
        JSON.stringify({
          providers: [{ id: 'gh', type: 'github', web_url: 'https://github.com', service_token_for: policy }],
        }),
        'test',
      );
      expect(file.providers?.[0]?.service_token_for).toBe(policy);
    }
    expect(() =>
      parseConfigFile(
        JSON.stringify({
          providers: [{ id: 'gh', type: 'github', web_url: 'https://github.com', service_token_for: 'some' }],
        }),
        'test',
      ),
    ).toThrow(/providers\[0\]\.service_token_for/);
  });

  it('max_budget_share.service_per_owner: 0.1 unless set, beside owner and service; a number form keeps it', () => {
    const config = (max_budget_share: unknown) => {
      const dir = mkdtempSync(join(tmpdir(), 'gitsync-config-'));
      const path = join(dir, 'config.json');
      writeFileSync(
        path,
        JSON.stringify({
          providers: [{ id: 'gh', type: 'github', web_url: 'https://github.com', max_budget_share }],
        }),
      );
      try {
        return loadConfig({ GITSYNC_CONFIG: path }).providers[0]!.max_budget_share;
      } finally {
        rmSync(dir, { recursive: true });
      }
    };
    expect(loadConfig({}).providers[0]!.max_budget_share).toEqual({
      owner: 0.5,
      service: 0.9,
      service_per_owner: 0.1,
    });
    expect(config({ service_per_owner: 0.25 })).toEqual({
      owner: 0.5,
      service: 0.9,
      service_per_owner: 0.25,
    });
    expect(config(0.3)).toEqual({ owner: 0.3, service: 0.3, service_per_owner: 0.1 });
    expect(() => config({ service_per_owner: 2 })).toThrow(/max_budget_share/);
  });

  it('limits.refs_per_owner: 20,000 unless set', () => {
    expect(loadConfig({}).limits.refs_per_owner).toBe(20_000);
    expect(
      parseConfigFile(JSON.stringify({ limits: { refs_per_owner: 5 } }), 'test').limits?.refs_per_owner,
    ).toBe(5);
    expect(() => parseConfigFile(JSON.stringify({ limits: { refs_per_owner: 0 } }), 'test')).toThrow(
      /limits\.refs_per_owner/,
    );
  });

  it('worker.refresh_now_per_minute: 30 unless set; 0 is accepted (it turns refresh now off)', () => {
    expect(loadConfig({}).worker.refresh_now_per_minute).toBe(30);
    expect(
      parseConfigFile(JSON.stringify({ worker: { refresh_now_per_minute: 0 } }), 'test').worker
        ?.refresh_now_per_minute,
    ).toBe(0);
    expect(() => parseConfigFile(JSON.stringify({ worker: { refresh_now_per_minute: -1 } }), 'test')).toThrow(
      /worker\.refresh_now_per_minute/,
    );
  });
});
