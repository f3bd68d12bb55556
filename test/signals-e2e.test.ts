import { createHmac, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startAzureDevOpsEmulator } from '../emulator/azure-devops/server.ts';
import {
  HookPayloads as AzureDevOpsHooks,
  deliver as deliverToAzureDevOps,
} from '../emulator/azure-devops/webhooks.ts';
import { startBitbucketEmulator } from '../emulator/bitbucket/server.ts';
import {
  HookPayloads as BitbucketHooks,
  deliver as deliverToBitbucket,
} from '../emulator/bitbucket/webhooks.ts';
import { startGiteaEmulator } from '../emulator/gitea/server.ts';
import { deliver as deliverToGitea, HookPayloads as GiteaHooks } from '../emulator/gitea/webhooks.ts';
import { type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { type GitLabEmulator, startGitLabEmulator } from '../emulator/gitlab/server.ts';
import { deliver as deliverToGitLab, HookPayloads as GitLabHooks } from '../emulator/gitlab/webhooks.ts';
import { FakeClock } from '../src/core/clock.ts';
import { AzureDevOpsProvider } from '../src/providers/azure-devops/azure-devops-provider.ts';
import { BitbucketProvider } from '../src/providers/bitbucket/bitbucket-provider.ts';
import { GiteaProvider } from '../src/providers/gitea/gitea-provider.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { GitLabProvider } from '../src/providers/gitlab/gitlab-provider.ts';
import { CHECKS_SETTLE_MS } from '../src/providers/pull-reads-cache.ts';
import type { Provider } from '../src/providers/types.ts';
import { type HostService, startHostService } from './helpers/host-service.ts';
import { SseClient } from './helpers/sse.ts';

const ADMIN = 'signals-e2e-admin-key-0123';
const TOKEN = 'signals-e2e-owner-token';
const SECRET = 'signals e2e webhook secret';

/**
 * Never stale after a signal, on every host, through the whole service: a settled PR whose check
 * is re-run on the same head commit (which changes nothing the PR itself shows, so what the
 * provider keeps would answer a plain refresh) shows the new result once the host's webhook
 * announces it — read fresh by the worker the delivery woke, within a second. The clock does not
 * move meanwhile and the loop's interval is a minute, so nothing but the signal brings it.
 */
describe('a check re-run announced by webhook shows within a second', () => {
  let svc: HostService | undefined;
  let front: HostService | undefined;
  let stream: SseClient | undefined;
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await stream?.close();
    await front?.close();
    await svc?.close();
    front = undefined;
    for (const close of closers.splice(0)) await close();
    svc = undefined;
    stream = undefined;
  });

  /**
   * Two replicas on one database, each with its own provider (its own kept reads): `svc`, whose
   * worker refreshes a chat on `branch` of `origin` until its checks are settled
   * (`CHECKS_SETTLE_MS` of the same answer) and then runs its loop, and `front`, which receives
   * the webhook and refreshes nothing — so what the delivery tells its own provider cannot help.
   */
  async function settledChat(clock: FakeClock, provider: () => Provider, origin: string, branch: string) {
    svc = await startHostService({
      adminKey: ADMIN,
      clock,
      provider: provider(),
      worker: { tick_interval_ms: 60_000 },
    });
    front = await startHostService({ adminKey: ADMIN, clock, provider: provider(), replicaOf: svc });
    const providerId = svc.runtime.providers.providers[0]!.config.id;
    const owner = randomUUID();
    expect(
      (await svc.api('PUT', `/api/v1/owners/${owner}/tokens/${providerId}`, { token: TOKEN })).status,
    ).toBe(204);
    const chat = await svc.chatReporting(owner, origin, branch);
    for (let t = 0; t <= CHECKS_SETTLE_MS + 120_000; t += 120_000) {
      await svc.runtime.engine.tick();
      clock.advance(120_000);
    }
    await svc.runtime.engine.tick();
    expect(await svc.diffStatus(chat)).toMatchObject({ checks_state: 'failing' });
    stream = await SseClient.open(`${svc.base}/api/v1/events`, { authorization: `Bearer ${ADMIN}` });
    svc.runtime.engine.start();
    return chat;
  }

  /** Delivers the webhook and waits for the chat's event showing passing checks; the time it took. */
  async function signalled(chat: string, deliver: () => Promise<number>) {
    const started = performance.now();
    expect(await deliver()).toBeLessThan(300);
    const event = await stream!.waitFor((e) => {
      if (e.event !== 'diff_status_change') return false;
      const data = JSON.parse(e.data) as {
        chat: { id: string };
        changed_diff_status: { checks_state: string };
      };
      return data.chat.id === chat && data.changed_diff_status.checks_state === 'passing';
    }, 5_000);
    const elapsed = performance.now() - started;
    expect(event).toBeDefined();
    expect(await svc!.diffStatus(chat)).toMatchObject({ checks_state: 'passing', checks: { failed: 0 } });
    expect(elapsed).toBeLessThan(1_000);
  }

  it('GitHub: check_run', async () => {
    const clock = new FakeClock(new Date());
    const gh: GitHubEmulator = await startGitHubEmulator({ now: () => clock.now() });
    closers.push(() => gh.close());
    gh.addToken(TOKEN, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    const pull = gh.model.openPull('acme/app', { head: 'feature' });
    gh.model.addCheckRun({ head_sha: pull.head_sha, name: 'ci', conclusion: 'failure' });
    const provider = () =>
      new GitHubProvider(
        { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl, webhook_secret: SECRET },
        { clock },
      );
    const chat = await settledChat(clock, provider, `${gh.webUrl}/acme/app`, 'feature');
    const run = gh.model.addCheckRun({ head_sha: pull.head_sha, name: 'ci', conclusion: 'success' });
    await signalled(chat, async () => {
      // GitHub's check_run delivery (its example payloads' shape: the run with its head commit).
      const body = JSON.stringify({
        action: 'completed',
        check_run: {
          id: run.id,
          name: 'ci',
          head_sha: pull.head_sha,
          status: 'completed',
          conclusion: 'success',
        },
        repository: { html_url: `${gh.webUrl}/acme/app` },
      });
      const res = await fetch(`${front!.base}/api/v1/webhooks/github`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'check_run',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
        },
        body,
      });
      return res.status === 202 ? 0 : res.status;
    });
  });

  it('Gitea: status', async () => {
    const clock = new FakeClock(new Date());
    const gt = await startGiteaEmulator({ now: () => clock.now() });
    closers.push(() => gt.close());
    gt.addToken(TOKEN, 'agent');
    const repo = 'platform/api';
    gt.model.createRepo({ full_name: repo, members: ['agent'] });
    const pull = gt.model.openPull(repo, { head: 'feature' });
    gt.model.setStatus(repo, pull.head_sha, { context: 'build', state: 'failure' });
    const provider = () =>
      new GiteaProvider(
        { id: 'gitea', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl, webhook_secret: SECRET },
        'gitea',
        { clock },
      );
    const chat = await settledChat(clock, provider, `${gt.webUrl}/${repo}`, 'feature');
    gt.model.setStatus(repo, pull.head_sha, { context: 'build', state: 'success' });
    await signalled(chat, async () => {
      const payload = new GiteaHooks(gt).status(gt.model.repo(repo), pull.head_sha, 'ci');
      const delivery = await deliverToGitea(
        `${front!.base}/api/v1/webhooks/gitea`,
        'status',
        payload,
        SECRET,
        'gitea',
      );
      return delivery.status === 202 ? 0 : delivery.status;
    });
  });

  it('Bitbucket: repo:commit_status_updated', async () => {
    const clock = new FakeClock(new Date());
    const bb = await startBitbucketEmulator({ now: () => clock.now() });
    closers.push(() => bb.close());
    bb.addAccessToken(TOKEN, { workspace: 'acme', user: 'acme-bot' });
    const repo = 'acme/api';
    bb.model.createRepo({ full_name: repo, is_private: true });
    const pr = bb.model.openPull(repo, { source_branch: 'feature' });
    const head = bb.model.head(repo, pr.id);
    bb.model.setStatus(head, { key: 'build', state: 'FAILED', refname: 'feature' });
    const provider = () =>
      new BitbucketProvider(
        {
          id: 'bb',
          type: 'bitbucket',
          web_url: 'https://bitbucket.org',
          api_url: bb.apiUrl,
          webhook_secret: SECRET,
        },
        { clock },
      );
    const chat = await settledChat(clock, provider, `https://bitbucket.org/${repo}`, 'feature');
    bb.model.setStatus(head, { key: 'build', state: 'SUCCESSFUL', refname: 'feature' });
    await signalled(chat, async () => {
      const payload = new BitbucketHooks(bb).commitStatus(bb.model.repo(repo), head, 'build', 'ci-bot');
      const delivery = await deliverToBitbucket(
        `${front!.base}/api/v1/webhooks/bb`,
        'repo:commit_status_updated',
        payload,
        SECRET,
      );
      return delivery.status === 202 ? 0 : delivery.status;
    });
  });

  it('GitLab: pipeline', async () => {
    const clock = new FakeClock(new Date());
    const gl: GitLabEmulator = await startGitLabEmulator();
    closers.push(() => gl.close());
    gl.addToken(TOKEN, 'agent');
    const project = 'platform/api';
    gl.model.createProject({ path: project, visibility: 'private', members: ['agent'] });
    gl.model.push(project, 'feature');
    gl.model.openMergeRequest(project, { source_branch: 'feature' });
    const pipeline = gl.model.createPipeline(project, {
      ref: 'feature',
      jobs: [{ name: 'unit', stage: 'test', status: 'failed' }],
    });
    const provider = () =>
      new GitLabProvider(
        { id: 'gitlab', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl, webhook_secret: SECRET },
        { clock },
      );
    const chat = await settledChat(clock, provider, `${gl.webUrl}/${project}`, 'feature');
    gl.model.retryJob(pipeline.id, 'unit');
    gl.model.updateJob(pipeline.id, 'unit', { status: 'success' });
    await signalled(chat, async () => {
      const payload = new GitLabHooks(gl.renderer).pipeline(gl.model.pipeline(pipeline.id));
      const delivery = await deliverToGitLab(
        `${front!.base}/api/v1/webhooks/gitlab`,
        'pipeline',
        payload,
        SECRET,
      );
      return delivery.status === 200 || delivery.status === 202 ? 0 : delivery.status;
    });
  });

  it('Azure DevOps: build.complete', async () => {
    const clock = new FakeClock(new Date());
    const az = await startAzureDevOpsEmulator({ mergeOnRead: true });
    closers.push(() => az.close());
    az.addToken(TOKEN, 'agent@contoso.com');
    const repo = 'contoso/Platform/api';
    az.model.createRepo(repo, { visibility: 'private' });
    const policy = az.model.addPolicy(repo, 'build', { settings: { displayName: 'CI' } });
    const pull = az.model.openPull(repo, { source_branch: 'feature', author: 'agent@contoso.com' });
    az.model.build(pull, policy, 'failed', { errors: ['unit: 1 failed'] });
    const provider = () =>
      new AzureDevOpsProvider(
        { id: 'ado', type: 'azure-devops', web_url: az.webUrl, api_url: az.url, webhook_secret: SECRET },
        { clock },
      );
    const chat = await settledChat(clock, provider, `${az.webUrl}/contoso/Platform/_git/api`, 'feature');
    // Re-queued on the same head: a build validation's build reruns the PR's test merge.
    az.model.build(pull, policy, 'running');
    const build = az.model.build(pull, policy, 'succeeded');
    // A delivery of that event naming no commit and no PR is refused, and changes nothing.
    const hooks = new AzureDevOpsHooks(az);
    const nameless = { ...hooks.buildCompleted(pull, policy, build, 'succeeded'), resource: {} };
    expect((await deliverToAzureDevOps(`${front!.base}/api/v1/webhooks/ado`, nameless, SECRET)).status).toBe(
      400,
    );
    await signalled(chat, async () => {
      const payload = hooks.buildCompleted(pull, policy, build, 'succeeded');
      const delivery = await deliverToAzureDevOps(`${front!.base}/api/v1/webhooks/ado`, payload, SECRET);
      return delivery.status === 202 ? 0 : delivery.status;
    });
  });
});
