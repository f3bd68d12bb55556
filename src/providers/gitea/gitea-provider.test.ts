import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GiteaEmulator, startGiteaEmulator } from '../../../emulator/gitea/server.ts';
import { FakeClock } from '../../core/clock.ts';
import { AuthError, NotFoundError, type RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { CHECKS_SETTLE_MS, READS_MAX_AGE_MS } from '../pull-reads-cache.ts';
import { FORGEJO_TYPE, GITEA_TYPE } from './defaults.ts';
import { CONFLICT_SETTLE_MS, GiteaProvider, MERGEABLE_SETTLE_MS } from './gitea-provider.ts';

/** The provider against the emulator over real HTTP; an unexpected request fails the suite. */
const TOKEN = 'gitea-provider-token';

describe('Gitea provider', () => {
  let gt: GiteaEmulator;
  let provider: GiteaProvider;
  const clock = new FakeClock(new Date());
  const call = { token: TOKEN };

  beforeAll(async () => {
    gt = await startGiteaEmulator({ subUrl: '/gitea' });
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

  it('defaults: api_url under the web path, token variables', () => {
    expect(GITEA_TYPE.defaultApiUrl('https://h/gitea')).toBe('https://h/gitea/api/v1');
    expect(FORGEJO_TYPE.defaultApiUrl('https://h')).toBe('https://h/api/v1');
    expect([GITEA_TYPE.tokenEnv, FORGEJO_TYPE.tokenEnv]).toEqual(['GITEA_TOKEN', 'FORGEJO_TOKEN']);
  });

  it('reads origins under the path prefix and SSH origins without it; builds and parses PR URLs', () => {
    const host = new URL(gt.webUrl).host;
    const hostname = new URL(gt.webUrl).hostname;
    for (const origin of [
      `${gt.webUrl}/org/app`,
      `${gt.webUrl}/org/app.git`,
      `http://tok@${host}/gitea/org/app/`,
      `git@${hostname}:org/app.git`,
      `ssh://git@${hostname}:2222/org/app.git`,
    ])
      expect(provider.parseOrigin(origin), origin).toEqual({ owner: 'org', name: 'app' });
    expect(provider.matches(`http://${host}/other/org/app`)).toBe(false);
    expect(provider.parseOrigin(`${gt.webUrl}/org/sub/app`)).toBeNull();
    const url = `${gt.webUrl}/org/app/pulls/12`;
    expect(provider.buildPullUrl({ repo: { owner: 'org', name: 'app' }, number: 12 })).toBe(url);
    expect(provider.parsePullUrl(`${url}/files#x`)).toEqual({
      repo: { owner: 'org', name: 'app' },
      number: 12,
    });
    expect(provider.parsePullUrl(`${gt.webUrl}/org/app/issues/12`)).toBeNull();
  });

  it('finds a branch’s PR past the page cap, preferring an open one over a newer closed one', async () => {
    gt.model.createRepo({ full_name: 'org/busy', private: true, members: ['agent'] });
    const open = gt.model.openPull('org/busy', { head: 'target', title: 'Open one' });
    for (let i = 0; i < 70; i++) gt.model.openPull('org/busy', { head: `noise-${i}` });
    const closed = gt.model.openPull('org/busy', { head: 'target', title: 'Closed later' });
    gt.model.close('org/busy', closed.number);
    gt.resetCounters();
    const found = await provider.findPullForBranch({ owner: 'org', name: 'busy' }, 'target', call);
    expect(found).toMatchObject({ pr_number: open.number, pull_request_state: 'open' });
    expect(gt.count('list_pulls')).toBe(2);
    // Nothing at all: every page read, bounded, then the repository asked for a parent.
    gt.resetCounters();
    expect(await provider.findPullForBranch({ owner: 'org', name: 'busy' }, 'none', call)).toBeNull();
    expect(gt.count('list_pulls')).toBe(2);
    expect(gt.count('get_repo')).toBe(1);
  });

  it('finds a PR merged before the first look, and a fork’s PR in the parent', async () => {
    gt.model.createRepo({ full_name: 'org/lib' });
    gt.model.createRepo({ full_name: 'agent/lib', fork_of: 'org/lib' });
    const merged = gt.model.openPull('org/lib', { head: 'done' });
    gt.model.merge('org/lib', merged.number);
    expect(await provider.findPullForBranch({ owner: 'org', name: 'lib' }, 'done', call)).toMatchObject({
      pull_request_state: 'merged',
    });
    // The same branch name in the parent itself is not the fork's PR.
    gt.model.openPull('org/lib', { head: 'fix' });
    const fromFork = gt.model.openPull('org/lib', {
      head: 'fix',
      head_repo: 'agent/lib',
      title: 'From fork',
    });
    const found = await provider.findPullForBranch({ owner: 'agent', name: 'lib' }, 'fix', call);
    expect(found).toMatchObject({
      pr_number: fromFork.number,
      url: `${gt.webUrl}/org/lib/pulls/${fromFork.number}`,
      pull_request_title: 'From fork',
    });
  });

  it('maps every field; reviews: latest verdict per person, dismissed and comments ignored', async () => {
    gt.model.createRepo({ full_name: 'org/rev' });
    const pull = gt.model.openPull('org/rev', {
      head: 'r',
      title: 'Reviewed',
      author: 'agent',
      additions: 10,
      deletions: 4,
      changed_files: 2,
      commits: 3,
    });
    const read = () => provider.fetchPull({ repo: { owner: 'org', name: 'rev' }, number: pull.number }, call);
    expect(await read()).toEqual({
      url: `${gt.webUrl}/org/rev/pulls/${pull.number}`,
      pull_request_state: 'open',
      pull_request_title: 'Reviewed',
      pull_request_draft: false,
      changes_requested: false,
      approved: false,
      reviewer_count: 0,
      additions: 10,
      deletions: 4,
      changed_files: 2,
      commits: 3,
      pr_number: pull.number,
      author_login: 'agent',
      author_avatar_url: expect.stringContaining('/avatars/'),
      base_branch: 'main',
      head_branch: 'r',
      requested_reviewers: [],
      head_sha: pull.head_sha,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      // A new PR is still being checked for conflicts, and this is the first look at its commits.
      merge_state: 'unknown',
      merge_state_reason: 'checking',
      // Gitea's `mergeable` leaves approvals out: it cannot say.
      awaiting_approval: null,
      unresolved_threads: 0,
      comments: 0,
    });
    gt.model.review('org/rev', pull.number, 'ann', 'REQUEST_CHANGES');
    gt.model.review('org/rev', pull.number, 'ann', 'COMMENT');
    gt.model.review('org/rev', pull.number, 'bo', 'APPROVED');
    gt.model.review('org/rev', pull.number, 'cy', 'PENDING');
    expect(await read()).toMatchObject({ changes_requested: true, approved: false, reviewer_count: 2 });
    gt.model.review('org/rev', pull.number, 'Ann', 'APPROVED');
    expect(await read()).toMatchObject({ changes_requested: false, approved: true, reviewer_count: 2 });
    const bo = gt.model.pull('org/rev', pull.number).reviews.find((r) => r.login === 'bo')!;
    gt.model.dismiss('org/rev', pull.number, bo.id);
    expect(await read()).toMatchObject({ approved: true, reviewer_count: 1 });
    gt.model.requestReview('org/rev', pull.number, { login: 'dee' });
    gt.model.requestReview('org/rev', pull.number, { team: 'org/core' });
    expect((await read()).requested_reviewers).toEqual([
      { kind: 'user', name: 'dee' },
      { kind: 'team', name: 'org/core' },
    ]);
  });

  it('keeps settled checks per PR: an unchanged open PR costs the PR and its reviews, fields identical to a fresh read', async () => {
    // A clock of its own: the suite's stays near real time.
    const clock = new FakeClock(new Date());
    const provider = new GiteaProvider(
      { id: 'corp', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl },
      'gitea',
      { clock },
    );
    gt.model.createRepo({ full_name: 'org/kept' });
    const pull = gt.model.openPull('org/kept', { head: 'k' });
    const ref = { repo: { owner: 'org', name: 'kept' }, number: pull.number };
    gt.model.setStatus('org/kept', pull.head_sha, {
      context: 'ci',
      state: 'failure',
      target_url: '/gitea/ci/1',
    });
    await provider.fetchPull(ref, call);
    // Within ten minutes of the first read the statuses are read on every refresh: CI posts late.
    clock.advance(CHECKS_SETTLE_MS / 2);
    gt.resetCounters();
    const fresh = await provider.fetchPull(ref, call);
    expect(fresh).toMatchObject({ checks_state: 'failing', merge_state: 'clean' });
    expect(gt.counters.total).toBe(3);
    clock.advance(CHECKS_SETTLE_MS / 2);
    gt.resetCounters();
    expect(await provider.fetchPull(ref, call)).toEqual(fresh);
    expect([gt.counters.total, gt.count('get_pull'), gt.count('list_reviews')]).toEqual([2, 1, 1]);
    // A re-run on the same commit moves nothing in the PR: seen once the hour is up, then read on
    // every refresh while it runs.
    gt.model.setStatus('org/kept', pull.head_sha, { context: 'ci', state: 'pending' });
    clock.advance(READS_MAX_AGE_MS - CHECKS_SETTLE_MS / 2 - 1);
    expect(await provider.fetchPull(ref, call)).toEqual(fresh);
    clock.advance(CHECKS_SETTLE_MS / 2 + 1);
    expect(await provider.fetchPull(ref, call)).toMatchObject({ checks_state: 'pending' });
    for (let i = 0; i < 2; i++) {
      clock.advance(CHECKS_SETTLE_MS);
      gt.resetCounters();
      expect(await provider.fetchPull(ref, call)).toMatchObject({ checks_state: 'pending' });
      expect(gt.count('combined_status')).toBe(1);
    }
    gt.model.setStatus('org/kept', pull.head_sha, { context: 'ci', state: 'success' });
    expect(await provider.fetchPull(ref, call)).toMatchObject({ checks_state: 'passing' });
    clock.advance(CHECKS_SETTLE_MS);
    gt.resetCounters();
    expect(await provider.fetchPull(ref, call)).toMatchObject({ checks_state: 'passing' });
    expect(gt.count('combined_status')).toBe(0);
    // Activity on the PR (a comment moves `comments` and `updated_at`) reads them again…
    gt.model.setStatus('org/kept', pull.head_sha, { context: 'ci', state: 'failure' });
    gt.model.comment('org/kept', pull.number);
    expect(await provider.fetchPull(ref, call)).toMatchObject({ checks_state: 'failing', comments: 1 });
    // …and so does a push: a new head, its statuses (none yet) read, and read again while they settle.
    clock.advance(CHECKS_SETTLE_MS);
    const tip = gt.model.push('org/kept', 'k');
    gt.resetCounters();
    expect(await provider.fetchPull(ref, call)).toMatchObject({ head_sha: tip, checks_state: 'none' });
    expect(gt.count('combined_status')).toBe(1);
    clock.advance(CHECKS_SETTLE_MS / 2);
    gt.model.setStatus('org/kept', tip, { context: 'ci', state: 'pending' });
    expect(await provider.fetchPull(ref, call)).toMatchObject({ checks_state: 'pending' });
  });

  it('counts commits once per head: an unchanged open PR costs the PR, its reviews and its statuses while they settle', async () => {
    gt.model.createRepo({ full_name: 'org/cost' });
    const pull = gt.model.openPull('org/cost', { head: 'c', commits: 2 });
    const ref = { repo: { owner: 'org', name: 'cost' }, number: pull.number };
    await provider.fetchPull(ref, call);
    gt.resetCounters();
    expect((await provider.fetchPull(ref, call)).commits).toBe(2);
    expect(gt.counters.total).toBe(3);
    expect([gt.count('get_pull'), gt.count('list_reviews'), gt.count('combined_status')]).toEqual([1, 1, 1]);
    gt.model.push('org/cost', 'c');
    gt.resetCounters();
    expect((await provider.fetchPull(ref, call)).commits).toBe(3);
    expect(gt.counters.total).toBe(4);
    // Code comments cost one read per review that has some; a closed PR reads no statuses or comments.
    gt.model.review('org/cost', pull.number, 'ann', 'COMMENT', [{ path: 'a.ts', line: 1, body: 'why?' }]);
    gt.model.review('org/cost', pull.number, 'bo', 'COMMENT', [{ path: 'b.ts', line: 2, body: 'typo' }]);
    gt.model.review('org/cost', pull.number, 'cy', 'APPROVED');
    gt.resetCounters();
    expect((await provider.fetchPull(ref, call)).unresolved_threads).toBe(2);
    expect(gt.counters.total).toBe(5);
    expect(gt.count('list_review_comments')).toBe(2);
    gt.model.close('org/cost', pull.number);
    gt.resetCounters();
    expect(await provider.fetchPull(ref, call)).toMatchObject({
      checks_state: null,
      checks: null,
      merge_state: null,
      unresolved_threads: null,
      comments: 2,
    });
    expect(gt.counters.total).toBe(2);
  });

  it('checks are the head commit’s statuses: every state mapped, failing ones named and linked, a force-push shows none of the old', async () => {
    gt.model.createRepo({ full_name: 'org/ci' });
    const pull = gt.model.openPull('org/ci', { head: 'ci' });
    const ref = { repo: { owner: 'org', name: 'ci' }, number: pull.number };
    const first = pull.head_sha;
    const post = (context: string, state: Parameters<typeof gt.model.setStatus>[2]['state'], target = '') =>
      gt.model.setStatus('org/ci', first, {
        context,
        state,
        target_url: target,
        description: `${context} ${state}`,
      });
    // Gitea Actions link a job by a path on the instance (its sub-path included).
    post('build / test (pull_request)', 'pending', '/gitea/org/ci/actions/runs/1/jobs/0');
    post('build / test (pull_request)', 'failure', '/gitea/org/ci/actions/runs/1/jobs/0');
    post('lint', 'error', 'https://ci.example/lint/9');
    post('coverage', 'warning');
    post('deploy', 'skipped');
    post('docs', 'success', 'javascript:alert(1)');
    post('e2e', 'pending');
    const read = await provider.fetchPull(ref, call);
    expect(read.head_sha).toBe(first);
    expect(read.checks_state).toBe('failing');
    expect(read.checks).toEqual({
      passed: 2,
      failed: 2,
      pending: 1,
      skipped: 1,
      failing: [
        {
          name: 'build / test (pull_request)',
          url: `${new URL(gt.webUrl).origin}/gitea/org/ci/actions/runs/1/jobs/0`,
        },
        { name: 'lint', url: 'https://ci.example/lint/9' },
      ],
    });
    // Force-push: the new head has no statuses; the old commit's stay on it, unseen.
    const second = gt.model.push('org/ci', 'ci');
    expect(await provider.fetchPull(ref, call)).toMatchObject({
      head_sha: second,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
    });
    gt.model.setStatus('org/ci', second, { context: 'build / test (pull_request)', state: 'pending' });
    expect(await provider.fetchPull(ref, call)).toMatchObject({
      checks_state: 'pending',
      checks: { passed: 0, failed: 0, pending: 1, skipped: 0, failing: [] },
    });
    gt.model.setStatus('org/ci', second, { context: 'build / test (pull_request)', state: 'success' });
    expect((await provider.fetchPull(ref, call)).checks_state).toBe('passing');
  });

  it('mergeability: unknown until the commits stood a while, then clean or conflicting; a push or a moved base asks again; drafts are draft', async () => {
    gt.model.createRepo({ full_name: 'org/merge' });
    const pull = gt.model.openPull('org/merge', { head: 'm' });
    const ref = { repo: { owner: 'org', name: 'merge' }, number: pull.number };
    const state = async () => {
      const { merge_state, merge_state_reason } = await provider.fetchPull(ref, call);
      return [merge_state, merge_state_reason];
    };
    // Gitea is still checking the new PR (`mergeable` false), and these commits are new to us.
    expect(await state()).toEqual(['unknown', 'checking']);
    // Checked now, but the commits have not stood long enough to trust the answer.
    expect(await state()).toEqual(['unknown', 'checking']);
    clock.advance(MERGEABLE_SETTLE_MS);
    expect(await state()).toEqual(['clean', 'mergeable=true']);
    // A push that conflicts: the stale answer is not believed, the checked one is.
    gt.model.setConflicting('org/merge', pull.number, true);
    gt.model.push('org/merge', 'm');
    expect(await state()).toEqual(['unknown', 'checking']);
    // `false` is believed only once it held two minutes on these commits (it also means "checking").
    clock.advance(MERGEABLE_SETTLE_MS);
    expect(await state()).toEqual(['unknown', 'checking']);
    clock.advance(CONFLICT_SETTLE_MS - MERGEABLE_SETTLE_MS);
    expect(await state()).toEqual(['conflicting', 'mergeable=false']);
    // The base moves on and the conflict is gone: unknown again, then clean.
    gt.model.setConflicting('org/merge', pull.number, false);
    gt.model.push('org/merge', 'main');
    expect(await state()).toEqual(['unknown', 'checking']);
    clock.advance(MERGEABLE_SETTLE_MS);
    expect(await state()).toEqual(['clean', 'mergeable=true']);
    gt.model.update('org/merge', pull.number, { draft: true });
    expect(await state()).toEqual(['draft', 'draft']);
    gt.model.merge('org/merge', pull.number);
    expect(await state()).toEqual([null, null]);
  });

  it('conversations: unresolved ones counted by their first comment, replies and resolved ones not; comments count both kinds', async () => {
    gt.model.createRepo({ full_name: 'org/talk' });
    const pull = gt.model.openPull('org/talk', { head: 't' });
    const ref = { repo: { owner: 'org', name: 'talk' }, number: pull.number };
    const a = gt.model.review('org/talk', pull.number, 'ann', 'REQUEST_CHANGES', [
      { path: 'src/a.ts', line: 10, body: 'off by one' },
      { path: 'src/a.ts', line: -3, body: 'why remove this?' },
    ]);
    gt.model.reply('org/talk', pull.number, a.comments[0]!.id, 'agent', 'fixed');
    const b = gt.model.review('org/talk', pull.number, 'bo', 'COMMENT', [
      { path: 'README.md', line: 1, body: 'typo' },
    ]);
    gt.model.comment('org/talk', pull.number);
    gt.model.comment('org/talk', pull.number);
    expect(await provider.fetchPull(ref, call)).toMatchObject({ unresolved_threads: 3, comments: 6 });
    // Resolving marks the first comment of a conversation.
    gt.model.resolveConversation('org/talk', pull.number, a.comments[0]!.id, 'ann');
    gt.model.resolveConversation('org/talk', pull.number, b.comments[0]!.id, 'bo');
    expect((await provider.fetchPull(ref, call)).unresolved_threads).toBe(1);
    gt.model.resolveConversation('org/talk', pull.number, b.comments[0]!.id, null);
    expect((await provider.fetchPull(ref, call)).unresolved_threads).toBe(2);
    // More reviews with code comments than a refresh reads: not counted (null), not guessed.
    for (let i = 0; i < 5; i++)
      gt.model.review('org/talk', pull.number, `r${i}`, 'COMMENT', [{ path: `f${i}`, line: 1, body: 'hm' }]);
    gt.resetCounters();
    expect(await provider.fetchPull(ref, call)).toMatchObject({ unresolved_threads: null, comments: 11 });
    expect(gt.count('list_review_comments')).toBe(0);
    // The feedback endpoint reads the newest 20 of them and says it left some out.
    for (let i = 5; i < 19; i++)
      gt.model.review('org/talk', pull.number, `r${i}`, 'COMMENT', [{ path: `f${i}`, line: 1, body: 'hm' }]);
    gt.resetCounters();
    const feedback = await provider.fetchFeedback(ref, call);
    expect(gt.count('list_review_comments')).toBe(20);
    expect(feedback.truncated).toBe(true);
    expect(feedback.unresolved_threads.map((t) => t.path)).toEqual([
      'README.md',
      ...Array.from({ length: 19 }, (_, i) => `f${i}`),
    ]);
  });

  it('fetchFeedback: failing checks with their text, unresolved conversations, who requests changes', async () => {
    gt.model.createRepo({ full_name: 'org/fb' });
    const pull = gt.model.openPull('org/fb', { head: 'fb' });
    const ref = { repo: { owner: 'org', name: 'fb' }, number: pull.number };
    gt.model.setStatus('org/fb', pull.head_sha, {
      context: 'ci/test',
      state: 'failure',
      target_url: 'https://ci.example/1',
      description: 'Failing after 2m',
    });
    gt.model.setStatus('org/fb', pull.head_sha, { context: 'ci/lint', state: 'error' });
    gt.model.setStatus('org/fb', pull.head_sha, { context: 'ci/build', state: 'success' });
    const dora = gt.model.review('org/fb', pull.number, 'Dora', 'REQUEST_CHANGES', [
      { path: 'src/x.ts', line: 7, body: 'handle null' },
      { path: 'src/y.ts', line: -2, body: 'keep this' },
    ]);
    gt.model.resolveConversation('org/fb', pull.number, dora.comments[1]!.id, 'Dora');
    gt.model.review('org/fb', pull.number, 'bo', 'REQUEST_CHANGES');
    gt.model.review('org/fb', pull.number, 'bo', 'APPROVED');
    const feedback = await provider.fetchFeedback(ref, call);
    expect(feedback).toEqual({
      failing_checks: [
        { name: 'ci/lint', url: null, summary: null },
        { name: 'ci/test', url: 'https://ci.example/1', summary: 'Failing after 2m' },
      ],
      unresolved_threads: [
        {
          path: 'src/x.ts',
          line: 7,
          author: 'Dora',
          // The token's user is no admin: Gitea refuses to tell another user's permission.
          author_association: null,
          trusted: null,
          body: 'handle null',
          url: expect.stringContaining(`/org/fb/pulls/${pull.number}#issuecomment-${dora.comments[0]!.id}`),
        },
      ],
      changes_requested_by: [{ name: 'Dora', trusted: null }],
      truncated: false,
    });
    // After a force-push the old commit's failures are gone.
    gt.model.push('org/fb', 'fb');
    expect((await provider.fetchFeedback(ref, call)).failing_checks).toEqual([]);
  });

  it('fetchFeedback: each author’s permission (write, admin, owner belong; read does not), asked once per person and kept', async () => {
    gt.model.createRepo({ full_name: 'org/perm' });
    gt.model.siteAdmins.add('agent');
    const pull = gt.model.openPull('org/perm', { head: 'p' });
    const ref = { repo: { owner: 'org', name: 'perm' }, number: pull.number };
    // [login, permission set (undefined: a passer-by on a public repository), served, trusted]
    const table: [string, string | undefined, string, boolean][] = [
      ['org', undefined, 'owner', true],
      ['adm', 'admin', 'admin', true],
      ['wri', 'write', 'write', true],
      ['rea', 'read', 'read', false],
      ['pas', undefined, 'read', false],
    ];
    for (const [login, permission] of table) {
      if (permission) gt.model.setPermission('org/perm', login, permission);
      else gt.model.user(login);
      gt.model.review('org/perm', pull.number, login, 'REQUEST_CHANGES', [
        { path: `${login}.ts`, line: 1, body: 'no' },
      ]);
    }
    gt.resetCounters();
    const feedback = await provider.fetchFeedback(ref, call);
    expect(feedback.unresolved_threads.map((t) => [t.author, t.author_association, t.trusted])).toEqual(
      table.map(([login, , word, trusted]) => [login, word, trusted]),
    );
    expect(feedback.changes_requested_by).toEqual(table.map(([name, , , trusted]) => ({ name, trusted })));
    expect(gt.count('get_collaborator_permission', 200)).toBe(table.length);
    await provider.fetchFeedback(ref, call);
    expect(gt.count('get_collaborator_permission')).toBe(table.length);
    gt.model.siteAdmins.clear();
  });

  it('fetchFeedback: a token Gitea refuses to tell others’ permissions asks once per repository, all unknown', async () => {
    gt.model.siteAdmins.clear();
    gt.model.createRepo({ full_name: 'org/noadmin' });
    const pull = gt.model.openPull('org/noadmin', { head: 'n' });
    const ref = { repo: { owner: 'org', name: 'noadmin' }, number: pull.number };
    for (const login of ['x1', 'x2', 'x3'])
      gt.model.review('org/noadmin', pull.number, login, 'REQUEST_CHANGES', [
        { path: login, line: 1, body: login },
      ]);
    gt.resetCounters();
    const feedback = await provider.fetchFeedback(ref, call);
    expect(feedback.unresolved_threads.map((t) => t.trusted)).toEqual([null, null, null]);
    expect(feedback.changes_requested_by.map((p) => p.trusted)).toEqual([null, null, null]);
    expect(gt.count('get_collaborator_permission', 403)).toBe(1);
    await provider.fetchFeedback(ref, call);
    expect(gt.count('get_collaborator_permission')).toBe(1);
  });

  it('an older server: draft from the WIP title prefix, sizes null, one more read when lists lack sizes', async () => {
    const old = await startGiteaEmulator({ legacy: true });
    try {
      old.addToken(TOKEN, 'agent');
      old.model.createRepo({ full_name: 'o/r' });
      old.model.openPull('o/r', { head: 'w', title: '[WIP] not yet' });
      const p = new GiteaProvider(
        { id: 'old', type: 'forgejo', web_url: old.webUrl, api_url: old.apiUrl },
        'forgejo',
        {
          clock,
        },
      );
      expect(await p.findPullForBranch({ owner: 'o', name: 'r' }, 'w', call)).toMatchObject({
        pull_request_draft: true,
        additions: null,
        deletions: null,
        changed_files: null,
        commits: 1,
      });
      expect(old.count('get_pull')).toBe(1);
      expect(old.counters.unexpected).toEqual([]);
    } finally {
      await old.close();
    }
  });

  it('isRepoPublic: neither private nor internal, of a public owner; a hidden repository is not', async () => {
    gt.model.createRepo({ full_name: 'org/pub' });
    gt.model.createRepo({ full_name: 'org/int', internal: true });
    gt.model.createRepo({ full_name: 'org/priv', private: true });
    // A limited organization's repository: `private` and `internal` both false, yet signed-in only.
    gt.model.createRepo({ full_name: 'members-only/pub' });
    gt.model.user('members-only').visibility = 'limited';
    expect(await provider.isRepoPublic({ owner: 'org', name: 'pub' }, call)).toBe(true);
    expect(await provider.isRepoPublic({ owner: 'org', name: 'int' }, call)).toBe(false);
    expect(await provider.isRepoPublic({ owner: 'org', name: 'priv' }, call)).toBe(false);
    expect(await provider.isRepoPublic({ owner: 'members-only', name: 'pub' }, call)).toBe(false);
  });

  it('translates failures: 401/403 token_rejected, 404 provider_error, 429 and 503 with Retry-After, doubling without', async () => {
    gt.model.createRepo({ full_name: 'org/err' });
    const pull = gt.model.openPull('org/err', { head: 'e' });
    const ref = { repo: { owner: 'org', name: 'err' }, number: pull.number };
    const attempt = () => provider.fetchPull(ref, call).catch((e: unknown) => e);
    gt.addFaults({ kind: 'unauthorized', times: 1 });
    expect(await attempt()).toMatchObject({ code: 'token_rejected' });
    expect(await attempt()).not.toBeInstanceOf(Error);
    gt.addFaults({ kind: 'status', status: 403, times: 1 });
    expect(await attempt()).toBeInstanceOf(AuthError);
    const missing = await provider.fetchPull({ ...ref, number: 999 }, call).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).toMatchObject({ code: 'provider_error' });
    const now = clock.now().getTime();
    gt.addFaults({ kind: 'rate_limit', retry_after_s: 120, times: 1 });
    expect(((await attempt()) as RateLimitedError).resetAt.getTime()).toBe(now + 120_000);
    gt.addFaults({ kind: 'rate_limit', retry_after_s: null, times: 2 });
    expect(((await attempt()) as RateLimitedError).resetAt.getTime()).toBe(now + 60_000);
    expect(((await attempt()) as RateLimitedError).resetAt.getTime()).toBe(now + 120_000);
    expect(await attempt()).not.toBeInstanceOf(Error);
    gt.addFaults({ kind: 'rate_limit', retry_after_s: null, times: 1 });
    expect(((await attempt()) as RateLimitedError).resetAt.getTime()).toBe(now + 60_000);
    gt.addFaults({ kind: 'status', status: 503, times: 1 });
    expect(await attempt()).toBeInstanceOf(UnavailableError);
    gt.addFaults({ kind: 'garbage', times: 1 });
    expect(await attempt()).toMatchObject({ code: 'provider_error' });
  });

  it('times out a hung request as unavailable', async () => {
    const quick = new GiteaProvider(
      { id: 'q', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl },
      'gitea',
      {
        clock,
        requestTimeoutMs: 200,
      },
    );
    gt.addFaults({ kind: 'timeout', times: 1 });
    const error = await quick
      .fetchPull({ repo: { owner: 'org', name: 'err' }, number: 1 }, call)
      .catch((e) => e);
    expect(error).toBeInstanceOf(UnavailableError);
  });
});

describe('Gitea and Forgejo webhooks', () => {
  const make = (kind: 'gitea' | 'forgejo') =>
    new GiteaProvider(
      {
        id: kind,
        type: kind,
        web_url: 'https://code.example/gitea',
        api_url: 'https://code.example/gitea/api/v1',
      },
      kind,
      { clock: new FakeClock() },
    );
  const header = (h: Record<string, string>) => (n: string) => h[n.toLowerCase()];
  const verify = (p: GiteaProvider, h: Record<string, string>, body: string, secret: string) => {
    const check = p.webhooks.start(header(h), secret);
    if (!check) return false;
    check.update(Buffer.from(body.slice(0, 5)));
    check.update(Buffer.from(body.slice(5)));
    return check.valid();
  };
  const sign = (body: string, secret: string) => createHmac('sha256', secret).update(body).digest('hex');
  const pullBody = JSON.stringify({
    action: 'opened',
    number: 4,
    pull_request: {
      number: 4,
      head: { ref: 'feat', repo: { full_name: 'agent/app' } },
      base: { ref: 'main', repo: { full_name: 'org/app' } },
    },
    repository: { full_name: 'org/app' },
  });

  it('gitea: X-Gitea-Signature over the streamed body, X-Gitea-Delivery, PR events name head and base refs', () => {
    const p = make('gitea');
    const h = {
      'x-gitea-event': 'pull_request',
      'x-gitea-delivery': 'd1',
      'x-gitea-signature': sign(pullBody, 's'),
    };
    expect(verify(p, h, pullBody, 's')).toBe(true);
    expect(verify(p, h, pullBody, 't')).toBe(false);
    expect(verify(p, h, `${pullBody} `, 's')).toBe(false);
    expect(verify(p, { ...h, 'x-gitea-signature': 'zz' }, pullBody, 's')).toBe(false);
    expect(p.webhooks.deliveryId(header(h))).toBe('d1');
    const url = 'https://code.example/gitea/org/app/pulls/4';
    expect(p.webhooks.staleRefs(header(h), JSON.parse(pullBody))).toEqual([
      { origin: 'https://code.example/gitea/agent/app', branch: 'feat', url },
      { origin: 'https://code.example/gitea/org/app', branch: 'feat', url },
    ]);
    for (const event of ['pull_request_approved', 'pull_request_rejected', 'pull_request_comment'])
      expect(p.webhooks.staleRefs(header({ 'x-gitea-event': event }), JSON.parse(pullBody))).toHaveLength(2);
    // Forgejo's headers mean nothing to a Gitea provider.
    expect(p.webhooks.start(header({ 'x-forgejo-signature': sign(pullBody, 's') }), 's')).toBeNull();
  });

  it('forgejo: X-Forgejo-* first, X-Gitea-* accepted; push and comments; unknown events ignored', () => {
    const p = make('forgejo');
    const push = JSON.stringify({ ref: 'refs/heads/feat', repository: { full_name: 'org/app' } });
    const h = {
      'x-forgejo-event': 'push',
      'x-forgejo-delivery': 'f1',
      'x-forgejo-signature': sign(push, 's'),
    };
    expect(verify(p, h, push, 's')).toBe(true);
    expect(p.webhooks.deliveryId(header(h))).toBe('f1');
    expect(p.webhooks.staleRefs(header(h), JSON.parse(push))).toEqual([
      { origin: 'https://code.example/gitea/org/app', branch: 'feat' },
    ]);
    expect(verify(p, { 'x-gitea-signature': sign(push, 's') }, push, 's')).toBe(true);
    const tag = { ref: 'refs/tags/v1', repository: { full_name: 'org/app' } };
    expect(p.webhooks.staleRefs(header(h), tag)).toEqual([]);
    const comment = { is_pull: true, issue: { number: 4 }, repository: { full_name: 'org/app' } };
    expect(p.webhooks.staleRefs(header({ 'x-forgejo-event': 'issue_comment' }), comment)).toEqual([
      { origin: '', url: 'https://code.example/gitea/org/app/pulls/4' },
    ]);
    expect(p.webhooks.staleRefs(header({ 'x-forgejo-event': 'release' }), {})).toEqual([]);
    expect(() => p.webhooks.staleRefs(header({ 'x-forgejo-event': 'pull_request' }), {})).toThrow();
  });
});

describe('Gitea provider, feedback past what it reads', () => {
  it('says truncated when a commit has more statuses than it reads', async () => {
    // Pages of 2: five pages hold the latest status of 10 contexts.
    const gt = await startGiteaEmulator({ maxResponseItems: 2 });
    try {
      gt.addToken(TOKEN, 'agent');
      const provider = new GiteaProvider(
        { id: 'g', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl },
        'gitea',
        { clock: new FakeClock(new Date()) },
      );
      gt.model.createRepo({ full_name: 'org/many' });
      const pull = gt.model.openPull('org/many', { head: 'many' });
      const ref = { repo: { owner: 'org', name: 'many' }, number: pull.number };
      for (let i = 0; i < 10; i++)
        gt.model.setStatus('org/many', pull.head_sha, { context: `job-${i}`, state: 'failure' });
      expect((await provider.fetchFeedback(ref, { token: TOKEN })).truncated).toBe(false);
      gt.model.setStatus('org/many', pull.head_sha, { context: 'job-10', state: 'failure' });
      const feedback = await provider.fetchFeedback(ref, { token: TOKEN });
      expect(feedback.truncated).toBe(true);
      expect(feedback.failing_checks).toHaveLength(10);
      expect((await provider.fetchPull(ref, { token: TOKEN })).checks).toMatchObject({ failed: 10 });
      expect(gt.counters.unexpected).toEqual([]);
    } finally {
      await gt.close();
    }
  });
});

describe('Gitea provider, behind a server without X-Total-Count and pages capped at 20', () => {
  it('reads every page until an empty one: commits, reviews, statuses and branch lookups stay exact', async () => {
    const gt = await startGiteaEmulator({ totalCount: false, maxResponseItems: 20 });
    try {
      gt.addToken(TOKEN, 'agent');
      const provider = new GiteaProvider(
        { id: 'g', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl },
        'gitea',
        {
          clock: new FakeClock(new Date()),
        },
      );
      gt.model.createRepo({ full_name: 'org/big' });
      // 30 other PRs updated after ours: ours is on the second (capped) page of the list.
      const pull = gt.model.openPull('org/big', { head: 'ours', commits: 45 });
      for (let i = 0; i < 30; i++) gt.model.openPull('org/big', { head: `other-${i}` });
      for (let i = 0; i < 25; i++) gt.model.review('org/big', pull.number, `reviewer-${i}`, 'APPROVED');
      gt.model.review('org/big', pull.number, 'reviewer-24', 'REQUEST_CHANGES');
      // 25 contexts on the head: two pages, and the empty third that ends them.
      for (let i = 0; i < 25; i++)
        gt.model.setStatus('org/big', pull.head_sha, { context: `job-${i}`, state: 'success' });
      const repo = { owner: 'org', name: 'big' };
      const found = await provider.findPullForBranch(repo, 'ours', { token: TOKEN });
      expect(found).toMatchObject({
        pr_number: pull.number,
        commits: 45,
        changes_requested: true,
        checks_state: 'passing',
        checks: { passed: 25 },
      });
      expect(gt.count('combined_status')).toBe(3);
      expect(gt.counters.unexpected).toEqual([]);
    } finally {
      await gt.close();
    }
  });
});
