import { randomUUID } from 'node:crypto';
import { startGitLabEmulator } from '../emulator/gitlab/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { GitLabProvider } from '../src/providers/gitlab/gitlab-provider.ts';
import type { Database } from '../src/store/database.ts';
import { benchEngine, seedRefs } from './seed.ts';

/**
 * Code-host cost of keeping `refs` open MRs fresh through the real GitLab provider and emulator:
 * requests per 1,000 refreshes on first sight, when nothing changed, and when every MR changed.
 * GitLab counts every request against one budget per user (REST and GraphQL alike; GitLab docs,
 * "Rate limits"), so requests are the cost; the largest query's complexity is reported against
 * GitLab's limit of 250.
 */
export async function measureGitLabCost(db: Database, refs: number) {
  const gl = await startGitLabEmulator({ rateLimit: 10_000_000 });
  try {
    const token = 'glpat-bench';
    gl.addToken(token, 'bench');
    const project = 'bench/group/repo';
    gl.model.createProject({ path: project, visibility: 'public', members: ['bench'] });
    const clock = new FakeClock(new Date());
    const provider = new GitLabProvider(
      { id: 'gitlab', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl, service_token: token },
      { clock },
    );
    const { engine, settings } = benchEngine(db, provider, clock, { batch_size: 500, concurrency: 50 });
    for (let i = 0; i < refs; i++) {
      gl.model.push(project, `b${i}`);
      gl.model.openMergeRequest(project, { source_branch: `b${i}` });
    }
    await seedRefs(db, {
      refs,
      owners: [randomUUID()],
      origin: `${gl.webUrl}/${project}`,
      provider_id: 'gitlab',
      branch: (n) => `b${n - 1}`,
      chats_created_at: clock.now(),
      reported_at: clock.now(),
      stale_at: () => new Date(clock.now().getTime() - 1000),
    });
    const pass = async () => {
      gl.resetCounters();
      const complexities = gl.graphqlComplexity.length;
      let refreshed = 0;
      for (;;) {
        const r = await engine.tick();
        if (r.claimed === 0) break;
        refreshed += r.outcomes.updated + r.outcomes.no_pr;
      }
      clock.advance(settings.fresh_ttl_ms);
      const per1000 = (n: number) => Math.round((n / Math.max(1, refreshed)) * 1000 * 10) / 10;
      return {
        refreshed,
        requests_per_1000: per1000(gl.counters.total),
        graphql_per_1000: per1000(gl.count('graphql')),
        max_complexity: Math.max(0, ...gl.graphqlComplexity.slice(complexities)),
      };
    };
    const first = await pass();
    const unchanged = await pass();
    for (const mr of gl.model.mergeRequests.get(gl.model.project(project).id) ?? [])
      gl.model.updateMergeRequest(project, mr.iid, { title: `${mr.title}!` });
    const changed = await pass();
    return { first, unchanged, changed };
  } finally {
    await gl.close();
  }
}
