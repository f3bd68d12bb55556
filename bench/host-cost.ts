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
  /** The origin of the `repo`-th repository (from 0); all repositories answer to the same token. */
  origin(repo: number): string;
  /** Opens a PR from `branch` in the `repo`-th repository. */
  open(repo: number, branch: string): void;
  changeAll(): void;
  requests(): number;
  resetCounters(): void;
  close(): Promise<void>;
}

const TOKEN = 'bench-token-0123456789abcdefghijklmnopqrstuvwxyz';

/** Hosts without batch reads: Gitea (and Forgejo), Bitbucket Cloud, Azure DevOps; `repos` repositories each. */
export const COST_HOSTS: Record<string, (clock: FakeClock, repos: number) => Promise<CostHost>> = {
  async gitea(clock, repos) {
    // On the scenario's clock: what the search compares is Gitea's own time (`updated_at`, `Date`).
    const gt = await startGiteaEmulator({ now: () => clock.now() });
    gt.addToken(TOKEN, 'bench');
    for (let r = 0; r < repos; r++) gt.model.createRepo({ full_name: `bench/repo${r}`, members: ['bench'] });
    const opened: { repo: string; n: number }[] = [];
    return {
      provider: new GiteaProvider(
        { id: 'gitea', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl, service_token: TOKEN },
        'gitea',
        { clock },
      ),
      origin: (r) => `${gt.webUrl}/bench/repo${r}`,
      open: (r, branch) => {
        const repo = `bench/repo${r}`;
        opened.push({ repo, n: gt.model.openPull(repo, { head: branch }).number });
      },
      changeAll: () => {
        for (const { repo, n } of opened) gt.model.update(repo, n, { title: `changed ${n}` });
      },
      requests: () => gt.counters.total,
      resetCounters: () => gt.resetCounters(),
      close: () => gt.close(),
    };
  },
  async bitbucket(clock, repos) {
    // Bitbucket's times (`updated_on`, `Date`) on the bench's clock, as they would pass in use:
    // on the real one, every PR would have moved within the last minute at each pass.
    const bb = await startBitbucketEmulator({ rateLimit: 10_000_000, now: () => clock.now() });
    // An owner's own Atlassian API token (e-mail:token, sent as Basic): `GET /user` and the user's
    // PR list are documented for those (`x-atlassian-auth-types: api-token`).
    const token = 'bench@example.com:ATATT3x-bench-0123456789abcdefghijklmnopqrstuvwxyz';
    bb.addApiToken('bench@example.com', token.slice(token.indexOf(':') + 1), 'bench');
    for (let r = 0; r < repos; r++) bb.model.createRepo({ full_name: `bench/repo${r}`, is_private: false });
    const opened: { repo: string; n: number }[] = [];
    return {
      provider: new BitbucketProvider(
        { id: 'bitbucket', type: 'bitbucket', web_url: bb.webUrl, api_url: bb.apiUrl, service_token: token },
        { clock },
      ),
      origin: (r) => `${bb.webUrl}/bench/repo${r}`,
      open: (r, branch) => {
        const repo = `bench/repo${r}`;
        // Opened with the token's own user, as an agent with its owner's token does.
        opened.push({ repo, n: bb.model.openPull(repo, { source_branch: branch, author: 'bench' }).id });
      },
      changeAll: () => {
        for (const { repo, n } of opened) bb.model.update(repo, n, { title: `changed ${n}` });
      },
      requests: () => bb.counters.total,
      resetCounters: () => bb.resetCounters(),
      close: () => bb.close(),
    };
  },
  async 'azure-devops'(clock, repos) {
    const az = await startAzureDevOpsEmulator({ rateLimit: 10_000_000, delayFrom: 10_000_000 });
    az.addToken(TOKEN, 'bench@example.com');
    for (let r = 0; r < repos; r++) az.model.createRepo(`bench/Platform/repo${r}`, { visibility: 'public' });
    const opened: { repo: string; n: number }[] = [];
    return {
      provider: new AzureDevOpsProvider(
        { id: 'ado', type: 'azure-devops', web_url: az.webUrl, api_url: az.url, service_token: TOKEN },
        { clock },
      ),
      origin: (r) => `${az.webUrl}/bench/Platform/_git/repo${r}`,
      open: (r, branch) => {
        const repo = `bench/Platform/repo${r}`;
        opened.push({ repo, n: az.model.openPull(repo, { source_branch: branch }).id });
      },
      changeAll: () => {
        for (const { repo, n } of opened) az.model.pull(repo, n).title = `changed ${n}`;
      },
      requests: () => az.counters.total,
      resetCounters: () => az.resetCounters(),
      close: () => az.close(),
    };
  },
};

/**
 * Requests per 1,000 refreshes of `refs` open PRs on one host, `perRepo` to a repository (the PRs
 * fill ceil(refs / perRepo) repositories of one token in turn, the last one maybe fewer): on first sight, when nothing
 * changed, and when every PR's title changed (the same three passes as the GitHub and GitLab
 * scenarios); then, unchanged again and refreshed every TTL, once their checks have settled (the
 * pass a quarter of an hour after first sight: the providers re-read checks on every refresh for
 * a while after a head is first seen) and over an hour of refreshes at the fresh TTL, which holds the hourly re-read of what
 * the providers keep (checks, threads).
 */
export async function measureHostCost(db: Database, host: string, refs: number, perRepo = refs) {
  if (!Number.isInteger(perRepo) || perRepo < 1)
    throw new Error(`perRepo must be a whole number ≥ 1, not ${perRepo}`);
  const repos = Math.ceil(refs / perRepo);
  const clock = new FakeClock(new Date());
  const h = await COST_HOSTS[host]!(clock, repos);
  try {
    const { engine, settings } = benchEngine(db, h.provider, clock, { batch_size: 500, concurrency: 50 });
    // The i-th PR (from 0) is in repository floor(i / perRepo), from branch b<i>.
    for (let i = 0; i < refs; i++) h.open(Math.floor(i / perRepo), `b${i}`);
    const owner = randomUUID();
    for (let r = 0; r < repos; r++) {
      const first = r * perRepo;
      await seedRefs(db, {
        refs: Math.min(perRepo, refs - first),
        owners: [owner],
        origin: h.origin(r),
        provider_id: h.provider.config.id,
        branch: (n) => `b${first + n - 1}`,
        chats_created_at: clock.now(),
        reported_at: clock.now(),
        stale_at: () => new Date(clock.now().getTime() - 1000),
      });
    }
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
    // Refreshed every TTL, as the worker does, until a quarter of an hour after first sight: the
    // checks of every head have then stood long enough to be kept, and whatever a change costs on
    // the refreshes after it (a list that confirms it) is behind.
    const start = clock.now().getTime() - 3 * settings.fresh_ttl_ms;
    while (clock.now().getTime() - start < 15 * 60_000) await pass();
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
