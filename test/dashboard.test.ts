import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { systemClock } from '../src/core/clock.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { schemaUrl } from './helpers/processes.ts';

const ADMIN = 'dashboard-test-admin-key-0';
const TOKEN = 'ghp_dashboard_test';
/** Chosen once per run by `test/setup/global-setup.ts`; playwright-core drives it, it downloads nothing. */
const CHROMIUM = inject('chromiumPath');

/** The dashboard in headless Chromium against the real service, engine and GitHub emulator. */
describe('dashboard', () => {
  let db: TestDatabase;
  let gh: GitHubEmulator;
  let runtime: Runtime;
  let server: ReturnType<typeof serve>;
  let base: string;
  let browser: Browser;
  const owner = randomUUID();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gh = await startGitHubEmulator();
    gh.addToken(TOKEN, 'agent-bot');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    const config = loadConfig({});
    runtime = await openRuntime(
      {
        ...config,
        database_url: schemaUrl(db.schema),
        admin_token: ADMIN,
        log_level: 'silent',
        providers: [],
        worker: { ...config.worker, tick_interval_ms: 200, fresh_ttl_ms: 300, no_pr_backoff_ms: 200 },
      },
      {
        providers: [
          new GitHubProvider(
            { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl, service_token: TOKEN },
            { clock: systemClock },
          ),
        ],
      },
    );
    await runtime.start();
    server = serve({ fetch: runtime.http.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
    await runtime?.close();
    await gh?.close();
    await db?.drop();
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBeLessThan(300);
    return res.json().catch(() => null);
  };
  const chatWithBranch = async (title: string, branch: string, parent?: string) => {
    const id = randomUUID();
    await api('PUT', `/api/v1/chats/${id}`, {
      owner_id: owner,
      title,
      ...(parent ? { parent_chat_id: parent } : {}),
    });
    await api('POST', '/api/v1/git-refs', { chat_id: id, origin: `${gh.webUrl}/acme/app.git`, branch });
    return id;
  };
  const openPage = async (hash = `#key=${ADMIN}`): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${base}/${hash}`);
    return page;
  };
  const card = (page: Page, chat: string) => page.locator(`li.chat[data-chat="${chat}"]`).first();

  it('a wrong key gets a clear message', async () => {
    const page = await openPage('#key=gsk_not_a_real_key');
    await expect.poll(() => page.locator('#sign-in-error').textContent()).toMatch(/not accepted/);
    expect(await page.locator('#board').isHidden()).toBe(true);
    await page.close();
  });

  it('signs in with a #key link (and removes it from the address bar), then follows a PR live', async () => {
    const page = await openPage();
    await expect.poll(() => page.locator('#conn-text').textContent()).toBe('Live');
    expect(page.url()).toBe(`${base}/`);

    const chat = await chatWithBranch('Agent builds the feature', 'feature');
    await expect
      .poll(() => card(page, chat).textContent(), { timeout: 10_000 })
      .toMatch(/no pull request yet/);

    // Opened on the code host: appears without a reload.
    gh.model.openPull('acme/app', {
      head: 'feature',
      title: 'Add the feature',
      additions: 42,
      deletions: 7,
      changed_files: 5,
      author: 'agent-bot',
    });
    const badge = card(page, chat).locator('.badge').first();
    await expect.poll(() => badge.getAttribute('data-state'), { timeout: 10_000 }).toBe('open');
    const text = await card(page, chat).textContent();
    expect(text).toContain('#1 Add the feature');
    expect(text).toContain('+42');
    expect(text).toContain('5 files');

    // Reviews requested: people, then teams as @org/team, escaped like the rest of the card.
    gh.model.requestReviewers('acme/app', 1, {
      reviewers: ['maria'],
      team_reviewers: ['core', '<b>ops</b>'],
    });
    const requested = card(page, chat).locator('[data-requested]');
    await expect
      .poll(() => requested.textContent(), { timeout: 10_000 })
      .toBe('review requested: maria, @acme/<b>ops</b>, @acme/core');

    gh.model.review('acme/app', 1, { login: 'maria', state: 'APPROVED' });
    await expect.poll(() => card(page, chat).textContent(), { timeout: 10_000 }).toMatch(/Approved/);
    // Her review answered her request; the teams' stand.
    expect(await requested.textContent()).toBe('review requested: @acme/<b>ops</b>, @acme/core');

    // A populated page for the record.
    const parent = await chatWithBranch('Refactor with sub-agents', 'refactor');
    await chatWithBranch('Sub-agent: tests', 'refactor-tests', parent);
    gh.model.openPull('acme/app', {
      head: 'refactor',
      title: 'Refactor storage',
      draft: true,
      additions: 300,
      deletions: 120,
    });
    gh.model.review('acme/app', 2, { login: 'lee', state: 'CHANGES_REQUESTED' });
    await expect
      .poll(() => card(page, parent).locator('.badge').first().getAttribute('data-state'), {
        timeout: 10_000,
      })
      .toBe('draft');

    gh.model.merge('acme/app', 1);
    await expect.poll(() => badge.getAttribute('data-state'), { timeout: 10_000 }).toBe('merged');
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
    await page.close();
  });

  it('archive hides a chat from the active view and shows it under archived; keyboard works', async () => {
    const chat = await chatWithBranch('To be archived', 'old-work');
    const page = await openPage();
    await expect.poll(() => card(page, chat).count(), { timeout: 10_000 }).toBe(1);
    const archive = card(page, chat).locator('button[data-action="archive"]');
    await archive.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => card(page, chat).count(), { timeout: 10_000 }).toBe(0);
    await page.locator('button[data-filter="archived"]').click();
    await expect.poll(() => card(page, chat).count(), { timeout: 10_000 }).toBe(1);
    expect(await card(page, chat).textContent()).toMatch(/archived/);
    await page.close();
  });

  it('shows a paused ref with its reason, and refresh now reports the outcome', async () => {
    const chat = await chatWithBranch('Rate limited', 'limited');
    const page = await openPage();
    await expect.poll(() => card(page, chat).count(), { timeout: 10_000 }).toBe(1);
    // Like GitHub, the emulator answers every request with the limit until it resets (the worker
    // may meet it before the button's refresh does).
    gh.addFaults({ kind: 'rate_limit', reset_in_s: 600 });
    await page.locator(`li.chat[data-chat="${chat}"] button[data-action="refresh"]`).first().click();
    await expect
      .poll(() => page.locator('#toast').textContent(), { timeout: 10_000 })
      .toMatch(/rate limited/);
    // The worker then skips the paused token's rows until the reset, and the page says why.
    const problem = card(page, chat).locator('[data-problem="paused"]');
    await expect.poll(() => problem.textContent(), { timeout: 10_000 }).toMatch(/Paused: rate limited until/);
    gh.faults.length = 0;
    await page.close();
  });

  it('is readable on a phone', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 800 } });
    await page.goto(`${base}/#key=${ADMIN}`);
    await expect.poll(() => page.locator('li.chat').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    // Evaluated in the page (no DOM types in this Node project, hence the string).
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
  });
});
