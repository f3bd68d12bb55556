/**
 * `npm run bench`: prints engine throughput figures. Not a test: nothing here passes or fails.
 * GITSYNC_BENCH_DATABASE_URL (or GITSYNC_TEST_DATABASE_URL) selects the PostgreSQL to use;
 * GITSYNC_BENCH_BUDGET_MS caps each pass (default 10 s); GITSYNC_BENCH_REFS sets the ref count.
 * GITSYNC_BENCH_ONLY=throughput,github-cost,gitlab-cost,host-cost,capacity,many-owners,many-owners-cost,freshness,dashboard,replicas,footprint,fairness,claim-cost,agents (any of them) runs only those.
 * GITSYNC_BENCH_PLANS_DIR: where claim-cost writes each claim's EXPLAIN (ANALYZE, BUFFERS) plan.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { type Database, openDatabase } from '../src/store/database.ts';
import { migrate } from '../src/store/migrate.ts';
import { CLAIM_CANDIDATES_PER_ROW, CLAIM_DUE_SQL, CLAIM_STALEST_SQL } from '../src/store/sql/refs.ts';
import { measureAgents } from './agents.ts';
import { measureCapacity } from './capacity.ts';
import { measureClaimStatements } from './claim-cost.ts';
import { measureDashboard } from './dashboard.ts';
import { measureThroughput } from './engine-throughput.ts';
import { measureClaimCost, measureFloodStaleness, measureServiceShare } from './fairness.ts';
import { BIN, buildDist, COMPILED, measureFootprint, SOURCE } from './footprint.ts';
import { measureFreshness } from './freshness.ts';
import { measureGitHubCost } from './github-cost.ts';
import { measureGitLabCost } from './gitlab-cost.ts';
import { COST_HOSTS, measureHostCost } from './host-cost.ts';
import { measureManyOwnersCost } from './many-owners-cost.ts';
import { measureReplicas } from './replicas.ts';

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
  'many-owners',
  'many-owners-cost',
  'freshness',
  'dashboard',
  'replicas',
  'footprint',
  'fairness',
  'claim-cost',
  'agents',
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
    `# Other hosts' cost: ${COST_REFS} open PRs each, 20 or 2 to a repository, through the provider and emulator (PostgreSQL)`,
  );
  console.log('');
  console.log(
    '| host | PRs per repository | first sight: requests per 1,000 | unchanged | every PR changed | unchanged, 15 min after first sight | unchanged over an hour (refreshes) |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const host of Object.keys(COST_HOSTS)) {
    for (const perRepo of [20, 2]) {
      const cost = await withDatabase('postgres', (db) => measureHostCost(db, host, COST_REFS, perRepo));
      console.log(
        `| ${host} | ${perRepo} | ${cost.first.requests_per_1000} | ${cost.unchanged.requests_per_1000} | ${cost.changed.requests_per_1000} | ${cost.settled.requests_per_1000} | ${cost.unchanged_hour.requests_per_1000} (${cost.unchanged_hour.refreshed}) |`,
      );
    }
  }
}

if (runs('many-owners-cost')) {
  // Cost per refresh on a simulated clock: the loop's own sizing and pacing, each tick taking
  // 200 ms plus 0.3 ms a row of simulated time, whatever the machine's speed (~10 min;
  // GITSYNC_BENCH_MANY_OWNERS_COST_REFS=10000 for a smaller run).
  const refs = Number(process.env.GITSYNC_BENCH_MANY_OWNERS_COST_REFS ?? 100_000);
  console.log('');
  console.log(
    `# Many owners' cost per refresh: ${refs} refs, TTL 120 s, simulated clock, GitHub emulator in process (PostgreSQL)`,
  );
  console.log('');
  console.log(
    '| owners (tokens) | repositories | refreshes/s | GraphQL queries / 1,000 | PRs per query | rows per claim |',
  );
  console.log('|---|---|---|---|---|---|');
  const rows = [
    { owners: 1, shape: 'shared' as const, label: '20 PRs each' },
    { owners: 100, shape: 'own' as const, label: 'own: 5 of 200 PRs' },
    { owners: 100, shape: 'shared' as const, label: 'shared: PRs of 20 owners' },
  ];
  for (const row of rows) {
    const cost = await withDatabase('postgres', (db) =>
      measureManyOwnersCost(db, {
        refs,
        owners: row.owners,
        shape: row.shape,
        perRepo: 20,
        tickMs: 200,
        tickMsPerRow: 0.3,
      }),
    );
    console.log(
      `| ${row.owners === 1 ? '1 (service token)' : `${row.owners} (own)`} | ${row.label} | ${cost.refreshes_per_s} | ${cost.queries_per_1000} | ${cost.prs_per_query} | ${cost.rows_per_claim} |`,
    );
  }
}

if (runs('capacity')) {
  // Capacity in real time. By default a tenth of the capacity goal's size (100,000 refs) with a tenth of the TTL (the same
  // 833 refreshes/s); GITSYNC_BENCH_CAPACITY_REFS=100000 runs the full size (TTL 120 s, ~5 min a row).
  // GITSYNC_BENCH_CAPACITY_ROWS=github-defaults,… runs only some rows.
  const CAP_REFS = Number(process.env.GITSYNC_BENCH_CAPACITY_REFS ?? 10_000);
  const capTtl = Math.round((CAP_REFS / 100_000) * 120_000);
  const capRun = Number(process.env.GITSYNC_BENCH_CAPACITY_RUN_MS ?? Math.max(30_000, capTtl * 2.5));
  const capRows = (process.env.GITSYNC_BENCH_CAPACITY_ROWS ?? '').split(',').filter((r) => r !== '');
  console.log('');
  console.log(
    `# capacity: ${CAP_REFS} open PRs, TTL ${capTtl / 1000} s, code host answering in 50 ms, ${capRun / 1000} s of real time (PostgreSQL)`,
  );
  console.log('');
  console.log(
    '| host | settings | refreshes/s | needed | within TTL + 10 s | staleness p50 s | staleness p99 s | goal p99 s | discovery s | max RSS MB | CPU cores (engine) | CPU cores (host) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const rows = [
    {
      key: 'fake-high-throughput',
      host: 'fake',
      name: 'batch 1000, concurrency 200, tick interval 200 ms',
      settings: { batch_size: 1000, concurrency: 200, tick_interval_ms: 200 },
    },
    {
      key: 'fake-batch-2000',
      host: 'fake',
      name: 'batch 2000, concurrency 500, tick interval 200 ms',
      settings: { batch_size: 2000, concurrency: 500, tick_interval_ms: 200 },
    },
    // The GitHub provider against the emulator: one owner, 20 PRs per repository, every setting the default.
    { key: 'github-defaults', host: 'github', name: 'defaults', settings: {} },
  ] as const;
  for (const row of rows) {
    if (capRows.length > 0 && !capRows.includes(row.key)) continue;
    const c = await withDatabase('postgres', (db) =>
      measureCapacity(db, {
        host: row.host,
        refs: CAP_REFS,
        ttlMs: capTtl,
        latencyMs: 50,
        runMs: capRun,
        settings: row.settings,
      }),
    );
    console.log(
      `| ${row.host} | ${row.name} | ${c.per_second} | ${c.needed_per_second} | ${c.within_pct} % | ${c.staleness_p50_s} | ${c.staleness_p99_s} | ${(capTtl + 10_000) / 1000} | ${c.discovery_s ?? '–'} | ${c.max_rss_mb} | ${c.cpu_cores} | ${c.host_cpu_cores ?? '–'} |`,
    );
  }
}

if (runs('many-owners')) {
  // Capacity with the refs spread over many owners, each with a token of its own, against the
  // GitHub emulator with defaults; one owner's path in the same run for comparison. By default a
  // tenth of the goal's size with a tenth of the TTL (the same 833 refreshes/s); full size:
  // GITSYNC_BENCH_MANY_OWNERS_REFS=100000 (100 owners). GITSYNC_BENCH_MANY_OWNERS_ROWS=one-owner,own,shared
  // runs only some rows.
  const refs = Number(process.env.GITSYNC_BENCH_MANY_OWNERS_REFS ?? 10_000);
  // 1,000 refs per owner, as 100 owners have at the full size (GITSYNC_BENCH_MANY_OWNERS: another count).
  const owners = Number(process.env.GITSYNC_BENCH_MANY_OWNERS ?? Math.max(2, Math.round(refs / 1000)));
  const ttl = Math.round((refs / 100_000) * 120_000);
  const runMs = Number(process.env.GITSYNC_BENCH_MANY_OWNERS_RUN_MS ?? Math.max(30_000, ttl * 2.5));
  const only = (process.env.GITSYNC_BENCH_MANY_OWNERS_ROWS ?? '').split(',').filter((r) => r !== '');
  const perOwner = Math.ceil(refs / owners);
  console.log('');
  console.log(
    `# many owners: ${refs} open PRs, TTL ${ttl / 1000} s, GitHub emulator answering in 50 ms, defaults, ${runMs / 1000} s of real time (PostgreSQL)`,
  );
  console.log('');
  console.log(
    '| owners (tokens) | repositories | refreshes/s | needed | within TTL + 10 s | staleness p99 s | goal p99 s | discovery s | requests / 1,000 | GraphQL queries / 1,000 | PR list reads / 1,000 | GraphQL points / 1,000 | points / hour per token | CPU cores (engine) | CPU cores (host) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const rows = [
    { key: 'one-owner', owners: 1, shape: 'shared', perRepo: 20, name: '20 PRs each' },
    {
      key: 'own',
      owners,
      shape: 'own',
      perRepo: Math.ceil(perOwner / 5),
      name: `each owner's own: 5 of ${Math.ceil(perOwner / 5)} PRs`,
    },
    {
      key: 'shared',
      owners,
      shape: 'shared',
      perRepo: 20,
      name: `shared: PRs of ${Math.min(20, owners)} owners each`,
    },
  ] as const;
  for (const row of rows) {
    if (only.length > 0 && !only.includes(row.key)) continue;
    const c = await withDatabase('postgres', (db) =>
      measureCapacity(db, {
        host: 'github',
        refs,
        ttlMs: ttl,
        latencyMs: 50,
        runMs,
        settings: {},
        prsPerRepo: row.perRepo,
        owners: row.owners,
        shape: row.shape,
      }),
    );
    // What one token spends an hour at the pace the goal needs (GitHub gives 5,000 points an hour).
    const perHour =
      c.points_per_1000 === null
        ? '–'
        : Math.round((c.points_per_1000 * c.needed_per_second * 3.6) / row.owners).toLocaleString('en');
    process.stderr.write(
      `many-owners ${row.key}: ${c.ticks} ticks, ${c.claimed_per_tick} rows claimed, claim ${c.claim_ms_per_tick} ms, tick ${c.tick_ms} ms, p50 ${c.staleness_p50_s} s, ${JSON.stringify(c.outcomes)}\n`,
    );
    console.log(
      `| ${row.owners === 1 ? '1 (service token)' : `${row.owners} (own)`} | ${row.name} | ${c.per_second} | ${c.needed_per_second} | ${c.within_pct} % | ${c.staleness_p99_s} | ${(ttl + 10_000) / 1000} | ${c.discovery_s ?? '–'} | ${c.requests_per_1000} | ${c.graphql_per_1000} | ${c.list_reads_per_1000} | ${c.points_per_1000} | ${perHour} | ${c.cpu_cores} | ${c.host_cpu_cores ?? '–'} |`,
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

if (runs('agents')) {
  const CHATS = Number(process.env.GITSYNC_BENCH_AGENTS_CHATS ?? 10_000);
  console.log('');
  console.log(
    `# agents: MCP over HTTP with the official client, ${CHATS} chats with open PRs, 10 owners (PostgreSQL; waits held on one replica, changes written through another)`,
  );
  console.log('');
  const ag = await withDatabase('postgres', (db, schema) =>
    measureAgents(db, schemaUrl(schema), { chats: CHATS, statusCalls: 2000, waits: 200 }),
  );
  console.log('| measure | p50 ms | p99 ms | max ms | goal |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| pr_status (${ag.owner_chats} chats of the key's owner, ${ag.chats} in all) | ${ag.pr_status_ms.p50} | ${ag.pr_status_ms.p99} | ${ag.pr_status_ms.max} | p99 ≤ 50 ms |`,
  );
  console.log(
    `| change committed on another replica → wait_for_pr_change answered | ${ag.commit_to_answer_ms.p50} | ${ag.commit_to_answer_ms.p99} | ${ag.commit_to_answer_ms.max} | ≤ 1 s |`,
  );
  console.log(
    `| change requested (PUT) → wait_for_pr_change answered | ${ag.change_to_answer_ms.p50} | ${ag.change_to_answer_ms.p99} | | |`,
  );
}

if (runs('replicas')) {
  // 1 and 4 `gitsync serve` processes on one PostgreSQL against the GitHub emulator. Each replica
  // claims a fixed 20 rows a tick (one GraphQL query), so it is bound by the host's latency as long
  // as the machine's cores keep up: the regime where replicas add up.
  const counts = (process.env.GITSYNC_BENCH_REPLICAS ?? '1,4').split(',').map(Number);
  // The issue's 50 ms, and 100 ms: the same work with half the rate per replica, so that four
  // replicas' CPU fits in two cores.
  const latencies = (process.env.GITSYNC_BENCH_REPLICAS_LATENCY_MS ?? '50,100').split(',').map(Number);
  const base = {
    refs: Number(process.env.GITSYNC_BENCH_REPLICAS_REFS ?? 10_000),
    prsPerRepo: 20,
    ttlMs: 5_000,
    leaseMs: 60_000,
    warmupMs: 5_000,
    windowMs: Number(process.env.GITSYNC_BENCH_REPLICAS_WINDOW_MS ?? 30_000),
    changesPerSecond: 20,
    worker: { batch_size: 20, max_batch_size: 20, concurrency: 10, tick_interval_ms: 1_000 },
  };
  console.log('');
  console.log(
    `# replicas: ${base.refs} open PRs (TTL ${base.ttlMs / 1000} s: always more due than refreshed), GitHub emulator at ${latencies.join(' and ')} ms, ${base.windowMs / 1000} s window, each replica batch ${base.worker.batch_size} (fixed), concurrency ${base.worker.concurrency} (PostgreSQL)`,
  );
  console.log('');
  console.log(
    "| host latency ms | replicas | refreshes/s | per replica | × one replica | claims | double claims within a lease | events published | delivered by each replica's stream | staleness p50 s | staleness p99 s | max RSS MB (a replica) | CPU cores: replicas | CPU cores: machine | claim ms (mean) | tick ms (mean) |",
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const latencyMs of latencies) {
    let one: number | null = null;
    for (const n of counts) {
      const r = await withDatabase('postgres', (db, schema) =>
        measureReplicas(db, schemaUrl(schema), n, { ...base, latencyMs }),
      );
      if (n === 1) one = r.per_second;
      const ratio = one ? `${(r.per_second / one).toFixed(2)}×` : '–';
      console.log(
        `| ${latencyMs} | ${n} | ${r.per_second} | ${r.per_replica.join(', ')} | ${ratio} | ${r.claims} | ${r.double_claims} | ${r.events_published} | ${r.events_delivered.join(', ')} | ${r.staleness_p50_s} | ${r.staleness_p99_s} | ${r.max_rss_mb} | ${r.replicas_cpu_cores} | ${r.machine_cpu_cores} | ${r.claim_ms} | ${r.tick_ms} |`,
      );
    }
  }
}

if (runs('footprint')) {
  // Real `gitsync serve` processes. GITSYNC_BENCH_FOOTPRINT_REFS (default 2000,10000,100000) sets
  // the ref counts; GITSYNC_BENCH_NODE_FLAGS adds Node flags to every serve process.
  const FP_REFS = (process.env.GITSYNC_BENCH_FOOTPRINT_REFS ?? '2000,10000,100000')
    .split(',')
    .filter((s) => s !== '')
    .map(Number);
  const nodeFlags = (process.env.GITSYNC_BENCH_NODE_FLAGS ?? '').split(' ').filter((s) => s !== '');
  buildDist();
  const fp = await measureFootprint({
    pgUrl: PG_URL,
    refs: FP_REFS,
    launchers: [SOURCE, COMPILED, BIN],
    refsLauncher: BIN,
    nodeFlags,
  });
  console.log('');
  console.log(
    `# footprint and start time: real \`gitsync serve\` processes (RSS of the serve process; GitHub emulator in the bench process)${nodeFlags.length ? `, node ${nodeFlags.join(' ')}` : ''}`,
  );
  console.log('');
  console.log(
    '| database | launcher | start | spawn → healthy ms | logged breakdown ms | RSS MB | peak RSS MB |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const s of fp.starts) {
    const breakdown = s.breakdown
      ? Object.entries(s.breakdown)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')
      : '–';
    console.log(
      `| ${s.mode} | ${s.launcher} | ${s.start} | ${s.healthy_ms} | ${breakdown} | ${s.rss_mb} | ${s.peak_mb} |`,
    );
  }
  console.log('');
  console.log(
    '| database | refs | spawn → healthy ms | RSS started MB | worker pass s | peak during pass MB | RSS after pass MB | RSS after listing all chats MB | peak MB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of fp.refs) {
    console.log(
      `| ${r.mode} | ${r.refs} | ${r.healthy_ms} | ${r.rss_started_mb} | ${r.pass_s ?? 'unfinished'} | ${r.peak_pass_mb} | ${r.rss_after_pass_mb} | ${r.rss_after_list_mb} | ${r.peak_mb} |`,
    );
  }
}

if (runs('fairness')) {
  // One owner floods the worker; another owner's 10 refs come due a second after the flood. The
  // claim before owners shared ticks (stalest first) and today's (turns per owner), side by side.
  const flood = Number(process.env.GITSYNC_BENCH_FLOOD_REFS ?? 20_000);
  const base = {
    floodRefs: flood,
    fewRefs: 10,
    ttlMs: 120_000,
    latencyMs: 50,
    settings: { batch_size: 100, concurrency: 100 },
    maxMs: 120_000,
  };
  console.log('');
  console.log(
    `# fairness: one owner's ${flood} refs due at once, another owner's ${base.fewRefs} due a second later; fake host at ${base.latencyMs} ms, TTL ${base.ttlMs / 1000} s, batch ${base.settings.batch_size} (grows), concurrency ${base.settings.concurrency}`,
  );
  console.log('');
  console.log(
    "| database | claim | other owner's staleness p50 s | p99 s | within TTL + 10 s | flood rows claimed before them | run s |",
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const kind of ['postgres', 'pglite'] as const) {
    for (const claim of ['stalest', 'fair'] as const) {
      const f = await withDatabase(kind, (db) => measureFloodStaleness(db, { ...base, claim }));
      console.log(
        `| ${kind} | ${claim === 'fair' ? 'turns per owner (today)' : 'stalest first (before)'} | ${f.p50_s} | ${f.p99_s} | ${f.within} of ${base.fewRefs} | ${f.flood_claimed_before} | ${f.seconds} |`,
      );
    }
  }
  console.log('');
  console.log('# claim cost: one claim of 1,000 rows among 100,000 refs of 100 owners (median of 7)');
  console.log('');
  console.log('| database | rows due | stalest first ms | turns per owner ms |');
  console.log('|---|---|---|---|');
  for (const kind of ['postgres', 'pglite'] as const) {
    const rows = await withDatabase(kind, (db) =>
      measureClaimCost(db, 100_000, [1_000, 10_000, 100_000], 1_000),
    );
    for (const r of rows) console.log(`| ${kind} | ${r.due} | ${r.stalest_ms} | ${r.fair_ms} |`);
  }
  console.log('');
  console.log(
    "# the service token's share per owner: a budget of 5,000 units an hour; one owner's 300 refs and another's 10, every PR changed each round (one TTL, 60 s), 40 rounds (PostgreSQL)",
  );
  console.log('');
  console.log(
    "| service_per_owner | greedy owner's units | other owner's units | token units | greedy owner paused from round | rounds where all the other owner's refs were refreshed |",
  );
  console.log('|---|---|---|---|---|---|');
  for (const perOwner of [1, 0.1]) {
    const r = await withDatabase('postgres', (db) =>
      measureServiceShare(db, { perOwner, limit: 5_000, greedyRefs: 300, modestRefs: 10, rounds: 40 }),
    );
    console.log(
      `| ${perOwner === 1 ? '1 (no bound: before)' : perOwner} | ${r.greedy_units} | ${r.modest_units} | ${r.token_units} | ${r.greedy_paused_from_round ?? 'never'} | ${r.modest_rounds_served} of 40 |`,
    );
  }
}

if (runs('claim-cost')) {
  // One claim of 1,000 among 100,000 refs as more of them are due, for one owner (as the capacity
  // scenario), 100 and 10,000 owners (past CLAIM_DESCENT_OWNERS: the claim ranks every due row).
  const plansDir = process.env.GITSYNC_BENCH_PLANS_DIR;
  if (plansDir) mkdirSync(plansDir, { recursive: true });
  const statements = {
    stalest: {
      sql: CLAIM_STALEST_SQL,
      params: (now: Date, limit: number, lease: Date) => [now, limit, lease],
    },
    fair: {
      sql: CLAIM_DUE_SQL,
      params: (now: Date, limit: number, lease: Date) => [
        now,
        limit,
        lease,
        limit * CLAIM_CANDIDATES_PER_ROW,
        now,
      ],
    },
  };
  console.log('');
  console.log(
    '# claim cost: one claim of 1,000 rows among 100,000 refs (median of 7 ms; EXPLAIN ANALYZE execution ms and shared buffers of one more)',
  );
  console.log('');
  console.log(
    '| database | owners | rows due | stalest first ms | turns per owner ms | stalest first: explain ms / buffers | turns per owner: explain ms / buffers |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const kind of ['postgres', 'pglite'] as const) {
    for (const owners of [1, 100, 10_000]) {
      const rows = await withDatabase(kind, (db) =>
        measureClaimStatements(db, {
          refs: 100_000,
          owners,
          dueCounts: [1_000, 10_000, 100_000],
          limit: 1_000,
          statements,
          explain: true,
        }),
      );
      for (const due of [1_000, 10_000, 100_000]) {
        const of = (name: string) => rows.find((r) => r.due === due && r.statement === name)!;
        console.log(
          `| ${kind} | ${owners} | ${due} | ${of('stalest').median_ms} | ${of('fair').median_ms} | ${of('stalest').explain_ms} / ${of('stalest').shared_buffers} | ${of('fair').explain_ms} / ${of('fair').shared_buffers} |`,
        );
        if (plansDir) {
          for (const r of [of('stalest'), of('fair')])
            writeFileSync(
              `${plansDir}/${kind}-${owners}-owners-${due}-due-${r.statement}.txt`,
              `${r.plan}\n`,
            );
        }
      }
    }
  }
}
