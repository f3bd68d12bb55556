import { afterEach, describe, expect, it } from 'vitest';
import {
  type GitHubEmulator,
  type MergeInfoMode,
  startGitHubEmulator,
} from '../../../emulator/github/server.ts';
import { systemClock } from '../../core/clock.ts';
import { pullKey } from '../types.ts';
import { GitHubProvider } from './github-provider.ts';
import { MERGE_INFO_PREVIEW } from './graphql.ts';

/**
 * `PullRequest.mergeStateStatus` is a schema preview on GitHub Enterprise Server: without the
 * `application/vnd.github.merge-info-preview+json` media type the field does not exist there, and
 * a query naming it fails validation as a whole (github/docs, src/graphql/data/ghes-3.11/previews.json,
 * "Merge info preview": toggled on `PullRequest.canBeRebased` and `PullRequest.mergeStateStatus`).
 * The emulator answers such a query as graphql-ruby does (HTTP 200, no `data`, an `undefinedField`
 * error per use). Every test runs the provider over real HTTP against it.
 */
describe('GitHub mergeStateStatus on Enterprise Server', () => {
  let gh: GitHubEmulator;
  const call = { token: 'ghp_merge_info' };
  const repo = { owner: 'acme', name: 'app' };

  const start = async (mergeInfo: MergeInfoMode) => {
    gh = await startGitHubEmulator({ mergeInfo });
    gh.addToken(call.token, 'agent');
    gh.model.createRepo({ owner: 'acme', name: 'app' });
    // 1: no conflicts but behind its base; 2: conflicting; 3: a draft without conflicts.
    gh.model.openPull('acme/app', { head: 'behind' });
    gh.model.updatePull('acme/app', 1, { behind: true });
    gh.model.openPull('acme/app', { head: 'conflict' });
    gh.model.updatePull('acme/app', 2, { conflicting: true });
    gh.model.openPull('acme/app', { head: 'draft', draft: true });
    // listFirst false: every read is a GraphQL batch read, the path under test.
    return new GitHubProvider(
      { id: 'ghes', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl },
      { clock: systemClock, requestTimeoutMs: 2000, listFirst: false },
    );
  };
  afterEach(async () => {
    expect(gh.counters.unexpected).toEqual([]);
    await gh.close();
  });

  const pulls = [1, 2, 3].map((number) => ({ repo, number }));
  const graphqlLog = () => gh.log.filter((r) => r.route === 'graphql');

  it('sends the merge-info preview media type, so a server that gates the field answers it', async () => {
    const provider = await start('preview');
    const out = await provider.fetchPulls(pulls, call);
    const state = (n: number) => out.get(pullKey({ repo, number: n }));
    expect(state(1)).toMatchObject({ merge_state: 'behind', merge_state_reason: 'BEHIND' });
    expect(state(2)).toMatchObject({ merge_state: 'conflicting', merge_state_reason: 'DIRTY' });
    expect(state(3)).toMatchObject({ merge_state: 'draft' });
    const sent = graphqlLog();
    expect(sent.length).toBeGreaterThan(0);
    for (const r of sent) expect(r.accept).toContain(MERGE_INFO_PREVIEW);
  });

  it('where the server lacks the field, the batch falls back to `mergeable` and never fails', async () => {
    const provider = await start('absent');
    const out = await provider.fetchPulls(pulls, call);
    const state = (n: number) => out.get(pullKey({ repo, number: n }));
    // `mergeable` tells conflicts only: MERGEABLE reads clean (being behind cannot be told).
    expect(state(1)).toMatchObject({ merge_state: 'clean', merge_state_reason: 'MERGEABLE' });
    expect(state(2)).toMatchObject({ merge_state: 'conflicting', merge_state_reason: 'CONFLICTING' });
    expect(state(3)).toMatchObject({ merge_state: 'draft', merge_state_reason: 'MERGEABLE' });
    // The refused query, then the same batch without the field.
    expect(graphqlLog().map((r) => r.status)).toEqual([200, 200]);
    expect(gh.graphqlRefusals).toBe(1);

    // Remembered for this provider: the next batch asks without the field at once.
    gh.model.updatePull('acme/app', 1, { conflicting: true });
    const again = await provider.fetchPulls(pulls, call);
    expect(again.get(pullKey({ repo, number: 1 }))).toMatchObject({ merge_state: 'conflicting' });
    expect(gh.graphqlRefusals).toBe(1);
    const later = graphqlLog().slice(2);
    expect(later.length).toBeGreaterThan(0);
    for (const r of later) expect(r.accept ?? '').not.toContain('merge-info-preview');
  });

  it('where the server lacks the field, branch lookups read their PRs all the same', async () => {
    const provider = await start('absent');
    const out = await provider.findPullsForBranches(
      [
        { repo, branch: 'behind' },
        { repo, branch: 'conflict' },
      ],
      call,
    );
    const found = [...out.values()];
    expect(found).toHaveLength(2);
    for (const v of found) expect(v).not.toBeInstanceOf(Error);
    expect(found.map((v) => (v as { merge_state: string }).merge_state).sort()).toEqual([
      'clean',
      'conflicting',
    ]);
  });

  it('github.com (the published schema) answers the field with or without the preview', async () => {
    const provider = await start('public');
    const out = await provider.fetchPulls(pulls, call);
    expect(out.get(pullKey({ repo, number: 1 }))).toMatchObject({ merge_state: 'behind' });
    expect(gh.graphqlRefusals).toBe(0);
  });
});
