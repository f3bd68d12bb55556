import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EmuApp, EmuInstallation } from '../emulator/github/app.ts';
import { fingerprint, type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { FakeClock } from '../src/core/clock.ts';
import { tokenFingerprint } from '../src/core/fingerprint.ts';
import { GitHubApp } from '../src/providers/github/app.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import type { ServiceTokenPolicy } from '../src/providers/types.ts';
import { startHostService } from './helpers/host-service.ts';

const ADMIN = 'test-admin-key-github-app-0123';
const SECRET = 'the App webhook secret';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

/**
 * A GitHub App instead of a token per person (SPEC §6.2 "GitHub App"): the service as `gitsync
 * serve` wires it, listening on 127.0.0.1, its GitHub provider naming an App and no token at all,
 * against the GitHub emulator over real HTTP (JWTs verified with the App's public key, installation
 * tokens that expire after an hour, the App's webhook deliveries).
 */
describe('a GitHub App serves owners without a token of their own', () => {
  let gh: GitHubEmulator;
  let clock: FakeClock;
  let app: EmuApp;
  let acme: EmuInstallation;
  let service: Awaited<ReturnType<typeof startHostService>> | undefined;
  let provider: GitHubProvider;
  const stranger = randomUUID();

  beforeEach(async () => {
    clock = new FakeClock(new Date());
    gh = await startGitHubEmulator({ now: () => clock.now() });
    gh.model.createRepo({ owner: 'acme', name: 'secret', private: true });
    gh.model.createRepo({ owner: 'acme', name: 'open' });
    gh.model.createRepo({ owner: 'umbrella', name: 'lab', private: true });
    gh.model.createRepo({ owner: 'elsewhere', name: 'tool', private: true });
    for (const repo of ['acme/secret', 'acme/open', 'umbrella/lab', 'elsewhere/tool'])
      gh.model.openPull(repo, { head: 'feature', title: `Work in ${repo}`, author: 'dev' });
    app = gh.apps.registerApp({ slug: 'gitsync-test', owner: 'acme', publicKey });
    acme = gh.apps.install(app, 'acme');
  });
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await service?.close();
    service = undefined;
    await gh.close();
  });

  const start = async (policy: ServiceTokenPolicy = 'all') => {
    provider = new GitHubProvider(
      {
        id: 'github',
        type: 'github',
        web_url: gh.webUrl,
        api_url: gh.apiUrl,
        webhook_secret: SECRET,
        service_token_for: policy,
        app: { app_id: String(app.id), private_key: privateKey },
      },
      { clock, requestTimeoutMs: 2000 },
    );
    service = await startHostService({ adminKey: ADMIN, clock, provider });
    // The App's organization-wide webhook points at the service.
    app.webhook = { url: `${service.base}/api/v1/webhooks/github`, secret: SECRET };
    return service;
  };
  const track = (repo: string) => service!.chatReporting(stranger, `${gh.webUrl}/${repo}.git`, 'feature');
  const tick = async () => {
    await service!.runtime.engine.tick();
  };
  const installationToken = (installation: EmuInstallation) =>
    provider.repoCredentials!.cachedToken(installation.id)?.token;
  const routeCount = (route: string, status?: number) =>
    gh.log.filter((r) => r.route === route && (status === undefined || r.status === status)).length;
  /** Requests to the read routes (anything but the App's own). */
  const reads = () => gh.log.filter((r) => r.route !== null && !/installation|^get_app$/.test(r.route));

  it('refreshes a private repository through its installation: one lookup, one token, every read with it', async () => {
    const svc = await start();
    const chat = await track('acme/secret');
    await tick();

    expect(await svc.diffStatus(chat)).toMatchObject({
      pr_number: 1,
      pull_request_title: 'Work in acme/secret',
      pull_request_state: 'open',
      last_error: null,
    });
    expect(routeCount('get_repo_installation', 200)).toBe(1);
    expect(routeCount('create_installation_token', 201)).toBe(1);
    const token = installationToken(acme)!;
    expect(token).toMatch(/^ghs_/);
    expect(reads().length).toBeGreaterThan(0);
    expect(new Set(reads().map((r) => r.token_fingerprint))).toEqual(new Set([fingerprint(token)]));
    // The installation token is never stored or shown.
    expect(JSON.stringify(await svc.api('GET', `/api/v1/chats/${chat}`))).not.toContain(token);
  });

  it('renews the installation token five minutes before it expires, and keeps serving', async () => {
    await start();
    const chat = await track('acme/secret');
    await tick();
    const first = installationToken(acme)!;
    const expiresAt = provider.repoCredentials!.cachedToken(acme.id)!.expires_at;
    // An hour, as GitHub says it: in whole seconds.
    expect(+expiresAt - +clock.now()).toBeGreaterThan(60 * 60_000 - 1000);
    expect(+expiresAt - +clock.now()).toBeLessThanOrEqual(60 * 60_000);

    // 54 minutes on: the token still has more than 5 minutes to live, kept.
    clock.advance(54 * 60_000);
    await tick();
    expect(routeCount('create_installation_token')).toBe(1);
    expect(installationToken(acme)).toBe(first);

    // 56 minutes on: renewed before GitHub would refuse it; the ref is served with the new one.
    clock.advance(2 * 60_000);
    const before = gh.log.length;
    expect((await service!.api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).status).toBe(200);
    expect(routeCount('create_installation_token', 201)).toBe(2);
    const second = installationToken(acme)!;
    expect(second).not.toBe(first);
    const after = gh.log.slice(before).filter((r) => r.route !== null && !/installation/.test(r.route));
    expect(after.length).toBeGreaterThan(0);
    expect(new Set(after.map((r) => r.token_fingerprint))).toEqual(new Set([fingerprint(second)]));
    expect((await service!.diffStatus(chat)).last_error).toBeNull();
    // One lookup in all: the repository's installation is remembered.
    expect(routeCount('get_repo_installation')).toBe(1);
  });

  it('concurrent refs of one installation share one mint', async () => {
    await start();
    const chats = await Promise.all(['acme/secret', 'acme/open'].map((repo) => track(repo)));
    await tick();
    for (const chat of chats) expect((await service!.diffStatus(chat)).last_error).toBeNull();
    expect(routeCount('create_installation_token')).toBe(1);
  });

  it('concurrent callers share one mint; a configured installation_id is used without a lookup', async () => {
    const direct = new GitHubApp(
      gh.apiUrl,
      { app_id: String(app.id), private_key: privateKey, installation_id: acme.id },
      { clock, requestTimeoutMs: 2000 },
    );
    const repos = ['secret', 'open', 'secret', 'open', 'secret'].map((name) => ({ owner: 'acme', name }));
    const got = await Promise.all(repos.map((repo) => direct.forRepo(repo)));
    expect(new Set(got.map((c) => c?.token)).size).toBe(1);
    expect(got[0]).toMatchObject({ budgetKey: GitHubApp.budgetKey(gh.apiUrl, acme.id) });
    expect(direct.counts).toEqual({ lookups: 0, mints: 1 });
    expect(routeCount('create_installation_token', 201)).toBe(1);
    expect(routeCount('get_repo_installation')).toBe(0);
  });

  it('an installation deleted (the App webhook) drops its token at once; its refs then fail clearly', async () => {
    const svc = await start();
    const chat = await track('acme/secret');
    await tick();
    const token = installationToken(acme)!;
    expect(token).toBeDefined();

    await gh.apps.uninstall(acme);
    expect(gh.apps.deliveries).toEqual([{ event: 'installation', action: 'deleted', status: 202 }]);
    expect(installationToken(acme)).toBeUndefined();

    const refreshed = await svc.api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(refreshed.status).toBe(422);
    expect(refreshed.json.error).toMatchObject({
      code: 'no_token',
      message: expect.stringMatching(/acme\/secret is in no installation of its App.*token of your own/),
    });
    // The lookup was asked again (404 now); no token was minted for a deleted installation.
    expect(routeCount('get_repo_installation', 404)).toBe(1);
    expect(routeCount('create_installation_token')).toBe(1);
  });

  it('a replica the delivery did not reach drops the token GitHub refuses, then finds no installation', async () => {
    const svc = await start();
    const chat = await track('acme/secret');
    await tick();
    app.webhook = null; // the delivery goes to another replica
    await gh.apps.uninstall(acme);
    expect(installationToken(acme)).toBeDefined();

    const refused = await svc.api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(refused.status).toBe(422);
    expect(refused.json.error.code).toBe('token_rejected');
    expect(installationToken(acme)).toBeUndefined();
    const again = await svc.api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(again.status).toBe(422);
    expect(again.json.error.code).toBe('no_token');
    expect(routeCount('get_repo_installation', 404)).toBe(1);
  });

  it('an installation suspended drops its tokens; the suspended installation mints none', async () => {
    const svc = await start();
    const chat = await track('acme/secret');
    await tick();
    await gh.apps.suspend(acme);
    expect(gh.apps.deliveries.at(-1)).toEqual({ event: 'installation', action: 'suspend', status: 202 });
    expect(installationToken(acme)).toBeUndefined();
    const refreshed = await svc.api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(refreshed.status).toBe(422);
    expect(refreshed.json.error.code).toBe('no_token');
    expect(routeCount('create_installation_token')).toBe(1);
  });

  it('a suspend delivery sent again after the installation came back is a duplicate, and drops nothing', async () => {
    const svc = await start();
    const chat = await track('acme/secret');
    await tick();
    const suspended = gh.apps.deliveries.length;
    await gh.apps.suspend(acme);
    await gh.apps.unsuspend(acme);
    expect((await svc.api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {})).status).toBe(200);
    const held = installationToken(acme);
    expect(held).toBeDefined();
    // A captured (validly signed) delivery replayed: recognised, and the installation keeps its token.
    expect(await gh.apps.redeliver(suspended)).toBe(200);
    expect(gh.apps.deliveries.at(-1)).toEqual({ event: 'installation', action: 'suspend', status: 200 });
    expect(installationToken(acme)).toBe(held);
  });

  it('a repository in no installation is served as one without a token (refresh now: 422 no_token)', async () => {
    const svc = await start();
    const chat = await track('elsewhere/tool');
    const refreshed = await svc.api('POST', `/api/v1/chats/${chat}/diff-status/refresh`, {});
    expect(refreshed.status).toBe(422);
    expect(refreshed.json.error.code).toBe('no_token');
    expect(routeCount('create_installation_token')).toBe(0);
    expect(reads()).toEqual([]);
  });

  it('service_token_for "public": an installation token does not lend a private repository; "all" does', async () => {
    await start('public');
    const secret = await track('acme/secret');
    const open = await track('acme/open');
    await tick();
    expect(await service!.diffStatus(open)).toMatchObject({ pr_number: 1, last_error: null });
    expect(await service!.diffStatus(secret)).toMatchObject({
      pull_request_title: null,
      author_login: null,
      last_error: expect.stringMatching(/not confirmed public/),
    });
    // Nothing of the private repository's PRs was read: only whether it is public.
    expect(gh.log.filter((r) => r.path.includes('/repos/acme/secret/'))).toEqual([
      expect.objectContaining({ route: 'get_repo_installation' }),
    ]);
    await service!.close();
    service = undefined;

    await start('all');
    const lent = await track('acme/secret');
    await tick();
    expect(await service!.diffStatus(lent)).toMatchObject({ pull_request_title: 'Work in acme/secret' });
  });

  it('"none": no owner without a token of its own is served, and the App is never asked', async () => {
    const svc = await start('none');
    const chat = await track('acme/open');
    await tick();
    expect((await svc.diffStatus(chat)).last_error).toMatch(/^no token for github/);
    expect(gh.log).toEqual([]);
  });

  it('each installation is a budget of its own, kept by the installation across token renewals', async () => {
    const umbrella = gh.apps.install(app, 'umbrella', ['umbrella/lab'], 3000);
    await start();
    const a = await track('acme/secret');
    const b = await track('umbrella/lab');
    await tick();
    for (const chat of [a, b]) expect((await service!.diffStatus(chat)).last_error).toBeNull();
    expect(installationToken(acme)).not.toBe(installationToken(umbrella));

    const budgets = service!.runtime.engine.budgets;
    const keyOf = (i: EmuInstallation) => tokenFingerprint(GitHubApp.budgetKey(gh.apiUrl, i.id));
    const limits = (i: EmuInstallation) =>
      Object.fromEntries(budgets.states('github', keyOf(i)).map((s) => [s.scope, s.limit]));
    expect(limits(acme)).toMatchObject({ core: 5000 });
    expect(limits(umbrella)).toMatchObject({ core: 3000 });
    // Never keyed by a token.
    for (const i of [acme, umbrella])
      expect(budgets.states('github', tokenFingerprint(installationToken(i)!))).toEqual([]);

    // Renewed: the new token spends the same installation's budget.
    clock.advance(56 * 60_000);
    await tick();
    expect(routeCount('create_installation_token', 201)).toBe(4);
    expect(budgets.states('github', tokenFingerprint(installationToken(acme)!))).toEqual([]);
    expect(limits(acme)).toMatchObject({ core: 5000 });

    // The admin's budget view shows each installation apart.
    const view = await service!.runtime.engine.budget(stranger, { admin: true });
    expect(
      view.providers
        .filter((p) => p.scope === 'core')
        .map((p) => p.limit)
        .sort(),
    ).toEqual([3000, 5000]);
  });
});

describe('configuration of a GitHub App', () => {
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gitsync-app-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const load = (provider: Record<string, unknown>, env: Record<string, string> = {}) => {
    const path = join(dir, 'config.json');
    writeFileSync(
      path,
      JSON.stringify({
        providers: [{ id: 'github', type: 'github', web_url: 'https://github.com', ...provider }],
      }),
    );
    return loadConfig({ GITSYNC_CONFIG: path, ...env });
  };

  it('reads app_id, the key from its variable (one-line `\\n` escapes too) and installation_id', () => {
    for (const key of [pem, pem.replaceAll('\n', '\\n')]) {
      const [github] = load(
        { app_id: '12345', app_private_key_env: 'APP_KEY', installation_id: 42 },
        { APP_KEY: key },
      ).providers;
      expect(github!.app).toMatchObject({ app_id: '12345', installation_id: 42 });
      expect(github!.app!.private_key.asymmetricKeyType).toBe('rsa');
      // The parsed key shows nothing of itself when the configuration is printed.
      expect(JSON.stringify(github)).not.toContain('PRIVATE KEY');
    }
    expect(
      load({ app_id: 7, app_private_key_env: 'APP_KEY' }, { APP_KEY: pem }).providers[0]!.app!.app_id,
    ).toBe('7');
  });

  it('a bad key stops the start with an error naming the setting, never the key', () => {
    const garbage =
      '-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END RSA PRIVATE KEY-----\n';
    const failure = (provider: Record<string, unknown>, env: Record<string, string> = {}) => {
      try {
        load(provider, env);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('no error');
    };
    const bad = failure({ app_id: 1, app_private_key_env: 'APP_KEY' }, { APP_KEY: garbage });
    expect(bad).toMatch(
      /providers\[0\] \(github\): app_private_key_env: APP_KEY does not hold a readable PEM private key/,
    );
    expect(bad).not.toContain('bm90IGEga2V5');
    expect(failure({ app_id: 1, app_private_key_env: 'APP_KEY' }, { APP_KEY: 'hunter2' })).toMatch(
      /APP_KEY does not hold a PEM private key/,
    );
    expect(failure({ app_id: 1, app_private_key_env: 'APP_KEY' })).toMatch(
      /app_private_key_env: APP_KEY is not set/,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    expect(failure({ app_id: 1, app_private_key_env: 'APP_KEY' }, { APP_KEY: ec.toString() })).toMatch(
      /holds a ec key; a GitHub App's key is RSA/,
    );
    expect(failure({ app_id: 1 })).toMatch(/app_id needs app_private_key_env/);
    expect(failure({ installation_id: 3, app_private_key_env: 'APP_KEY' }, { APP_KEY: pem })).toMatch(
      /need app_id/,
    );
    expect(failure({ app_id: 'twelve', app_private_key_env: 'APP_KEY' }, { APP_KEY: pem })).toMatch(
      /providers\[0\]\.app_id/,
    );
    expect(
      failure(
        { type: 'gitlab', web_url: 'https://gitlab.com', app_id: 1, app_private_key_env: 'K' },
        { K: pem },
      ),
    ).toMatch(/for github providers only/);
  });
});
