import { randomUUID } from 'node:crypto';
import { startGitHubEmulator } from '../emulator/github/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { InProcessBus } from '../src/events/publisher.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import type { Database } from '../src/store/database.ts';
import { SqlStore } from '../src/store/sql-store.ts';
import { TokenCipher } from '../src/store/token-cipher.ts';

/**
 * Code-host cost of keeping `refs` open PRs fresh through the real GitHub provider and the
 * emulator: requests per 1,000 refreshes on first sight, when nothing changed, and when every
 * PR changed; "units" are what GitHub's rate limits charge: every REST request but a 304, and
 * one point per GraphQL query (of fewer than 100 nodes per connection).
 */
export async function measureGitHubCost(db: Database, refs: number) {
  const gh = await startGitHubEmulator({ rateLimit: 1_000_000 });
  try {
    const token = 'ghp_bench';
    gh.addToken(token, 'bench', 1_000_000);
    gh.model.createRepo({ owner: 'bench', name: 'repo' });
    const store = new SqlStore(db, new TokenCipher(null));
    const clock = new FakeClock(new Date());
    const provider = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl, service_token: token },
      { clock },
    );
    const settings = { ...DEFAULT_WORKER_SETTINGS, batch_size: 500, concurrency: 50 };
    const engine = new Engine({
      store,
      providers: new ProviderRegistry([provider]),
      publisher: new InProcessBus(),
      clock,
      settings,
      logger: silentLogger,
    });
    const owner = randomUUID();
    for (let i = 0; i < refs; i++) {
      gh.model.openPull('bench/repo', { head: `b${i}` });
      const chat = randomUUID();
      await store.putChat({ id: chat, owner_id: owner }, clock.now());
      await store.recordRefReport(
        { chat_id: chat, origin: `${gh.webUrl}/bench/repo`, branch: `b${i}`, provider_id: 'github' },
        clock.now(),
      );
    }
    const pass = async () => {
      gh.resetCounters();
      let refreshed = 0;
      for (;;) {
        const r = await engine.tick();
        if (r.claimed === 0) break;
        refreshed += r.outcomes.updated;
      }
      const total = gh.counters.total;
      const notModified = Object.values(gh.counters.routes).reduce(
        (a, byStatus) => a + (byStatus['304'] ?? 0),
        0,
      );
      clock.advance(settings.fresh_ttl_ms);
      return {
        refreshed,
        requests_per_1000: Math.round((total / Math.max(1, refreshed)) * 1000),
        primary_units_per_1000: Math.round(((total - notModified) / Math.max(1, refreshed)) * 1000),
      };
    };
    const first = await pass();
    const unchanged = await pass();
    for (const pull of gh.model.pulls.get('bench/repo') ?? [])
      gh.model.updatePull('bench/repo', pull.number, { title: `${pull.title}!` });
    const changed = await pass();
    return { first, unchanged, changed };
  } finally {
    await gh.close();
  }
}
