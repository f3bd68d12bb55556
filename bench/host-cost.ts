import { randomUUID } from 'node:crypto';
import { startAzureDevOpsEmulator } from '../emulator/azure-devops/server.ts';
import { startBitbucketEmulator } from '../emulator/bitbucket/server.ts';
import { startGiteaEmulator } from '../emulator/gitea/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { AzureDevOpsProvider } from '../src/providers/azure-devops/azure-devops-provider.ts';
import { BitbucketProvider } from '../src/providers/bitbucket/bitbucket-provider.ts';
import { GiteaProvider } from '../src/providers/gitea/gitea-provider.ts';
import type { Provider } from '../src/providers/types.ts';
import type { Database } from '../src/store/database.ts';
import { benchEngine, seedRefs } from './seed.ts';

/** One host for the cost scenario: its provider, and how to open and change PRs on its emulator. */
interface CostHost {
  provider: Provider;
  /** The origin of the repository every PR is in. */
  origin: string;
  open(branch: string): void;
  changeAll(): void;
  requests(): number;
  resetCounters(): void;
  close(): Promise<void>;
}

const TOKEN = 'bench-token-0123456789abcdefghijklmnopqrstuvwxyz';

/** Hosts without batch reads: Gitea (and Forgejo), Bitbucket Cloud, Azure DevOps. */
export const COST_HOSTS: Record<string, (clock: FakeClock) => Promise<CostHost>> = {
  async gitea(clock) {
    const gt = await startGiteaEmulator();
    gt.addToken(TOKEN, 'bench');
    gt.model.createRepo({ full_name: 'bench/repo', members: ['bench'] });
    const opened: number[] = [];
    return {
      provider: new GiteaProvider(
        { id: 'gitea', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl, service_token: TOKEN },
        'gitea',
        { clock },
      ),
      origin: `${gt.webUrl}/bench/repo`,
      open: (branch) => void opened.push(gt.model.openPull('bench/repo', { head: branch }).number),
      changeAll: () => {
        for (const n of opened) gt.model.update('bench/repo', n, { title: `changed ${n}` });
      },
      requests: () => gt.counters.total,
      resetCounters: () => gt.resetCounters(),
      close: () => gt.close(),
    };
  },
  async bitbucket(clock) {
    const bb = await startBitbucketEmulator({ rateLimit: 10_000_000 });
    bb.addAccessToken(TOKEN, { user: 'bench' });
    bb.model.createRepo({ full_name: 'bench/repo', is_private: false });
    const opened: number[] = [];
    return {
      provider: new BitbucketProvider(
        { id: 'bitbucket', type: 'bitbucket', web_url: bb.webUrl, api_url: bb.apiUrl, service_token: TOKEN },
        { clock },
      ),
      origin: `${bb.webUrl}/bench/repo`,
      open: (branch) => void opened.push(bb.model.openPull('bench/repo', { source_branch: branch }).id),
      changeAll: () => {
        for (const n of opened) bb.model.update('bench/repo', n, { title: `changed ${n}` });
      },
      requests: () => bb.counters.total,
      resetCounters: () => bb.resetCounters(),
      close: () => bb.close(),
    };
  },
  async 'azure-devops'(clock) {
    const az = await startAzureDevOpsEmulator({ rateLimit: 10_000_000, delayFrom: 10_000_000 });
    az.addToken(TOKEN, 'bench@example.com');
    az.model.createRepo('bench/Platform/repo', { visibility: 'public' });
    const opened: number[] = [];
    return {
      provider: new AzureDevOpsProvider(
        { id: 'ado', type: 'azure-devops', web_url: az.webUrl, api_url: az.url, service_token: TOKEN },
        { clock },
      ),
      origin: `${az.webUrl}/bench/Platform/_git/repo`,
      open: (branch) =>
        void opened.push(az.model.openPull('bench/Platform/repo', { source_branch: branch }).id),
      changeAll: () => {
        for (const n of opened) az.model.pull('bench/Platform/repo', n).title = `changed ${n}`;
      },
      requests: () => az.counters.total,
      resetCounters: () => az.resetCounters(),
      close: () => az.close(),
    };
  },
};

/**
 * Requests per 1,000 refreshes of `refs` open PRs on one host: on first sight, when nothing
 * changed, and when every PR's title changed (the same three passes as the GitHub and GitLab
 * scenarios); then, unchanged again, once their checks have settled (a quarter of an hour after
 * first sight: the providers re-read checks on every refresh for a while after a head is first
 * seen) and over an hour of refreshes at the fresh TTL, which holds the hourly re-read of what
 * the providers keep (checks, threads).
 */
export async function measureHostCost(db: Database, host: string, refs: number) {
  const clock = new FakeClock(new Date());
  const h = await COST_HOSTS[host]!(clock);
  try {
    const { engine, settings } = benchEngine(db, h.provider, clock, { batch_size: 500, concurrency: 50 });
    for (let i = 0; i < refs; i++) h.open(`b${i}`);
    await seedRefs(db, {
      refs,
      owners: [randomUUID()],
      origin: h.origin,
      provider_id: h.provider.config.id,
      branch: (n) => `b${n - 1}`,
      chats_created_at: clock.now(),
      reported_at: clock.now(),
      stale_at: () => new Date(clock.now().getTime() - 1000),
    });
    const pass = async () => {
      h.resetCounters();
      let refreshed = 0;
      for (;;) {
        const r = await engine.tick();
        if (r.claimed === 0) break;
        refreshed += r.outcomes.updated + r.outcomes.no_pr;
      }
      clock.advance(settings.fresh_ttl_ms);
      return { refreshed, requests: h.requests() };
    };
    const per1000 = (p: { refreshed: number; requests: number }) => ({
      refreshed: p.refreshed,
      requests_per_1000: Math.round((p.requests / Math.max(1, p.refreshed)) * 1000),
    });
    const first = per1000(await pass());
    const unchanged = per1000(await pass());
    h.changeAll();
    const changed = per1000(await pass());
    // A quarter of an hour after first sight, the checks of every head have stood long enough to be kept.
    clock.advance(15 * 60_000 - 3 * settings.fresh_ttl_ms);
    const settled = per1000(await pass());
    // An hour of passes at the fresh TTL (PRs that have gone quiet are due less often: some passes are empty).
    const hour = { refreshed: 0, requests: 0 };
    for (let t = 0; t < 3_600_000; t += settings.fresh_ttl_ms) {
      const p = await pass();
      hour.refreshed += p.refreshed;
      hour.requests += p.requests;
    }
    return { first, unchanged, changed, settled, unchanged_hour: per1000(hour) };
  } finally {
    await h.close();
  }
}
