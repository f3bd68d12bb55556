/**
 * `npm run bench`: prints engine throughput figures. Not a test: nothing here passes or fails.
 * GITSYNC_BENCH_DATABASE_URL (or GITSYNC_TEST_DATABASE_URL) selects the PostgreSQL to use;
 * GITSYNC_BENCH_BUDGET_MS caps each pass (default 10 s); GITSYNC_BENCH_REFS sets the ref count.
 * GITSYNC_BENCH_ONLY=throughput,github-cost,gitlab-cost,host-cost,capacity,freshness,dashboard (any of them) runs only those.
 */
import { randomBytes } from 'node:crypto';
import { type Database, openDatabase } from '../src/store/database.ts';
import { migrate } from '../src/store/migrate.ts';
import { measureCapacity } from './capacity.ts';
import { measureDashboard } from './dashboard.ts';
import { measureThroughput } from './engine-throughput.ts';
import { measureFreshness } from './freshness.ts';
import { measureGitHubCost } from './github-cost.ts';
import { measureGitLabCost } from './gitlab-cost.ts';
import { COST_HOSTS, measureHostCost } from './host-cost.ts';

const PG_URL =
  process.env.GITSYNC_BENCH_DATABASE_URL ??
  process.env.GITSYNC_TEST_DATABASE_URL ??
  'postgresql://root@127.0.0.1:5432/test';
const BUDGET_MS = Number(process.env.GITSYNC_BENCH_BUDGET_MS ?? 10_000);
const REFS = Number(process.env.GITSYNC_BENCH_REFS ?? 10_000);

const schemaUrl = (schema: string) =>
  `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;

const SETTINGS = {
  defaults: {},
  'high-throughput': { batch_size: 1000, concurrency: 200 },
} as const;

async function withDatabase<T>(
  kind: 'postgres' | 'pglite',
  fn: (db: Database, schema: string) => Promise<T>,
): Promise<T> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const db =
    kind === 'postgres'
      ? await openDatabase({ url: PG_URL, schema, maxConnections: 10 })
      : await openDatabase({ schema });
  try {
    await migrate(db);
    return await fn(db, schema);
  } finally {
    if (kind === 'postgres') await db.exec(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    await db.close();
  }
}

const SCENARIOS = [
  'throughput',
  'github-cost',
  'gitlab-cost',
  'host-cost',
  'capacity',
  'freshness',
  'dashboard',
] as const;
const only = (process.env.GITSYNC_BENCH_ONLY ?? '').split(',').filter((s) => s !== '');
for (const name of only) {
  if (!(SCENARIOS as readonly string[]).includes(name))
    throw new Error(`GITSYNC_BENCH_ONLY: no scenario ${name} (there are ${SCENARIOS.join(', ')})`);
}
const runs = (scenario: (typeof SCENARIOS)[number]) => only.length === 0 || only.includes(scenario);

if (runs('throughput')) {
  console.log(`# engine throughput: ${REFS} refs, fake code host, pass budget ${BUDGET_MS / 1000} s`);
  console.log('');
  console.log(
    '| database | latency | settings | pass | refreshes | s | refreshes/s | tick p50 ms | tick p99 ms | statements/refresh | events | RSS MB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const kind of ['postgres', 'pglite'] as const) {
    for (const latencyMs of [0, 50]) {
      for (const [name, settings] of Object.entries(SETTINGS)) {
        const figures = await withDatabase(kind, (db) =>
          measureThroughput(db, { refs: REFS, owners: 100, latencyMs, settings, budgetMs: BUDGET_MS }),
        );
        for (const [pass, f] of [
          ['first sight', figures.first],
          ['unchanged', figures.steady],
        ] as const) {
          console.log(
            `| ${kind} | ${latencyMs} ms | ${name} | ${pass} | ${f.refreshes} | ${f.seconds} | ${f.per_second} | ${f.tick_p50_ms} | ${f.tick_p99_ms} | ${f.statements_per_refresh} | ${f.events} | ${figures.rss_mb} |`,
          );
        }
      }
    }
  }
}

if (runs('github-cost')) {
  const COST_REFS = Number(process.env.GITSYNC_BENCH_COST_REFS ?? 1000);
  console.log('');
  console.log(`# GitHub cost: ${COST_REFS} open PRs through the GitHub provider and emulator (PostgreSQL)`);
  console.log('');
  console.log(
    '| pass | refreshes | requests per 1,000 | REST units per 1,000 | GraphQL points per 1,000 | largest query (nodes) |',
  );
  console.log('|---|---|---|---|---|---|');
  // Side by side: the batch query without checks and threads (as before they were read), with
  // them, and with them behind each repository's PR list (today's default).
  const before = await withDatabase('postgres', (db) =>
    measureGitHubCost(db, COST_REFS, { pullDetails: false, listFirst: false }),
  );
  const graphqlOnly = await withDatabase('postgres', (db) =>
    measureGitHubCost(db, COST_REFS, { listFirst: false }),
  );
  const cost = await withDatabase('postgres', (db) => measureGitHubCost(db, COST_REFS));
  for (const [variant, c] of [
    ['without checks and threads', before],
    ['with checks and threads, every PR read', graphqlOnly],
    ['with checks and threads, PR list first', cost],
  ] as const) {
    for (const [pass, f] of [
      ['first sight', c.first],
      ['unchanged', c.unchanged],
      ['unchanged, over an hour', c.unchangedHour],
      ['every PR changed', c.changed],
      ['waiting for a PR (no-PR backoff)', c.waiting],
    ] as const) {
      console.log(
        `| ${pass} (${variant}) | ${f.refreshed} | ${f.requests_per_1000} | ${f.rest_units_per_1000} | ${f.graphql_points_per_1000} | ${f.max_nodes_per_query} |`,
      );
    }
  }
  const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : `${((a / b - 1) * 100).toFixed(1)} %`);
  console.log('');
  console.log(
    `GraphQL points per 1,000 unchanged refreshes over an hour: ${graphqlOnly.unchangedHour.graphql_points_per_1000} with checks and threads vs ${before.unchangedHour.graphql_points_per_1000} without (${ratio(graphqlOnly.unchangedHour.graphql_points_per_1000, before.unchangedHour.graphql_points_per_1000)}); charged units (REST + GraphQL) with the PR list first: ${cost.unchangedHour.primary_units_per_1000}.`,
  );
  console.log('');
  console.log('| variant | changes seen | missed | change → event p50 (s) | p99 (s) |');
  console.log('|---|---|---|---|---|');
  for (const [variant, c] of [
    ['every PR read', graphqlOnly],
    ['PR list first', cost],
  ] as const)
    console.log(
      `| ${variant} | ${c.latency.changes} | ${c.latency.missed} | ${c.latency.p50_s} | ${c.latency.p99_s} |`,
    );

  // An open PR is refreshed every fresh TTL (120 s): 30 times an hour. The reference behaviour reads
  // the PR and its reviews unconditionally each time: 2 charged requests per refresh.
  const perHour = 3_600_000 / 120_000;
  const ours = (cost.unchanged.primary_units_per_1000 / 1000) * perHour;
  const reference = 2 * perHour;
  console.log('');
  console.log(
    `Rate-limit units (REST units + GraphQL points) per tracked open PR-hour (unchanged PRs, 120 s TTL): ${ours.toFixed(2)} vs ${reference} for the reference behaviour (${((ours / reference) * 100).toFixed(1)} %).`,
  );
}

if (runs('gitlab-cost')) {
  const COST_REFS = Number(process.env.GITSYNC_BENCH_COST_REFS ?? 1000);
  console.log('');
  console.log(`# GitLab cost: ${COST_REFS} open MRs through the GitLab provider and emulator (PostgreSQL)`);
  console.log('');
  console.log(
    '| pass | refreshes | requests per 1,000 | GraphQL queries per 1,000 | largest query (complexity) |',
  );
  console.log('|---|---|---|---|---|');
  const cost = await withDatabase('postgres', (db) => measureGitLabCost(db, COST_REFS));
  for (const [pass, f] of [
    ['first sight', cost.first],
    ['unchanged', cost.unchanged],
    ['every MR changed', cost.changed],
    ['every MR pushed (mergeability unchecked)', cost.pushed],
    ['the pass after (GitLab has checked)', cost.checked],
  ] as const) {
    console.log(
      `| ${pass} | ${f.refreshed} | ${f.requests_per_1000} | ${f.graphql_per_1000} | ${f.max_complexity} |`,
    );
  }
}

if (runs('host-cost')) {
  const COST_REFS = Number(process.env.GITSYNC_BENCH_HOST_COST_REFS ?? 300);
  console.log('');
  console.log(
    `# Other hosts' cost: ${COST_REFS} open PRs each, through the provider and emulator (PostgreSQL)`,
  );
  console.log('');
  console.log('| host | first sight: requests per 1,000 | unchanged | every PR changed |');
  console.log('|---|---|---|---|');
  for (const host of Object.keys(COST_HOSTS)) {
    const cost = await withDatabase('postgres', (db) => measureHostCost(db, host, COST_REFS));
    console.log(
      `| ${host} | ${cost.first.requests_per_1000} | ${cost.unchanged.requests_per_1000} | ${cost.changed.requests_per_1000} |`,
    );
  }
}

if (runs('capacity')) {
  // Capacity in real time. By default a tenth of the capacity goal's size (100,000 refs) with a tenth of the TTL (the same
  // 833 refreshes/s); GITSYNC_BENCH_CAPACITY_REFS=100000 runs the full size (TTL 120 s, ~5 min).
  const CAP_REFS = Number(process.env.GITSYNC_BENCH_CAPACITY_REFS ?? 10_000);
  const capTtl = Math.round((CAP_REFS / 100_000) * 120_000);
  const capRun = Number(process.env.GITSYNC_BENCH_CAPACITY_RUN_MS ?? Math.max(30_000, capTtl * 2.5));
  console.log('');
  console.log(
    `# capacity: ${CAP_REFS} open PRs, TTL ${capTtl / 1000} s, code host answering in 50 ms, ${capRun / 1000} s of real time (PostgreSQL)`,
  );
  console.log('');
  console.log(
    '| settings | refreshes/s | needed | staleness p50 s | staleness p99 s | goal p99 s | max RSS MB |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const [name, settings] of [
    ['high-throughput (batch 1000, concurrency 200)', { batch_size: 1000, concurrency: 200 }],
    ['batch 2000, concurrency 500', { batch_size: 2000, concurrency: 500 }],
  ] as const) {
    const c = await withDatabase('postgres', (db) =>
      measureCapacity(db, { refs: CAP_REFS, ttlMs: capTtl, latencyMs: 50, runMs: capRun, settings }),
    );
    console.log(
      `| ${name} | ${c.per_second} | ${c.needed_per_second} | ${c.staleness_p50_s} | ${c.staleness_p99_s} | ${(capTtl + 10_000) / 1000} | ${c.max_rss_mb} |`,
    );
  }
}

if (runs('freshness')) {
  const FRESH_SAMPLES = Number(process.env.GITSYNC_BENCH_FRESHNESS_SAMPLES ?? 100);
  console.log('');
  console.log(
    `# freshness: ${FRESH_SAMPLES} samples over HTTP + SSE, tick interval 10 s (PostgreSQL, GitHub emulator)`,
  );
  console.log('');
  const fresh = await withDatabase('postgres', (_db, schema) =>
    measureFreshness(schemaUrl(schema), FRESH_SAMPLES),
  );
  console.log('| path | p50 ms | p99 ms | goal |');
  console.log('|---|---|---|---|');
  console.log(
    `| ref report → first event | ${fresh.report_to_first_event_ms.p50} | ${fresh.report_to_first_event_ms.p99} | p99 ≤ 200 ms |`,
  );
  console.log(
    `| ref report → event with PR data (PR exists) | ${fresh.report_to_pr_event_ms.p50} | ${fresh.report_to_pr_event_ms.p99} | p50 ≤ 1 s |`,
  );
  console.log(
    `| webhook delivery → event with PR data | ${fresh.webhook_to_event_ms.p50} | ${fresh.webhook_to_event_ms.p99} | p99 ≤ 1 s |`,
  );
}

if (runs('dashboard')) {
  const CHATS = Number(process.env.GITSYNC_BENCH_DASHBOARD_CHATS ?? 10_000);
  const BURSTS = [100, 1000];
  console.log('');
  console.log(
    `# dashboard: ${CHATS} chats in headless Chromium, over HTTP + SSE (PostgreSQL, admin key, 1280×900)`,
  );
  console.log('');
  const d = await withDatabase('postgres', (db, schema) =>
    measureDashboard(db, schemaUrl(schema), { chats: CHATS, bursts: BURSTS }),
  );
  console.log('| load | from navigation (wall, Node) ms | in the page (performance.now) ms |');
  console.log('|---|---|---|');
  console.log(`| first rows shown | ${d.first_rows_ms} | ${d.in_page_first_rows_ms} |`);
  console.log(`| all ${d.chats} loaded, summary right | ${d.all_loaded_ms} | ${d.in_page_loaded_ms} |`);
  console.log('');
  console.log(
    '| burst of diff_status_change | store write + publish ms | write → all applied and painted ms | page work ms | frames | longest frame ms |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const b of d.bursts) {
    console.log(
      `| ${b.events} events | ${b.write_ms} | ${b.to_painted_ms} | ${b.page_work_ms} | ${b.frames} | ${b.longest_frame_ms} |`,
    );
  }
  console.log('');
  console.log(
    '| scrolling (300 frames) | frames rendered | work p50 ms | work p99 ms | work max ms | frame interval p50 ms | frame interval p99 ms |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const s of d.scroll) {
    console.log(
      `| ${s.kind} | ${s.frames} | ${s.work_p50_ms} | ${s.work_p99_ms} | ${s.work_max_ms} | ${s.interval_p50_ms} | ${s.interval_p99_ms} |`,
    );
  }
  console.log('');
  console.log(`Rows in the page at the end: ${d.dom_rows}; JS heap: ${d.js_heap_mb ?? '?'} MB.`);
}
