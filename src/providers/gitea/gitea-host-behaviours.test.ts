import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GiteaEmulator, startGiteaEmulator } from '../../../emulator/gitea/server.ts';
import { HookPayloads } from '../../../emulator/gitea/webhooks.ts';
import { FakeClock } from '../../core/clock.ts';
import { CHECKS_SETTLE_MS } from '../pull-reads-cache.ts';
import { CONFLICT_SETTLE_MS, FULL_LOOK_TTL_MS, GiteaProvider, MAX_LIST_PAGES } from './gitea-provider.ts';

/**
 * What Gitea and Forgejo really do (SPEC §5, "What the hosts really do"), each against the
 * emulator over real HTTP; an unexpected request fails the suite.
 */
const TOKEN = 'gitea-behaviours-token';

describe('Gitea/Forgejo behaviours', () => {
  let gt: GiteaEmulator;
  let provider: GiteaProvider;
  const clock = new FakeClock(new Date('2026-03-01T12:00:00Z'));
  const call = { token: TOKEN };

  beforeAll(async () => {
    gt = await startGiteaEmulator({ subUrl: '/gitea', now: () => clock.now() });
    gt.addToken(TOKEN, 'agent');
    provider = new GiteaProvider(
      { id: 'corp', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl },
      'gitea',
      { clock },
    );
  });
  afterAll(async () => {
    expect(gt.counters.unexpected).toEqual([]);
    await gt.close();
  });

  const apiGet = async (path: string) =>
    (await (
      await fetch(`${gt.apiUrl}${path}`, { headers: { authorization: `token ${TOKEN}` } })
    ).json()) as Record<string, unknown>;

  it('a deleted head branch: head.ref is refs/pull/N/head, the PR keeps its branch from head.label and is still found', async () => {
    gt.model.createRepo({ full_name: 'org/del', members: ['agent'] });
    gt.model.createRepo({ full_name: 'agent/del', fork_of: 'org/del', members: ['agent'] });
    const repo = { owner: 'org', name: 'del' };
    // Merged with "delete branch after merge" before anyone looked.
    const merged = gt.model.openPull('org/del', { head: 'feature/early' });
    const head = merged.head_sha;
    gt.model.merge('org/del', merged.number, { delete_branch: true });
    // As services/convert/pull.go renders it: the branch name stays in `label`, bare.
    expect((await apiGet(`/repos/org/del/pulls/${merged.number}`)).head).toMatchObject({
      label: 'feature/early',
      ref: `refs/pull/${merged.number}/head`,
      sha: head,
      repo: { full_name: 'org/del' },
    });
    expect(await provider.findPullForBranch(repo, 'feature/early', call)).toMatchObject({
      pr_number: merged.number,
      pull_request_state: 'merged',
      head_branch: 'feature/early',
      head_sha: head,
    });
    expect(await provider.fetchPull({ repo, number: merged.number }, call)).toMatchObject({
      head_branch: 'feature/early',
    });
    // A fork's branch deleted by hand: Gitea closes the PR; its label has no `owner:` prefix.
    const fromFork = gt.model.openPull('org/del', { head: 'fix', head_repo: 'agent/del' });
    gt.model.deleteBranch('agent/del', 'fix');
    expect((await apiGet(`/repos/org/del/pulls/${fromFork.number}`)).head).toMatchObject({
      label: 'fix',
      ref: `refs/pull/${fromFork.number}/head`,
      repo: { full_name: 'agent/del' },
    });
    expect(await provider.findPullForBranch({ owner: 'agent', name: 'del' }, 'fix', call)).toMatchObject({
      pr_number: fromFork.number,
      pull_request_state: 'closed',
      head_branch: 'fix',
    });
  });

  it('mergeable false while the checker lags: unknown until it held two minutes on one head and base', async () => {
    gt.model.createRepo({ full_name: 'org/lag', members: ['agent'] });
    gt.model.checkLagMs = 90_000;
    try {
      const pull = gt.model.openPull('org/lag', { head: 'slow' });
      const ref = { repo: { owner: 'org', name: 'lag' }, number: pull.number };
      const state = async () => {
        const { merge_state, merge_state_reason } = await provider.fetchPull(ref, call);
        return [merge_state, merge_state_reason];
      };
      // The queue has not reached this PR for 90 s: false all that time, and not a conflict.
      expect(await state()).toEqual(['unknown', 'checking']);
      clock.advance(15_000);
      expect(await state()).toEqual(['unknown', 'checking']);
      clock.advance(60_000);
      expect(await state()).toEqual(['unknown', 'checking']);
      // Checked: these commits have stood long enough for `true` to be about them.
      clock.advance(20_000);
      expect(await state()).toEqual(['clean', 'mergeable=true']);
      // A real conflict: still "checking" for 90 s, false past two minutes on the same commits.
      gt.model.setConflicting('org/lag', pull.number, true);
      gt.model.push('org/lag', 'slow');
      expect(await state()).toEqual(['unknown', 'checking']);
      clock.advance(CONFLICT_SETTLE_MS - 1);
      expect(await state()).toEqual(['unknown', 'checking']);
      clock.advance(1);
      expect(await state()).toEqual(['conflicting', 'mergeable=false']);
    } finally {
      gt.model.checkLagMs = null;
    }
  });

  it('a status delivery names the commit: refs with that head_sha are due, and this replica reads its checks again', async () => {
    gt.model.createRepo({ full_name: 'org/ci', members: ['agent'] });
    const pull = gt.model.openPull('org/ci', { head: 'green' });
    const ref = { repo: { owner: 'org', name: 'ci' }, number: pull.number };
    gt.model.setStatus('org/ci', pull.head_sha, { context: 'build', state: 'failure' });
    expect((await provider.fetchPull(ref, call)).checks_state).toBe('failing');
    clock.advance(CHECKS_SETTLE_MS);
    await provider.fetchPull(ref, call);
    // Settled: kept, not read again.
    gt.resetCounters();
    expect((await provider.fetchPull(ref, call)).checks_state).toBe('failing');
    expect(gt.count('combined_status')).toBe(0);
    // A re-run goes green: nothing in the PR moves; the status delivery says so.
    gt.model.setStatus('org/ci', pull.head_sha, { context: 'build', state: 'success' });
    const payload = new HookPayloads(gt).status(pull.repo, pull.head_sha, 'ci-bot');
    const header = (h: Record<string, string>) => (n: string) => h[n.toLowerCase()];
    // Gitea sends an empty `X-Gitea-Event` for it and `X-Gitea-Event-Type: status`.
    expect(
      provider.webhooks.staleRefs(header({ 'x-gitea-event': '', 'x-gitea-event-type': 'status' }), payload),
    ).toEqual([{ origin: '', head_sha: pull.head_sha }]);
    expect((await provider.fetchPull(ref, call)).checks_state).toBe('passing');
    expect(gt.count('combined_status')).toBe(1);
    // An Actions job (`workflow_job`, Forgejo and Gitea 1.24+) names its commit too.
    const job = { action: 'completed', workflow_job: { id: 1, head_sha: pull.head_sha.toUpperCase() } };
    expect(provider.webhooks.staleRefs(header({ 'x-gitea-event': 'workflow_job' }), job)).toEqual([
      { origin: '', head_sha: pull.head_sha },
    ]);
    expect(() =>
      provider.webhooks.staleRefs(header({ 'x-gitea-event-type': 'status' }), { sha: 'main' }),
    ).toThrow();
  });

  it('a branch waiting for its PR reads page 1 after one full look; the full look again after an hour', async () => {
    gt.model.createRepo({ full_name: 'org/big', members: ['agent'] });
    const repo = { owner: 'org', name: 'big' };
    const deep = gt.model.openPull('org/big', { head: 'old-work' });
    gt.model.merge('org/big', deep.number);
    for (let i = 0; i < 300; i++) gt.model.openPull('org/big', { head: `noise-${i}` });
    const lookups = async (branch: string) => {
      gt.resetCounters();
      const found = await provider.findPullForBranch(repo, branch, call);
      return { found: found?.pr_number ?? null, lists: gt.count('list_pulls'), reads: gt.count('get_pull') };
    };
    // No PR yet: every page on the first look, then one page a retry.
    expect(await lookups('waiting')).toMatchObject({ found: null, lists: MAX_LIST_PAGES });
    expect(await lookups('waiting')).toMatchObject({ found: null, lists: 1 });
    // Opened since: it is on page 1.
    const opened = gt.model.openPull('org/big', { head: 'waiting' });
    expect(await lookups('waiting')).toMatchObject({ found: opened.number, lists: 1 });
    // A merged PR past page 1 (a merged ref looks for a newer PR on every refresh): found by the
    // full look, then page 1 and the PR itself by number.
    expect(await lookups('old-work')).toMatchObject({ found: null, lists: MAX_LIST_PAGES });
    clock.advance(FULL_LOOK_TTL_MS);
    // The list reaches back 250 PRs; 300 newer ones hide it. Past the full-look age, all pages again.
    expect(await lookups('old-work')).toMatchObject({ found: null, lists: MAX_LIST_PAGES });
    const recent = gt.model.openPull('org/big', { head: 'done-soon' });
    gt.model.merge('org/big', recent.number);
    for (let i = 0; i < 60; i++) gt.model.openPull('org/big', { head: `more-${i}` });
    expect(await lookups('done-soon')).toMatchObject({
      found: recent.number,
      lists: MAX_LIST_PAGES,
      reads: 0,
    });
    expect(await lookups('done-soon')).toMatchObject({ found: recent.number, lists: 1, reads: 1 });
  });
});
