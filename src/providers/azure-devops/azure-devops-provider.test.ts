import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AzureDevOpsEmulator, startAzureDevOpsEmulator } from '../../../emulator/azure-devops/server.ts';
import { HookPayloads } from '../../../emulator/azure-devops/webhooks.ts';
import { FakeClock } from '../../core/clock.ts';
import {
  AuthError,
  BadInputError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
} from '../../core/errors.ts';
import { CHECKS_SETTLE_MS, READS_MAX_AGE_MS } from '../pull-reads-cache.ts';
import { type BudgetObservation, PULL_UNCHANGED, pullKey } from '../types.ts';
import { AzureDevOpsProvider } from './azure-devops-provider.ts';
import { authorizationFor, looksLikeJwt, REQUESTS_SCOPE } from './client.ts';

const PAT = 'azdopat0123456789abcdefghijklmnopqrstuvwxyz0123456789';
const JWT = 'eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl';

describe('Azure DevOps origins and PR URLs', () => {
  const provider = new AzureDevOpsProvider(
    { id: 'ado', type: 'azure-devops', web_url: 'https://dev.azure.com', api_url: 'https://dev.azure.com' },
    { clock: new FakeClock() },
  );
  const repo = { owner: 'fabrikam/Fiber Web', name: 'portal' };

  it('reads every form of a remote as one repository, stored canonical', () => {
    for (const origin of [
      'https://dev.azure.com/fabrikam/Fiber%20Web/_git/portal',
      'https://fabrikam@dev.azure.com/fabrikam/Fiber%20Web/_git/portal',
      'https://user:pat123@dev.azure.com/fabrikam/Fiber%20Web/_git/portal/',
      'git@ssh.dev.azure.com:v3/fabrikam/Fiber%20Web/portal',
      'ssh://git@ssh.dev.azure.com/v3/fabrikam/Fiber%20Web/portal',
      'https://fabrikam.visualstudio.com/Fiber%20Web/_git/portal',
      'https://fabrikam.visualstudio.com/DefaultCollection/Fiber%20Web/_git/portal',
      'fabrikam@vs-ssh.visualstudio.com:v3/fabrikam/Fiber%20Web/portal',
    ]) {
      expect(provider.matches(origin), origin).toBe(true);
      expect(provider.parseOrigin(origin), origin).toEqual(repo);
    }
    expect(provider.repoUrl(repo)).toBe('https://dev.azure.com/fabrikam/Fiber%20Web/_git/portal');
    // A repository named like its project: the project is left out of the path.
    expect(provider.parseOrigin('https://dev.azure.com/fabrikam/_git/Fabrikam')).toEqual({
      owner: 'fabrikam/Fabrikam',
      name: 'Fabrikam',
    });
    expect(provider.parseOrigin('https://fabrikam.visualstudio.com/DefaultCollection/_git/Web')).toEqual({
      owner: 'fabrikam/Web',
      name: 'Web',
    });
  });

  it('matches its hosts whatever the path, and nothing else', () => {
    expect(provider.matches('https://dev.azure.com/fabrikam')).toBe(true);
    expect(provider.parseOrigin('https://dev.azure.com/fabrikam')).toBeNull();
    expect(provider.parseOrigin('https://dev.azure.com/fabrikam/p/_git/r/extra')).toBeNull();
    expect(provider.matches('https://github.com/o/r')).toBe(false);
    expect(provider.matches('https://visualstudio.com/o/r')).toBe(false);
    expect(provider.matches('git@ssh.github.com:v3/a/b/c')).toBe(false);
  });

  it('builds and parses PR URLs, with trailing views ignored', () => {
    const pull = { repo, number: 42 };
    const url = provider.buildPullUrl(pull);
    expect(url).toBe('https://dev.azure.com/fabrikam/Fiber%20Web/_git/portal/pullrequest/42');
    expect(provider.parsePullUrl(url)).toEqual(pull);
    expect(provider.parsePullUrl(`${url}?_a=files`)).toEqual(pull);
    expect(
      provider.parsePullUrl('https://fabrikam.visualstudio.com/Fiber%20Web/_git/portal/pullrequest/42'),
    ).toEqual(pull);
    expect(
      provider.parsePullUrl('https://dev.azure.com/fabrikam/Fiber%20Web/_git/portal/pullrequest/x'),
    ).toBeNull();
    expect(provider.parsePullUrl('https://github.com/o/r/pull/1')).toBeNull();
  });

  it('sends a PAT as Basic with an empty user and a JWT as Bearer', () => {
    expect(looksLikeJwt(PAT)).toBe(false);
    expect(looksLikeJwt(JWT)).toBe(true);
    expect(authorizationFor(PAT)).toBe(`Basic ${Buffer.from(`:${PAT}`).toString('base64')}`);
    expect(authorizationFor(JWT)).toBe(`Bearer ${JWT}`);
  });
});

describe('Azure DevOps provider against the emulator', () => {
  let az: AzureDevOpsEmulator;
  let provider: AzureDevOpsProvider;
  const clock = new FakeClock(new Date());
  const call = { token: PAT };
  const REPO = 'contoso/Platform/api';
  const repo = { owner: 'contoso/Platform', name: 'api' };

  beforeAll(async () => {
    az = await startAzureDevOpsEmulator({ mergeOnRead: true });
    az.addToken(PAT, 'agent@contoso.com');
    az.addBearer(JWT, 'agent@contoso.com');
    az.model.createRepo(REPO, { visibility: 'private' });
    az.model.createRepo('contoso/Community/lib', { visibility: 'public' });
    provider = new AzureDevOpsProvider(
      { id: 'ado', type: 'azure-devops', web_url: az.webUrl, api_url: az.url },
      { clock },
    );
  });
  afterEach(() => {
    expect(az.counters.unexpected).toEqual([]);
    az.clearFaults();
  });
  afterAll(() => az.close());
  /** A provider with a clock of its own, for tests that move time (the emulator's rate limits run on real time). */
  const withOwnClock = () => {
    const own = new FakeClock(clock.now());
    const p = new AzureDevOpsProvider(
      { id: 'ado', type: 'azure-devops', web_url: az.webUrl, api_url: az.url },
      { clock: own },
    );
    return { clock: own, provider: p };
  };

  it('reads a PR with votes, groups, iterations and commits; a second read of a PR whose test merge moved is three requests', async () => {
    const pr = az.model.openPull(REPO, {
      source_branch: 'feature/votes',
      title: 'Votes',
      author: 'agent@contoso.com',
      files: 3,
      commits: 2,
    });
    az.model.pushToPull(pr, { files: 5, commits: 1 });
    az.model.vote(pr, 'ann@contoso.com', 10);
    az.model.vote(pr, 'bo@contoso.com', 5);
    az.model.addReviewer(pr, 'cy@contoso.com');
    const team = az.model.group('[Platform]\\Platform Team');
    az.model.addReviewer(pr, team);
    az.resetCounters();
    const fields = await provider.findPullForBranch(repo, 'feature/votes', call);
    expect(fields).toMatchObject({
      url: `${az.webUrl}/contoso/Platform/_git/api/pullrequest/${pr.id}`,
      pull_request_state: 'open',
      pull_request_title: 'Votes',
      pull_request_draft: false,
      approved: true,
      changes_requested: false,
      reviewer_count: 2,
      additions: null,
      deletions: null,
      changed_files: 5,
      commits: 3,
      author_login: 'agent@contoso.com',
      author_avatar_url: null,
      base_branch: 'main',
      head_branch: 'feature/votes',
      requested_reviewers: [
        { kind: 'user', name: 'cy@contoso.com' },
        { kind: 'team', name: '[Platform]\\Platform Team' },
      ],
      head_sha: az.model.head(pr),
      // No branch policy: Azure DevOps runs no checks on this PR.
      checks_state: 'none',
      checks: { passed: 0, failed: 0, pending: 0, skipped: 0, failing: [] },
      // The test merge of the last push is not computed yet.
      merge_state: 'unknown',
      merge_state_reason: 'queued',
      // The votes wrote system threads: no comments of people, nothing to resolve.
      unresolved_threads: 0,
      comments: 0,
    });
    // The branch's PRs, iterations, changes, commits; the target branch's policy configurations
    // (none: no evaluations to read), statuses and threads.
    expect(az.counters.routes).toEqual({
      list_pull_requests: { 200: 1 },
      list_iterations: { 200: 1 },
      get_iteration_changes: { 200: 1 },
      list_pull_request_commits: { 200: 1 },
      list_policy_configurations: { 200: 1 },
      list_pull_request_statuses: { 200: 1 },
      list_pull_request_threads: { 200: 1 },
    });
    az.resetCounters();
    expect(await provider.fetchPull({ repo, number: pr.id }, call)).toEqual({
      ...fields,
      merge_state: 'clean',
      merge_state_reason: 'succeeded',
    });
    expect(az.counters.routes).toEqual({
      get_pull_request: { 200: 1 },
      list_pull_request_statuses: { 200: 1 },
      list_pull_request_threads: { 200: 1 },
    });
    // A vote of -5 (waiting for author) requests changes; a member voting for the group answers it.
    az.model.vote(pr, 'dee@contoso.com', -5, team);
    const after = await provider.fetchPull({ repo, number: pr.id }, { token: JWT });
    expect(after).toMatchObject({ approved: false, changes_requested: true, reviewer_count: 3 });
    expect(after.requested_reviewers).toEqual([{ kind: 'user', name: 'cy@contoso.com' }]);
    expect(az.log.at(-1)?.auth).toBe('bearer');
  });

  it('finds completed and abandoned PRs, prefers an active one, else the newest', async () => {
    const done = az.model.openPull(REPO, { source_branch: 'done' });
    az.model.complete(done);
    expect(await provider.findPullForBranch(repo, 'done', call)).toMatchObject({
      pr_number: done.id,
      pull_request_state: 'merged',
    });
    const first = az.model.openPull(REPO, {
      source_branch: 'again',
      created_at: new Date(Date.now() - 60_000),
    });
    az.model.abandon(first);
    const second = az.model.openPull(REPO, { source_branch: 'again' });
    az.model.abandon(second);
    expect(await provider.findPullForBranch(repo, 'again', call)).toMatchObject({
      pr_number: second.id,
      pull_request_state: 'closed',
    });
    const open = az.model.openPull(REPO, { source_branch: 'again', draft: true, created_at: new Date(0) });
    expect(await provider.findPullForBranch(repo, 'again', call)).toMatchObject({
      pr_number: open.id,
      pull_request_state: 'open',
      pull_request_draft: true,
    });
    expect(await provider.findPullForBranch(repo, 'nothing', call)).toBeNull();
  });

  it('finds a fork’s PR in its parent by source repository', async () => {
    az.model.createRepo('contoso/Sandbox/api-fork', { fork_of: REPO });
    az.model.push('contoso/Sandbox/api-fork', 'fix');
    // The same branch name in the parent itself is another PR, not the fork's.
    az.model.openPull(REPO, { source_branch: 'fix', title: 'Parent fix' });
    const pr = az.model.openPull(REPO, {
      source_branch: 'fix',
      source_repo: 'contoso/Sandbox/api-fork',
      title: 'Fork fix',
    });
    const fork = { owner: 'contoso/Sandbox', name: 'api-fork' };
    expect(await provider.findPullForBranch(fork, 'fix', call)).toMatchObject({
      pr_number: pr.id,
      pull_request_title: 'Fork fix',
      url: `${az.webUrl}/contoso/Platform/_git/api/pullrequest/${pr.id}`,
    });
    expect(await provider.findPullForBranch(repo, 'fix', call)).toMatchObject({
      pull_request_title: 'Parent fix',
    });
  });

  it('pages iteration changes and commits', async () => {
    const pr = az.model.openPull(REPO, { source_branch: 'huge', files: 4500, commits: 1201 });
    az.resetCounters();
    expect(await provider.fetchPull({ repo, number: pr.id }, call)).toMatchObject({
      changed_files: 4500,
      commits: 1201,
    });
    expect(az.count('get_iteration_changes')).toBe(3);
    expect(az.count('list_pull_request_commits')).toBe(3);
  });

  it('checks are the build validations and status policies of the head; a push leaves the old results out', async () => {
    const CHECKED = 'contoso/Platform/checked';
    const checked = { owner: 'contoso/Platform', name: 'checked' };
    az.model.createRepo(CHECKED);
    const ci = az.model.addPolicy(CHECKED, 'build', { settings: { displayName: 'CI' } });
    // An optional build is still CI: it counts, it does not block.
    const lint = az.model.addPolicy(CHECKED, 'build', { blocking: false });
    const gate = az.model.addPolicy(CHECKED, 'status', {
      settings: { statusGenre: 'sonar', statusName: 'quality-gate' },
    });
    az.model.addPolicy(CHECKED, 'minimumReviewers', { settings: { minimumApproverCount: 1 } });
    const pr = az.model.openPull(CHECKED, { source_branch: 'checked' });
    const pull = { repo: checked, number: pr.id };
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'pending',
      checks: { passed: 0, failed: 0, pending: 3, skipped: 0, failing: [] },
      merge_state: 'unknown',
    });
    // "Evaluations - List" is a preview API: asked for as one, for the PR's artifact.
    const asked = az.log.find((l) => l.route === 'list_policy_evaluations')!;
    expect(asked.path).toContain('api-version=7.1-preview.1');
    expect(decodeURIComponent(asked.path)).toContain(
      `artifactId=vstfs:///CodeReview/CodeReviewId/${az.model.repo(CHECKED).project.id}/${pr.id}`,
    );

    const first = az.model.head(pr);
    az.model.build(pr, ci, 'succeeded');
    az.model.build(pr, lint, 'succeeded');
    az.model.postStatus(pr, gate, 'succeeded');
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      head_sha: first,
      checks_state: 'passing',
      checks: { passed: 3, failed: 0, pending: 0, skipped: 0, failing: [] },
      // Mergeable, but the minimum-reviewers policy waits for an approval.
      merge_state: 'blocked',
      merge_state_reason: 'Minimum number of reviewers',
    });
    az.model.vote(pr, 'ann@contoso.com', 10);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ merge_state: 'clean' });

    // A (force-)push: a new head, the builds queued again, the status reset, the merge recomputed.
    az.model.pushToPull(pr);
    const second = az.model.head(pr);
    expect(second).not.toBe(first);
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      head_sha: second,
      checks_state: 'pending',
      checks: { passed: 0, failed: 0, pending: 3 },
      merge_state: 'unknown',
      merge_state_reason: 'queued',
    });
    // A build of the replaced commit reporting late is not the head's: still pending.
    az.model.build(pr, ci, 'succeeded', { commit: first });
    az.model.build(pr, lint, 'running');
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      head_sha: second,
      checks_state: 'pending',
      checks: { passed: 0, pending: 3 },
      merge_state: 'blocked',
      merge_state_reason: 'Build, Status',
    });
    const failed = az.model.build(pr, ci, 'failed', { errors: ['src/app.ts(3,1): error TS2304'] });
    az.model.postStatus(pr, gate, 'succeeded');
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: {
        passed: 1,
        failed: 1,
        pending: 1,
        failing: [{ name: 'CI', url: `${az.webUrl}/contoso/Platform/_build/results?buildId=${failed.id}` }],
      },
    });
    // A broken policy fails; one that does not apply is skipped.
    az.model.build(pr, lint, 'succeeded');
    az.model.setEvaluation(pr, gate, 'notApplicable');
    az.model.setEvaluation(pr, ci, 'broken');
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      // The gate no longer applies (Azure DevOps leaves it out of the evaluations), but the
      // status posted for it still stands on the PR: a check of its own, passed.
      checks: { passed: 2, failed: 1, pending: 0, skipped: 0 },
    });
    expect(az.counters.unexpected).toEqual([]);
  });

  it('approved needs the reviewer policies Azure DevOps evaluates: one approval with suggestions is not two', async () => {
    const RULED = 'contoso/Platform/ruled';
    const ruled = { owner: 'contoso/Platform', name: 'ruled' };
    az.model.createRepo(RULED);
    az.model.addPolicy(RULED, 'minimumReviewers', { settings: { minimumApproverCount: 2 } });
    const pr = az.model.openPull(RULED, { source_branch: 'ruled', author: 'agent@contoso.com' });
    const pull = { repo: ruled, number: pr.id };
    // The test merge computed (the first read finds it queued).
    await provider.fetchPull(pull, call);
    // "Approved with suggestions" by one person: Azure DevOps will not let this PR complete.
    az.model.vote(pr, 'bo@contoso.com', 5);
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      approved: false,
      reviewer_count: 1,
      merge_state_reason: 'Minimum number of reviewers',
    });
    // The author's own approval does not count (`creatorVoteCounts` false).
    az.model.vote(pr, 'agent@contoso.com', 10);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ approved: false });
    az.model.vote(pr, 'ann@contoso.com', 10);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ approved: true, merge_state: 'clean' });
    // "Reset all approval votes" on a push: nobody's approval stands any more.
    const reset = az.model.addPolicy(RULED, 'minimumReviewers', {
      settings: { minimumApproverCount: 1, resetOnSourcePush: true },
    });
    az.model.pushToPull(pr);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ approved: false, reviewer_count: 0 });
    reset.isEnabled = false;

    // Required reviewers: a group must approve; a person approving for themselves does not answer it.
    const REQ = 'contoso/Platform/required';
    const required = { owner: 'contoso/Platform', name: 'required' };
    az.model.createRepo(REQ);
    const team = az.model.group('[Platform]\\Security');
    az.model.addPolicy(REQ, 'requiredReviewers', { settings: { requiredReviewerIds: [team.id] } });
    const guarded = az.model.openPull(REQ, { source_branch: 'guarded' });
    const guardedPull = { repo: required, number: guarded.id };
    az.model.addReviewer(guarded, team, { required: true });
    await provider.fetchPull(guardedPull, call);
    az.model.vote(guarded, 'ann@contoso.com', 10);
    expect(await provider.fetchPull(guardedPull, call)).toMatchObject({
      approved: false,
      merge_state_reason: 'Required reviewers',
    });
    az.model.vote(guarded, 'sec@contoso.com', 5, team);
    expect(await provider.fetchPull(guardedPull, call)).toMatchObject({ approved: true });

    // An optional (non-blocking) policy does not hold the PR: the votes decide.
    const LAX = 'contoso/Platform/lax';
    az.model.createRepo(LAX);
    az.model.addPolicy(LAX, 'minimumReviewers', { blocking: false, settings: { minimumApproverCount: 3 } });
    const lax = az.model.openPull(LAX, { source_branch: 'lax' });
    az.model.vote(lax, 'ann@contoso.com', 5);
    expect(
      await provider.fetchPull({ repo: { owner: 'contoso/Platform', name: 'lax' }, number: lax.id }, call),
    ).toMatchObject({ approved: true });

    // A policy that lets downvotes through is fulfilled, but a standing rejection still means not approved.
    const DOWN = 'contoso/Platform/downvotes';
    az.model.createRepo(DOWN);
    az.model.addPolicy(DOWN, 'minimumReviewers', {
      settings: { minimumApproverCount: 1, allowDownvotes: true },
    });
    const down = az.model.openPull(DOWN, { source_branch: 'down' });
    az.model.vote(down, 'ann@contoso.com', 10);
    az.model.vote(down, 'kim@contoso.com', -10);
    const downPull = { repo: { owner: 'contoso/Platform', name: 'downvotes' }, number: down.id };
    await provider.fetchPull(downPull, call);
    // Nothing blocks: the policy is fulfilled despite the rejection.
    expect(await provider.fetchPull(downPull, call)).toMatchObject({
      approved: false,
      changes_requested: true,
      merge_state: 'clean',
    });
  });

  it('statuses posted on the PR without any policy are checks: the latest per context, an older iteration’s pending', async () => {
    const { clock, provider } = withOwnClock();
    const FREE = 'contoso/Platform/free';
    const free = { owner: 'contoso/Platform', name: 'free' };
    az.model.createRepo(FREE);
    const pr = az.model.openPull(FREE, { source_branch: 'free' });
    const pull = { repo: free, number: pr.id };
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'none' });
    // The test merge computed: the PR answer no longer moves.
    await provider.fetchPull(pull, call);
    az.model.postPullStatus(pr, { genre: 'jenkins', name: 'build', state: 'pending', iteration: 'head' });
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'pending',
      checks: { passed: 0, failed: 0, pending: 1, skipped: 0 },
    });
    // Read when the evaluations would be — while checks run — and, no policy applying to the
    // branch, in their place.
    expect(az.counters.routes).toEqual({
      get_pull_request: { 200: 1 },
      list_pull_request_statuses: { 200: 1 },
    });
    // A new status of the same context replaces the shown one.
    az.model.postPullStatus(pr, { genre: 'jenkins', name: 'build', state: 'succeeded', iteration: 'head' });
    az.model.postPullStatus(pr, {
      genre: 'sonarcloud',
      name: 'quality-gate',
      state: 'failed',
      target_url: 'https://sonarcloud.io/dashboard?id=free',
      description: 'Quality gate failed: 2 new bugs',
    });
    az.model.postPullStatus(pr, { name: 'docs', state: 'notApplicable' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: {
        passed: 1,
        failed: 1,
        pending: 0,
        skipped: 1,
        failing: [{ name: 'sonarcloud/quality-gate', url: 'https://sonarcloud.io/dashboard?id=free' }],
      },
    });
    expect((await provider.fetchFeedback(pull, call)).failing_checks).toEqual([
      {
        name: 'sonarcloud/quality-gate',
        url: 'https://sonarcloud.io/dashboard?id=free',
        summary: 'Quality gate failed: 2 new bugs',
      },
    ]);
    // A push: Jenkins' status was for the replaced iteration — not the head's, pending until it posts
    // again; SonarCloud's was posted on the PR itself and stands.
    az.model.pushToPull(pr);
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: { passed: 0, failed: 1, pending: 1, skipped: 1 },
    });
    az.model.postPullStatus(pr, { genre: 'jenkins', name: 'build', state: 'error', iteration: 'head' });
    az.model.postPullStatus(pr, { genre: 'sonarcloud', name: 'quality-gate', state: 'succeeded' });
    clock.advance(CHECKS_SETTLE_MS);
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: { passed: 1, failed: 1, pending: 0, failing: [{ name: 'jenkins/build', url: null }] },
    });
    // Another push: Jenkins' failure was the replaced iteration's. Feedback from a replica that
    // never read the PR's sizes asks for its iterations to tell.
    az.model.pushToPull(pr);
    const other = withOwnClock().provider;
    az.resetCounters();
    expect((await other.fetchFeedback(pull, call)).failing_checks).toEqual([]);
    expect(az.count('list_iterations')).toBe(1);
  });

  it('a branch without policies: its statuses read in place of the evaluations, so an unchanged PR costs what it did before statuses were read', async () => {
    const { clock, provider } = withOwnClock();
    const BARE = 'contoso/Platform/bare';
    const bare = { owner: 'contoso/Platform', name: 'bare' };
    az.model.createRepo(BARE);
    const pr = az.model.openPull(BARE, { source_branch: 'bare-1' });
    const other = az.model.openPull(BARE, { source_branch: 'bare-2' });
    const pull = { repo: bare, number: pr.id };
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'none' });
    expect(await provider.fetchPull({ repo: bare, number: other.id }, call)).toMatchObject({
      checks_state: 'none',
    });
    // Which policies apply to the target branch is asked once for the branch, not per PR
    // ("Policy Configurations - Get"): none, so no PR's evaluations are read.
    expect(az.count('list_policy_configurations')).toBe(1);
    expect(az.count('list_policy_evaluations')).toBe(0);
    const asked = az.log.find((l) => l.route === 'list_policy_configurations')!;
    expect(decodeURIComponent(asked.path)).toContain(
      `repositoryId=${az.model.repo(BARE).id}&refName=refs/heads/main`,
    );
    // The test merge computed: the PR answer no longer moves. Within ten minutes of a new head
    // the checks are read on every refresh: the PR and its statuses, two requests — what the PR
    // and its evaluations cost before statuses were read.
    await provider.fetchPull(pull, call);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'none' });
    expect(az.counters.routes).toEqual({
      get_pull_request: { 200: 1 },
      list_pull_request_statuses: { 200: 1 },
    });
    // A status posted after the push shows within the settling window.
    az.model.postPullStatus(pr, { genre: 'ci', name: 'unit', state: 'failed', iteration: 'head' });
    clock.advance(CHECKS_SETTLE_MS / 2);
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: { failed: 1, failing: [{ name: 'ci/unit' }] },
    });
    // A policy configured since is seen once the hour is up: the branch is asked again, and the
    // evaluations are read from then on.
    const ci = az.model.addPolicy(BARE, 'build', { settings: { displayName: 'CI' } });
    az.model.build(pr, ci, 'failed');
    clock.advance(READS_MAX_AGE_MS);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: { failed: 2 },
      merge_state: 'blocked',
      merge_state_reason: 'Build',
    });
    expect(az.count('list_policy_configurations')).toBe(1);
    expect(az.count('list_policy_evaluations')).toBe(1);
    // Another target branch is asked of its own: policies on `release` are read at once.
    az.model.push(BARE, 'release');
    az.model.addPolicy(BARE, 'status', {
      branch: 'release',
      settings: { statusGenre: 'sonar', statusName: 'gate' },
    });
    const released = az.model.openPull(BARE, { source_branch: 'bare-3', target_branch: 'release' });
    expect(await provider.fetchPull({ repo: bare, number: released.id }, call)).toMatchObject({
      checks_state: 'pending',
      checks: { pending: 1 },
    });
    expect(az.count('list_policy_configurations')).toBe(2);
  });

  it('policy configurations the token may not read: the evaluations are read, as if policies applied', async () => {
    const { provider } = withOwnClock();
    const SHUT = 'contoso/Platform/shut';
    az.model.createRepo(SHUT);
    const ci = az.model.addPolicy(SHUT, 'build', { settings: { displayName: 'CI' } });
    const pr = az.model.openPull(SHUT, { source_branch: 'shut' });
    az.model.build(pr, ci, 'succeeded');
    az.resetCounters();
    az.addFaults({ kind: 'status', status: 403, match: 'policy/configurations' });
    expect(
      await provider.fetchPull({ repo: { owner: 'contoso/Platform', name: 'shut' }, number: pr.id }, call),
    ).toMatchObject({
      checks_state: 'passing',
    });
    expect(az.count('list_policy_evaluations')).toBe(1);
  });

  it('a status a status policy requires is one check, not two', async () => {
    const GATED = 'contoso/Platform/gated';
    const gated = { owner: 'contoso/Platform', name: 'gated' };
    az.model.createRepo(GATED);
    const gate = az.model.addPolicy(GATED, 'status', {
      settings: { statusGenre: 'sonar', statusName: 'gate', defaultDisplayName: 'Quality gate' },
    });
    const pr = az.model.openPull(GATED, { source_branch: 'gated' });
    az.model.postStatus(pr, gate, 'succeeded');
    az.model.postPullStatus(pr, { genre: 'ci', name: 'unit', state: 'succeeded' });
    expect(await provider.fetchPull({ repo: gated, number: pr.id }, call)).toMatchObject({
      checks_state: 'passing',
      checks: { passed: 2, failed: 0, pending: 0 },
    });
  });

  it('an expired build validation is a failed check that must be queued again, never pending', async () => {
    const OLD = 'contoso/Platform/expiring';
    const expiring = { owner: 'contoso/Platform', name: 'expiring' };
    az.model.createRepo(OLD);
    const ci = az.model.addPolicy(OLD, 'build', { settings: { displayName: 'CI' } });
    const pr = az.model.openPull(OLD, { source_branch: 'expiring' });
    const pull = { repo: expiring, number: pr.id };
    const build = az.model.build(pr, ci, 'succeeded');
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
    // The target branch moved past the build's expiration: nothing runs until someone queues it.
    az.model.expireBuild(pr, ci);
    pr.targetCommit = az.model.push(OLD, 'main');
    const url = `${az.webUrl}/contoso/Platform/_build/results?buildId=${build.id}`;
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      checks: { passed: 0, failed: 1, pending: 0, failing: [{ name: 'CI', url }] },
      merge_state: 'blocked',
      merge_state_reason: 'Build',
    });
    expect((await provider.fetchFeedback(pull, call)).failing_checks).toEqual([
      {
        name: 'CI',
        url,
        summary: 'The build expired: queue it again to run it on the current target branch.',
      },
    ]);
    // Queued again and green: passing.
    az.model.build(pr, ci, 'succeeded');
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
  });

  it('a PR completed with its source branch deleted is still found by its branch, and shows it', async () => {
    const pr = az.model.openPull(REPO, { source_branch: 'feature/gone' });
    az.model.complete(pr, { delete_source_branch: true });
    expect(az.model.repo(REPO).branches.has('feature/gone')).toBe(false);
    expect(await provider.findPullForBranch(repo, 'feature/gone', call)).toMatchObject({
      pr_number: pr.id,
      pull_request_state: 'merged',
      head_branch: 'feature/gone',
      head_sha: az.model.head(pr),
    });
  });

  it('merge state: computed lazily, conflicts, blocked by Azure DevOps, draft; nothing extra read for a closed PR', async () => {
    const pr = az.model.openPull(REPO, { source_branch: 'merging' });
    const pull = { repo, number: pr.id };
    const state = async () => {
      const f = await provider.fetchPull(pull, call);
      return [f.merge_state, f.merge_state_reason];
    };
    expect(await state()).toEqual(['unknown', 'queued']);
    expect(await state()).toEqual(['clean', 'succeeded']);
    az.model.setConflicts(pr, true);
    expect(await state()).toEqual(['unknown', 'queued']);
    expect(await state()).toEqual(['conflicting', 'conflicts']);
    az.model.setMergeStatus(pr, 'notSet');
    expect(await state()).toEqual(['unknown', 'notSet']);
    az.model.setMergeStatus(pr, 'rejectedByPolicy');
    expect(await state()).toEqual(['blocked', 'rejectedByPolicy']);
    az.model.setMergeStatus(pr, 'failure');
    expect(await state()).toEqual(['blocked', 'failure']);
    pr.isDraft = true;
    expect(await state()).toEqual(['draft', 'failure']);
    pr.isDraft = false;
    az.model.setConflicts(pr, false);
    await state();
    az.model.complete(pr);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      pull_request_state: 'merged',
      head_sha: az.model.head(pr),
      checks_state: null,
      checks: null,
      merge_state: null,
      merge_state_reason: null,
      unresolved_threads: null,
      comments: null,
    });
    expect(az.counters.total).toBe(1);
  });

  it('counts open threads and people’s comments, leaving out system, resolved and deleted ones', async () => {
    const { clock, provider } = withOwnClock();
    const pr = az.model.openPull(REPO, { source_branch: 'threads' });
    const pull = { repo, number: pr.id };
    az.model.vote(pr, 'ann@contoso.com', 5);
    az.model.pushToPull(pr);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 0, comments: 0 });
    const onLine = az.model.comment(pr, {
      author: 'ann@contoso.com',
      content: 'Name this better',
      path: '/src/app.ts',
      line: 12,
    });
    az.model.reply(onLine, 'agent@contoso.com', 'Will do');
    az.model.comment(pr, { author: 'bo@contoso.com', content: 'Still thinking', status: 'pending' });
    const fixed = az.model.comment(pr, { author: 'bo@contoso.com', content: 'Typo' });
    az.model.setThreadStatus(fixed, 'fixed');
    const gone = az.model.comment(pr, { author: 'bo@contoso.com', content: 'Oops' });
    az.model.deleteComment(gone, 1);
    az.model.comment(pr, { author: 'cy@contoso.com', content: 'Looks fine', status: 'closed' });
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 2, comments: 5 });
    // Resolving a thread changes nothing in the PR: the counts read are kept until the hour is up.
    az.model.setThreadStatus(onLine, 'wontFix');
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 2, comments: 5 });
    clock.advance(READS_MAX_AGE_MS);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 1, comments: 5 });
  });

  it('keeps settled checks and thread counts per PR: an unchanged open PR costs its one read, fields identical to a fresh read', async () => {
    const { clock, provider } = withOwnClock();
    const KEPT = 'contoso/Platform/kept';
    const kept = { owner: 'contoso/Platform', name: 'kept' };
    az.model.createRepo(KEPT);
    const ci = az.model.addPolicy(KEPT, 'build', { settings: { displayName: 'CI' } });
    az.model.addPolicy(KEPT, 'minimumReviewers', { settings: { minimumApproverCount: 1 } });
    const pr = az.model.openPull(KEPT, { source_branch: 'kept' });
    const pull = { repo: kept, number: pr.id };
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'pending' });
    az.model.build(pr, ci, 'succeeded');
    clock.advance(CHECKS_SETTLE_MS / 2);
    const fresh = await provider.fetchPull(pull, call);
    expect(fresh).toMatchObject({
      checks_state: 'passing',
      merge_state: 'blocked',
      merge_state_reason: 'Minimum number of reviewers',
      unresolved_threads: 0,
    });
    // Checks are read on every refresh until they have read the same for ten minutes; the thread
    // counts are kept while nothing in the PR moves.
    clock.advance(CHECKS_SETTLE_MS / 2);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toEqual(fresh);
    expect(az.counters.routes).toEqual({
      get_pull_request: { 200: 1 },
      list_policy_evaluations: { 200: 1 },
      list_pull_request_statuses: { 200: 1 },
    });
    clock.advance(CHECKS_SETTLE_MS / 2);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toEqual(fresh);
    expect(az.counters.routes).toEqual({ get_pull_request: { 200: 1 } });
    // A vote moves what the PR shows: both read again (reviewer policies follow the votes).
    az.model.vote(pr, 'ann@contoso.com', 10);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ approved: true, merge_state: 'clean' });
    expect(az.counters.total).toBe(4);
    // A comment moves nothing in the PR: kept, until the "commented on" service hook reaches this replica.
    az.model.comment(pr, { author: 'bo@contoso.com', content: 'Why?' });
    clock.advance(CHECKS_SETTLE_MS);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 0, comments: 0 });
    expect(az.counters.total).toBe(1);
    const hook = new HookPayloads(az).pullRequestComment(pr, 'Why?', 'bo@contoso.com');
    expect(provider.webhooks.staleRefs(() => undefined, hook)).toEqual([
      {
        origin: provider.repoUrl(kept),
        branch: 'kept',
        url: provider.buildPullUrl(pull),
      },
    ]);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ unresolved_threads: 1, comments: 1 });
    expect(az.counters.total).toBe(5);
    // A build re-run on the same commit moves nothing either: seen once the hour is up.
    az.model.build(pr, ci, 'failed');
    clock.advance(READS_MAX_AGE_MS - 1);
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'passing' });
    clock.advance(1);
    expect(await provider.fetchPull(pull, call)).toMatchObject({
      checks_state: 'failing',
      merge_state: 'blocked',
    });
    // A push: a new head, everything read again, and checks read on every refresh while pending.
    az.model.pushToPull(pr);
    az.resetCounters();
    expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'pending' });
    expect(az.count('list_policy_evaluations')).toBe(1);
    expect(az.count('list_pull_request_threads')).toBe(1);
    await provider.fetchPull(pull, call);
    for (let i = 0; i < 3; i++) {
      clock.advance(CHECKS_SETTLE_MS);
      az.resetCounters();
      expect(await provider.fetchPull(pull, call)).toMatchObject({ checks_state: 'pending' });
      expect(az.counters.routes).toEqual({
        get_pull_request: { 200: 1 },
        list_policy_evaluations: { 200: 1 },
        list_pull_request_statuses: { 200: 1 },
      });
    }
  });

  it('fetchPulls: unchanged PRs cost one list read per project; a rename, a push, a vote, a completion are seen', async () => {
    const { clock, provider } = withOwnClock();
    const paths = ['contoso/Platform/batch-a', 'contoso/Platform/batch-b'];
    for (const path of paths) az.model.createRepo(path);
    const prs = paths.flatMap((path) =>
      Array.from({ length: 4 }, (_, i) =>
        az.model.openPull(path, { source_branch: `b${i}`, title: `PR ${i}` }),
      ),
    );
    const refOf = (pr: (typeof prs)[number]) => ({
      repo: { owner: 'contoso/Platform', name: pr.repo.name },
      number: pr.id,
    });
    const pulls = prs.map(refOf);
    // The ref shows what was read at `shownSince` (the engine's refreshed_at of its last refresh).
    const asked = () => pulls.map((p) => ({ ...p, shownSince: clock.now() }));
    const first = await provider.fetchPulls(asked(), call);
    for (const pr of prs)
      expect(first.get(pullKey(refOf(pr)))).toMatchObject({ pr_number: pr.id, merge_state: 'unknown' });
    // The test merge, queued after each push, is computed by then: the list shows it, a full read follows.
    const second = await provider.fetchPulls(asked(), call);
    for (const pr of prs) expect(second.get(pullKey(refOf(pr)))).toMatchObject({ merge_state: 'clean' });
    // Checks (here posted statuses: no policies) must read the same for ten minutes before they are kept.
    clock.advance(CHECKS_SETTLE_MS);
    az.resetCounters();
    let got = await provider.fetchPulls(asked(), call);
    expect([...got.values()]).toEqual(prs.map(() => PULL_UNCHANGED));
    expect(az.counters.routes).toEqual({ list_project_pull_requests: { 200: 1 } });
    // Unchanged again: still one list read for the project, whatever the number of PRs and repositories.
    clock.advance(120_000);
    az.resetCounters();
    got = await provider.fetchPulls(asked(), call);
    expect([...got.values()]).toEqual(prs.map(() => PULL_UNCHANGED));
    expect(az.counters.total).toBe(1);
    // A ref showing an older read than this provider's last one is not told "unchanged".
    clock.advance(120_000);
    got = await provider.fetchPulls(
      pulls.map((p) => ({ ...p, shownSince: new Date(0) })),
      call,
    );
    expect(got.get(pullKey(pulls[0]!))).toMatchObject({ pr_number: prs[0]!.id });
    // A rename, a push, a vote and a completion: each seen; the others unchanged.
    const [renamed, pushed, voted, completed] = prs as [
      (typeof prs)[number],
      (typeof prs)[number],
      (typeof prs)[number],
      (typeof prs)[number],
    ];
    renamed.title = 'Renamed';
    const iteration = az.model.pushToPull(pushed);
    az.model.vote(voted, 'ann@contoso.com', 10);
    az.model.complete(completed);
    clock.advance(120_000);
    az.resetCounters();
    got = await provider.fetchPulls(asked(), call);
    expect(got.get(pullKey(refOf(renamed)))).toMatchObject({ pull_request_title: 'Renamed' });
    expect(got.get(pullKey(refOf(pushed)))).toMatchObject({ head_sha: iteration.sourceCommit });
    expect(got.get(pullKey(refOf(voted)))).toMatchObject({ approved: true, reviewer_count: 1 });
    expect(got.get(pullKey(refOf(completed)))).toMatchObject({ pull_request_state: 'merged' });
    for (const pr of prs.slice(4)) expect(got.get(pullKey(refOf(pr)))).toBe(PULL_UNCHANGED);
    // The changed PRs' fields come from their list items; only the completed one (no longer
    // listed as active) is read on its own.
    expect(az.count('list_project_pull_requests')).toBe(1);
    expect(az.count('list_pull_requests')).toBe(0);
    expect(az.count('get_pull_request')).toBe(1);
    // What fetchPulls answered is what fetchPull answers.
    expect(got.get(pullKey(refOf(renamed)))).toEqual(await provider.fetchPull(refOf(renamed), call));
  });

  it('fetchPulls: a build re-run on a settled head is not seen by a plain refresh within the hour; a fresh read sees it, and a comment', async () => {
    const { clock, provider } = withOwnClock();
    const PATH = 'contoso/Platform/rerun';
    az.model.createRepo(PATH);
    const ci = az.model.addPolicy(PATH, 'build', { settings: { displayName: 'CI' } });
    const pr = az.model.openPull(PATH, { source_branch: 'rerun' });
    const other = az.model.openPull(PATH, { source_branch: 'other' });
    az.model.build(pr, ci, 'succeeded');
    az.model.build(other, ci, 'succeeded');
    const pull = { repo: { owner: 'contoso/Platform', name: 'rerun' }, number: pr.id };
    const pulls = [pull, { ...pull, number: other.id }];
    const asked = () => pulls.map((p) => ({ ...p, shownSince: clock.now() }));
    await provider.fetchPulls(asked(), call);
    await provider.fetchPulls(asked(), call);
    clock.advance(CHECKS_SETTLE_MS);
    expect([...(await provider.fetchPulls(asked(), call)).values()]).toEqual([
      PULL_UNCHANGED,
      PULL_UNCHANGED,
    ]);
    // Re-run on the same commit: nothing in the PR moves.
    az.model.build(pr, ci, 'failed');
    az.model.comment(pr, { author: 'bo@contoso.com', content: 'Why?' });
    clock.advance(120_000);
    expect((await provider.fetchPulls(asked(), call)).get(pullKey(pull))).toBe(PULL_UNCHANGED);
    // A signal asked for it: nothing kept answers, the checks and threads are read.
    az.resetCounters();
    const fresh = await provider.fetchPulls(
      [{ ...pull, shownSince: clock.now(), fresh: true }, asked()[1]!],
      call,
    );
    expect(fresh.get(pullKey(pull))).toMatchObject({
      checks_state: 'failing',
      unresolved_threads: 1,
      comments: 1,
    });
    expect(fresh.get(pullKey(pulls[1]!))).toBe(PULL_UNCHANGED);
    expect(az.count('get_pull_request')).toBe(1);
    expect(az.count('list_policy_evaluations')).toBe(1);
    expect(az.count('list_pull_request_threads')).toBe(1);
    // fetchPull honours it the same way: the checks and threads are read, whatever is kept.
    clock.advance(CHECKS_SETTLE_MS);
    az.resetCounters();
    expect(await provider.fetchPull({ ...pull, fresh: true }, call)).toMatchObject({
      checks_state: 'failing',
    });
    expect(az.counters.total).toBe(4);
    // Within the hour a plain refresh sees nothing else moved; past it, everything is read again.
    clock.advance(READS_MAX_AGE_MS);
    az.resetCounters();
    const later = await provider.fetchPulls(asked(), call);
    expect(later.get(pullKey(pulls[1]!))).toMatchObject({ checks_state: 'passing' });
    expect(az.count('list_pull_request_threads')).toBe(2);
  });

  it("fetchPulls: PRs beyond the project's pages are looked for in their repository's; beyond those, or of a repository or project gone, they answer as their own reads would", async () => {
    const { provider } = withOwnClock();
    const CROWDED = 'contoso/Crowded/crowded';
    az.model.createRepo(CROWDED);
    az.model.createRepo('contoso/Crowded/busy');
    const oldest = az.model.openPull(CROWDED, { source_branch: 'oldest' });
    const older = az.model.openPull(CROWDED, { source_branch: 'older' });
    for (let i = 0; i < 5 * 100 - 1; i++) az.model.openPull(CROWDED, { source_branch: `n${i}` });
    // The project's newest 1,000 (ten pages): these and all but the two oldest of `crowded`.
    for (let i = 0; i < 5 * 100 + 1; i++)
      az.model.openPull('contoso/Crowded/busy', { source_branch: `n${i}` });
    const repo = { owner: 'contoso/Crowded', name: 'crowded' };
    const gone = { repo: { owner: 'contoso/Crowded', name: 'gone' }, number: oldest.id - 1 };
    const noProject = { repo: { owner: 'contoso/Gone', name: 'crowded' }, number: 1 };
    az.resetCounters();
    const got = await provider.fetchPulls(
      [{ repo, number: oldest.id }, { repo, number: older.id }, { repo, number: 999_999 }, gone, noProject],
      call,
    );
    expect(got.get(pullKey({ repo, number: oldest.id }))).toMatchObject({ pr_number: oldest.id });
    expect(got.get(pullKey({ repo, number: older.id }))).toMatchObject({ pr_number: older.id });
    expect(got.get(pullKey({ repo, number: 999_999 }))).toBeInstanceOf(NotFoundError);
    expect(got.get(pullKey(gone))).toBeInstanceOf(NotFoundError);
    expect(got.get(pullKey(noProject))).toBeInstanceOf(NotFoundError);
    // Ten pages of the project's (and the missing project's one, then its repository's), five of
    // `crowded`'s — `older` is on its fifth — and the missing repository's; then `oldest` on its
    // own, and the id no PR has (above the lowest listed: not active) on its own too.
    expect(az.counters.routes.list_project_pull_requests).toEqual({ 200: 10, 404: 1 });
    expect(az.counters.routes.list_pull_requests).toEqual({ 200: 5, 404: 2 });
    expect(az.counters.routes.get_pull_request).toEqual({ 200: 1, 404: 1 });
    // A rate limit fails the whole call (the engine pauses the token), and nothing more is sent.
    az.addFaults({ kind: 'rate_limit', reset_in_s: 60, match: 'pullrequests\\?' });
    az.resetCounters();
    await expect(
      withOwnClock().provider.fetchPulls(
        [
          { repo, number: oldest.id },
          { repo, number: oldest.id + 1 },
        ],
        call,
      ),
    ).rejects.toBeInstanceOf(RateLimitedError);
    expect(az.counters.total).toBe(1);
  });

  it('fetchPulls: 2 PRs in each of many repositories of a project cost one list read a round; a change in one is seen; two projects, two lists', async () => {
    const { clock, provider } = withOwnClock();
    const repos = Array.from({ length: 12 }, (_, r) => `contoso/Wide/repo${r}`);
    for (const path of repos) az.model.createRepo(path);
    az.model.createRepo('contoso/Narrow/one');
    const prs = repos.flatMap((path) =>
      [0, 1].map((i) =>
        az.model.openPull(path, {
          source_branch: `w${i}`,
          // Lists cut a description to 400 characters: no field shows it, nothing reads it as a change.
          description: `${'A long description. '.repeat(40)}${path}`,
        }),
      ),
    );
    const narrow = az.model.openPull('contoso/Narrow/one', { source_branch: 'n' });
    const refOf = (pr: (typeof prs)[number]) => ({
      repo: { owner: `contoso/${pr.repo.project.name}`, name: pr.repo.name },
      number: pr.id,
    });
    const asked = (list: readonly (typeof prs)[number][]) =>
      list.map((pr) => ({ ...refOf(pr), shownSince: clock.now() }));
    // First sight, then the computed test merges: made from the list items.
    await provider.fetchPulls(asked(prs), call);
    await provider.fetchPulls(asked(prs), call);
    clock.advance(CHECKS_SETTLE_MS);
    // A round read in two calls side by side (the engine's batches): one list read between them.
    az.resetCounters();
    const [a, b] = await Promise.all([
      provider.fetchPulls(asked(prs.slice(0, 10)), call),
      provider.fetchPulls(asked(prs.slice(10)), call),
    ]);
    expect([...a.values(), ...b.values()]).toEqual(prs.map(() => PULL_UNCHANGED));
    expect(az.counters.routes).toEqual({ list_project_pull_requests: { 200: 1 } });
    // The next round: one list read again, whatever the number of repositories.
    clock.advance(120_000);
    az.resetCounters();
    let got = await provider.fetchPulls(asked(prs), call);
    expect([...got.values()]).toEqual(prs.map(() => PULL_UNCHANGED));
    expect(az.counters.total).toBe(1);
    // A vote in one repository: that PR made from its item, the others unchanged.
    const voted = prs[7]!;
    az.model.vote(voted, 'ann@contoso.com', 10);
    clock.advance(120_000);
    az.resetCounters();
    got = await provider.fetchPulls(asked(prs), call);
    expect(got.get(pullKey(refOf(voted)))).toMatchObject({ approved: true, reviewer_count: 1 });
    for (const pr of prs.filter((p) => p !== voted)) expect(got.get(pullKey(refOf(pr)))).toBe(PULL_UNCHANGED);
    expect(az.count('list_project_pull_requests')).toBe(1);
    expect(az.count('list_pull_requests')).toBe(0);
    expect(az.count('get_pull_request')).toBe(0);
    // The same fields as a read of the PR alone, whose description is whole.
    expect(got.get(pullKey(refOf(voted)))).toEqual(await provider.fetchPull(refOf(voted), call));
    // PRs of two projects: a list read for each.
    clock.advance(120_000);
    az.resetCounters();
    got = await provider.fetchPulls([...asked(prs), ...asked([narrow])], call);
    expect(got.get(pullKey(refOf(narrow)))).toMatchObject({ pr_number: narrow.id });
    expect(az.count('list_project_pull_requests')).toBe(2);
    expect(
      az.log.filter((l) => l.route === 'list_project_pull_requests').map((l) => l.path.split('?')[0]),
    ).toEqual(
      expect.arrayContaining([
        '/contoso/Wide/_apis/git/pullrequests',
        '/contoso/Narrow/_apis/git/pullrequests',
      ]),
    );
  });

  it('the PR of a branch without an active one is the highest id, not the one created or closed last', async () => {
    const lower = az.model.openPull(REPO, { source_branch: 'ids', created_at: new Date() });
    const higher = az.model.openPull(REPO, {
      source_branch: 'ids',
      created_at: new Date(Date.now() - 3_600_000),
    });
    az.model.abandon(higher);
    az.model.complete(lower);
    expect(higher.id).toBeGreaterThan(lower.id);
    expect(await provider.findPullForBranch(repo, 'ids', call)).toMatchObject({
      pr_number: higher.id,
      pull_request_state: 'closed',
    });
  });

  it('budget: what Azure DevOps says is in TSTUs, nothing charged there; each request is counted apart', async () => {
    const { provider } = withOwnClock();
    const pr = az.model.openPull(REPO, { source_branch: 'budgeted' });
    const pull = { repo, number: pr.id };
    const seen: BudgetObservation[] = [];
    const metered = { token: PAT, onBudget: (o: BudgetObservation) => seen.push(o) };
    az.resetCounters();
    await provider.fetchPull(pull, metered);
    expect(seen.filter((o) => o.scope === REQUESTS_SCOPE).map((o) => o.charged)).toEqual(
      Array.from({ length: az.counters.total }, () => 1),
    );
    expect(seen.filter((o) => o.scope === '').every((o) => o.charged === 0)).toBe(true);
    expect(seen.every((o) => o.scope === '' || o.scope === REQUESTS_SCOPE)).toBe(true);
    // Throttled: its X-RateLimit-* numbers (TSTUs) are told as they are, in the token's one budget.
    az.addFaults({ kind: 'throttle', reset_in_s: 60, times: 1 });
    seen.length = 0;
    await provider.fetchPull(pull, metered).catch(() => {});
    expect(seen).toContainEqual({
      scope: '',
      limit: 10_000,
      remaining: 0,
      reset_at: expect.any(Date),
      charged: 0,
    });
    expect(seen.filter((o) => o.limit !== null).every((o) => o.scope === '')).toBe(true);
  });

  it('feedback: failing checks with their errors, open threads by their first comment, who asks for changes', async () => {
    const FED = 'contoso/Platform/fed';
    const fed = { owner: 'contoso/Platform', name: 'fed' };
    az.model.createRepo(FED);
    const ci = az.model.addPolicy(FED, 'build', { settings: { displayName: 'CI' } });
    const gate = az.model.addPolicy(FED, 'status', {
      settings: { statusGenre: 'sonar', statusName: 'quality-gate', defaultDisplayName: 'Quality gate' },
    });
    const pr = az.model.openPull(FED, { source_branch: 'fed' });
    const pull = { repo: fed, number: pr.id };
    const build = az.model.build(pr, ci, 'failed', {
      errors: ['src/app.ts(3,1): error TS2304: Cannot find name', 'Process exited with code 2'],
    });
    az.model.postStatus(pr, gate, 'failed');
    az.model.vote(pr, 'kim@contoso.com', -10);
    az.model.vote(pr, 'dee@contoso.com', -5);
    az.model.vote(pr, 'ann@contoso.com', 10);
    const onLine = az.model.comment(pr, {
      author: 'kim@contoso.com',
      content: 'This leaks',
      path: '/src/app.ts',
      line: 7,
    });
    az.model.reply(onLine, 'agent@contoso.com', 'Fixing');
    const removed = az.model.comment(pr, {
      author: 'dee@contoso.com',
      content: 'Why drop this?',
      path: '/src/old.ts',
      line: 3,
      side: 'left',
    });
    az.model.setThreadStatus(az.model.comment(pr, { author: 'ann@contoso.com', content: 'Done' }), 'fixed');
    az.resetCounters();
    const prUrl = provider.buildPullUrl(pull);
    expect(await provider.fetchFeedback(pull, call)).toEqual({
      failing_checks: [
        {
          name: 'CI',
          url: `${az.webUrl}/contoso/Platform/_build/results?buildId=${build.id}`,
          summary: 'src/app.ts(3,1): error TS2304: Cannot find name\nProcess exited with code 2',
        },
        { name: 'Quality gate', url: null, summary: null },
      ],
      unresolved_threads: [
        {
          path: '/src/app.ts',
          line: 7,
          author: 'kim@contoso.com',
          // Not told by this host (docs, "Feedback").
          author_association: null,
          trusted: null,
          body: 'This leaks',
          url: `${prUrl}?discussionId=${onLine.id}`,
        },
        {
          path: '/src/old.ts',
          line: 3,
          author: 'dee@contoso.com',
          // Not told by this host (docs, "Feedback").
          author_association: null,
          trusted: null,
          body: 'Why drop this?',
          url: `${prUrl}?discussionId=${removed.id}`,
        },
      ],
      changes_requested_by: [
        { name: 'dee@contoso.com', trusted: null },
        { name: 'kim@contoso.com', trusted: null },
      ],
      truncated: false,
    });
    expect(az.counters.total).toBe(4);
    // More open threads than one answer holds: the first 100, and truncated.
    for (let i = 0; i < 100; i++) az.model.comment(pr, { author: 'bo@contoso.com', content: `Nit ${i}` });
    const many = await provider.fetchFeedback(pull, call);
    expect(many.unresolved_threads).toHaveLength(100);
    expect(many.truncated).toBe(true);
  });

  it('tells public projects from private ones', async () => {
    expect(await provider.isRepoPublic({ owner: 'contoso/Community', name: 'lib' }, call)).toBe(true);
    expect(await provider.isRepoPublic(repo, call)).toBe(false);
    expect(await provider.isRepoPublic({ owner: 'contoso/Nowhere', name: 'x' }, call)).toBe(false);
  });

  it('turns failures into typed errors: 203 sign-in, 401, 404, 429, throttling, 5xx, garbage', async () => {
    const pr = az.model.openPull(REPO, { source_branch: 'failing' });
    const pull = { repo, number: pr.id };
    const attempt = (token = PAT) => provider.fetchPull(pull, { token }).catch((e: unknown) => e);
    expect(await attempt('not-a-valid-pat')).toMatchObject({ code: 'token_rejected' });
    expect(await attempt('not-a-valid-pat')).toBeInstanceOf(AuthError);
    az.addFaults({ kind: 'unauthorized', times: 1 });
    expect(await attempt()).toMatchObject({ code: 'token_rejected' });
    expect(await provider.fetchPull({ repo, number: 99_999 }, call).catch((e) => e)).toMatchObject({
      code: 'provider_error',
    });
    expect(await provider.fetchPull({ repo, number: 99_999 }, call).catch((e) => e)).toBeInstanceOf(
      NotFoundError,
    );
    az.addFaults({ kind: 'rate_limit', reset_in_s: 90, times: 1 });
    const limited = (await attempt()) as RateLimitedError;
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited.resetAt.getTime() - clock.now().getTime()) / 1000).toBe(90);
    az.addFaults({ kind: 'status', status: 503, times: 1 });
    expect(await attempt()).toBeInstanceOf(UnavailableError);
    az.addFaults({ kind: 'garbage', times: 1 });
    expect(await attempt()).toMatchObject({ code: 'provider_error' });
    // Delayed answers (Remaining 0) succeed, then the token rests until Reset without asking.
    const other = 'azdopat-throttled-0123456789abcdefghijklmnopqrstuvwxyz';
    az.addToken(other);
    az.addFaults({ kind: 'throttle', reset_in_s: 120, times: 1 });
    expect(await attempt(other)).toMatchObject({ pr_number: pr.id });
    const before = az.counters.total;
    const paused = (await attempt(other)) as RateLimitedError;
    expect(paused).toBeInstanceOf(RateLimitedError);
    expect(paused.resetAt.getTime()).toBeGreaterThan(clock.now().getTime() + 100_000);
    expect(az.counters.total).toBe(before);
    // Another token is not paused.
    expect(await attempt()).toMatchObject({ pr_number: pr.id });
  });

  it('webhooks: Basic credentials whose password is the secret; pushes and PR events name refs', () => {
    const hooks = provider.webhooks;
    const header = (h: Record<string, string>) => (n: string) => h[n.toLowerCase()];
    const basic = (user: string, pass: string) =>
      `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    expect(hooks.start(header({ authorization: basic('anyone', 's3cret') }), 's3cret')?.valid()).toBe(true);
    expect(hooks.start(header({ authorization: basic('anyone', 'wrong') }), 's3cret')).toBeNull();
    expect(hooks.start(header({}), 's3cret')).toBeNull();
    expect(hooks.start(header({ authorization: 'Bearer s3cret' }), 's3cret')).toBeNull();
    const payloads = new HookPayloads(az);
    const repoModel = az.model.repo(REPO);
    az.model.push(REPO, 'pushed');
    const push = payloads.push(repoModel, 'pushed');
    expect(hooks.staleRefs(header({}), push)).toEqual([{ origin: provider.repoUrl(repo), branch: 'pushed' }]);
    expect(hooks.eventId(push)).toBe(push.id);
    const pr = az.model.openPull(REPO, { source_branch: 'hooked' });
    expect(hooks.staleRefs(header({}), payloads.pullRequest('git.pullrequest.updated', pr))).toEqual([
      {
        origin: provider.repoUrl(repo),
        branch: 'hooked',
        url: provider.buildPullUrl({ repo, number: pr.id }),
      },
    ]);
    const forked = az.model.pulls.find((p) => p.sourceRepo !== p.repo)!;
    expect(hooks.staleRefs(header({}), payloads.pullRequest('git.pullrequest.merged', forked))).toEqual([
      {
        origin: provider.repoUrl({ owner: 'contoso/Sandbox', name: 'api-fork' }),
        branch: 'fix',
        url: provider.buildPullUrl({ repo, number: forked.id }),
      },
    ]);
    expect(
      hooks.staleRefs(header({}), { eventType: 'ms.vss-release.deployment-completed-event', resource: {} }),
    ).toEqual([]);
    expect(() => hooks.staleRefs(header({}), { eventType: 'git.push', resource: {} })).toThrow();
  });

  it('webhooks: a finished build names the refs whose PR head it built, and its PR', () => {
    const hooks = provider.webhooks;
    const none = () => undefined;
    const policy = az.model.addPolicy(REPO, 'build', { branch: 'built', settings: { displayName: 'CI' } });
    const pr = az.model.openPull(REPO, { source_branch: 'built-feature', target_branch: 'built' });
    const build = az.model.build(pr, policy, 'succeeded');
    const event = new HookPayloads(az).buildCompleted(pr, policy, build, 'succeeded');
    const resource = event.resource as Record<string, unknown>;
    // A PR build builds the test merge: the head is `pr.sourceSha`, never `sourceVersion`.
    expect(resource.sourceVersion).not.toBe(az.model.head(pr));
    const head = { origin: '', head_sha: az.model.head(pr) };
    const byUrl = { origin: '', url: provider.buildPullUrl({ repo, number: pr.id }) };
    expect(hooks.staleRefs(none, event)).toEqual([head, byUrl]);
    const withResource = (changes: Record<string, unknown>) => ({
      ...event,
      resource: { ...resource, ...changes },
    });
    // A repository that is not Azure Repos (a GitHub PR's build), or not named by its address:
    // the head commit alone.
    const github = { id: 'contoso/api', type: 'GitHub', url: 'https://github.com/contoso/api' };
    expect(hooks.staleRefs(none, withResource({ repository: github }))).toEqual([head]);
    const unnamed = { id: 'r-1', type: 'TfsGit', name: 'api', url: 'not an address' };
    expect(hooks.staleRefs(none, withResource({ repository: unnamed }))).toEqual([head]);
    // Without `pr.sourceSha` a PR build still names its PR.
    expect(hooks.staleRefs(none, withResource({ triggerInfo: {} }))).toEqual([byUrl]);
    // A branch build names the commit it built.
    const ci = withResource({
      sourceBranch: 'refs/heads/main',
      sourceVersion: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
      triggerInfo: {},
      reason: 'individualCI',
    });
    expect(hooks.staleRefs(none, ci)).toEqual([
      { origin: '', head_sha: 'abcdef0123456789abcdef0123456789abcdef01' },
    ]);
    // What names nothing is refused (400), as for the other events.
    for (const bad of [
      { eventType: 'build.complete', resource: {} },
      { eventType: 'build.complete' },
      withResource({ triggerInfo: {}, repository: github }),
      withResource({ sourceBranch: 'refs/heads/main', sourceVersion: '42', triggerInfo: null }),
      withResource({ sourceBranch: 7 }),
    ])
      expect(() => hooks.staleRefs(none, bad)).toThrow(BadInputError);
  });
});
