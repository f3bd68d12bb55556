import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type GitHubEmulator, startGitHubEmulator } from '../emulator/github/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { systemClock } from '../src/core/clock.ts';
import { tokenFingerprint } from '../src/core/fingerprint.ts';
import { emptyPrFields, type PreviousPr, type PrFields } from '../src/core/types.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { openRuntime, type Runtime } from '../src/runtime.ts';
import { CHROMIUM_ARGS } from './helpers/chromium.ts';
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
    // A budget this test's 300 ms refreshes cannot spend (gitsync would hold back at its share).
    gh.addToken(TOKEN, 'agent-bot', 10_000_000, 10_000_000);
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
      args: CHROMIUM_ARGS,
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

  // The GitHub emulator does not report checks, mergeability or review threads yet (its providers
  // are being taught them), and the worker would overwrite whatever a test put in their place with
  // what the host says. So these tests write refs through the store, as the worker does, with
  // `stale_at` a day ahead: the worker never claims them, and the write publishes the same
  // `diff_status_change` a refresh does, so the page receives it live.
  const NEVER_DUE = new Date(Date.now() + 86_400_000);
  const prFields = (n: number, branch: string, fields: Partial<PrFields>): PrFields => ({
    url: `${gh.webUrl}/acme/app/pull/${n}`,
    pull_request_state: 'open',
    pull_request_title: `PR ${n}`,
    pull_request_draft: false,
    changes_requested: false,
    approved: false,
    reviewer_count: 0,
    additions: 10,
    deletions: 2,
    changed_files: 3,
    commits: 1,
    pr_number: n,
    author_login: 'agent-bot',
    author_avatar_url: null,
    base_branch: 'main',
    head_branch: branch,
    requested_reviewers: [],
    head_sha: `${n}`.padStart(40, 'a'),
    checks_state: 'none',
    checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
    merge_state: 'clean',
    merge_state_reason: null,
    awaiting_approval: false,
    unresolved_threads: 0,
    comments: 0,
    ...fields,
  });
  /** Writes a ref as a refresh would (see above), and publishes it. */
  const writeRef = async (
    refId: string,
    pr: PrFields | null,
    extra: { error?: string; previous?: PreviousPr[] } = {},
  ) => {
    const now = new Date();
    const result = await runtime.store.writeRefreshes([
      {
        id: refId,
        lease_until: null,
        pr: pr ?? emptyPrFields(),
        provider_id: 'github',
        refreshed_at: now,
        stale_at: NEVER_DUE,
        last_error: extra.error ?? null,
        last_error_at: extra.error ? now : null,
        error_count: extra.error ? 1 : 0,
        paused_until: null,
        pr_changed_at: now,
        previous_prs: extra.previous ?? [],
        publish: true,
      },
    ]);
    expect(result.failed.size).toBe(0);
  };
  /** A chat (through the API) with one ref that is never due (inserted directly), showing `pr`. */
  const seededChat = async (
    who: string,
    title: string,
    branch: string,
    pr: PrFields | null,
    extra: { error?: string; previous?: PreviousPr[]; parent?: string } = {},
  ) => {
    const id = randomUUID();
    await api('PUT', `/api/v1/chats/${id}`, {
      owner_id: who,
      title,
      ...(extra.parent ? { parent_chat_id: extra.parent } : {}),
    });
    const { rows } = await runtime.db.query<{ id: string }>(
      `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, provider_id, stale_at, created_at, updated_at)
       VALUES ($1, $2, $3, 'github', $4, $5, $5) RETURNING id`,
      [id, `${gh.webUrl}/acme/app`, branch, NEVER_DUE, new Date()],
    );
    await writeRef(String(rows[0]!.id), pr, extra);
    return id;
  };
  const text = (page: Page, selector: string) => page.locator(selector).first().textContent();
  const hashOf = (page: Page) => new URL(page.url()).hash;
  /** An attribute of every element `selector` matches, read at once (rows come and go as they render). */
  const attributes = (page: Page, selector: string, name: string): Promise<string[]> =>
    page.evaluate(
      `[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => e.getAttribute(${JSON.stringify(name)}))`,
    );

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

  it('places sub-agent chats from events by parent_chat_id; a parent’s event keeps its subtree', async () => {
    // Events carry a chat without its subtree (docs/api.md, "Events"): the page must place each by
    // its parent, keep children it has when their parent changes, and read a tree that comes back.
    const root = await seededChat(owner, 'Tree root', 'tree-root', null);
    const page = await openPage();
    await expect.poll(() => card(page, root).count(), { timeout: 10_000 }).toBe(1);
    const child = randomUUID();
    await api('PUT', `/api/v1/chats/${child}`, {
      owner_id: owner,
      title: 'Tree child',
      parent_chat_id: root,
    });
    const grandchild = randomUUID();
    await api('PUT', `/api/v1/chats/${grandchild}`, {
      owner_id: owner,
      title: 'Tree grandchild',
      parent_chat_id: child,
    });
    await expect.poll(() => card(page, grandchild).count(), { timeout: 10_000 }).toBe(1);
    expect(await card(page, child).textContent()).toMatch(/sub-agent/);
    // The root changes (its event has no children): its subtree stays on the page.
    await api('PUT', `/api/v1/chats/${root}`, { owner_id: owner, title: 'Tree root renamed' });
    await expect.poll(() => card(page, root).textContent(), { timeout: 10_000 }).toMatch(/Tree root renamed/);
    expect(await card(page, child).count()).toBe(1);
    expect(await card(page, grandchild).count()).toBe(1);
    // So does a child's when its own ref changes.
    await api('PUT', `/api/v1/chats/${child}`, { owner_id: owner, title: 'Tree child renamed' });
    await expect
      .poll(() => card(page, child).textContent(), { timeout: 10_000 })
      .toMatch(/Tree child renamed/);
    expect(await card(page, grandchild).count()).toBe(1);
    // Archived elsewhere: the tree leaves; unarchived: it comes back whole.
    await api('POST', `/api/v1/chats/${root}/archive`);
    await expect.poll(() => card(page, grandchild).count(), { timeout: 10_000 }).toBe(0);
    expect(await card(page, root).count()).toBe(0);
    await api('POST', `/api/v1/chats/${root}/unarchive`);
    await expect.poll(() => card(page, grandchild).count(), { timeout: 10_000 }).toBe(1);
    expect(await card(page, child).count()).toBe(1);
    expect(await card(page, root).count()).toBe(1);
    await page.close();
  });

  it('opens its stream with a ticket (the key is in no URL) and loads avatars only from the providers’ hosts', async () => {
    const urls: string[] = [];
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('request', (r) => urls.push(r.url()));
    const chat = await seededChat(
      owner,
      'Avatar from elsewhere',
      'avatar-elsewhere',
      prFields(77, 'avatar-elsewhere', { author_avatar_url: 'https://tracker.example/pixel.png' }),
    );
    await page.goto(`${base}/#key=${ADMIN}`);
    await expect.poll(() => page.locator('#conn-text').textContent(), { timeout: 10_000 }).toBe('Live');
    await expect.poll(() => card(page, chat).count(), { timeout: 10_000 }).toBe(1);
    const stream = urls.filter((u) => u.includes('/api/v1/events?'));
    expect(stream.length).toBeGreaterThan(0);
    expect(stream.every((u) => /[?&]ticket=gst_/.test(u))).toBe(true);
    expect(urls.some((u) => u.includes(ADMIN) && !u.includes('#key='))).toBe(false);
    expect(urls.some((u) => u.includes('access_token'))).toBe(false);
    // The host's avatar URL points elsewhere: a placeholder, never a request there.
    expect(await card(page, chat).locator('.avatar-placeholder').count()).toBe(1);
    expect(await card(page, chat).locator('img').count()).toBe(0);
    expect(urls.some((u) => u.includes('tracker.example'))).toBe(false);
    const res = await fetch(`${base}/`);
    expect(res.headers.get('content-security-policy')).not.toMatch(/img-src[^;]*https:(\s|;)/);
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
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-phone.png' });
    await page.close();
  });

  it('shows checks (failing ones by name), merge state and open threads at a glance (screenshot)', async () => {
    const who = randomUUID();
    const page = await openPage(`#key=${ADMIN}&owner=${who}`);
    await expect.poll(() => page.locator('#conn-text').textContent()).toBe('Live');
    // Written while the page is open: each arrives as events.
    const failing = await seededChat(
      who,
      'Fix the flaky payment flow',
      'fix-payments',
      prFields(101, 'fix-payments', {
        pull_request_title: 'Fix payment retries',
        checks_state: 'failing',
        checks: {
          passed: 5,
          failed: 2,
          pending: 0,
          skipped: 1,
          failing: [
            { name: 'e2e (chromium)', url: 'https://ci.example.com/runs/2' },
            { name: 'lint', url: 'https://ci.example.com/runs/1' },
          ],
        },
        merge_state: 'blocked',
        merge_state_reason: 'BLOCKED',
        changes_requested: true,
        reviewer_count: 2,
        unresolved_threads: 3,
        comments: 7,
        requested_reviewers: [{ kind: 'user', name: 'maria' }],
      }),
      {
        previous: [
          { url: `${gh.webUrl}/acme/app/pull/90`, pr_number: 90, pull_request_state: 'closed' },
          { url: `${gh.webUrl}/acme/app/pull/75`, pr_number: 75, pull_request_state: 'merged' },
        ],
      },
    );
    const pending = await seededChat(
      who,
      'Add search to the list',
      'add-search',
      prFields(102, 'add-search', {
        pull_request_title: 'Add search',
        checks_state: 'pending',
        checks: { passed: 2, failed: 0, pending: 3, skipped: 0, failing: [] },
        // GitHub has not computed mergeability yet right after a push.
        merge_state: 'unknown',
        comments: 1,
      }),
    );
    const passing = await seededChat(
      who,
      'Upgrade dependencies',
      'deps-upgrade',
      prFields(103, 'deps-upgrade', {
        pull_request_title: 'Upgrade dependencies',
        checks_state: 'passing',
        checks: { passed: 6, failed: 0, pending: 0, skipped: 0, failing: [] },
        merge_state: 'clean',
        approved: true,
        unresolved_threads: 1,
      }),
    );

    const chip = (chat: string, selector: string) => card(page, chat).locator(selector).first();
    await expect
      .poll(() => chip(failing, '[data-checks]').textContent(), { timeout: 10_000 })
      .toBe('✖ 2 checks failing: e2e (chromium), lint');
    expect(await chip(failing, '[data-checks] a').first().getAttribute('href')).toBe(
      'https://ci.example.com/runs/2',
    );
    expect(await chip(failing, '[data-merge]').textContent()).toBe('⊘ blocked');
    expect(await chip(failing, '[data-threads]').textContent()).toBe('3 open threads');
    expect(await card(page, failing).textContent()).toMatch(/Changes requested/);

    await expect.poll(() => chip(pending, '[data-checks]').textContent()).toBe('◌ 3 checks pending');
    expect(await chip(pending, '[data-merge]').getAttribute('data-merge')).toBe('unknown');
    expect(await chip(pending, '[data-merge]').textContent()).toBe('◌ checking');
    expect(await card(page, pending).locator('[data-threads]').count()).toBe(0);

    await expect.poll(() => chip(passing, '[data-checks]').textContent()).toBe('✔ 6 checks passed');
    expect(await chip(passing, '[data-merge]').textContent()).toBe('✔ mergeable');
    expect(await chip(passing, '[data-threads]').textContent()).toBe('1 open thread');
    expect(await card(page, passing).textContent()).toMatch(/Approved/);

    // Merge readiness: a "Ready" badge, else the first blocker in words (all of them in its title).
    expect(await chip(passing, '[data-ready]').getAttribute('data-ready')).toBe('false');
    expect(await chip(passing, '[data-ready]').textContent()).toBe('Threads open');
    expect(await chip(failing, '[data-ready]').getAttribute('data-blocker')).toBe('checks_failing');
    expect(await chip(failing, '[data-ready]').textContent()).toBe('Checks failing +2');
    expect(await chip(failing, '[data-ready]').getAttribute('title')).toBe(
      'Checks failing: e2e (chromium), lint\nChanges requested\nThreads open: 3 unresolved',
    );
    expect(await chip(pending, '[data-ready]').textContent()).toBe('Checks pending +1');
    const ready = await seededChat(
      who,
      'Ready to merge',
      'ready-one',
      prFields(104, 'ready-one', { checks_state: 'passing', approved: true }),
    );
    await expect.poll(() => chip(ready, '[data-ready]').textContent(), { timeout: 10_000 }).toBe('✔ Ready');
    expect(await chip(ready, '[data-ready]').getAttribute('data-ready')).toBe('true');
    // Live: a change that blocks it reaches the page by its event.
    const [readyRef] = (
      await runtime.db.query<{ id: string }>('SELECT id FROM diff_statuses WHERE chat_id = $1', [ready])
    ).rows;
    await writeRef(
      readyRef!.id,
      prFields(104, 'ready-one', {
        checks_state: 'passing',
        merge_state: 'behind',
        merge_state_reason: 'BEHIND',
      }),
    );
    await expect
      .poll(() => chip(ready, '[data-ready]').textContent(), { timeout: 10_000 })
      .toBe('Behind base');
    await api('DELETE', `/api/v1/chats/${ready}`);
    await expect.poll(() => card(page, ready).count(), { timeout: 10_000 }).toBe(0);

    // The summary counts this owner's chats.
    expect(await text(page, '#n-all')).toBe('3');
    expect(await text(page, '#n-open')).toBe('3');
    expect(await text(page, '#n-failing')).toBe('1');
    expect(await text(page, '#n-changes')).toBe('1');
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/dashboard-checks.png', fullPage: true });

    // Details: every check count, the failing ones as links, threads and comments, earlier PRs.
    await card(page, failing).locator('button[data-action="details"]').click();
    const details = page.locator('#details');
    await expect.poll(() => details.isVisible()).toBe(true);
    const body = await details.textContent();
    expect(body).toContain('8 in all: 5 passed, 2 failed, 0 pending, 1 skipped');
    expect(body).toContain('3 unresolved threads · 7 comments · 2 reviewers');
    expect(body).toContain('(BLOCKED)');
    expect(await details.locator('.failing-checks a').allTextContents()).toEqual(['e2e (chromium)', 'lint']);
    expect(await details.locator('[data-history] li').allTextContents()).toEqual([
      '#90 ✕Closed',
      '#75 ⇄Merged',
    ]);
    await page.screenshot({ path: 'test-results/dashboard-details.png' });
    await page.keyboard.press('Escape');
    await expect.poll(() => details.isVisible()).toBe(false);
    await page.close();
  });

  it('filters by the summary, searches title, branch and #number, and keeps the view in the link', async () => {
    const who = randomUUID();
    const failing = await seededChat(
      who,
      'Failing work',
      'red-branch',
      prFields(201, 'red-branch', {
        checks_state: 'failing',
        checks: { passed: 1, failed: 1, pending: 0, skipped: 0, failing: [{ name: 'unit', url: null }] },
      }),
    );
    const merged = await seededChat(
      who,
      'Merged work',
      'done-branch',
      prFields(202, 'done-branch', { pull_request_state: 'merged', checks_state: 'failing' }),
    );
    const draft = await seededChat(
      who,
      'Draft work',
      'wip-branch',
      prFields(203, 'wip-branch', { pull_request_draft: true }),
    );
    const review = await seededChat(
      who,
      'Reviewed work',
      'review-branch',
      prFields(204, 'review-branch', { changes_requested: true }),
    );
    const noPr = await seededChat(who, 'Not yet pushed for review', 'lonely-branch', null);
    const broken = await seededChat(who, 'Broken token', 'err-branch', null, {
      error: 'GitHub answered 502',
    });
    const parent = await seededChat(who, 'Parent agent', 'parent-branch', prFields(205, 'parent-branch', {}));
    const child = await seededChat(
      who,
      'Sub-agent with failing tests',
      'child-branch',
      prFields(206, 'child-branch', {
        checks_state: 'failing',
        checks: { passed: 0, failed: 1, pending: 0, skipped: 0, failing: [{ name: 'tests', url: null }] },
      }),
      { parent },
    );
    const page = await openPage(`#key=${ADMIN}&owner=${who}`);
    await expect.poll(() => text(page, '#n-all'), { timeout: 10_000 }).toBe('8');
    const shown = () => attributes(page, 'li.chat', 'data-chat');
    const shownSorted = async () => (await shown()).sort();
    expect(await text(page, '#n-open')).toBe('4');
    expect(await text(page, '#n-draft')).toBe('1');
    expect(await text(page, '#n-merged')).toBe('1');
    expect(await text(page, '#n-none')).toBe('2');
    // Failing checks count only open PRs: the merged one's old failure needs no one.
    expect(await text(page, '#n-failing')).toBe('2');
    expect(await text(page, '#n-changes')).toBe('1');
    expect(await text(page, '#n-attention')).toBe('1');

    await page.locator('button[data-flag="failing"]').click();
    // The parent is shown (marked) for its failing sub-agent.
    await expect.poll(shownSorted).toEqual([failing, parent, child].sort());
    expect(await card(page, parent).textContent()).toMatch(/has matching sub-agents/);
    expect(await page.locator('button[data-flag="failing"]').getAttribute('aria-pressed')).toBe('true');
    expect(await text(page, '#count')).toBe('2 of 8 chats match');
    expect(hashOf(page)).toBe(`#failing=1&owner=${who}`);

    // The link reproduces the view.
    const again = await openPage(`${hashOf(page)}&key=${ADMIN}`);
    await expect.poll(() => again.locator('li.chat').count(), { timeout: 10_000 }).toBe(3);
    expect(await again.locator('button[data-flag="failing"]').getAttribute('aria-pressed')).toBe('true');
    expect(hashOf(again)).toBe(`#failing=1&owner=${who}`);
    await again.close();

    await page.locator('button[data-flag="failing"]').click();
    await page.locator('button[data-state-filter="merged"]').click();
    await expect.poll(shown).toEqual([merged]);
    await page.locator('button[data-state-filter="draft"]').click();
    await expect.poll(shown).toEqual([draft]);
    await page.locator('button[data-state-filter="none"]').click();
    await expect.poll(shownSorted).toEqual([noPr, broken].sort());
    await page.locator('button[data-state-filter="none"]').click();
    await page.locator('button[data-flag="changes"]').click();
    await expect.poll(shown).toEqual([review]);
    await page.locator('button[data-flag="changes"]').click();
    await page.locator('button[data-flag="attention"]').click();
    await expect.poll(shown).toEqual([broken]);
    expect(await card(page, broken).locator('[data-problem="error"]').textContent()).toBe(
      '⚠ GitHub answered 502',
    );
    await page.locator('#clear-filters').click();
    await expect.poll(() => page.locator('li.chat').count()).toBe(8);

    const search = page.getByLabel('Search');
    await search.fill('#204');
    await expect.poll(shown).toEqual([review]);
    expect(hashOf(page)).toBe(`#q=%23204&owner=${who}`);
    await search.fill('lonely-branch');
    await expect.poll(shown).toEqual([noPr]);
    await search.fill('broken TOKEN');
    await expect.poll(shown).toEqual([broken]);
    await search.fill('nothing like this');
    await expect.poll(() => page.locator('#empty').textContent()).toBe('No chats match these filters.');
    await search.fill('');
    await expect.poll(() => page.locator('li.chat').count()).toBe(8);
    expect(hashOf(page)).toBe(`#owner=${who}`);
    await page.close();
  });

  it('offers the owner picker to the admin key only', async () => {
    const alice = randomUUID();
    const bob = randomUUID();
    await seededChat(alice, 'Alice one', 'alice-1', null);
    await seededChat(alice, 'Alice two', 'alice-2', null);
    await seededChat(bob, 'Bob one', 'bob-1', null);
    const page = await openPage();
    const picker = page.getByLabel('Owner');
    await expect.poll(() => picker.isVisible(), { timeout: 10_000 }).toBe(true);
    await expect
      .poll(() => attributes(page, '#owner-select option', 'value'))
      .toEqual(expect.arrayContaining(['', alice, bob]));
    await picker.selectOption(alice);
    await expect.poll(() => text(page, '#n-all')).toBe('2');
    expect(hashOf(page)).toBe(`#owner=${alice}`);
    await page.close();

    const { key } = (await api('POST', '/api/v1/keys', { owner_id: bob, name: 'dashboard test' })) as {
      key: string;
    };
    const own = await openPage(`#key=${key}`);
    await expect.poll(() => text(own, '#n-all'), { timeout: 10_000 }).toBe('1');
    expect(await own.locator('#owner-picker').isHidden()).toBe(true);
    await own.close();
  });

  it('shows a banner while the owner paused tracking, or gitsync’s share of the budget is spent', async () => {
    // What earlier tests left of the service token's budget (a rate limit they met) is not this test's.
    await runtime.db.query('DELETE FROM token_budgets');
    const carol = randomUUID();
    await seededChat(carol, 'Carol one', 'carol-1', null);
    const { key } = (await api('POST', '/api/v1/keys', { owner_id: carol, name: 'banner test' })) as {
      key: string;
    };
    await api('PUT', `/api/v1/owners/${carol}/tokens/github`, { paused: true });
    const page = await openPage(`#key=${key}`);
    const banner = page.locator('#budget-banner');
    await expect.poll(() => banner.textContent(), { timeout: 10_000 }).toMatch(/github: tracking is paused/);
    await page.close();

    // Resumed, on the service token, with only the owner's part of its budget left (as a host's
    // answers would have left it; this test's emulator has a budget too large to spend). Observed
    // "an hour from now", so that the emulator's own answers meanwhile do not replace it.
    await api('PUT', `/api/v1/owners/${carol}/tokens/github`, { paused: false });
    const now = new Date(Date.now() + 3_600_000);
    await runtime.store.recordBudgets(
      [
        {
          provider_id: 'github',
          token_fp: tokenFingerprint(TOKEN),
          scope: 'core',
          limit: 100,
          remaining: 5,
          reset_at: new Date(now.getTime() + 600_000),
          observed_at: now,
          paused_until: null,
        },
      ],
      [],
    );
    const again = await openPage(`#key=${key}`);
    await expect
      .poll(() => again.locator('#budget-banner').textContent(), { timeout: 10_000 })
      .toMatch(/github \(core\): checks are paused until .* gitsync's share of the token's budget is spent/);
    await again.screenshot({ path: 'test-results/dashboard-budget.png' });
    await again.close();
    await runtime.db.query('DELETE FROM token_budgets');
  });

  it('loads many chats page by page and renders only the rows in view', async () => {
    const who = randomUUID();
    const N = 1_200;
    const ids = Array.from({ length: N }, () => randomUUID());
    // Older than anything else here (so other tests' chats stay on top), newest first by number.
    await runtime.db.query(
      `INSERT INTO chats (id, owner_id, root_chat_id, title, created_at, updated_at)
       SELECT id, $2, id, 'Bulk chat ' || n, $3, $3::timestamptz - n * interval '1 second'
       FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
      [ids, who, new Date('2020-01-01T00:00:00Z')],
    );
    const { rows } = await runtime.db.query<{ id: string; chat_id: string }>(
      `INSERT INTO diff_statuses (chat_id, git_remote_origin, git_branch, provider_id, stale_at, created_at, updated_at)
       SELECT id, $2, 'bulk-' || n, 'github', $3, $4, $4 FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)
       RETURNING id, chat_id`,
      [ids, `${gh.webUrl}/acme/app`, NEVER_DUE, new Date('2020-01-01T00:00:00Z')],
    );
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    let pages = 0;
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/chats?archived=false&limit=500')) pages++;
    });
    await page.goto(`${base}/#key=${ADMIN}&owner=${who}`);
    await expect.poll(() => text(page, '#count'), { timeout: 20_000 }).toBe('1,200 chats');
    expect(pages).toBeGreaterThanOrEqual(3);
    const rendered = await page.locator('li.chat').count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(60);
    expect(await card(page, ids[0]!).getAttribute('aria-posinset')).toBe('1');
    expect(await card(page, ids[0]!).getAttribute('aria-setsize')).toBe('1200');

    // The last row exists once scrolled to.
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
    await expect.poll(() => card(page, ids[N - 1]!).count()).toBe(1);
    expect(await page.locator('li.chat').count()).toBeLessThan(60);
    expect(await card(page, ids[N - 1]!).textContent()).toContain('Bulk chat 1200');

    // An update to a chat out of view reaches the summary (and its row when scrolled to).
    const middle = rows.find((r) => r.chat_id === ids[600])!;
    await writeRef(
      String(middle.id),
      prFields(301, 'bulk-601', {
        checks_state: 'failing',
        checks: { passed: 0, failed: 1, pending: 0, skipped: 0, failing: [{ name: 'build', url: null }] },
      }),
    );
    await expect.poll(() => text(page, '#n-failing'), { timeout: 10_000 }).toBe('1');
    await page.getByLabel('Search').fill('#301');
    await expect.poll(() => page.locator('li.chat').count()).toBe(1);
    expect(await card(page, ids[600]!).locator('[data-checks]').textContent()).toBe(
      '✖ 1 check failing: build',
    );
    await page.close();
  });
});
