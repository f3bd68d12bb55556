import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BitbucketEmulator, startBitbucketEmulator } from '../../../emulator/bitbucket/server.ts';
import { HookPayloads } from '../../../emulator/bitbucket/webhooks.ts';
import { FakeClock } from '../../core/clock.ts';
import { AuthError, NotFoundError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { CHECKS_SETTLE_MS, READS_MAX_AGE_MS } from '../pull-reads-cache.ts';
import { PULL_UNCHANGED } from '../types.ts';
import { BitbucketProvider, checkOutcome, mergeStateOf } from './bitbucket-provider.ts';
import { credentialFor } from './client.ts';
import { BITBUCKET_TYPE } from './defaults.ts';

/** The provider against the emulator over real HTTP, strictly: an unexpected request fails the test. */
const TOKEN = 'ATCTT3xFfGN0-provider-test';
const call = { token: TOKEN };
const repo = { owner: 'acme', name: 'api' };

describe('Bitbucket provider', () => {
  let bb: BitbucketEmulator;
  let clock: FakeClock;
  let provider: BitbucketProvider;

  beforeEach(async () => {
    bb = await startBitbucketEmulator({ diffstatPagelen: 2 });
    bb.addAccessToken(TOKEN, { workspace: 'acme' });
    bb.model.createRepo({ full_name: 'acme/api', is_private: true });
    clock = new FakeClock(new Date());
    provider = new BitbucketProvider(
      { id: 'bitbucket', type: 'bitbucket', web_url: 'https://bitbucket.org', api_url: bb.apiUrl },
      { clock },
    );
  });
  afterEach(async () => {
    expect(bb.counters.unexpected).toEqual([]);
    await bb.close();
  });

  it('defaults the API of bitbucket.org and reads origins and PR URLs in every form', () => {
    expect(BITBUCKET_TYPE.defaultApiUrl('https://bitbucket.org')).toBe('https://api.bitbucket.org/2.0');
    expect(BITBUCKET_TYPE.tokenEnv).toBe('BITBUCKET_TOKEN');
    for (const origin of [
      'https://bitbucket.org/acme/api',
      'https://bitbucket.org/Acme/API.git',
      'https://kim@bitbucket.org/acme/api.git',
      'https://x-token-auth:secret@bitbucket.org/acme/api/',
      'git@bitbucket.org:acme/api.git',
      'ssh://git@bitbucket.org/acme/api.git',
    ]) {
      expect(provider.matches(origin), origin).toBe(true);
      expect(provider.parseOrigin(origin), origin).toEqual(repo);
    }
    expect(provider.parseOrigin('https://bitbucket.org/acme')).toBeNull();
    expect(provider.parseOrigin('https://bitbucket.org/acme/api/src/main')).toBeNull();
    expect(provider.matches('https://github.com/acme/api')).toBe(false);
    const url = 'https://bitbucket.org/acme/api/pull-requests/7';
    expect(provider.buildPullUrl({ repo, number: 7 })).toBe(url);
    expect(provider.parsePullUrl(`${url}/diff#chg-README.md`)).toEqual({ repo, number: 7 });
    expect(provider.parsePullUrl('https://bitbucket.org/acme/api/pull-requests/x')).toBeNull();
  });

  it('sends access tokens as Bearer and email:api_token as Basic', async () => {
    expect(credentialFor('ATCTT3x').kind).toBe('bearer');
    expect(credentialFor('kim@example.com:ATATT3x')).toMatchObject({
      kind: 'api_token',
      header: `Basic ${Buffer.from('kim@example.com:ATATT3x').toString('base64')}`,
    });
    expect(credentialFor('kim:app-password').kind).toBe('basic_other');
    bb.addApiToken('kim@example.com', 'ATATT3x', 'acme');
    expect(await provider.isRepoPublic(repo, { token: 'kim@example.com:ATATT3x' })).toBe(false);
    expect(bb.log.at(-1)).toMatchObject({ auth: 'basic', status: 200 });
    // An app password (a user name, no e-mail) is sent as given, and its refusal says why.
    const refused = await provider.isRepoPublic(repo, { token: 'kim:app-password' }).catch((e) => e);
    expect(refused).toBeInstanceOf(AuthError);
    expect(refused).toMatchObject({ code: 'token_rejected' });
    expect(refused.message).toMatch(/app passwords stopped working on 9 June 2026/);
    expect(refused.message).not.toContain('app-password');
  });

  it('finds the PR of a branch in every state: open first, else the one with the highest ID', async () => {
    expect(await provider.findPullForBranch(repo, 'nothing', call)).toBeNull();
    const merged = bb.model.openPull('acme/api', { source_branch: 'early', title: 'Merged early' });
    bb.model.merge('acme/api', merged.id);
    expect(await provider.findPullForBranch(repo, 'early', call)).toMatchObject({
      pr_number: merged.id,
      pull_request_state: 'merged',
    });
    const declined = bb.model.openPull('acme/api', { source_branch: 'twice' });
    bb.model.decline('acme/api', declined.id);
    const superseded = bb.model.openPull('acme/api', { source_branch: 'twice' });
    bb.model.setState('acme/api', superseded.id, 'SUPERSEDED');
    // A comment on the older PR makes it the most recently updated: the newer one is still the PR.
    bb.model.comment('acme/api', declined.id, 'kim');
    expect(await provider.findPullForBranch(repo, 'twice', call)).toMatchObject({
      pr_number: superseded.id,
      pull_request_state: 'closed',
    });
    const open = bb.model.openPull('acme/api', { source_branch: 'twice', draft: true });
    bb.model.update('acme/api', declined.id, { title: 'touched later' });
    expect(await provider.findPullForBranch(repo, 'twice', call)).toMatchObject({
      pr_number: open.id,
      pull_request_state: 'open',
      pull_request_draft: true,
    });
    const list = bb.log.filter((l) => l.route === 'list_pullrequests').at(-1)!.path;
    for (const s of ['OPEN', 'MERGED', 'DECLINED', 'SUPERSEDED']) expect(list).toContain(`state=${s}`);
    expect(decodeURIComponent(list)).toContain('q=source.branch.name="twice"');
  });

  it('finds a fork’s PR in the parent, matching the source repository', async () => {
    bb.model.createRepo({ full_name: 'kim/api', is_private: false, fork_of: 'acme/api' });
    bb.addAccessToken('kim-token', { user: 'kim' });
    bb.model.repo('acme/api').members.add('kim');
    // Same branch name in the parent itself: not the fork's.
    bb.model.openPull('acme/api', { source_branch: 'fix' });
    const theirs = bb.model.openPull('acme/api', {
      source_branch: 'fix',
      source_repo: 'kim/api',
      title: 'From a fork',
    });
    const found = await provider.findPullForBranch({ owner: 'kim', name: 'api' }, 'fix', {
      token: 'kim-token',
    });
    expect(found).toMatchObject({
      pr_number: theirs.id,
      url: `https://bitbucket.org/acme/api/pull-requests/${theirs.id}`,
      pull_request_title: 'From a fork',
    });
    expect(await provider.isRepoPublic({ owner: 'kim', name: 'api' }, { token: 'kim-token' })).toBe(true);
  });

  it('reads every field: verdicts, requested reviewers, diffstat over pages, commits over pages', async () => {
    const pr = bb.model.openPull('acme/api', {
      source_branch: 'feature',
      title: 'Feature',
      author: 'agent',
      commits: 120,
      files: [
        { path: 'a', lines_added: 10, lines_removed: 1 },
        { path: 'b', lines_added: 5, lines_removed: 0 },
        { path: 'c', lines_added: 0, lines_removed: 7 },
      ],
    });
    bb.model.addReviewers('acme/api', pr.id, ['zoe', 'Bea', 'al', 'lee']);
    bb.model.verdict('acme/api', pr.id, 'lee', 'approved');
    bb.model.verdict('acme/api', pr.id, 'Bea', 'approved');
    bb.model.comment('acme/api', pr.id, 'passer-by');
    let fields = await provider.fetchPull({ repo, number: pr.id }, call);
    expect(fields).toEqual({
      url: `https://bitbucket.org/acme/api/pull-requests/${pr.id}`,
      pull_request_state: 'open',
      pull_request_title: 'Feature',
      pull_request_draft: false,
      changes_requested: false,
      approved: true,
      reviewer_count: 2,
      additions: 15,
      deletions: 8,
      changed_files: 3,
      commits: 120,
      pr_number: pr.id,
      author_login: 'agent',
      author_avatar_url: 'https://bitbucket.org/account/agent/avatar/',
      base_branch: 'main',
      head_branch: 'feature',
      requested_reviewers: [
        { kind: 'user', name: 'al' },
        { kind: 'user', name: 'zoe' },
      ],
      // The PR answer abbreviates the head to 12 digits; the commits list gives it in full.
      head_sha: bb.model.head('acme/api', pr.id),
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      merge_state: 'clean',
      merge_state_reason: null,
      // `mergeable: true`: every merge check passes, the required approvals' too.
      awaiting_approval: false,
      // A general comment is no thread: only comments on the diff can be resolved.
      unresolved_threads: 0,
      comments: 1,
    });
    expect(bb.count('repository_diffstat')).toBe(2);
    expect(bb.count('pullrequest_commits')).toBe(3);
    bb.model.verdict('acme/api', pr.id, 'zoe', 'changes_requested');
    fields = await provider.fetchPull({ repo, number: pr.id }, call);
    expect(fields).toMatchObject({ changes_requested: true, approved: false, reviewer_count: 3 });
    expect(fields.requested_reviewers).toEqual([{ kind: 'user', name: 'al' }]);
  });

  it('an unchanged open PR costs two requests (PR and statuses, both 304) while its checks settle; a push reads sizes again', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'quiet' });
    await provider.fetchPull({ repo, number: pr.id }, call);
    // PR, diffstat 302 + page, commits, conflicts 302 + page, the head commit's statuses, the comments.
    expect(bb.counters.total).toBe(8);
    bb.resetCounters();
    await provider.fetchPull({ repo, number: pr.id }, call);
    expect(bb.counters.total).toBe(2);
    expect(bb.count('get_pullrequest', 304)).toBe(1);
    expect(bb.count('commit_statuses', 304)).toBe(1);
    // Settled (the same checks for ten minutes): the PR's conditional read alone, as before checks.
    clock.advance(CHECKS_SETTLE_MS);
    bb.resetCounters();
    await provider.fetchPull({ repo, number: pr.id }, call);
    expect(bb.counters.total).toBe(1);
    expect(bb.count('get_pullrequest', 304)).toBe(1);
    bb.model.verdict('acme/api', pr.id, 'kim', 'approved');
    bb.resetCounters();
    expect(await provider.fetchPull({ repo, number: pr.id }, call)).toMatchObject({ approved: true });
    expect(bb.counters.total).toBe(2);
    bb.model.push('acme/api', 'quiet', 2);
    bb.resetCounters();
    expect(await provider.fetchPull({ repo, number: pr.id }, call)).toMatchObject({ commits: 3 });
    // A new head: everything read again, the comments included.
    expect(bb.counters.total).toBe(8);
    // Merged: no statuses, no conflicts — one request once nothing moves.
    bb.model.merge('acme/api', pr.id);
    await provider.fetchPull({ repo, number: pr.id }, call);
    bb.resetCounters();
    expect(await provider.fetchPull({ repo, number: pr.id }, call)).toMatchObject({
      pull_request_state: 'merged',
      checks_state: null,
      checks: null,
      merge_state: null,
      awaiting_approval: null,
    });
    expect(bb.counters.total).toBe(1);
  });

  it('keeps settled checks per PR: an unchanged PR costs its conditional read, fields identical to a fresh read', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'kept' });
    const pull = { repo, number: pr.id };
    const head = bb.model.head('acme/api', pr.id);
    bb.model.setStatus(head, { key: 'build', state: 'SUCCESSFUL' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
    // Within ten minutes of the first read the statuses are read on every refresh: CI posts late.
    clock.advance(CHECKS_SETTLE_MS / 2);
    bb.model.setStatus(head, { key: 'lint', state: 'FAILED', name: 'Lint', url: 'https://ci.example.com/l' });
    bb.resetCounters();
    const fresh = await provider.fetchPull(pull, call);
    expect(fresh).toMatchObject({ checks_state: 'failing', checks: { passed: 1, failed: 1 } });
    expect(bb.counters.total).toBe(2);
    // The same answer for ten minutes since it changed: kept, and shown exactly as read.
    clock.advance(CHECKS_SETTLE_MS / 2);
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toEqual(fresh);
    expect(bb.counters.total).toBe(2);
    clock.advance(CHECKS_SETTLE_MS / 2);
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toEqual(fresh);
    expect(bb.counters.total).toBe(1);
    expect(bb.count('get_pullrequest', 304)).toBe(1);
    // A re-run on the same commit shows nothing in the PR: it is seen once the hour is up…
    bb.model.setStatus(head, { key: 'lint', state: 'SUCCESSFUL' });
    clock.advance(READS_MAX_AGE_MS - CHECKS_SETTLE_MS - 1);
    expect(await provider.fetchPull(pull, call)).toEqual(fresh);
    clock.advance(CHECKS_SETTLE_MS + 1);
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
    expect(bb.count('commit_statuses')).toBe(1);
    // …or at once when the PR shows activity (a comment moves `comment_count` and `updated_on`)…
    clock.advance(CHECKS_SETTLE_MS);
    bb.model.setStatus(head, { key: 'lint', state: 'FAILED' });
    bb.model.comment('acme/api', pr.id, 'kim');
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'failing', comments: 1 });
    // The PR, its statuses, and its comments (their count moved).
    expect(bb.counters.total).toBe(3);
    // …or when this replica hears the status webhook for that commit.
    clock.advance(CHECKS_SETTLE_MS);
    await provider.fetchPull(pull, call);
    bb.model.setStatus(head, { key: 'lint', state: 'SUCCESSFUL' });
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'failing' });
    expect(bb.counters.total).toBe(1);
    const event = new HookPayloads(bb).commitStatus(bb.model.repo('acme/api'), head, 'lint', 'kim');
    provider.webhooks.staleRefs(
      (n) => (n === 'x-event-key' ? 'repo:commit_status_updated' : undefined),
      event,
    );
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
    expect(bb.counters.total).toBe(3);
    // Kept per token: another token reads its own.
    bb.addAccessToken('ATCTT3x-other', { workspace: 'acme' });
    bb.resetCounters();
    await provider.fetchPull(pull, { token: 'ATCTT3x-other' });
    expect(bb.count('commit_statuses')).toBe(1);
  });

  it('pending checks are read on every refresh, however long they run; a push reads everything again', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'slow' });
    const pull = { repo, number: pr.id };
    const head = bb.model.head('acme/api', pr.id);
    bb.model.setStatus(head, { key: 'build', state: 'INPROGRESS' });
    await provider.fetchPull(pull, call);
    for (let i = 0; i < 3; i++) {
      clock.advance(CHECKS_SETTLE_MS);
      bb.resetCounters();
      expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'pending' });
      expect(bb.counters.total).toBe(2);
    }
    bb.model.setStatus(head, { key: 'build', state: 'SUCCESSFUL' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
    clock.advance(CHECKS_SETTLE_MS);
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
    expect(bb.counters.total).toBe(1);
    // A push: a new head, its statuses read (none yet), and read again while they settle.
    const tip = bb.model.push('acme/api', 'slow');
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ head_sha: tip, checks_state: 'none' });
    expect(bb.count('commit_statuses')).toBe(1);
    clock.advance(CHECKS_SETTLE_MS / 2);
    bb.model.setStatus(tip, { key: 'build', state: 'INPROGRESS' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'pending' });
  });

  it('checks: the head commit’s build statuses, each state mapped; failing ones named with links', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'ci' });
    const pull = { repo, number: pr.id };
    const head = bb.model.head('acme/api', pr.id);
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      head_sha: head,
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
    });
    bb.model.setStatus(head, { key: 'build', state: 'INPROGRESS', name: 'Build #1' });
    bb.model.setStatus(head, { key: 'lint', state: 'SUCCESSFUL' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'pending',
      checks: { passed: 1, failed: 0, pending: 1, skipped: 0, failing: [] },
    });
    // Same key: overwritten, as Bitbucket does; a stopped build is neither passed nor failed.
    bb.model.setStatus(head, { key: 'build', state: 'SUCCESSFUL' });
    bb.model.setStatus(head, { key: 'deploy', state: 'STOPPED' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'passing',
      checks: { passed: 2, failed: 0, pending: 0, skipped: 1, failing: [] },
    });
    bb.model.setStatus(head, {
      key: 'tests',
      state: 'FAILED',
      name: 'Unit tests',
      url: 'https://ci.example.com/tests/7',
    });
    bb.model.setStatus(head, { key: 'e2e', state: 'FAILED', name: '', url: '' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: {
        passed: 2,
        failed: 2,
        pending: 0,
        skipped: 1,
        failing: [
          { name: 'Unit tests', url: 'https://ci.example.com/tests/7' },
          { name: 'e2e', url: null },
        ],
      },
    });
    expect(checkOutcome('SOMETHING_NEW')).toBe('pending');
  });

  it('a push or a force-push: the replaced commit’s green builds never show, though still listed', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'forced', commits: 2 });
    const pull = { repo, number: pr.id };
    const old = bb.model.head('acme/api', pr.id);
    bb.model.setStatus(old, { key: 'build', state: 'SUCCESSFUL' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({ head_sha: old, checks_state: 'passing' });
    const tip = bb.model.forcePush('acme/api', 'forced');
    let fields = await provider.fetchPull(pull, call);
    expect(fields).toMatchObject({ head_sha: tip, checks_state: 'none', commits: 1 });
    expect(fields.checks).toEqual({ passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] });
    // The head commit's own list is read, never the PR's, which still holds the old green build.
    expect(bb.count('pullrequest_statuses')).toBe(0);
    const listed = await fetch(`${bb.apiUrl}/repositories/acme/api/pullrequests/${pr.id}/statuses`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    }).then((r) => r.json() as Promise<{ values: unknown[] }>);
    expect(listed.values).toMatchObject([
      { state: 'SUCCESSFUL', links: { commit: { href: expect.stringContaining(old) } } },
    ]);
    bb.model.setStatus(tip, { key: 'build', state: 'INPROGRESS' });
    fields = await provider.fetchPull(pull, call);
    expect(fields).toMatchObject({ checks_state: 'pending' });
    expect(fields.checks).toMatchObject({ passed: 0, pending: 1 });
    // A plain push on top: the same again.
    bb.model.setStatus(tip, { key: 'build', state: 'FAILED' });
    const next = bb.model.push('acme/api', 'forced');
    expect(await provider.fetchPull(pull, call)).toMatchObject({ head_sha: next, checks_state: 'none' });
  });

  it('a long-lived PR: its head’s checks are found behind more than five pages of older commits’ statuses', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'long' });
    const pull = { repo, number: pr.id };
    // 51 pushes with ten green builds each: 510 statuses of older commits, which the PR's list
    // keeps and shows first (oldest first) — more than five pages of 100.
    let commit = bb.model.head('acme/api', pr.id);
    for (let push = 0; push < 51; push++) {
      for (let k = 0; k < 10; k++) bb.model.setStatus(commit, { key: `job-${k}`, state: 'SUCCESSFUL' });
      commit = bb.model.push('acme/api', 'long');
    }
    const head = commit;
    bb.model.setStatus(head, { key: 'build', state: 'FAILED', name: 'Build', description: 'broke' });
    bb.model.setStatus(head, { key: 'lint', state: 'INPROGRESS' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      head_sha: head,
      checks_state: 'failing',
      checks: { passed: 0, failed: 1, pending: 1, skipped: 0, failing: [{ name: 'Build' }] },
    });
    const feedback = await provider.fetchFeedback(pull, call);
    expect(feedback.failing_checks).toEqual([
      { name: 'Build', url: 'https://ci.example.com/build', summary: 'broke' },
    ]);
    expect(feedback.truncated).toBe(false);
  });

  it('a fork this token cannot read: the PR’s statuses read newest first, the head’s found past five pages', async () => {
    bb.model.createRepo({ full_name: 'kim/api', is_private: true, fork_of: 'acme/api', members: ['kim'] });
    const pr = bb.model.openPull('acme/api', { source_branch: 'fix', source_repo: 'kim/api' });
    const pull = { repo, number: pr.id };
    let commit = bb.model.head('acme/api', pr.id);
    for (let push = 0; push < 51; push++) {
      for (let k = 0; k < 10; k++) bb.model.setStatus(commit, { key: `job-${k}`, state: 'SUCCESSFUL' });
      commit = bb.model.push('kim/api', 'fix');
    }
    bb.model.setStatus(commit, { key: 'build', state: 'FAILED' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      head_sha: commit,
      checks_state: 'failing',
      checks: { passed: 0, failed: 1 },
    });
    // The fork's commit list is not shown to this token (404); the PR's list, newest first, is.
    expect(bb.count('commit_statuses', 404)).toBe(1);
    const listed = bb.log.filter((l) => l.route === 'pullrequest_statuses');
    expect(listed).toHaveLength(1);
    expect(listed[0]!.path).toContain('sort=-created_on');
  });

  it('a PR merged with its source branch closed: found by its branch and shown as before, commits and head kept', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'gone', commits: 3 });
    const head = bb.model.head('acme/api', pr.id);
    const before = await provider.findPullForBranch(repo, 'gone', call);
    expect(before).toMatchObject({ pull_request_state: 'open', commits: 3, head_sha: head });
    bb.model.merge('acme/api', pr.id, { close_source_branch: true });
    const after = await provider.findPullForBranch(repo, 'gone', call);
    expect(after).toEqual({
      ...before,
      pull_request_state: 'merged',
      checks_state: null,
      checks: null,
      merge_state: null,
      awaiting_approval: null,
      unresolved_threads: null,
    });
    // Seen first once merged: Bitbucket lists no commits any more — not told, not zero — and the
    // head is the 12 digits the PR answer gives.
    const fresh = new BitbucketProvider(
      { id: 'bitbucket', type: 'bitbucket', web_url: 'https://bitbucket.org', api_url: bb.apiUrl },
      { clock },
    );
    expect(await fresh.findPullForBranch(repo, 'gone', call)).toMatchObject({
      pull_request_state: 'merged',
      head_branch: 'gone',
      commits: null,
      head_sha: head.slice(0, 12),
      additions: 1,
      changed_files: 1,
    });
  });

  it('a diffstat Bitbucket cannot compute in time (555): sizes not told, the PR shown, not asked again', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'huge', commits: 2 });
    const pull = { repo, number: pr.id };
    bb.addFaults({ kind: 'status', status: 555, match: '/diffstat/' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      pr_number: pr.id,
      additions: null,
      deletions: null,
      changed_files: null,
      commits: 2,
    });
    bb.resetCounters();
    await provider.fetchPull(pull, call);
    expect(bb.count('repository_diffstat')).toBe(0);
    // A new commit is a new diff: asked again.
    bb.clearFaults();
    bb.model.push('acme/api', 'huge');
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      additions: 1,
      changed_files: 1,
      commits: 3,
    });
  });

  it('mergeability: draft, conflicting (with the conflict’s scenario), blocked by merge checks, clean', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'm', draft: true });
    const pull = { repo, number: pr.id };
    expect(await provider.fetchPull(pull, call)).toMatchObject({ merge_state: 'draft' });
    expect(bb.count('pullrequest_conflicts')).toBe(0);
    bb.model.update('acme/api', pr.id, { draft: false });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      merge_state: 'clean',
      merge_state_reason: null,
    });
    // The destination moves and now conflicts: a new destination commit, so conflicts are read again.
    bb.model.setConflicts('acme/api', pr.id, [{ path: 'README.md', scenario: 'delete_modify' }]);
    bb.model.push('acme/api', 'main');
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      merge_state: 'conflicting',
      merge_state_reason: 'delete_modify',
    });
    bb.model.setConflicts('acme/api', pr.id, []);
    bb.model.push('acme/api', 'm');
    expect(await provider.fetchPull(pull, call)).toMatchObject({ merge_state: 'clean' });
    // A merge check fails (say, approvals required): Bitbucket says `mergeable: false`.
    bb.model.setMergeChecks('acme/api', pr.id, true);
    bb.model.update('acme/api', pr.id, { title: 'touched' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      merge_state: 'blocked',
      merge_state_reason: null,
    });
    bb.model.decline('acme/api', pr.id);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ merge_state: null });
  });

  it('mergeability without `mergeable` in the answer: conflicts decide, clean or conflicting', async () => {
    const quiet = await startBitbucketEmulator({ sendsMergeable: false });
    try {
      quiet.addAccessToken(TOKEN, { workspace: 'acme' });
      quiet.model.createRepo({ full_name: 'acme/api' });
      const other = new BitbucketProvider(
        { id: 'bitbucket', type: 'bitbucket', web_url: 'https://bitbucket.org', api_url: quiet.apiUrl },
        { clock },
      );
      const pr = quiet.model.openPull('acme/api', { source_branch: 'x' });
      quiet.model.setMergeChecks('acme/api', pr.id, true);
      expect(await other.fetchPull({ repo, number: pr.id }, call)).toMatchObject({ merge_state: 'clean' });
      quiet.model.setConflicts('acme/api', pr.id, [{ path: 'a' }]);
      quiet.model.push('acme/api', 'x');
      expect(await other.fetchPull({ repo, number: pr.id }, call)).toMatchObject({
        merge_state: 'conflicting',
        merge_state_reason: 'content',
      });
      expect(quiet.counters.unexpected).toEqual([]);
    } finally {
      await quiet.close();
    }
    expect(mergeStateOf({ state: 'OPEN', draft: false }, null)).toEqual({
      merge_state: null,
      merge_state_reason: null,
    });
  });

  it('comments: Bitbucket’s comment count; unresolved threads counted from every page of comments, open PRs only', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'talk' });
    const pull = { repo, number: pr.id };
    const open = bb.model.comment('acme/api', pr.id, 'kim', { inline: { path: 'a.ts', to: 3 } });
    bb.model.comment('acme/api', pr.id, 'agent', { parent: open.id, body: 'On it' });
    // Not threads: a general comment and its reply, a resolved thread, a deleted one, a draft (of
    // the token's own user: only its author sees it, with `pending`).
    const general = bb.model.comment('acme/api', pr.id, 'lee');
    bb.model.comment('acme/api', pr.id, 'agent', { parent: general.id });
    const done = bb.model.comment('acme/api', pr.id, 'lee', { inline: { path: 'b.ts', from: 2 } });
    bb.model.resolve('acme/api', pr.id, done.id, 'agent');
    const gone = bb.model.comment('acme/api', pr.id, 'lee', { inline: { path: 'c.ts', to: 1 } });
    bb.model.deleteComment('acme/api', pr.id, gone.id);
    bb.model.comment('acme/api', pr.id, 'access-token', { inline: { path: 'd.ts', to: 1 }, pending: true });
    // Past the first page of 100.
    for (let i = 0; i < 120; i++) bb.model.comment('acme/api', pr.id, 'kim', { parent: open.id });
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ comments: 125, unresolved_threads: 1 });
    const reads = bb.log.filter((l) => l.route === 'pullrequest_comments');
    expect(reads).toHaveLength(2);
    // Only the fields the count needs, `next` among them, 100 a page.
    expect(reads[0]!.path).toContain(
      'fields=next,values.id,values.deleted,values.pending,values.parent.id,values.inline.path,values.resolution&pagelen=100',
    );
    // A merged PR: not read, not told (readiness says `not_open` first).
    bb.model.merge('acme/api', pr.id);
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      pull_request_state: 'merged',
      unresolved_threads: null,
    });
    expect(bb.count('pullrequest_comments')).toBe(0);
  });

  it('threads kept between refreshes: a comment re-reads them, a resolution shows with its webhook or within the hour', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'review' });
    const pull = { repo, number: pr.id };
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 0 });
    clock.advance(CHECKS_SETTLE_MS);
    await provider.fetchPull(pull, call);
    // Unchanged: kept, whatever the time since (below the hour) — the PR's conditional read alone.
    for (let i = 0; i < 3; i++) {
      clock.advance(5 * 60_000);
      bb.resetCounters();
      expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 0 });
      expect(bb.counters.total).toBe(1);
    }
    // A comment on the diff moves `comment_count`: counted at the next refresh.
    const thread = bb.model.comment('acme/api', pr.id, 'kim', { inline: { path: 'a.ts', to: 1 } });
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 1 });
    expect(bb.count('pullrequest_comments')).toBe(1);
    // A title change moves the PR but not its comments: the threads stay kept.
    bb.model.update('acme/api', pr.id, { title: 'Renamed' });
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 1 });
    expect(bb.count('pullrequest_comments')).toBe(0);
    // Resolving moves nothing in the PR: kept…
    bb.model.resolve('acme/api', pr.id, thread.id, 'agent');
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 1 });
    expect(bb.count('pullrequest_comments')).toBe(0);
    // …until the `pullrequest:comment_resolved` webhook for this PR reaches this replica.
    const hooks = new HookPayloads(bb);
    const event = (key: string) => (n: string) => (n === 'x-event-key' ? key : undefined);
    const otherPr = bb.model.openPull('acme/api', { source_branch: 'other' });
    const other = bb.model.comment('acme/api', otherPr.id, 'kim', { inline: { path: 'x', to: 1 } });
    provider.webhooks.staleRefs(
      event('pullrequest:comment_created'),
      hooks.pullRequestComment(otherPr, other.id, 'kim'),
    );
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 1 });
    provider.webhooks.staleRefs(
      event('pullrequest:comment_resolved'),
      hooks.pullRequestComment(pr, thread.id, 'agent'),
    );
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 0 });
    expect(bb.count('pullrequest_comments')).toBe(1);
    // Reopened, with no webhook: seen once the hour since the last read is up.
    bb.model.reopen('acme/api', pr.id, thread.id);
    clock.advance(READS_MAX_AGE_MS - 1);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 0 });
    clock.advance(1);
    bb.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 1 });
    expect(bb.count('pullrequest_comments')).toBe(1);
    // Kept per token: another token counts its own.
    bb.addAccessToken('ATCTT3x-other', { workspace: 'acme' });
    bb.resetCounters();
    await provider.fetchPull(pull, { token: 'ATCTT3x-other' });
    expect(bb.count('pullrequest_comments')).toBe(1);
  });

  describe('many PRs at once (fetchPulls): one list of moved PRs per repository', () => {
    /** Open PRs with a green build on their heads, read once in full, then again once settled. */
    const settledPulls = async (where: string, count: number) => {
      if (!bb.model.repos.has(where)) bb.model.createRepo({ full_name: where, is_private: true });
      const [owner, name] = where.split('/') as [string, string];
      return Array.from({ length: count }, (_, i) => {
        const pr = bb.model.openPull(where, { source_branch: `b${i}` });
        bb.model.setStatus(bb.model.head(where, pr.id), { key: 'build', state: 'SUCCESSFUL' });
        return { repo: { owner, name }, number: pr.id };
      });
    };
    /** A refresh of these PRs now, as the engine asks it: each shown as of its last refresh. */
    const refresh = (pulls: { repo: typeof repo; number: number }[], extra: { fresh?: boolean } = {}) =>
      provider.fetchPulls(
        pulls.map((p) => ({ ...p, shownSince: clock.now(), ...extra })),
        call,
      );
    const key = (p: { repo: typeof repo; number: number }) => `${p.repo.owner}/${p.repo.name}#${p.number}`;

    it('unchanged PRs cost one list read per repository per call; an empty page says nothing moved', async () => {
      expect(provider.capabilities.pullsPerBatch).toBeGreaterThan(1);
      const pulls = [...(await settledPulls('acme/api', 3)), ...(await settledPulls('acme/web', 2))];
      // First sight: each read in full (no list: nothing is known of them yet).
      const first = await refresh(pulls);
      expect(
        [...first.values()].map((f) => typeof f === 'object' && 'checks_state' in f && f.checks_state),
      ).toEqual(Array(5).fill('passing'));
      expect(bb.count('list_pullrequests')).toBe(0);
      // Their checks stood ten minutes: settled, and answered from one list per repository.
      clock.advance(CHECKS_SETTLE_MS);
      for (let i = 0; i < 3; i++) {
        bb.resetCounters();
        const again = await refresh(pulls);
        expect([...again.values()]).toEqual(Array(5).fill(PULL_UNCHANGED));
        // Who the token acts as is asked once an hour (its user authored none of these).
        expect(bb.count('current_user')).toBe(i === 0 ? 1 : 0);
        expect(bb.counters.total).toBe(i === 0 ? 3 : 2);
        expect(bb.count('list_pullrequests')).toBe(2);
        clock.advance(2 * 60_000);
      }
      const list = decodeURIComponent(bb.log.filter((l) => l.route === 'list_pullrequests').at(-1)!.path);
      for (const s of ['OPEN', 'MERGED', 'DECLINED', 'SUPERSEDED']) expect(list).toContain(`state=${s}`);
      expect(list).toMatch(/q=updated_on > "\d{4}-\d\d-\d\dT[\d:.]+Z"/);
      expect(list).toContain('sort=-updated_on');
      expect(list).toContain('fields=next,values.id,values.state,values.updated_on,values.comment_count');
      expect(list).toContain('pagelen=50');
    });

    it('a rename, a new commit, a comment, a verdict, a merge: each seen at the next refresh', async () => {
      const pulls = await settledPulls('acme/api', 5);
      const [renamed, pushed, commented, approved, merged] = pulls as [
        (typeof pulls)[0],
        (typeof pulls)[0],
        (typeof pulls)[0],
        (typeof pulls)[0],
        (typeof pulls)[0],
      ];
      await refresh(pulls);
      clock.advance(CHECKS_SETTLE_MS);
      expect([...(await refresh(pulls)).values()]).toEqual(Array(5).fill(PULL_UNCHANGED));
      bb.model.update('acme/api', renamed.number, { title: 'Renamed' });
      const tip = bb.model.push('acme/api', 'b1');
      bb.model.comment('acme/api', commented.number, 'kim', { inline: { path: 'a.ts', to: 1 } });
      bb.model.verdict('acme/api', approved.number, 'lee', 'approved');
      bb.model.merge('acme/api', merged.number);
      // The next round (the one above serves the calls of its tick for a few seconds).
      clock.advance(2 * 60_000);
      bb.resetCounters();
      const seen = await refresh(pulls);
      expect(seen.get(key(renamed))).toMatchObject({ pull_request_title: 'Renamed' });
      expect(seen.get(key(pushed))).toMatchObject({ head_sha: tip, checks_state: 'none' });
      expect(seen.get(key(commented))).toMatchObject({ comments: 1, unresolved_threads: 1 });
      expect(seen.get(key(approved))).toMatchObject({ approved: true });
      expect(seen.get(key(merged))).toMatchObject({ pull_request_state: 'merged' });
      expect(bb.count('list_pullrequests')).toBe(1);
      expect(bb.count('get_pullrequest')).toBe(5);
      // The pushed one's new head has no checks yet: read in full until they have stood ten minutes.
      clock.advance(CHECKS_SETTLE_MS / 2);
      const soon = await refresh(pulls);
      expect(soon.get(key(pushed))).toMatchObject({ head_sha: tip, checks_state: 'none' });
      expect(soon.get(key(renamed))).toBe(PULL_UNCHANGED);
      // Read in full since: answered from the list again.
      clock.advance(CHECKS_SETTLE_MS / 2);
      bb.resetCounters();
      const after = await refresh(pulls);
      expect([...after.values()]).toEqual(Array(5).fill(PULL_UNCHANGED));
      expect(bb.counters.total).toBe(1);
    });

    it('a build re-run on a settled head: not seen by a plain refresh within the hour, seen by a fresh read', async () => {
      const pulls = await settledPulls('acme/api', 2);
      const pull = pulls[0]!;
      await refresh(pulls);
      clock.advance(CHECKS_SETTLE_MS);
      bb.model.setStatus(bb.model.head('acme/api', pull.number), { key: 'build', state: 'FAILED' });
      // A status lives on the commit: the PR does not move, and the kept checks stand.
      expect((await refresh(pulls)).get(key(pull))).toBe(PULL_UNCHANGED);
      // A signal asked for it: read in full, the statuses and comments too, nothing kept.
      bb.resetCounters();
      const fresh = await refresh(pulls, { fresh: true });
      expect(fresh.get(key(pull))).toMatchObject({ checks_state: 'failing' });
      expect(bb.count('list_pullrequests')).toBe(0);
      expect(bb.count('commit_statuses')).toBe(2);
      expect(bb.count('pullrequest_comments')).toBe(2);
      expect(await provider.fetchPull({ ...pull, fresh: true }, call)).toMatchObject({
        checks_state: 'failing',
      });
      // A re-run back to green after a while: a plain refresh sees it once the hour since the last read is up.
      clock.advance(CHECKS_SETTLE_MS);
      await refresh(pulls);
      bb.model.setStatus(bb.model.head('acme/api', pull.number), { key: 'build', state: 'SUCCESSFUL' });
      expect((await refresh(pulls)).get(key(pull))).toBe(PULL_UNCHANGED);
      clock.advance(READS_MAX_AGE_MS);
      expect((await refresh(pulls)).get(key(pull))).toMatchObject({ checks_state: 'passing' });
    });

    it('a build running: its statuses alone read again while the PR does not move; shown older than its last read: read in full', async () => {
      const pulls = await settledPulls('acme/api', 3);
      const [running, , other] = pulls as [(typeof pulls)[0], (typeof pulls)[0], (typeof pulls)[0]];
      bb.model.setStatus(bb.model.head('acme/api', running.number), { key: 'deploy', state: 'INPROGRESS' });
      await refresh(pulls);
      clock.advance(CHECKS_SETTLE_MS);
      bb.resetCounters();
      const got = await provider.fetchPulls(
        [
          { ...running, shownSince: clock.now() },
          { ...pulls[1]!, shownSince: clock.now() },
          // Shown as of before this provider's last read (another chat refreshed it since).
          { ...other, shownSince: new Date(clock.now().getTime() - CHECKS_SETTLE_MS - 1) },
        ],
        call,
      );
      expect(got.get(key(running))).toMatchObject({ checks_state: 'pending', checks: { pending: 1 } });
      expect(got.get(key(pulls[1]!))).toBe(PULL_UNCHANGED);
      expect(got.get(key(other))).toMatchObject({ checks_state: 'passing' });
      // The list, the running one's statuses, and the other one read in full (its PR: its settled
      // checks and its threads are kept).
      expect(bb.count('list_pullrequests')).toBe(1);
      expect(bb.count('get_pullrequest')).toBe(1);
      expect(bb.count('commit_statuses')).toBe(1);
      expect(bb.counters.total).toBe(3);
      // The build finishes: the checks read otherwise, so the PR is read in full with them.
      bb.model.setStatus(bb.model.head('acme/api', running.number), { key: 'deploy', state: 'SUCCESSFUL' });
      clock.advance(2 * 60_000);
      bb.resetCounters();
      expect((await refresh([running])).get(key(running))).toMatchObject({ checks_state: 'passing' });
      expect(bb.count('get_pullrequest')).toBe(1);
      // A PR Bitbucket does not show is an entry of its own.
      const missing = await provider.fetchPulls(
        [
          { repo, number: 99, shownSince: clock.now() },
          { ...pulls[1]!, shownSince: clock.now() },
        ],
        call,
      );
      expect(missing.get(`acme/api#99`)).toBeInstanceOf(NotFoundError);
      expect(missing.get(key(pulls[1]!))).toBe(PULL_UNCHANGED);
    });

    it('a busy repository: pages of other PRs read newest first until the PRs asked about are passed', async () => {
      const pulls = await settledPulls('acme/api', 2);
      await refresh(pulls);
      clock.advance(CHECKS_SETTLE_MS);
      // 60 other PRs moved since: more than one page of 50.
      for (let i = 0; i < 60; i++) bb.model.openPull('acme/api', { source_branch: `busy${i}` });
      bb.resetCounters();
      expect([...(await refresh(pulls)).values()]).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
      expect(bb.count('list_pullrequests')).toBe(2);
      expect(bb.count('get_pullrequest')).toBe(0);
    });
  });

  describe("many PRs at once, the token user's own: one list of that user's PRs per workspace", () => {
    const KIM = 'kim@example.com:ATATT3x-kim';
    const asKim = { token: KIM };
    const REPOS = 10;
    beforeEach(() => {
      bb.addApiToken('kim@example.com', 'ATATT3x-kim', 'kim');
      for (let r = 0; r < REPOS; r++)
        bb.model.createRepo({ full_name: `acme/r${r}`, is_private: true, members: ['kim'] });
    });
    /** `count` PRs in each repository by `author`, each with a green build on its head. */
    const open = (count: number, author = 'kim', repos = REPOS) =>
      Array.from({ length: repos }, (_, r) =>
        Array.from({ length: count }, (_, i) => {
          const where = `acme/r${r}`;
          const pr = bb.model.openPull(where, { source_branch: `${author}-${i}`, author });
          bb.model.setStatus(bb.model.head(where, pr.id), { key: 'build', state: 'SUCCESSFUL' });
          return { repo: { owner: 'acme', name: `r${r}` }, number: pr.id };
        }),
      ).flat();
    const refresh = (pulls: { repo: typeof repo; number: number }[], fresh?: (typeof pulls)[number]) =>
      provider.fetchPulls(
        pulls.map((p) => ({ ...p, shownSince: clock.now(), ...(p === fresh ? { fresh: true } : {}) })),
        asKim,
      );
    const key = (p: { repo: typeof repo; number: number }) => `${p.repo.owner}/${p.repo.name}#${p.number}`;
    /** Read in full once, then settled: their checks stood ten minutes. */
    const settle = async (pulls: { repo: typeof repo; number: number }[]) => {
      await refresh(pulls);
      clock.advance(CHECKS_SETTLE_MS);
    };

    it('two PRs in each of many repositories, all by the token user: one read a round, not one per repository', async () => {
      const pulls = open(2);
      await settle(pulls);
      for (let i = 0; i < 3; i++) {
        bb.resetCounters();
        expect([...(await refresh(pulls)).values()]).toEqual(Array(pulls.length).fill(PULL_UNCHANGED));
        // Who the token acts as is read once (an hour), then one list of its user's PRs a round.
        expect(bb.count('current_user')).toBe(i === 0 ? 1 : 0);
        expect(bb.count('user_pullrequests')).toBe(1);
        expect(bb.count('list_pullrequests')).toBe(0);
        expect(bb.counters.total).toBe(i === 0 ? 2 : 1);
        clock.advance(2 * 60_000);
      }
      const read = bb.log.find((l) => l.route === 'user_pullrequests')!.path;
      const uuid = bb.model.user('kim').uuid;
      expect(read.split('?')[0]).toBe(`/2.0/workspaces/acme/pullrequests/${encodeURIComponent(uuid)}`);
      const list = decodeURIComponent(read);
      for (const s of ['OPEN', 'MERGED', 'DECLINED', 'SUPERSEDED']) expect(list).toContain(`state=${s}`);
      expect(list).toMatch(/q=updated_on > "\d{4}-\d\d-\d\dT[\d:.]+Z"/);
      expect(list).toContain('sort=-updated_on');
      expect(list).toContain(
        'fields=next,values.id,values.state,values.updated_on,values.comment_count,values.destination.repository.full_name',
      );
      expect(list).toContain('pagelen=50');
      // A quarter of an hour since their repositories' lists or reads last showed them: a PR can
      // drop off the user's list without a word (its repository renamed, moved or unreadable), so
      // each repository's list looks once — then the user's list again.
      bb.resetCounters();
      expect([...(await refresh(pulls)).values()]).toEqual(Array(pulls.length).fill(PULL_UNCHANGED));
      expect([bb.count('list_pullrequests'), bb.count('user_pullrequests')]).toEqual([REPOS, 0]);
      clock.advance(2 * 60_000);
      // A signal asked for one: read in full, the rest still from the one list.
      bb.resetCounters();
      const got = await refresh(pulls, pulls[3]);
      expect(got.get(key(pulls[3]!))).toMatchObject({ pull_request_state: 'open' });
      expect(bb.count('get_pullrequest')).toBe(1);
      expect(bb.count('user_pullrequests')).toBe(1);
      expect(bb.count('list_pullrequests')).toBe(0);
    });

    it('a user list that does not filter or sort as asked is not trusted: each repository’s list tells, and a rename is seen', async () => {
      const pulls = open(2);
      await settle(pulls);
      bb.userListFilters = false;
      bb.model.update('acme/r4', pulls[8]!.number, { title: 'Renamed' });
      bb.resetCounters();
      const got = await refresh(pulls);
      expect(got.get(key(pulls[8]!))).toMatchObject({ pull_request_title: 'Renamed' });
      expect([...got.values()].filter((v) => v === PULL_UNCHANGED)).toHaveLength(pulls.length - 1);
      expect([bb.count('user_pullrequests'), bb.count('list_pullrequests')]).toEqual([1, REPOS]);
      // Not asked again for a while.
      clock.advance(2 * 60_000);
      bb.resetCounters();
      await refresh(pulls);
      expect([bb.count('user_pullrequests'), bb.count('list_pullrequests')]).toEqual([0, REPOS]);
    });

    it("another author's PR costs its repository's list; a change, a merge, a comment are seen at the next round", async () => {
      const pulls = open(2);
      const [theirs] = open(1, 'lee', 1) as [(typeof pulls)[number]];
      const all = [...pulls, theirs];
      await settle(all);
      bb.resetCounters();
      expect([...(await refresh(all)).values()]).toEqual(Array(all.length).fill(PULL_UNCHANGED));
      // The user list for the token user's PRs; acme/r0's own list for lee's, which covers kim's there too.
      expect(bb.count('user_pullrequests')).toBe(1);
      expect(bb.count('list_pullrequests')).toBe(1);
      expect(bb.log.find((l) => l.route === 'list_pullrequests')!.path).toContain('/repositories/acme/r0/');
      const [renamed, merged, commented] = [pulls[5]!, pulls[14]!, pulls[19]!];
      bb.model.update('acme/r2', renamed.number, { title: 'Renamed' });
      bb.model.merge('acme/r7', merged.number);
      bb.model.comment('acme/r9', commented.number, 'lee', { body: 'Looks good' });
      clock.advance(2 * 60_000);
      bb.resetCounters();
      const seen = await refresh(all);
      expect(seen.get(key(renamed))).toMatchObject({ pull_request_title: 'Renamed' });
      expect(seen.get(key(merged))).toMatchObject({ pull_request_state: 'merged' });
      expect(seen.get(key(commented))).toMatchObject({ comments: 1 });
      expect([...seen.values()].filter((v) => v === PULL_UNCHANGED)).toHaveLength(all.length - 3);
      expect(bb.count('get_pullrequest')).toBe(3);
      expect(bb.count('user_pullrequests')).toBe(1);
      expect(bb.count('list_pullrequests')).toBe(1);
    });

    it('a workspace list Bitbucket refuses: per repository, and not asked again for an hour', async () => {
      const pulls = open(2, 'kim', 3);
      await settle(pulls);
      bb.addFaults({ kind: 'status', status: 403, match: '^/workspaces/' });
      bb.resetCounters();
      expect([...(await refresh(pulls)).values()]).toEqual(Array(pulls.length).fill(PULL_UNCHANGED));
      expect(bb.count('user_pullrequests', 403)).toBe(1);
      expect(bb.count('list_pullrequests')).toBe(3);
      clock.advance(2 * 60_000);
      bb.resetCounters();
      expect([...(await refresh(pulls)).values()]).toEqual(Array(pulls.length).fill(PULL_UNCHANGED));
      expect(bb.count('user_pullrequests')).toBe(0);
      expect(bb.count('list_pullrequests')).toBe(3);
      bb.clearFaults();
    });

    it('a token whose user Bitbucket will not tell goes per repository', async () => {
      const pulls = open(2, 'kim', 3);
      await settle(pulls);
      bb.addFaults({ kind: 'status', status: 403, match: '^/user$' });
      bb.resetCounters();
      expect([...(await refresh(pulls)).values()]).toEqual(Array(pulls.length).fill(PULL_UNCHANGED));
      expect(bb.count('current_user', 403)).toBe(1);
      expect(bb.count('user_pullrequests')).toBe(0);
      expect(bb.count('list_pullrequests')).toBe(3);
      bb.clearFaults();
    });

    it("a busy user list: no more pages than the repositories' lists it stands for, less one; then the PRs it could not tell of go to those lists", async () => {
      const pulls = open(1, 'kim', 4);
      await settle(pulls);
      // 210 of kim's PRs in another repository moved since: more than three pages of 50.
      bb.model.createRepo({ full_name: 'acme/busy', is_private: true, members: ['kim'] });
      for (let i = 0; i < 210; i++)
        bb.model.openPull('acme/busy', { source_branch: `busy${i}`, author: 'kim' });
      bb.resetCounters();
      expect([...(await refresh(pulls)).values()]).toEqual(Array(pulls.length).fill(PULL_UNCHANGED));
      expect(bb.count('user_pullrequests')).toBe(3);
      expect(bb.count('list_pullrequests')).toBe(4);
      expect(bb.count('get_pullrequest')).toBe(0);
    });

    it('the calls of one round share one read of the list, read to its end', async () => {
      const pulls = open(2);
      await settle(pulls);
      // Everything moved a little (a comment each): one list shows them all, over pages.
      for (const p of pulls) bb.model.comment(`acme/${p.repo.name}`, p.number, 'lee', { body: 'hi' });
      await refresh(pulls);
      clock.advance(2 * 60_000);
      bb.resetCounters();
      const [a, b] = [pulls.slice(0, 10), pulls.slice(10)];
      const [got1, got2] = await Promise.all([refresh(a), refresh(b)]);
      expect([...got1.values(), ...got2.values()]).toEqual(Array(pulls.length).fill(PULL_UNCHANGED));
      expect(bb.count('user_pullrequests')).toBe(1);
      expect(bb.counters.total).toBe(1);
    });
  });

  it('the calls of one round share their repository’s list read; the next round reads it again', async () => {
    await bb.close();
    // Bitbucket's clock is the provider's: the list's times move as the refreshes do.
    bb = await startBitbucketEmulator({ now: () => clock.now() });
    bb.addAccessToken(TOKEN, { workspace: 'acme' });
    bb.model.createRepo({ full_name: 'acme/api', is_private: true });
    provider = new BitbucketProvider(
      { id: 'bitbucket', type: 'bitbucket', web_url: 'https://bitbucket.org', api_url: bb.apiUrl },
      { clock },
    );
    const pulls = ['a', 'b', 'c', 'd'].map((branch) => {
      const pr = bb.model.openPull('acme/api', { source_branch: branch });
      bb.model.setStatus(bb.model.head('acme/api', pr.id), { key: 'ci', state: 'SUCCESSFUL' });
      return { repo, number: pr.id };
    });
    const refresh = (some: typeof pulls) =>
      provider.fetchPulls(
        some.map((p) => ({ ...p, shownSince: clock.now() })),
        call,
      );
    await refresh(pulls);
    clock.advance(CHECKS_SETTLE_MS);
    bb.resetCounters();
    // Two calls of one tick (the engine asks 50 PRs a call): one list read between them.
    const [first, second] = await Promise.all([refresh(pulls.slice(0, 2)), refresh(pulls.slice(2))]);
    expect([...first.values(), ...second.values()]).toEqual(Array(4).fill(PULL_UNCHANGED));
    expect(bb.counters.total).toBe(1);
    // A rename in the same round is seen at the next one (a round lasts seconds).
    bb.model.update('acme/api', pulls[2]!.number, { title: 'Renamed' });
    expect((await refresh(pulls.slice(2))).get(`acme/api#${pulls[2]!.number}`)).toBe(PULL_UNCHANGED);
    expect(bb.counters.total).toBe(1);
    clock.advance(5_000);
    const next = await refresh(pulls.slice(2));
    expect(next.get(`acme/api#${pulls[2]!.number}`)).toMatchObject({ pull_request_title: 'Renamed' });
    expect(next.get(`acme/api#${pulls[3]!.number}`)).toBe(PULL_UNCHANGED);
    expect(bb.count('list_pullrequests')).toBe(2);
  });

  it('the list’s bound is strict: a PR updated exactly at it is not listed, and stands unchanged', async () => {
    await bb.close();
    // A clock that stands still: Bitbucket's answers say the very time the PR was updated.
    const at = new Date('2026-12-07T10:00:00.000Z');
    bb = await startBitbucketEmulator({ now: () => at });
    bb.addAccessToken(TOKEN, { workspace: 'acme' });
    bb.model.createRepo({ full_name: 'acme/api', is_private: true });
    provider = new BitbucketProvider(
      { id: 'bitbucket', type: 'bitbucket', web_url: 'https://bitbucket.org', api_url: bb.apiUrl },
      { clock },
    );
    const a = bb.model.openPull('acme/api', { source_branch: 'a' });
    const b = bb.model.openPull('acme/api', { source_branch: 'b' });
    for (const pr of [a, b])
      bb.model.setStatus(bb.model.head('acme/api', pr.id), { key: 'ci', state: 'SUCCESSFUL' });
    const pulls = [a, b].map((pr) => ({ repo, number: pr.id }));
    const refresh = () =>
      provider.fetchPulls(
        pulls.map((p) => ({ ...p, shownSince: clock.now() })),
        call,
      );
    await refresh();
    clock.advance(CHECKS_SETTLE_MS);
    bb.resetCounters();
    expect([...(await refresh()).values()]).toEqual([PULL_UNCHANGED, PULL_UNCHANGED]);
    const bound = /updated_on > "([^"]+)"/.exec(
      decodeURIComponent(bb.log.filter((l) => l.route === 'list_pullrequests').at(-1)!.path),
    )![1]!;
    // The bound is the earlier PR's own update time: it is not listed, the later one is.
    expect(new Date(bound).getTime()).toBe(a.updated_on.getTime());
    expect(b.updated_on.getTime()).toBeGreaterThan(a.updated_on.getTime());
    bb.model.update('acme/api', a.id, { title: 'A moment later' });
    clock.advance(2 * 60_000);
    expect((await refresh()).get(`acme/api#${a.id}`)).toMatchObject({ pull_request_title: 'A moment later' });
  });

  it('feedback: failing builds of the head with their text, unresolved threads on the diff, who requests changes', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'fb', commits: 2 });
    const pull = { repo, number: pr.id };
    const old = bb.model.head('acme/api', pr.id);
    bb.model.setStatus(old, { key: 'old', state: 'FAILED', description: 'replaced since' });
    const head = bb.model.push('acme/api', 'fb');
    bb.model.setStatus(head, {
      key: 'tests',
      state: 'FAILED',
      name: 'Unit tests',
      url: 'https://ci.example.com/t/1',
      description: '3 of 120 tests failed',
    });
    bb.model.setStatus(head, { key: 'lint', state: 'FAILED', name: 'Lint' });
    bb.model.setStatus(head, { key: 'build', state: 'SUCCESSFUL' });
    const open = bb.model.comment('acme/api', pr.id, 'kim', {
      body: 'Handle the null case',
      inline: { path: 'src/a.ts', to: 12 },
    });
    bb.model.comment('acme/api', pr.id, 'agent', { body: 'On it', parent: open.id });
    const removed = bb.model.comment('acme/api', pr.id, 'lee', {
      body: 'Why remove this?',
      inline: { path: 'src/b.ts', from: 4 },
    });
    const done = bb.model.comment('acme/api', pr.id, 'lee', { body: 'Typo', inline: { path: 'c', to: 1 } });
    bb.model.resolve('acme/api', pr.id, done.id, 'agent');
    bb.model.comment('acme/api', pr.id, 'lee', { body: 'General remark' });
    bb.model.verdict('acme/api', pr.id, 'lee', 'changes_requested');
    bb.model.verdict('acme/api', pr.id, 'kim', 'approved');
    expect(() => bb.model.resolve('acme/api', pr.id, done.id, 'agent')).toThrow(/already/);
    const feedback = await provider.fetchFeedback(pull, call);
    expect(feedback).toEqual({
      failing_checks: [
        { name: 'Unit tests', url: 'https://ci.example.com/t/1', summary: '3 of 120 tests failed' },
        { name: 'Lint', url: 'https://ci.example.com/lint', summary: null },
      ],
      unresolved_threads: [
        {
          path: 'src/a.ts',
          line: 12,
          author: 'kim',
          // Not told by this host (docs, "Feedback").
          author_association: null,
          trusted: null,
          body: 'Handle the null case',
          url: `https://bitbucket.org/acme/api/pull-requests/${pr.id}/_/diff#comment-${open.id}`,
        },
        {
          path: 'src/b.ts',
          line: 4,
          author: 'lee',
          // Not told by this host (docs, "Feedback").
          author_association: null,
          trusted: null,
          body: 'Why remove this?',
          url: `https://bitbucket.org/acme/api/pull-requests/${pr.id}/_/diff#comment-${removed.id}`,
        },
      ],
      changes_requested_by: [{ name: 'lee', trusted: null }],
      truncated: false,
    });
    // Reopened, it is open again.
    bb.model.reopen('acme/api', pr.id, done.id);
    expect((await provider.fetchFeedback(pull, call)).unresolved_threads).toHaveLength(3);
  });

  it('feedback says truncated when the PR has more comments than one page of 100', async () => {
    const pr = bb.model.openPull('acme/api', { source_branch: 'chatty' });
    for (let i = 0; i < 101; i++)
      bb.model.comment('acme/api', pr.id, 'kim', { body: `n${i}`, inline: { path: 'a', to: i + 1 } });
    const feedback = await provider.fetchFeedback({ repo, number: pr.id }, call);
    expect(feedback.unresolved_threads).toHaveLength(100);
    expect(feedback.truncated).toBe(true);
    expect(bb.log.filter((l) => l.route === 'pullrequest_comments')).toHaveLength(1);
  });

  it('translates failures: 401, 404, 5xx, garbage, and 429 without a reset time (≥ 60 s, doubling)', async () => {
    const pull = { repo, number: bb.model.openPull('acme/api', { source_branch: 'f' }).id };
    const attempt = () => provider.fetchPull(pull, call).catch((e) => e);
    bb.addFaults({ kind: 'unauthorized', times: 1 });
    expect(await attempt()).toMatchObject({ code: 'token_rejected' });
    expect(await provider.fetchPull({ repo, number: 99 }, call).catch((e) => e)).toMatchObject({
      code: 'provider_error',
    });
    expect(await provider.fetchPull({ repo, number: 99 }, call).catch((e) => e)).toBeInstanceOf(
      NotFoundError,
    );
    bb.addFaults({ kind: 'status', status: 502, times: 1 });
    expect(await attempt()).toBeInstanceOf(UnavailableError);
    bb.addFaults({ kind: 'garbage', times: 1 });
    expect(await attempt()).toBeInstanceOf(UnavailableError);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      bb.addFaults({ kind: 'rate_limit', times: 1 });
      const limited = await attempt();
      expect(limited).toBeInstanceOf(RateLimitedError);
      waits.push(((limited as RateLimitedError).resetAt.getTime() - clock.now().getTime()) / 1000);
    }
    expect(waits).toEqual([60, 120, 240]);
    // A success ends the streak.
    await provider.fetchPull(pull, call);
    bb.addFaults({ kind: 'rate_limit', times: 1 });
    expect(((await attempt()) as RateLimitedError).resetAt.getTime() - clock.now().getTime()).toBe(60_000);
  });

  it('rests a token Bitbucket says is near its limit: the read completes, the next call pauses', async () => {
    const pull = { repo, number: bb.model.openPull('acme/api', { source_branch: 'n' }).id };
    bb.addFaults({ kind: 'near_limit', times: 1 });
    expect(await provider.fetchPull(pull, call)).toMatchObject({ pr_number: pull.number });
    const before = bb.counters.total;
    const paused = await provider.fetchPull(pull, call).catch((e) => e);
    expect(paused).toBeInstanceOf(RateLimitedError);
    expect((paused as RateLimitedError).resetAt.getTime()).toBe(clock.now().getTime() + 60_000);
    expect(bb.counters.total).toBe(before);
    clock.advance(60_000);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ pr_number: pull.number });
  });

  it('webhooks: names the source branch in source and destination, pushed and deleted branches', () => {
    const h = (headers: Record<string, string>) => (n: string) => headers[n.toLowerCase()];
    const webhooks = provider.webhooks;
    const pr = {
      pullrequest: {
        id: 3,
        source: { branch: { name: 'fix' }, repository: { full_name: 'kim/api' } },
        destination: { branch: { name: 'main' }, repository: { full_name: 'acme/api' } },
        links: { html: { href: 'https://bitbucket.org/acme/api/pull-requests/3' } },
      },
      repository: { full_name: 'acme/api' },
    };
    expect(webhooks.staleRefs(h({ 'x-event-key': 'pullrequest:approved' }), pr)).toEqual([
      {
        origin: 'https://bitbucket.org/kim/api',
        branch: 'fix',
        url: 'https://bitbucket.org/acme/api/pull-requests/3',
      },
      {
        origin: 'https://bitbucket.org/acme/api',
        branch: 'fix',
        url: 'https://bitbucket.org/acme/api/pull-requests/3',
      },
    ]);
    const push = {
      repository: { full_name: 'acme/api' },
      push: {
        changes: [
          { new: { type: 'branch', name: 'a' }, old: null },
          { new: null, old: { type: 'branch', name: 'gone' } },
          { new: { type: 'tag', name: 'v1' }, old: null },
        ],
      },
    };
    expect(webhooks.staleRefs(h({ 'x-event-key': 'repo:push' }), push)).toEqual([
      { origin: 'https://bitbucket.org/acme/api', branch: 'a' },
      { origin: 'https://bitbucket.org/acme/api', branch: 'gone' },
    ]);
    const status = (refname?: string) => ({
      repository: { full_name: 'acme/api' },
      commit_status: { key: 'build', state: 'FAILED', ...(refname ? { refname } : {}) },
    });
    expect(webhooks.staleRefs(h({ 'x-event-key': 'repo:commit_status_updated' }), status('a'))).toEqual([
      { origin: 'https://bitbucket.org/acme/api', branch: 'a' },
    ]);
    expect(webhooks.staleRefs(h({ 'x-event-key': 'repo:commit_status_created' }), status())).toEqual([]);
    expect(() => webhooks.staleRefs(h({ 'x-event-key': 'repo:commit_status_created' }), {})).toThrow(
      /commit_status/,
    );
    expect(webhooks.staleRefs(h({ 'x-event-key': 'issue:created' }), {})).toEqual([]);
    expect(() => webhooks.staleRefs(h({ 'x-event-key': 'repo:push' }), {})).toThrow(/push/);
    expect(webhooks.deliveryId(h({ 'x-request-uuid': 'r-1', 'x-hook-uuid': 'hook' }))).toBe('r-1');
    expect(webhooks.start(h({}), 'secret')).toBeNull();
    expect(webhooks.start(h({ 'x-hub-signature': 'sha1=abc' }), 'secret')).toBeNull();
  });
});
