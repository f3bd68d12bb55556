import { randomUUID } from 'node:crypto';
import { startGitHubEmulator } from '../emulator/github/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import type { Database } from '../src/store/database.ts';
import { benchEngine, seedRefs } from './seed.ts';
import { percentile } from './stats.ts';

/**
 * Code-host cost of keeping `refs` open PRs fresh through the real GitHub provider and the
 * emulator: requests per 1,000 refreshes on first sight, when nothing changed, and when every
 * PR changed, then `refs` more rows waiting for a PR (re-asked every `no_pr_backoff_ms`). Charges
 * are counted as GitHub counts them, in two separate budgets: REST units (every REST request but
 * a 304) and GraphQL points by GitHub's formula (connection requests ÷ 100, rounded, at least 1;
 * GitHub docs, "Rate limits and node limits for the GraphQL API"), which the emulator applies.
 */
export async function measureGitHubCost(
  db: Database,
  refs: number,
  variant: {
    /** false: the batch query as it was before checks and threads were read (for comparison). */
    pullDetails?: boolean;
    /** false: every PR of a batch read through GraphQL, as before the PR-list shortcut. */
    listFirst?: boolean;
  } = {},
) {
  const gh = await startGitHubEmulator({ rateLimit: 1_000_000 });
  try {
    const token = 'ghp_bench';
    gh.addToken(token, 'bench', 1_000_000);
    gh.model.createRepo({ owner: 'bench', name: 'repo' });
    const clock = new FakeClock(new Date());
    const provider = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl, service_token: token },
      { clock, pullDetails: variant.pullDetails ?? true, listFirst: variant.listFirst ?? true },
    );
    const { engine, settings } = benchEngine(db, provider, clock, { batch_size: 500, concurrency: 50 });
    const owner = randomUUID();
    // Rows as a report leaves them: reported now, due a second ago, no PR known yet.
    const reported = (branch: (n: number) => string) =>
      seedRefs(db, {
        refs,
        owners: [owner],
        origin: `${gh.webUrl}/bench/repo`,
        provider_id: 'github',
        branch,
        chats_created_at: clock.now(),
        reported_at: clock.now(),
        stale_at: () => new Date(clock.now().getTime() - 1000),
      });
    for (let i = 0; i < refs; i++) gh.model.openPull('bench/repo', { head: `b${i}` });
    await reported((n) => `b${n - 1}`);
    const pass = async (advanceMs = settings.fresh_ttl_ms) => {
      gh.resetCounters();
      const points = gh.graphqlPoints;
      const queries = gh.graphqlCosts.length;
      let refreshed = 0;
      for (;;) {
        const r = await engine.tick();
        if (r.claimed === 0) break;
        refreshed += r.outcomes.updated + r.outcomes.no_pr;
      }
      const total = gh.counters.total;
      const notModified = Object.values(gh.counters.routes).reduce(
        (a, byStatus) => a + (byStatus['304'] ?? 0),
        0,
      );
      const graphqlQueries = gh.count('graphql');
      const restUnits = total - notModified - graphqlQueries;
      const graphqlPoints = gh.graphqlPoints - points;
      const per1000 = (n: number) => Math.round((n / Math.max(1, refreshed)) * 1000 * 10) / 10;
      clock.advance(advanceMs);
      return {
        refreshed,
        requests_per_1000: per1000(total),
        rest_units_per_1000: per1000(restUnits),
        graphql_points_per_1000: per1000(graphqlPoints),
        /** REST units and GraphQL points together (what the old table called "units"). */
        primary_units_per_1000: per1000(restUnits + graphqlPoints),
        max_nodes_per_query: Math.max(0, ...gh.graphqlCosts.slice(queries).map((c) => c.nodes)),
      };
    };
    /**
     * From a change on the host to the written row (and its event, written in the same
     * transaction), in the engine's time: five PRs change every 10 s for four minutes while the
     * engine ticks every 10 s; p50 and p99 over every change seen.
     */
    const changeLatency = async () => {
      const pending = new Map<string, { title: string; at: number }>();
      const seen: number[] = [];
      const list = gh.model.pulls.get('bench/repo') ?? [];
      for (let step = 0; step < 60 && (step < 24 || pending.size > 0); step++) {
        if (step < 24)
          for (let j = 0; j < 5; j++) {
            const pull = list[((step * 5 + j) * 7919) % list.length]!;
            const title = `latency ${step}.${j}`;
            gh.model.updatePull('bench/repo', pull.number, { title });
            pending.set(`${gh.webUrl}/bench/repo/pull/${pull.number}`, { title, at: clock.now().getTime() });
          }
        for (;;) if ((await engine.tick()).claimed === 0) break;
        const rows = await db.query<{ url: string; pull_request_title: string }>(
          'SELECT url, pull_request_title FROM diff_statuses WHERE url = ANY($1::text[])',
          [[...pending.keys()]],
        );
        for (const row of rows.rows) {
          const change = pending.get(row.url);
          if (change && row.pull_request_title === change.title) {
            seen.push(clock.now().getTime() - change.at);
            pending.delete(row.url);
          }
        }
        clock.advance(10_000);
      }
      return {
        changes: seen.length,
        missed: pending.size,
        p50_s: percentile(seen, 50) / 1000,
        p99_s: percentile(seen, 99) / 1000,
      };
    };
    const first = await pass();
    const unchanged = await pass();
    for (const pull of gh.model.pulls.get('bench/repo') ?? [])
      gh.model.updatePull('bench/repo', pull.number, { title: `${pull.title}!` });
    const changed = await pass();
    const latency = await changeLatency();
    // An hour of unchanged refreshes at the fresh TTL: the checks and threads known are read again
    // once (they are kept at most an hour), which a single unchanged pass does not show.
    const hour: Awaited<ReturnType<typeof pass>>[] = [];
    for (let t = 0; t < 3_600_000; t += settings.fresh_ttl_ms) hour.push(await pass());
    const sum = (f: (p: (typeof hour)[number]) => number) => hour.reduce((a, p) => a + f(p) * p.refreshed, 0);
    const hourRefreshed = hour.reduce((a, p) => a + p.refreshed, 0);
    const unchangedHour = {
      refreshed: hourRefreshed,
      requests_per_1000: Math.round((sum((p) => p.requests_per_1000) / hourRefreshed) * 10) / 10,
      rest_units_per_1000: Math.round((sum((p) => p.rest_units_per_1000) / hourRefreshed) * 10) / 10,
      graphql_points_per_1000: Math.round((sum((p) => p.graphql_points_per_1000) / hourRefreshed) * 10) / 10,
      primary_units_per_1000: Math.round((sum((p) => p.primary_units_per_1000) / hourRefreshed) * 10) / 10,
      max_nodes_per_query: Math.max(...hour.map((p) => p.max_nodes_per_query)),
    };
    // Unchanged for an hour, the PRs are quiet now (checked every `quiet_ttl_ms`): due again then.
    clock.advance(settings.quiet_ttl_ms);
    // Rows reported a moment ago whose branch has no PR yet: looked up again every no-PR backoff.
    await reported((n) => `w${n - 1}`);
    // The first pass holds the open PRs (due again) and the waiting rows' first look; in the second
    // only the waiting rows are due, 15 s later, still inside the no-PR window.
    await pass(settings.no_pr_backoff_ms);
    const waiting = await pass(settings.no_pr_backoff_ms);
    return { first, unchanged, unchangedHour, changed, latency, waiting };
  } finally {
    await gh.close();
  }
}
