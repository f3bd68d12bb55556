import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzureDevOpsEmulator } from '../emulator/azure-devops/server.ts';
import { HookPayloads as AzureHookPayloads } from '../emulator/azure-devops/webhooks.ts';
import { startBitbucketEmulator } from '../emulator/bitbucket/server.ts';
import { startGiteaEmulator } from '../emulator/gitea/server.ts';
import { startGitHubEmulator } from '../emulator/github/server.ts';
import { startGitLabEmulator } from '../emulator/gitlab/server.ts';
import { FakeClock } from '../src/core/clock.ts';
import { AuthError, GitsyncError, RateLimitedError, UnavailableError } from '../src/core/errors.ts';
import { AzureDevOpsProvider } from '../src/providers/azure-devops/azure-devops-provider.ts';
import { BitbucketProvider } from '../src/providers/bitbucket/bitbucket-provider.ts';
import { FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { GiteaProvider } from '../src/providers/gitea/gitea-provider.ts';
import { GitHubProvider } from '../src/providers/github/github-provider.ts';
import { GitLabProvider } from '../src/providers/gitlab/gitlab-provider.ts';
import {
  type BudgetObservation,
  branchKey,
  type Provider,
  pullKey,
  type RepoRef,
} from '../src/providers/types.ts';

/**
 * What every provider promises the engine, checked the same way for each: origins and URLs, finding
 * the PR of a branch (same repository, fork, merged before the first look, several on one
 * branch), reading it, batches equal to one-by-one reads, each failure as the right typed error,
 * and webhooks that verify and name the right refs. Each host is driven through a small adapter.
 */
interface ContractHost {
  provider: Provider;
  token: string;
  /** `owner/name` for a new repository (with a fork owned by `forkOwner` where the host has forks). */
  createRepo(name: string, forkOwner?: string): Promise<{ repo: RepoRef; fork?: RepoRef }>;
  openPull(repo: RepoRef, head: { branch: string; fork?: RepoRef }, title: string): Promise<number>;
  merge(repo: RepoRef, number: number): Promise<void>;
  close(repo: RepoRef, number: number): Promise<void>;
  /** Merges the PR and deletes its head branch, as "delete branch after merge" does. */
  mergeDeletingBranch(repo: RepoRef, number: number, branch: string): Promise<void>;
  /**
   * A CI service posts a result on the PR's head commit (or, on Azure DevOps, on the PR) that no
   * branch rule requires; absent where the host has no such thing.
   */
  postStatus?(repo: RepoRef, number: number, branch: string, passed: boolean): Promise<void>;
  /**
   * An open PR whose mergeability the host leaves uncomputed until asked, with a token whose asks
   * it ignores (GitLab: a Reporter's token); `asks()` counts the asks the host received and
   * `advance` moves the provider's clock. Absent where the host computes mergeability itself.
   */
  ignoredRecheck?(): Promise<{
    pull: { repo: RepoRef; number: number };
    token: string;
    asks(): number;
    advance(ms: number): void;
  }>;
  /** Asks these people to review the PR. */
  requestReview(repo: RepoRef, number: number, logins: string[]): Promise<void>;
  /** A review by `login` (a comment: no verdict), which answers their request. */
  review(repo: RepoRef, number: number, login: string): Promise<void>;
  /** The next request fails as the host answers: a rejected token, a rate limit, a server error. */
  failNext(kind: 'token' | 'rate_limit' | 'server'): void;
  /** Why a case does not apply to this host (the suite says so instead of skipping silently). */
  lacks?: { forks?: string; webhooks?: string; statuses?: string; recheck?: string };
  /** Origin forms of the host beyond https, ssh:// and scp-like on the web host (Azure's ssh host). */
  extraOrigins?(repo: RepoRef): string[];
  /** Whether a delivery's credentials cover its body (an HMAC), not only who sent it (a shared token). */
  signsBody?: boolean;
  /**
   * What the host's answers say of the token's budget: the limit, what is left and when it resets
   * on every answer; only the limit; only while it slows the token down (`throttle` makes it);
   * or nothing.
   */
  budgetSays: 'everything' | 'limit' | 'when throttled' | 'nothing';
  /**
   * A token of its own (so that the slowdown stays with it) whose next answer comes from a host
   * slowing it down (`budgetSays: "when throttled"`).
   */
  throttle?(): string;
  /** A genuine delivery saying `branch` of `repo` changed, and its secret. */
  delivery?(repo: RepoRef, branch: string): { secret: string; headers: Record<string, string>; body: string };
  dispose(): Promise<void>;
}

let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${++sequence}`;

const HOSTS: Record<string, () => Promise<ContractHost>> = {
  async fake() {
    const host = new FakeCodeHost('https://fake.test');
    const provider = new FakeProvider(host);
    let failing: 'token' | 'rate_limit' | 'server' | null = null;
    host.failWith = () => {
      const kind = failing;
      failing = null;
      if (kind === 'token') return new AuthError('fake: bad credentials (401)');
      if (kind === 'rate_limit') return new RateLimitedError(new Date(Date.now() + 60_000));
      if (kind === 'server') return new UnavailableError('fake: 502');
      return undefined;
    };
    return {
      provider,
      token: 'fake-token',
      createRepo: async (name) => ({ repo: { owner: 'acme', name } }),
      openPull: async (repo, head, title) =>
        host.openPull(`${repo.owner}/${repo.name}`, { head_branch: head.branch, pull_request_title: title })
          .pr_number,
      merge: async (repo, n) =>
        void host.updatePull(`${repo.owner}/${repo.name}`, n, { pull_request_state: 'merged' }),
      close: async (repo, n) =>
        void host.updatePull(`${repo.owner}/${repo.name}`, n, { pull_request_state: 'closed' }),
      // The fake has no branches: merging is all there is to it.
      mergeDeletingBranch: async (repo, n) =>
        void host.updatePull(`${repo.owner}/${repo.name}`, n, { pull_request_state: 'merged' }),
      requestReview: async (repo, n, logins) => {
        const pull = host.get(`${repo.owner}/${repo.name}`, n);
        host.updatePull(`${repo.owner}/${repo.name}`, n, {
          requested_reviewers: [
            ...pull.requested_reviewers,
            ...logins.map((name) => ({ kind: 'user' as const, name })),
          ],
        });
      },
      review: async (repo, n, login) => {
        const pull = host.get(`${repo.owner}/${repo.name}`, n);
        host.updatePull(`${repo.owner}/${repo.name}`, n, {
          requested_reviewers: pull.requested_reviewers.filter((r) => r.name !== login),
        });
      },
      failNext: (kind) => {
        failing = kind;
      },
      lacks: {
        forks: 'the in-memory fake has no forks',
        webhooks: 'the in-memory fake has no webhooks',
        statuses: 'the in-memory fake has no commits to post statuses on',
        recheck: 'the in-memory fake has no mergeability to compute',
      },
      budgetSays: 'nothing',
      dispose: async () => {},
    };
  },
  async gitlab() {
    // A self-managed instance under a path, with nested groups: the awkward case of both.
    const gl = await startGitLabEmulator({ relativeUrlRoot: '/gitlab' });
    const token = 'glpat-contract-token';
    gl.addToken(token, 'contract-bot');
    const secret = 'contract gitlab secret';
    const clock = new FakeClock(new Date());
    const provider = new GitLabProvider(
      { id: 'gitlab', type: 'gitlab', web_url: gl.webUrl, api_url: gl.apiUrl, webhook_secret: secret },
      { clock },
    );
    const path = (r: RepoRef) => `${r.owner}/${r.name}`;
    let failing: Parameters<typeof gl.addFaults>[0] | null = null;
    return {
      provider,
      token,
      async createRepo(name, forkOwner) {
        const repo = { owner: 'acme/platform', name };
        gl.model.createProject({ path: path(repo), visibility: 'public', members: ['contract-bot'] });
        if (!forkOwner) return { repo };
        const fork = { owner: forkOwner, name };
        gl.model.createProject({
          path: path(fork),
          visibility: 'public',
          forked_from: path(repo),
          members: ['contract-bot'],
        });
        return { repo, fork };
      },
      openPull: async (repo, head, title) => {
        if (head.fork) gl.model.push(path(head.fork), head.branch);
        else gl.model.push(path(repo), head.branch);
        return gl.model.openMergeRequest(path(repo), {
          source_branch: head.branch,
          source_project: head.fork ? path(head.fork) : undefined,
          title,
        }).iid;
      },
      merge: async (repo, n) => void gl.model.merge(path(repo), n),
      close: async (repo, n) => void gl.model.close(path(repo), n),
      mergeDeletingBranch: async (repo, n, branch) => {
        gl.model.merge(path(repo), n);
        gl.model.deleteBranch(path(repo), branch);
      },
      async ignoredRecheck() {
        // GitLab ignores a recheck asked by a token that may not update the project's MRs
        // (lib/api/merge_requests.rb, recheck_mergeability_of).
        const reporter = 'glpat-contract-reporter';
        gl.addToken(reporter, 'contract-reporter');
        const repo = { owner: 'acme/platform', name: unique('recheck') };
        gl.model.createProject({
          path: path(repo),
          visibility: 'public',
          members: ['contract-bot'],
          reporters: ['contract-reporter'],
        });
        gl.model.push(path(repo), 'unchecked');
        const mr = gl.model.openMergeRequest(path(repo), { source_branch: 'unchecked' });
        gl.model.push(path(repo), 'unchecked');
        return {
          pull: { repo, number: mr.iid },
          token: reporter,
          asks: () =>
            gl.log.filter(
              (l) => l.path.includes('with_merge_status_recheck=true') && l.path.includes(`iids[]=${mr.iid}`),
            ).length,
          advance: (ms) => clock.advance(ms),
        };
      },
      // GitLab turns a commit status posted through its API into an external pipeline of the commit.
      postStatus: async (repo, _n, branch, passed) =>
        void gl.model.createPipeline(path(repo), {
          ref: branch,
          source: 'external',
          jobs: [{ name: 'ci/external', status: passed ? 'success' : 'failed' }],
        }),
      requestReview: async (repo, n, logins) => {
        for (const login of logins) gl.model.requestReview(path(repo), n, login);
      },
      review: async (repo, n, login) => void gl.model.review(path(repo), n, login, 'reviewed'),
      failNext: (kind) => {
        failing =
          kind === 'token'
            ? { kind: 'unauthorized', times: 1 }
            : kind === 'rate_limit'
              ? { kind: 'rate_limit', reset_in_s: 60, times: 1 }
              : { kind: 'status', status: 502, times: 1 };
        gl.addFaults(failing);
      },
      signsBody: false,
      delivery(repo, branch) {
        const body = JSON.stringify({
          object_kind: 'push',
          ref: `refs/heads/${branch}`,
          project: { web_url: `${gl.webUrl}/${path(repo)}`, path_with_namespace: path(repo) },
        });
        return {
          secret,
          body,
          headers: {
            'x-gitlab-event': 'Push Hook',
            'x-gitlab-token': secret,
            'idempotency-key': unique('k'),
          },
        };
      },
      // GitLab sends RateLimit-* only with a throttled answer on most instances (lib/gitlab/rack_attack.rb).
      budgetSays: 'when throttled',
      throttle: () => {
        const slowed = 'glpat-contract-throttled';
        gl.addToken(slowed, 'contract-bot');
        gl.addFaults({ kind: 'rate_limit', reset_in_s: 120, times: 1 });
        return slowed;
      },
      dispose: () => gl.close(),
    };
  },
  async 'azure-devops'() {
    const az = await startAzureDevOpsEmulator();
    const token = 'azdocontractpat0123456789abcdefghijklmnopqrstuvwxyz';
    az.addToken(token, 'contract-bot@example.com');
    const secret = 'contract azure devops secret';
    const provider = new AzureDevOpsProvider(
      { id: 'ado', type: 'azure-devops', web_url: az.webUrl, api_url: az.url, webhook_secret: secret },
      { clock: new FakeClock(new Date()) },
    );
    const path = (r: RepoRef) => `${r.owner}/${r.name}`;
    const pull = (r: RepoRef, n: number) => az.model.pull(path(r), n);
    return {
      provider,
      token,
      async createRepo(name, forkOwner) {
        const repo = { owner: 'acme/Platform', name };
        az.model.createRepo(path(repo), { visibility: 'public' });
        if (!forkOwner) return { repo };
        // Forks stay in the organization, in a project of the forker's.
        const fork = { owner: `acme/${forkOwner}`, name };
        az.model.createRepo(path(fork), { fork_of: path(repo) });
        return { repo, fork };
      },
      openPull: async (repo, head, title) => {
        if (head.fork) az.model.push(path(head.fork), head.branch);
        return az.model.openPull(path(repo), {
          source_branch: head.branch,
          ...(head.fork ? { source_repo: path(head.fork) } : {}),
          title,
        }).id;
      },
      merge: async (repo, n) => az.model.complete(pull(repo, n)),
      close: async (repo, n) => az.model.abandon(pull(repo, n)),
      mergeDeletingBranch: async (repo, n) =>
        az.model.complete(pull(repo, n), { delete_source_branch: true }),
      postStatus: async (repo, n, _branch, passed) =>
        void az.model.postPullStatus(pull(repo, n), {
          genre: 'ci',
          name: 'build',
          state: passed ? 'succeeded' : 'failed',
          iteration: 'head',
        }),
      requestReview: async (repo, n, logins) => {
        for (const login of logins) az.model.addReviewer(pull(repo, n), login);
      },
      // Azure DevOps has no review without a verdict: "approved with suggestions" (5) answers the request.
      review: async (repo, n, login) => az.model.vote(pull(repo, n), login, 5),
      failNext: (kind) =>
        az.addFaults(
          kind === 'token'
            ? { kind: 'signin', times: 1 }
            : kind === 'rate_limit'
              ? { kind: 'rate_limit', reset_in_s: 60, times: 1 }
              : { kind: 'status', status: 503, times: 1 },
        ),
      lacks: {
        recheck:
          'Azure DevOps computes mergeability itself after every push (mergeStatus queued, then an answer)',
      },
      signsBody: false,
      // Its ssh remotes live on another host, with `v3/` and no `_git`.
      extraOrigins: (repo) => {
        const [org, project] = repo.owner.split('/');
        return [
          `git@ssh.${new URL(az.webUrl).hostname}:v3/${org}/${encodeURIComponent(project!)}/${repo.name}`,
        ];
      },
      delivery(repo, branch) {
        az.model.push(path(repo), branch);
        const body = JSON.stringify(new AzureHookPayloads(az).push(az.model.repo(path(repo)), branch));
        return {
          secret,
          body,
          headers: { authorization: `Basic ${Buffer.from(`service-hook:${secret}`).toString('base64')}` },
        };
      },
      budgetSays: 'when throttled',
      throttle: () => {
        const slowed = 'azdothrottledpat0123456789abcdefghijklmnopqrstuvwxyz';
        az.addToken(slowed, 'contract-bot@example.com');
        az.addFaults({ kind: 'throttle', reset_in_s: 120, times: 1 });
        return slowed;
      },
      dispose: () => az.close(),
    };
  },
  async bitbucket() {
    // Web addresses on bitbucket.org (as configured for Bitbucket Cloud), the API at the emulator.
    // The whole suite asks more than Bitbucket's 1,000 requests an hour of one token: room for it,
    // so that nearing the limit (which the provider heeds) is not what a case meets.
    const bb = await startBitbucketEmulator({ rateLimit: 10_000 });
    const token = 'ATCTT3xFfGN0-contract-token';
    bb.addAccessToken(token, { user: 'contract-bot' });
    const secret = 'contract bitbucket secret';
    const provider = new BitbucketProvider(
      { id: 'bitbucket', type: 'bitbucket', web_url: bb.webUrl, api_url: bb.apiUrl, webhook_secret: secret },
      { clock: new FakeClock(new Date()) },
    );
    const full = (r: RepoRef) => `${r.owner}/${r.name}`;
    return {
      provider,
      token,
      async createRepo(name, forkOwner) {
        const repo = { owner: 'acme', name };
        bb.model.createRepo({ full_name: full(repo), is_private: false });
        if (!forkOwner) return { repo };
        const fork = { owner: forkOwner, name };
        bb.model.createRepo({ full_name: full(fork), is_private: false, fork_of: full(repo) });
        return { repo, fork };
      },
      openPull: async (repo, head, title) =>
        bb.model.openPull(full(repo), {
          source_branch: head.branch,
          source_repo: head.fork ? full(head.fork) : undefined,
          title,
        }).id,
      merge: async (repo, n) => void bb.model.merge(full(repo), n),
      close: async (repo, n) => void bb.model.decline(full(repo), n),
      mergeDeletingBranch: async (repo, n) =>
        void bb.model.merge(full(repo), n, { close_source_branch: true }),
      postStatus: async (repo, n, _branch, passed) =>
        void bb.model.setStatus(bb.model.head(full(repo), n), {
          key: 'ci',
          state: passed ? 'SUCCESSFUL' : 'FAILED',
        }),
      requestReview: async (repo, n, logins) => void bb.model.addReviewers(full(repo), n, logins),
      // Bitbucket has no review without a verdict: a reviewer answers the request by approving
      // (or requesting changes); a comment leaves them asked.
      review: async (repo, n, login) => void bb.model.verdict(full(repo), n, login, 'approved'),
      failNext: (kind) =>
        bb.addFaults(
          kind === 'token'
            ? { kind: 'unauthorized', times: 1 }
            : kind === 'rate_limit'
              ? { kind: 'rate_limit', times: 1 }
              : { kind: 'status', status: 502, times: 1 },
        ),
      lacks: { recheck: 'Bitbucket Cloud computes mergeability itself' },
      signsBody: true,
      delivery(repo, branch) {
        const body = JSON.stringify({
          repository: { full_name: full(repo) },
          push: { changes: [{ new: { type: 'branch', name: branch }, old: null }] },
        });
        const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
        return {
          secret,
          body,
          headers: {
            'x-event-key': 'repo:push',
            'x-request-uuid': unique('r'),
            'x-hub-signature': signature,
          },
        };
      },
      budgetSays: 'limit',
      dispose: () => bb.close(),
    };
  },
  async gitea() {
    // An instance under a path (`/gitea`), with the page cap at its default of 50.
    const gt = await startGiteaEmulator({ subUrl: '/gitea' });
    const token = 'gitea-contract-token';
    gt.addToken(token, 'contract-bot');
    const secret = 'contract gitea secret';
    const provider = new GiteaProvider(
      { id: 'gitea', type: 'gitea', web_url: gt.webUrl, api_url: gt.apiUrl, webhook_secret: secret },
      'gitea',
      { clock: new FakeClock(new Date()) },
    );
    const full = (r: RepoRef) => `${r.owner}/${r.name}`;
    return {
      provider,
      token,
      async createRepo(name, forkOwner) {
        const repo = { owner: 'acme', name };
        gt.model.createRepo({ full_name: full(repo), members: ['contract-bot'] });
        if (!forkOwner) return { repo };
        const fork = { owner: forkOwner, name };
        gt.model.createRepo({ full_name: full(fork), fork_of: full(repo), members: ['contract-bot'] });
        return { repo, fork };
      },
      openPull: async (repo, head, title) =>
        gt.model.openPull(full(repo), {
          head: head.branch,
          head_repo: head.fork ? full(head.fork) : undefined,
          title,
        }).number,
      merge: async (repo, n) => void gt.model.merge(full(repo), n),
      close: async (repo, n) => void gt.model.close(full(repo), n),
      mergeDeletingBranch: async (repo, n) => void gt.model.merge(full(repo), n, { delete_branch: true }),
      postStatus: async (repo, n, _branch, passed) =>
        void gt.model.setStatus(full(repo), gt.model.pull(full(repo), n).head_sha, {
          context: 'ci/build',
          state: passed ? 'success' : 'failure',
        }),
      requestReview: async (repo, n, logins) => {
        for (const login of logins) gt.model.requestReview(full(repo), n, { login });
      },
      review: async (repo, n, login) => void gt.model.review(full(repo), n, login, 'COMMENT'),
      failNext: (kind) =>
        gt.addFaults(
          kind === 'token'
            ? { kind: 'unauthorized', times: 1 }
            : kind === 'rate_limit'
              ? { kind: 'rate_limit', retry_after_s: 60, times: 1 }
              : { kind: 'status', status: 502, times: 1 },
        ),
      lacks: { recheck: 'Gitea/Forgejo queue the mergeability check themselves after a push' },
      signsBody: true,
      delivery(repo, branch) {
        const body = JSON.stringify({ ref: `refs/heads/${branch}`, repository: { full_name: full(repo) } });
        return {
          secret,
          body,
          headers: {
            'x-gitea-event': 'push',
            'x-gitea-delivery': unique('g'),
            'x-gitea-signature': createHmac('sha256', secret).update(body).digest('hex'),
          },
        };
      },
      budgetSays: 'nothing',
      dispose: () => gt.close(),
    };
  },
  async github() {
    const gh = await startGitHubEmulator();
    const token = 'ghp_contract_token';
    gh.addToken(token, 'contract-bot');
    const secret = 'contract webhook secret';
    const provider = new GitHubProvider(
      { id: 'github', type: 'github', web_url: gh.webUrl, api_url: gh.apiUrl, webhook_secret: secret },
      { clock: new FakeClock(new Date()) },
    );
    const full = (r: RepoRef) => `${r.owner}/${r.name}`;
    return {
      provider,
      token,
      async createRepo(name, forkOwner) {
        gh.model.createRepo({ owner: 'acme', name });
        if (!forkOwner) return { repo: { owner: 'acme', name } };
        gh.model.createRepo({ owner: forkOwner, name, fork_of: `acme/${name}` });
        return { repo: { owner: 'acme', name }, fork: { owner: forkOwner, name } };
      },
      openPull: async (repo, head, title) =>
        gh.model.openPull(full(repo), {
          head: head.fork ? `${head.fork.owner}:${head.branch}` : head.branch,
          title,
        }).number,
      merge: async (repo, n) => void gh.model.merge(full(repo), n),
      close: async (repo, n) => void gh.model.close(full(repo), n),
      mergeDeletingBranch: async (repo, n, branch) => {
        gh.model.merge(full(repo), n);
        gh.model.deleteBranch(full(repo), branch);
      },
      postStatus: async (repo, n, _branch, passed) =>
        void gh.model.addStatus({
          sha: gh.model.pull(full(repo), n).head_sha,
          context: 'ci/build',
          state: passed ? 'success' : 'failure',
        }),
      requestReview: async (repo, n, logins) =>
        void gh.model.requestReviewers(full(repo), n, { reviewers: logins }),
      review: async (repo, n, login) => void gh.model.review(full(repo), n, { login, state: 'COMMENTED' }),
      failNext: (kind) =>
        gh.addFaults(
          kind === 'token'
            ? { kind: 'unauthorized', times: 1 }
            : kind === 'rate_limit'
              ? { kind: 'rate_limit', reset_in_s: 60, times: 1 }
              : { kind: 'status', status: 502, times: 1 },
        ),
      lacks: { recheck: 'GitHub computes mergeability itself once a read asks for it' },
      signsBody: true,
      delivery(repo, branch) {
        const body = JSON.stringify({
          ref: `refs/heads/${branch}`,
          repository: { html_url: `${gh.webUrl}/${full(repo)}` },
        });
        const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
        return {
          secret,
          body,
          headers: {
            'x-github-event': 'push',
            'x-github-delivery': unique('d'),
            'x-hub-signature-256': signature,
          },
        };
      },
      budgetSays: 'everything',
      dispose: () => gh.close(),
    };
  },
};

describe.each(Object.keys(HOSTS))('provider contract: %s', (name) => {
  let h: ContractHost;
  beforeAll(async () => {
    h = await HOSTS[name]!();
  });
  afterAll(() => h.dispose());
  const call = () => ({ token: h.token });

  it('reads its own origins in every form, and builds and parses its PR URLs', async () => {
    const { repo } = await h.createRepo(unique('origins'));
    const url = h.provider.repoUrl(repo);
    const web = new URL(url);
    // ssh remotes carry no path prefix of an instance served below one (`https://host/gitlab`).
    const prefix = new URL(h.provider.config.web_url).pathname.replace(/\/+$/, '');
    const sshPath = web.pathname.slice(prefix.length);
    for (const origin of [
      url,
      `${url}.git`,
      `${url}/`,
      `https://user:secret@${web.host}${web.pathname}.git`,
      `ssh://git@${web.hostname}${sshPath}.git`,
      `git@${web.hostname}:${sshPath.slice(1)}.git`,
      ...(h.extraOrigins?.(repo) ?? []),
    ]) {
      expect(h.provider.matches(origin), origin).toBe(true);
      expect(h.provider.parseOrigin(origin), origin).toEqual(repo);
    }
    expect(h.provider.matches('https://elsewhere.example/a/b')).toBe(false);
    // The web port is part of an http(s) remote's host; `.` and `..` are never a path segment.
    expect(h.provider.parseOrigin(`${web.protocol}//${web.hostname}:1${web.pathname}`)).toBeNull();
    expect(h.provider.parseOrigin(`git@${web.hostname}:../${repo.name}.git`)).toBeNull();
    const pull = { repo, number: 7 };
    expect(h.provider.parsePullUrl(h.provider.buildPullUrl(pull))).toEqual(pull);
  });

  it('finds the PR of a branch, prefers an open one, and finds one merged before the first look', async () => {
    const { repo } = await h.createRepo(unique('find'));
    expect(await h.provider.findPullForBranch(repo, 'nothing-here', call())).toBeNull();
    const merged = await h.openPull(repo, { branch: 'early' }, 'Merged early');
    await h.merge(repo, merged);
    expect(await h.provider.findPullForBranch(repo, 'early', call())).toMatchObject({
      pr_number: merged,
      pull_request_state: 'merged',
    });
    const closed = await h.openPull(repo, { branch: 'twice' }, 'First try');
    await h.close(repo, closed);
    const open = await h.openPull(repo, { branch: 'twice' }, 'Second try');
    const found = await h.provider.findPullForBranch(repo, 'twice', call());
    expect(found).toMatchObject({ pr_number: open, pull_request_state: 'open', head_branch: 'twice' });
    expect(await h.provider.fetchPull({ repo, number: open }, call())).toMatchObject({
      pr_number: open,
      pull_request_title: 'Second try',
      url: h.provider.buildPullUrl({ repo, number: open }),
    });
  });

  it('keeps a merged PR whose head branch was deleted, and finds one deleted before the first look', async () => {
    const { repo } = await h.createRepo(unique('deleted'));
    const seen = await h.openPull(repo, { branch: 'seen-first' }, 'Seen first');
    expect(await h.provider.findPullForBranch(repo, 'seen-first', call())).toMatchObject({
      pr_number: seen,
      pull_request_state: 'open',
    });
    await h.mergeDeletingBranch(repo, seen, 'seen-first');
    const pull = { repo, number: seen };
    const merged = await h.provider.fetchPull(pull, call());
    expect(merged).toMatchObject({
      pr_number: seen,
      pull_request_state: 'merged',
      head_branch: 'seen-first',
    });
    if (h.provider.fetchPulls)
      expect((await h.provider.fetchPulls([pull], call())).get(pullKey(pull))).toEqual(merged);
    expect(await h.provider.findPullForBranch(repo, 'seen-first', call())).toMatchObject({
      pr_number: seen,
      pull_request_state: 'merged',
    });

    // Merged with "delete branch" before gitsync ever looked.
    const unseen = await h.openPull(repo, { branch: 'gone-before' }, 'Gone before');
    await h.mergeDeletingBranch(repo, unseen, 'gone-before');
    const found = await h.provider.findPullForBranch(repo, 'gone-before', call());
    expect(found).toMatchObject({
      pr_number: unseen,
      pull_request_state: 'merged',
      head_branch: 'gone-before',
    });
    if (h.provider.findPullsForBranches)
      expect(
        (await h.provider.findPullsForBranches([{ repo, branch: 'gone-before' }], call())).get(
          branchKey(repo, 'gone-before'),
        ),
      ).toEqual(found);
  });

  it('counts a result a CI service posted as a check, though no rule requires it', async () => {
    if (!h.postStatus) return void expect(h.lacks?.statuses).toBeTypeOf('string');
    const { repo } = await h.createRepo(unique('statuses'));
    const failing = await h.openPull(repo, { branch: 'red' }, 'Red');
    const passing = await h.openPull(repo, { branch: 'green' }, 'Green');
    await h.postStatus(repo, failing, 'red', false);
    await h.postStatus(repo, passing, 'green', true);
    for (const [number, state] of [
      [failing, 'failing'],
      [passing, 'passing'],
    ] as const) {
      const pull = { repo, number };
      const one = await h.provider.fetchPull(pull, call());
      expect(one.checks_state, `PR ${number}`).toBe(state);
      if (h.provider.fetchPulls)
        expect((await h.provider.fetchPulls([pull], call())).get(pullKey(pull))).toEqual(one);
    }
  });

  it('stops asking a host that ignores its mergeability rechecks, and says why', async () => {
    if (!h.ignoredRecheck) return void expect(h.lacks?.recheck).toBeTypeOf('string');
    const { pull, token, asks, advance } = await h.ignoredRecheck();
    let last = await h.provider.fetchPull(pull, { token });
    for (let i = 0; i < 5; i++) {
      advance(10 * 60_000);
      last = await h.provider.fetchPull(pull, { token });
    }
    expect(last.merge_state).toBe('unknown');
    expect(last.merge_state_reason).toMatch(/ignored|permission/i);
    expect(asks()).toBe(2);
  });

  it('tells the engine what each answer says of the token’s budget, and what it cost', async () => {
    const { repo } = await h.createRepo(unique('budget'));
    const number = await h.openPull(repo, { branch: 'budgeted' }, 'Budgeted');
    const seen: BudgetObservation[] = [];
    await h.provider.fetchPull({ repo, number }, { token: h.token, onBudget: (o) => seen.push(o) });
    expect(seen.length).toBeGreaterThan(0);
    for (const o of seen) {
      expect(o.charged).toBeGreaterThanOrEqual(0);
      expect(typeof o.scope).toBe('string');
      if (o.limit !== null && o.remaining !== null) expect(o.remaining).toBeLessThanOrEqual(o.limit);
    }
    // What the host says of the budget is read: everything, the limit alone, or what it says
    // while it slows the token down.
    const said = (o: BudgetObservation) => o.limit !== null && o.remaining !== null && o.reset_at !== null;
    if (h.budgetSays === 'everything') expect(seen.some(said)).toBe(true);
    if (h.budgetSays === 'limit') expect(seen.some((o) => o.limit !== null)).toBe(true);
    if (h.budgetSays === 'nothing')
      expect(seen.every((o) => o.limit === null && o.remaining === null)).toBe(true);
    if (h.budgetSays === 'when throttled') {
      const throttled = h.throttle!();
      seen.length = 0;
      await h.provider
        .fetchPull({ repo, number }, { token: throttled, onBudget: (o) => seen.push(o) })
        .catch(() => {});
      expect(seen.some((o) => o.remaining === 0 && o.reset_at !== null)).toBe(true);
    }
  });

  it('finds a PR opened from a fork, from the fork’s origin', async () => {
    if (h.lacks?.forks) return void expect(h.lacks.forks).toBeTypeOf('string');
    const { repo, fork } = await h.createRepo(unique('forked'), 'contributor');
    const number = await h.openPull(repo, { branch: 'fix', fork: fork! }, 'From a fork');
    expect(await h.provider.findPullForBranch(fork!, 'fix', call())).toMatchObject({
      pr_number: number,
      url: h.provider.buildPullUrl({ repo, number }),
    });
  });

  it('answers a batch as it answers one by one', async () => {
    const { repo } = await h.createRepo(unique('batch'));
    const numbers = [];
    for (const b of ['b1', 'b2', 'b3']) numbers.push(await h.openPull(repo, { branch: b }, `PR ${b}`));
    const pulls = numbers.map((number) => ({ repo, number }));
    if (h.provider.fetchPulls) {
      const batch = await h.provider.fetchPulls(pulls, call());
      for (const pull of pulls)
        expect(batch.get(pullKey(pull))).toEqual(await h.provider.fetchPull(pull, call()));
    }
    if (h.provider.findPullsForBranches) {
      const items = ['b1', 'b2', 'b3', 'none'].map((branch) => ({ repo, branch }));
      const batch = await h.provider.findPullsForBranches(items, call());
      for (const item of items)
        expect(batch.get(branchKey(item.repo, item.branch))).toEqual(
          await h.provider.findPullForBranch(item.repo, item.branch, call()),
        );
    }
    expect(h.provider.capabilities.pullsPerBatch > 0).toBe(h.provider.fetchPulls !== undefined);
    expect(h.provider.capabilities.branchesPerBatch > 0).toBe(h.provider.findPullsForBranches !== undefined);
  });

  it('answers a batch larger than one query may be (count, size or complexity), never failing it', async () => {
    if (!h.provider.fetchPulls && !h.provider.findPullsForBranches) return;
    const { repo } = await h.createRepo(unique('large'));
    // Long branch names make a query long (GitLab refuses one over 10,000 characters with 422).
    const count = Math.max(45, h.provider.capabilities.pullsPerBatch * 2 + 1);
    const branches = Array.from({ length: count }, (_, i) => `agent/${'long-branch-name-'.repeat(12)}${i}`);
    const numbers = new Map<string, number>();
    for (const branch of branches)
      numbers.set(branch, await h.openPull(repo, { branch }, `Large ${branch.length}`));
    if (h.provider.findPullsForBranches) {
      const found = await h.provider.findPullsForBranches(
        branches.map((branch) => ({ repo, branch })),
        call(),
      );
      for (const branch of branches)
        expect(found.get(branchKey(repo, branch)), branch).toMatchObject({ pr_number: numbers.get(branch) });
    }
    if (h.provider.fetchPulls) {
      const pulls = [...numbers.values()].map((number) => ({ repo, number }));
      const read = await h.provider.fetchPulls(pulls, call());
      for (const pull of pulls) expect(read.get(pullKey(pull))).toMatchObject({ pr_number: pull.number });
    }
  });

  it('names the people asked to review who have not yet, sorted, the same on every read', async () => {
    const { repo } = await h.createRepo(unique('asked'));
    const number = await h.openPull(repo, { branch: 'asked' }, 'Asking');
    const pull = { repo, number };
    const read = async () => {
      const one = await h.provider.fetchPull(pull, call());
      if (h.provider.fetchPulls)
        expect((await h.provider.fetchPulls([pull], call())).get(pullKey(pull))).toEqual(one);
      return one.requested_reviewers;
    };
    expect(await read()).toEqual([]);
    await h.requestReview(repo, number, ['zoe', 'Bea', 'al']);
    expect(await read()).toEqual(['al', 'Bea', 'zoe'].map((name) => ({ kind: 'user', name })));
    await h.review(repo, number, 'Bea');
    expect(await read()).toEqual(['al', 'zoe'].map((name) => ({ kind: 'user', name })));
  });

  it('turns each failure into its typed error', async () => {
    const { repo } = await h.createRepo(unique('failures'));
    const number = await h.openPull(repo, { branch: 'f' }, 'Failing');
    const attempt = async () => {
      try {
        await h.provider.fetchPull({ repo, number }, call());
        return null;
      } catch (error) {
        return error;
      }
    };
    h.failNext('token');
    expect(await attempt()).toMatchObject({ code: 'token_rejected' });
    h.failNext('rate_limit');
    const limited = await attempt();
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).resetAt.getTime()).toBeGreaterThan(Date.now());
    h.failNext('server');
    const failed = await attempt();
    expect(failed).toBeInstanceOf(GitsyncError);
    expect((failed as GitsyncError).code).toBe('provider_error');
  });

  it('verifies webhook deliveries and names the refs they concern', async () => {
    if (!h.delivery) return void expect(h.lacks?.webhooks).toBeTypeOf('string');
    const webhooks = h.provider.webhooks!;
    const { repo } = await h.createRepo(unique('hooks'));
    const d = h.delivery(repo, 'pushed');
    const header = (headers: Record<string, string>) => (n: string) => headers[n.toLowerCase()];
    const check = webhooks.start(header(d.headers), d.secret)!;
    check.update(new TextEncoder().encode(d.body));
    expect(check.valid()).toBe(true);
    // The delivery is named in its headers, or (Azure DevOps) in its body.
    expect(
      webhooks.deliveryId(header(d.headers)) ?? webhooks.deliveryId(header(d.headers), JSON.parse(d.body)),
    ).toBeTypeOf('string');
    expect(webhooks.staleRefs(header(d.headers), JSON.parse(d.body))).toContainEqual(
      expect.objectContaining({ origin: h.provider.repoUrl(repo), branch: 'pushed' }),
    );
    // The same delivery with another secret, or a changed body, is refused.
    const wrongSecret = webhooks.start(header(d.headers), 'not the secret');
    if (wrongSecret) {
      wrongSecret.update(new TextEncoder().encode(d.body));
      expect(wrongSecret.valid()).toBe(false);
    }
    if (h.signsBody) {
      const tampered = webhooks.start(header(d.headers), d.secret)!;
      tampered.update(new TextEncoder().encode(`${d.body} `));
      expect(tampered.valid()).toBe(false);
    }
  });
});
