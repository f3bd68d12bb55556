import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GiteaEmulator, startGiteaEmulator } from '../../../emulator/gitea/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { PrFields } from '../../core/types.ts';
import { CHECKS_SETTLE_MS, READS_MAX_AGE_MS } from '../pull-reads-cache.ts';
import { PULL_UNCHANGED, type PullRef, pullKey } from '../types.ts';
import { BASE_RECHECK_MS, GiteaProvider, MAX_SEARCH_PAGES } from './gitea-provider.ts';

/** `fetchPulls` and the branch lookup's choice, against the emulator over real HTTP. */
const TOKEN = 'gitea-fetch-pulls-token';
const call = { token: TOKEN };

describe('Gitea provider, many PRs at once', () => {
  let gt: GiteaEmulator;
  // One clock for the instance and every test's provider (the search compares Gitea's own times:
  // `updated_at` and `Date`), only ever moved forward.
  const clock = new FakeClock(new Date());

  beforeAll(async () => {
    gt = await startGiteaEmulator({ now: () => clock.now() });
    gt.addToken(TOKEN, 'agent');
  });
  afterAll(async () => {
    expect(gt.counters.unexpected).toEqual([]);
    await gt.close();
  });

  /** A provider with a clock of its own, and refs that show what its last answer for them was. */
  function setup() {
    const provider = new GiteaProvider(
      { id: 'corp', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl },
      'gitea',
      { clock },
    );
    const shown = new Map<string, Date>();
    /** One refresh of `refs`: what the host answered; each PR's ref then shows it as of now. */
    const refresh = async (refs: PullRef[], extra: Partial<PullRef> = {}) => {
      const got = await provider.fetchPulls(
        refs.map((r) => ({ ...r, shownSince: shown.get(pullKey(r)) ?? null, ...extra })),
        call,
      );
      for (const r of refs) shown.set(pullKey(r), clock.now());
      return refs.map((r) => got.get(pullKey(r)));
    };
    return { clock, provider, refresh };
  }

  /** Opens PRs with a passing check each, in `repo` (created here). */
  function openPulls(repo: string, heads: string[]): PullRef[] {
    gt.model.createRepo({ full_name: repo });
    const [owner, name] = repo.split('/') as [string, string];
    return heads.map((head) => {
      const pull = gt.model.openPull(repo, { head });
      gt.model.setStatus(repo, pull.head_sha, { context: 'ci', state: 'success' });
      return { repo: { owner, name }, number: pull.number };
    });
  }

  it('unchanged settled PRs cost one search for their owner; a rename, a push and a review are seen', async () => {
    const { clock, refresh } = setup();
    const a = openPulls('org/one', ['a1', 'a2', 'a3']);
    const b = openPulls('org/two', ['b1']);
    const refs = [...a, ...b];
    // First sight: each PR read in full, its body taken from the list (no PR read of its own).
    gt.resetCounters();
    const first = (await refresh(refs)) as PrFields[];
    expect(first.map((f) => f.checks_state)).toEqual(['passing', 'passing', 'passing', 'passing']);
    expect([gt.count('list_pulls'), gt.count('get_pull')]).toEqual([2, 0]);
    expect(first.map((f) => f.merge_state)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    // While the checks have not stood ten minutes (a CI posts late), every refresh reads them.
    clock.advance(CHECKS_SETTLE_MS / 2);
    const settling = (await refresh(refs)) as PrFields[];
    expect(settling.map((f) => f.merge_state)).toEqual(['clean', 'clean', 'clean', 'clean']);
    // Settled and unchanged: one search of the owner's moved PRs, nothing else.
    clock.advance(CHECKS_SETTLE_MS / 2);
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED, PULL_UNCHANGED, PULL_UNCHANGED]);
    expect([gt.counters.total, gt.count('search_issues')]).toEqual([1, 1]);

    // A rename: the search shows it moved; its repository's list is read, and that PR (its
    // reviews; its kept checks stand, the head did not move).
    gt.model.update('org/one', a[0]!.number, { title: 'Renamed' });
    clock.advance(120_000);
    gt.resetCounters();
    const renamed = await refresh(refs);
    expect(renamed[0]).toMatchObject({ pull_request_title: 'Renamed', checks_state: 'passing' });
    expect(renamed.slice(1)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED, PULL_UNCHANGED]);
    expect([gt.count('search_issues'), gt.count('list_pulls'), gt.count('list_reviews')]).toEqual([1, 1, 1]);
    expect([gt.counters.total, gt.count('combined_status')]).toEqual([3, 0]);

    // A new commit: its statuses (none yet) and commits are read.
    const tip = gt.model.push('org/one', 'a2');
    clock.advance(120_000);
    gt.resetCounters();
    const pushed = await refresh(refs);
    expect(pushed[1]).toMatchObject({ head_sha: tip, checks_state: 'none', commits: 2 });
    expect(pushed[0]).toBe(PULL_UNCHANGED);
    expect(gt.count('combined_status')).toBe(1);

    // A review: Gitea records it as a comment, which moves the PR's `updated_at`.
    const review = gt.model.review('org/two', b[0]!.number, 'rev', 'APPROVED');
    clock.advance(120_000);
    const reviewed = await refresh(refs);
    expect(reviewed[3]).toMatchObject({ approved: true, reviewer_count: 1 });
    expect(reviewed[2]).toBe(PULL_UNCHANGED);
    // Its dismissal too (`CommentTypeDismissReview`).
    gt.model.dismiss('org/two', b[0]!.number, review.id);
    clock.advance(120_000);
    expect((await refresh(refs))[3]).toMatchObject({ approved: false, reviewer_count: 0 });
  });

  it('a check run again on the same head: unseen by a plain refresh within the hour, seen by a fresh read', async () => {
    const { clock, provider, refresh } = setup();
    const refs = openPulls('org/rerun', ['r1', 'r2']);
    await refresh(refs);
    clock.advance(CHECKS_SETTLE_MS);
    await refresh(refs);
    clock.advance(120_000);
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    // A status posted moves nothing in the PR: a plain refresh keeps what it shows…
    const head = gt.model.pull('org/rerun', refs[0]!.number).head_sha;
    gt.model.setStatus('org/rerun', head, { context: 'ci', state: 'failure' });
    clock.advance(120_000);
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    // …a read a signal asked for answers what the host says now, its checks read, never kept ones.
    gt.resetCounters();
    const fresh = await refresh(refs, { fresh: true });
    expect(fresh[0]).toMatchObject({ checks_state: 'failing' });
    expect(fresh[1]).toMatchObject({ checks_state: 'passing' });
    expect(gt.count('combined_status')).toBe(2);
    expect(await provider.fetchPull({ ...refs[0]!, fresh: true }, call)).toMatchObject({
      checks_state: 'failing',
    });
    // Without a signal, the hourly re-read sees it too.
    gt.model.setStatus('org/rerun', head, { context: 'ci', state: 'success' });
    clock.advance(CHECKS_SETTLE_MS);
    await refresh(refs);
    gt.model.setStatus('org/rerun', head, { context: 'ci', state: 'error' });
    clock.advance(READS_MAX_AGE_MS);
    expect((await refresh(refs))[0]).toMatchObject({ checks_state: 'failing' });
  });

  it('reads further pages only to reach the PRs asked; a hidden repository answers not found for its PRs alone', async () => {
    const { refresh } = setup();
    const [deep] = openPulls('org/deep', ['deep']);
    // 55 PRs updated after ours: it is on the second page (50 a page).
    for (let i = 0; i < 55; i++) gt.model.openPull('org/deep', { head: `noise-${i}` });
    gt.model.createRepo({ full_name: 'org/hidden', private: true });
    const hidden: PullRef = { repo: { owner: 'org', name: 'hidden' }, number: 1 };
    gt.resetCounters();
    const [found, missing] = await refresh([deep!, hidden]);
    expect(found).toMatchObject({ pr_number: deep!.number, head_branch: 'deep' });
    expect(missing).toBeInstanceOf(NotFoundError);
    expect([gt.count('list_pulls'), gt.count('get_pull')]).toEqual([3, 0]);
  });

  it('of a branch’s merged and closed PRs, follows the highest number, not the most recently updated', async () => {
    const { provider } = setup();
    gt.model.createRepo({ full_name: 'org/hist' });
    const repo = { owner: 'org', name: 'hist' };
    const old = gt.model.openPull('org/hist', { head: 'topic' });
    gt.model.merge('org/hist', old.number);
    const newer = gt.model.openPull('org/hist', { head: 'topic' });
    gt.model.close('org/hist', newer.number);
    // A comment on the old merged PR makes it the most recently updated.
    gt.model.comment('org/hist', old.number);
    expect(await provider.findPullForBranch(repo, 'topic', call)).toMatchObject({
      pr_number: newer.number,
      pull_request_state: 'closed',
    });
    // Within the hour after the full look only page 1 is read: the same answer.
    gt.model.comment('org/hist', old.number);
    gt.resetCounters();
    expect(await provider.findPullForBranch(repo, 'topic', call)).toMatchObject({ pr_number: newer.number });
    expect(gt.count('list_pulls')).toBe(1);
    // An open PR of the branch wins over any number.
    const reopened = gt.model.openPull('org/hist', { head: 'topic' });
    expect(await provider.findPullForBranch(repo, 'topic', call)).toMatchObject({
      pr_number: reopened.number,
      pull_request_state: 'open',
    });
  });
  it('two PRs in each of many repositories: one search per owner and round; a change, a base push and another owner seen', async () => {
    const { clock, refresh } = setup();
    const refs: PullRef[] = [];
    for (let r = 0; r < 12; r++) refs.push(...openPulls(`many/r${r}`, [`x${r}`, `y${r}`]));
    const theirs = openPulls('elsewhere/lib', ['t1', 't2']);
    const all = [...refs, ...theirs];
    await refresh(all);
    clock.advance(CHECKS_SETTLE_MS / 2);
    await refresh(all);
    clock.advance(CHECKS_SETTLE_MS / 2);
    // Unchanged: one search for each owner, no list, no PR read.
    gt.resetCounters();
    expect(await refresh(all)).toEqual(all.map(() => PULL_UNCHANGED));
    expect([gt.counters.total, gt.count('search_issues')]).toEqual([2, 2]);
    expect(
      gt.log
        .filter((l) => l.route === 'search_issues')
        .map((l) => new URL(l.path, gt.webUrl).searchParams.get('owner'))
        .sort(),
    ).toEqual(['elsewhere', 'many']);
    // Two calls of one round (the engine asks 50 PRs a call) share the owner's search.
    clock.advance(120_000);
    gt.resetCounters();
    const halves = await Promise.all([refresh(refs.slice(0, 12)), refresh(refs.slice(12))]);
    expect(halves.flat()).toEqual(refs.map(() => PULL_UNCHANGED));
    expect(gt.counters.total).toBe(1);
    await refresh(theirs);

    // A change in one repository: its list and that PR's reviews; every other PR still unchanged.
    gt.model.update('many/r7', refs[14]!.number, { title: 'Moved' });
    gt.model.comment('elsewhere/lib', theirs[1]!.number);
    clock.advance(120_000);
    gt.resetCounters();
    const round = await refresh(all);
    expect(round[14]).toMatchObject({ pull_request_title: 'Moved' });
    expect(round[all.length - 1]).toMatchObject({ comments: 1 });
    expect(round.filter((r) => r === PULL_UNCHANGED)).toHaveLength(all.length - 2);
    expect([gt.count('search_issues'), gt.count('list_pulls'), gt.count('list_reviews')]).toEqual([2, 2, 2]);

    // A push to a base branch moves no PR's `updated_at` (Gitea rechecks mergeability in the pull
    // request row only): the search cannot show it, so an open PR's repository is listed again
    // BASE_RECHECK_MS after it last was, and the PRs whose base moved are read.
    gt.model.push('many/r3', 'main');
    clock.advance(120_000);
    gt.resetCounters();
    expect(await refresh(all)).toEqual(all.map(() => PULL_UNCHANGED));
    expect(gt.count('list_pulls')).toBe(0);
    clock.advance(BASE_RECHECK_MS);
    gt.resetCounters();
    const rechecked = await refresh(all);
    expect(gt.count('list_pulls')).toBe(13);
    expect(rechecked.slice(6, 8).some((r) => r === PULL_UNCHANGED)).toBe(false);
    expect(rechecked.filter((r) => r === PULL_UNCHANGED)).toHaveLength(all.length - 2);
  });

  it('a merged PR is answered from the search alone; its repository is listed again every BASE_RECHECK_MS', async () => {
    const { refresh } = setup();
    const refs = openPulls('done/app', ['m1']);
    await refresh(refs);
    clock.advance(CHECKS_SETTLE_MS);
    await refresh(refs);
    gt.model.merge('done/app', refs[0]!.number);
    clock.advance(120_000);
    expect((await refresh(refs))[0]).toMatchObject({ pull_request_state: 'merged' });
    clock.advance(120_000);
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED]);
    expect([gt.counters.total, gt.count('search_issues')]).toEqual([1, 1]);
    // A search no longer showing a PR may mean it no longer covers it (repository moved, deleted,
    // unreadable): the repository's list looks again every BASE_RECHECK_MS, merged or not.
    clock.advance(BASE_RECHECK_MS);
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED]);
    expect(gt.count('list_pulls')).toBe(1);
    // A comment on it later: the search shows it moved, and it is read again.
    gt.model.comment('done/app', refs[0]!.number);
    clock.advance(120_000);
    expect((await refresh(refs))[0]).toMatchObject({ pull_request_state: 'merged', comments: 1 });
  });

  it('a PR read within a minute of its last update is not answered by the search until a list shows it unchanged past that', async () => {
    const { refresh } = setup();
    const refs = openPulls('tie/app', ['s1', 's2']);
    await refresh(refs);
    clock.advance(CHECKS_SETTLE_MS);
    await refresh(refs);
    clock.advance(120_000);
    // Changed and read at once: Gitea stamps `updated_unix` in whole seconds, so another change
    // within that second would show the same `updated_at` to the search.
    gt.model.update('tie/app', refs[0]!.number, { title: 'Just now' });
    expect((await refresh(refs))[0]).toMatchObject({ pull_request_title: 'Just now' });
    clock.advance(120_000);
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    expect(gt.count('list_pulls')).toBe(1);
    // That list answered two minutes past the update: from now on the search alone.
    clock.advance(120_000);
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    expect([gt.counters.total, gt.count('search_issues')]).toEqual([1, 1]);
  });

  it('a search the token may not make (no issue scope: 403) falls back to the lists, and is not tried again for a while', async () => {
    const { clock, refresh } = setup();
    const refs = [...openPulls('scoped/a', ['s1', 's2']), ...openPulls('scoped/b', ['s3'])];
    await refresh(refs);
    clock.advance(CHECKS_SETTLE_MS);
    await refresh(refs);
    clock.advance(120_000);
    gt.addFaults({ kind: 'status', status: 403, match: '^/repos/issues/search', times: 1 });
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED, PULL_UNCHANGED]);
    expect([gt.count('search_issues'), gt.count('list_pulls')]).toEqual([1, 2]);
    clock.advance(120_000);
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED, PULL_UNCHANGED, PULL_UNCHANGED]);
    expect([gt.count('search_issues'), gt.count('list_pulls')]).toEqual([0, 2]);
  });

  it('more moved PRs than the search pages hold: each repository’s list instead', async () => {
    const { clock, refresh } = setup();
    const refs = openPulls('busy/app', ['mine']);
    await refresh(refs);
    clock.advance(CHECKS_SETTLE_MS);
    await refresh(refs);
    // 201 PRs opened in another repository of the owner since: more than four pages of 50.
    gt.model.createRepo({ full_name: 'busy/noise' });
    for (let i = 0; i < 201; i++) gt.model.openPull('busy/noise', { head: `n${i}` });
    clock.advance(120_000);
    gt.resetCounters();
    expect(await refresh(refs)).toEqual([PULL_UNCHANGED]);
    expect([gt.count('search_issues'), gt.count('list_pulls')]).toEqual([MAX_SEARCH_PAGES, 1]);
  });
});
