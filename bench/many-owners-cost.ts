/**
 * What many owners' tokens cost per refresh, apart from how fast this machine is: the worker loop's
 * own sizing and pacing (`TickPacer`) on a simulated clock, against the GitHub emulator in this
 * process, so that the GraphQL queries per 1,000 refreshes of one owner's path and of many owners'
 * tokens are compared on the same rows and the same ticks, whatever else runs on the machine.
 */
import { startGitHubEmulator } from '../emulator/github/server.ts';
import { addMs, FakeClock } from '../src/core/clock.ts';
import { TickPacer } from '../src/core/schedule.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import type { Database } from '../src/store/database.ts';
import { fillGitHubModel, ownerToken, type RepoShape, seedGitHubRows } from './capacity.ts';
import { benchEngine, spreadLastRefreshes } from './seed.ts';

export interface ManyOwnersCostScenario {
  refs: number;
  owners: number;
  shape: RepoShape;
  /** Open PRs per repository. */
  perRepo: number;
  /** Simulated time a tick takes: this much, plus `tickMsPerRow` for each row it claimed. */
  tickMs: number;
  tickMsPerRow: number;
}

/**
 * Finds every ref's PR, spreads their last refreshes over one TTL (the steady state), then runs
 * the loop for two TTLs of simulated time and counts over the second: refreshes, GraphQL queries
 * (each a batch of one token's PRs) and the PRs per query.
 */
export async function measureManyOwnersCost(db: Database, s: ManyOwnersCostScenario) {
  const clock = new FakeClock(new Date());
  const token = 'ghp_bench_many_owners_cost';
  const gh = await startGitHubEmulator({ rateLimit: 1_000_000_000 });
  try {
    fillGitHubModel(gh, s.refs, s.perRepo, token, { owners: s.owners, shape: s.shape });
    const ownerIds = await seedGitHubRows(db, {
      refs: s.refs,
      perRepo: s.perRepo,
      webUrl: gh.webUrl,
      owners: s.owners,
      shape: s.shape,
    });
    const provider = new GitHubProvider(
      {
        id: 'github',
        type: 'github',
        web_url: gh.webUrl,
        api_url: gh.apiUrl,
        service_token: token,
        service_token_for: s.owners > 1 ? 'none' : 'all',
      },
      { clock },
    );
    const { engine, store, settings } = benchEngine(db, provider, clock);
    if (s.owners > 1)
      for (const [i, owner] of ownerIds.entries())
        await store.putToken(owner, 'github', ownerToken(i), clock.now());
    // Discovery (not measured): claims of the largest size until every ref has its PR.
    for (;;) {
      const r = await engine.tick(settings.max_batch_size);
      clock.advance(1000);
      if (r.claimed === 0) break;
    }
    await spreadLastRefreshes(db, clock.now(), settings.fresh_ttl_ms, settings.fresh_ttl_ms);
    await db.query('ANALYZE diff_statuses');

    const graphql = () => Object.values(gh.counters.routes.graphql ?? {}).reduce((a, b) => a + b, 0);
    const end = addMs(clock.now(), 2 * settings.fresh_ttl_ms);
    const measureFrom = addMs(clock.now(), settings.fresh_ttl_ms);
    const pacer = new TickPacer(settings, clock.now().getTime());
    const counted = { refreshes: 0, queries: 0, ticks: 0, claimed: 0 };
    while (clock.now() < end) {
      const claimAt = clock.now().getTime();
      const queriesBefore = graphql();
      const r = await engine.tick(pacer.limit);
      const durationMs = s.tickMs + s.tickMsPerRow * r.claimed;
      clock.advance(durationMs);
      if (new Date(claimAt) >= measureFrom) {
        counted.refreshes += r.outcomes.updated;
        counted.queries += graphql() - queriesBefore;
        counted.ticks++;
        counted.claimed += r.claimed;
      }
      clock.advance(pacer.after({ claimed: r.claimed, released: r.outcomes.released }, claimAt, durationMs));
    }
    return {
      refreshes: counted.refreshes,
      refreshes_per_s: Math.round(counted.refreshes / (settings.fresh_ttl_ms / 1000)),
      queries_per_1000: Math.round((counted.queries / Math.max(1, counted.refreshes)) * 10_000) / 10,
      prs_per_query: Math.round((counted.refreshes / Math.max(1, counted.queries)) * 10) / 10,
      rows_per_claim: Math.round(counted.claimed / Math.max(1, counted.ticks)),
    };
  } finally {
    await gh.close();
  }
}
