import { randomUUID } from 'node:crypto';
import { startGitLabEmulator } from '../emulator/gitlab/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { GitLabProvider } from '../src/providers/gitlab/gitlab-provider.ts';
import type { Database } from '../src/store/database.ts';
import { benchEngine, seedRefs } from './seed.ts';

/**
 * Code-host cost of keeping `refs` open MRs fresh through the real GitLab provider and emulator:
 * requests per 1,000 refreshes on first sight, when nothing changed, when every MR changed, when
 * every MR was pushed to (mergeability left `unchecked` by GitLab: the provider asks for a
 * recheck) and the pass after (GitLab has computed it). Every MR has a head pipeline of three jobs
 * and an open thread, as the MRs of a project with CI and review do.
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
    const jobs = ['lint', 'unit', 'build'].map((name) => ({ name, status: 'success' as const }));
    for (let i = 0; i < refs; i++) {
      gl.model.push(project, `b${i}`);
      const mr = gl.model.openMergeRequest(project, { source_branch: `b${i}` });
      gl.model.createPipeline(project, { ref: `b${i}`, jobs });
      gl.model.startThread(project, mr.iid, {
        author: 'reviewer',
        body: 'Please rename',
        file: 'a.ts',
        line: 1,
      });
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
    for (let i = 0; i < refs; i++) gl.model.push(project, `b${i}`);
    const pushed = await pass();
    const checked = await pass();
    return { first, unchanged, changed, pushed, checked };
  } finally {
    await gl.close();
  }
}
