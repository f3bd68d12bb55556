/**
 * The dashboard with many chats, in headless Chromium against the real service (HTTP, SSE,
 * PostgreSQL): time to the first rows, time until every chat is loaded and the summary counts them
 * right, bursts of `diff_status_change` events applied and repainted, and frame times while
 * scrolling. It prints figures; nothing here passes or fails.
 */
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { loadConfig } from '../src/config/config.ts';
import type { PrFields } from '../src/core/types.ts';
import { openRuntime } from '../src/runtime.ts';
import type { Database } from '../src/store/database.ts';
import type { RefWrite } from '../src/store/store.ts';
import { CHROMIUM_ARGS, chooseChromium } from '../test/helpers/chromium.ts';
import { type SeededRef, seedRefs } from './seed.ts';
import { percentile, round } from './stats.ts';

const ADMIN = 'bench-dashboard-admin-key';
const ORIGIN = 'https://github.com/acme/app';
/** No seeded ref is ever due: the numbers are the page's, not the worker's. */
const NEVER_DUE = new Date('2999-01-01T00:00:00Z');
const fmt = (n: number) => n.toLocaleString('en-US');

export interface DashboardFigures {
  chats: number;
  first_rows_ms: number;
  all_loaded_ms: number;
  in_page_first_rows_ms: number;
  in_page_loaded_ms: number;
  bursts: {
    events: number;
    write_ms: number;
    to_painted_ms: number;
    page_work_ms: number;
    frames: number;
    longest_frame_ms: number;
  }[];
  scroll: {
    kind: string;
    frames: number;
    work_p50_ms: number;
    work_p99_ms: number;
    work_max_ms: number;
    interval_p50_ms: number;
    interval_p99_ms: number;
  }[];
  dom_rows: number;
  js_heap_mb: number | null;
}

/**
 * What the n-th chat with a PR shows, over 18 kinds in turn: half open (checks failing, pending,
 * passing or none; every merge state; some changes requested), drafts, merged and closed PRs.
 */
function prOf(n: number): PrFields {
  const k = n % 18;
  const open = k < 12;
  const checks =
    k < 2 || k === 10 ? 'failing' : k < 4 || k === 11 ? 'pending' : k === 9 ? 'none' : ('passing' as const);
  return {
    url: `${ORIGIN}/pull/${n}`,
    pull_request_state: open ? 'open' : k < 17 ? 'merged' : 'closed',
    pull_request_title: `Agent change ${n}`,
    pull_request_draft: k === 10 || k === 11,
    changes_requested: k === 4 || k === 5,
    approved: k === 6,
    reviewer_count: k % 3,
    additions: n % 500,
    deletions: n % 70,
    changed_files: (n % 9) + 1,
    commits: (n % 5) + 1,
    pr_number: n,
    author_login: 'agent-bot',
    author_avatar_url: null,
    base_branch: 'main',
    head_branch: `agent/task-${n}`,
    requested_reviewers: k === 7 ? [{ kind: 'user', name: 'maria' }] : [],
    head_sha: n.toString(16).padStart(40, '0'),
    checks_state: checks,
    checks:
      checks === 'none'
        ? { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] }
        : {
            passed: 4,
            failed: checks === 'failing' ? 2 : 0,
            pending: checks === 'pending' ? 1 : 0,
            skipped: 1,
            failing:
              checks === 'failing'
                ? [
                    { name: 'lint', url: null },
                    { name: 'test (ubuntu)', url: null },
                  ]
                : [],
          },
    merge_state: !open
      ? null
      : k === 10 || k === 11
        ? 'draft'
        : ((['conflicting', 'blocked', 'unknown', 'behind'] as const)[k] ?? 'clean'),
    merge_state_reason: null,
    awaiting_approval: open ? k === 8 : null,
    unresolved_threads: n % 4,
    comments: n % 11,
  };
}

/** The page's figures (`window.gitsyncDashboard.stats`), read in the page. */
const STATS = 'window.gitsyncDashboard.stats';

export async function measureDashboard(
  db: Database,
  databaseUrl: string,
  opts: { chats: number; bursts: readonly number[] },
): Promise<DashboardFigures> {
  // ---- seed: 90 % of the chats with a PR, the rest waiting for one; 1 % with an error
  const owners = Array.from(
    { length: 10 },
    (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  );
  const withPr = Math.round(opts.chats * 0.9);
  const base = new Date();
  const seeded = await seedRefs(db, {
    refs: withPr,
    owners,
    origin: ORIGIN,
    provider_id: 'github',
    branch: (n) => `agent/task-${n}`,
    chats_created_at: base,
    reported_at: base,
    stale_at: () => NEVER_DUE,
    shows: (n) => ({ pr: prOf(n), refreshed_at: base }),
  });
  const waiting = await seedRefs(db, {
    refs: opts.chats - withPr,
    owners,
    origin: ORIGIN,
    provider_id: 'github',
    branch: (n) => `agent/waiting-${n}`,
    chats_created_at: base,
    reported_at: base,
    stale_at: () => NEVER_DUE,
  });
  // Titles, and one chat a second back in time, so the list's order is the seeding order.
  const all = [...seeded, ...waiting];
  await db.query(
    `UPDATE chats c SET title = 'Agent task ' || t.n || ': ' || t.label,
       updated_at = $3::timestamptz - t.n * interval '1 second'
     FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS t(id, label, n) WHERE c.id = t.id`,
    [all.map((r) => r.chat_id), all.map((r, i) => (i < withPr ? `change ${r.n}` : `waiting ${r.n}`)), base],
  );
  const broken = all.filter((_, i) => i % 100 === 99);
  await db.query(
    `UPDATE diff_statuses SET last_error = 'GitHub answered 502', last_error_at = $2, error_count = 1
     WHERE id = ANY($1::bigint[])`,
    [broken.map((r) => r.id), base],
  );
  const expectFailing = seeded.filter((r) => prOf(r.n).checks_state === 'failing' && r.n % 18 < 12).length;

  // ---- the service: HTTP and events, no worker
  const config = loadConfig({});
  const runtime = await openRuntime(
    {
      ...config,
      database_url: databaseUrl,
      admin_token: ADMIN,
      providers: [],
      worker: { ...config.worker, enabled: false },
    },
    { logger: pino({ level: 'silent' }) },
  );
  await runtime.start();
  const server = serve({ fetch: runtime.http.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: (await chooseChromium()).path,
    args: CHROMIUM_ARGS,
  });
  try {
    // `bypassCSP` lets Playwright's string predicates run (they are evaluated with `eval`, which the
    // dashboard's policy forbids); the page itself loads and runs as it does for anyone.
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    // ---- load
    const t0 = performance.now();
    await page.goto(`${url}/#key=${ADMIN}`, { waitUntil: 'commit' });
    await page.waitForSelector('li.chat', { timeout: 120_000 });
    const firstRows = performance.now() - t0;
    let failing = expectFailing;
    const summaryRight = () =>
      `document.getElementById('count').textContent === '${fmt(opts.chats)} chats' &&
       document.getElementById('n-all').textContent === '${fmt(opts.chats)}' &&
       document.getElementById('n-none').textContent === '${fmt(opts.chats - withPr)}' &&
       document.getElementById('n-attention').textContent === '${fmt(broken.length)}' &&
       document.getElementById('n-failing').textContent === '${fmt(failing)}'`;
    await page.waitForFunction(summaryRight(), undefined, { polling: 'raf', timeout: 300_000 });
    const allLoaded = performance.now() - t0;
    const inPage = (await page.evaluate(`({ first: ${STATS}.firstRowsAt, loaded: ${STATS}.loadedAt })`)) as {
      first: number;
      loaded: number;
    };

    // ---- bursts: open PRs whose checks were passing now fail, the first ones at the top of the list
    const brokenIds = new Set(broken.map((r) => r.id));
    const passing = seeded.filter(
      (r) => prOf(r.n).checks_state === 'passing' && r.n % 18 < 12 && !brokenIds.has(r.id),
    );
    passing.sort((a, b) => a.n - b.n);
    const bursts: DashboardFigures['bursts'] = [];
    let used = 0;
    for (const size of opts.bursts) {
      const refs = passing.slice(used, used + size);
      used += size;
      const mark = (await page.evaluate('performance.now()')) as number;
      const applied = (await page.evaluate(`${STATS}.eventsApplied`)) as number;
      failing += refs.length;
      const b0 = performance.now();
      const result = await runtime.store.writeRefreshes(refs.map((r) => failingWrite(r)));
      const written = performance.now() - b0;
      if (result.published !== refs.length)
        throw new Error(`published ${result.published} of ${refs.length}`);
      await page.waitForFunction(
        `${STATS}.eventsApplied >= ${applied + refs.length} && ${summaryRight()}`,
        undefined,
        {
          polling: 'raf',
          timeout: 120_000,
        },
      );
      const painted = performance.now() - b0;
      const frames = (await page.evaluate(
        `${STATS}.frames.filter((f) => f.at >= ${mark}).map((f) => f.ms)`,
      )) as number[];
      bursts.push({
        events: refs.length,
        write_ms: round(written, 0),
        to_painted_ms: round(painted, 0),
        page_work_ms: round(
          frames.reduce((a, b) => a + b, 0),
          1,
        ),
        frames: frames.length,
        longest_frame_ms: round(Math.max(0, ...frames), 1),
      });
    }

    // ---- scrolling: a fast wheel (~1 row a frame), then jumps anywhere in the list
    const scroll: DashboardFigures['scroll'] = [];
    for (const [kind, script] of [
      ['wheel, 120 px a frame', '(i, max) => (i * 120) % max'],
      ['jumps to anywhere', '(i, max) => ((i * 7919 * 104) % max)'],
    ] as const) {
      const r = (await page.evaluate(`(async () => {
        const at = ${script};
        const stats = ${STATS};
        const max = document.documentElement.scrollHeight - innerHeight;
        const mark = performance.now();
        const intervals = [];
        let last = performance.now();
        for (let i = 1; i <= 300; i++) {
          window.scrollTo(0, at(i, max));
          await new Promise((r) => requestAnimationFrame(r));
          const now = performance.now();
          intervals.push(now - last);
          last = now;
        }
        await new Promise((r) => requestAnimationFrame(r));
        return { intervals, work: stats.frames.filter((f) => f.at >= mark).map((f) => f.ms) };
      })()`)) as { intervals: number[]; work: number[] };
      scroll.push({
        kind,
        frames: r.work.length,
        work_p50_ms: round(percentile(r.work, 50), 2),
        work_p99_ms: round(percentile(r.work, 99), 2),
        work_max_ms: round(Math.max(0, ...r.work), 2),
        interval_p50_ms: round(percentile(r.intervals, 50), 1),
        interval_p99_ms: round(percentile(r.intervals, 99), 1),
      });
    }
    const domRows = (await page.evaluate(`document.querySelectorAll('li.chat').length`)) as number;
    const heap = (await page.evaluate('performance.memory ? performance.memory.usedJSHeapSize : null')) as
      | number
      | null;
    return {
      chats: opts.chats,
      first_rows_ms: round(firstRows, 0),
      all_loaded_ms: round(allLoaded, 0),
      in_page_first_rows_ms: round(inPage.first, 0),
      in_page_loaded_ms: round(inPage.loaded, 0),
      bursts,
      scroll,
      dom_rows: domRows,
      js_heap_mb: heap === null ? null : round(heap / 1024 / 1024, 1),
    };
  } finally {
    await browser.close();
    server.close();
    await runtime.close();
  }
}

/** The ref as the worker would write it when its checks turn red: published, so the page hears of it. */
function failingWrite(ref: SeededRef): RefWrite {
  const pr = prOf(ref.n);
  const now = new Date();
  return {
    id: ref.id,
    lease_until: null,
    pr: {
      ...pr,
      checks_state: 'failing',
      checks: { passed: 4, failed: 1, pending: 0, skipped: 1, failing: [{ name: 'e2e', url: null }] },
    },
    provider_id: 'github',
    refreshed_at: now,
    stale_at: NEVER_DUE,
    last_error: null,
    last_error_at: null,
    error_count: 0,
    paused_until: null,
    pr_changed_at: now,
    previous_prs: [],
    publish: true,
  };
}
