import type { EmuCheckRun, EmuPull, EmuRepo, EmuReview, EmuStatus, GitHubModel } from './model.ts';

/**
 * Renders model objects as GitHub's REST API does, every field required by the published OpenAPI
 * description present (schemas `simple-user`, `repository`, `full-repository`, `pull-request`,
 * `pull-request-simple`, `pull-request-review`); a test validates them against it.
 */
/** The id of GitHub's `ghost` account, which stands in for deleted users. */
const GHOST_ID = 10137;

export class Renderer {
  constructor(
    readonly model: GitHubModel,
    /** e.g. http://127.0.0.1:PORT — where html_url links point. */
    readonly webUrl: string,
    /** e.g. http://127.0.0.1:PORT/api/v3 — where url links point. */
    readonly apiUrl: string,
  ) {}

  /**
   * A user as REST shows one: a GitHub App as `name[bot]` of type `Bot`; a deleted account as
   * GitHub's placeholder user `ghost` (id 10137), whose login REST keeps showing.
   */
  user(asked: string) {
    const login = this.model.deletedUsers.has(asked.toLowerCase()) ? 'ghost' : asked;
    const api = `${this.apiUrl}/users/${login}`;
    const id = login === 'ghost' ? GHOST_ID : this.model.userId(login);
    return {
      login,
      id,
      node_id: Buffer.from(`04:User${id}`).toString('base64'),
      avatar_url: `${this.webUrl}/avatars/${login}.png`,
      gravatar_id: '',
      url: api,
      html_url: `${this.webUrl}/${login}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: login.endsWith('[bot]') ? 'Bot' : 'User',
      site_admin: false,
    };
  }

  /**
   * A team as REST shows one in `requested_teams`: schema `team-simple` in a single PR, `team`
   * (which adds `parent`) in a list of PRs.
   */
  team(org: string, slug: string) {
    const id = this.model.teamId(org, slug);
    const api = `${this.apiUrl}/organizations/${this.model.userId(org)}/team/${id}`;
    return {
      id,
      node_id: Buffer.from(`04:Team${id}`).toString('base64'),
      url: api,
      members_url: `${api}/members{/member}`,
      name: slug,
      description: null,
      permission: 'pull',
      privacy: 'closed',
      notification_setting: 'notifications_enabled',
      html_url: `${this.webUrl}/orgs/${org}/teams/${slug}`,
      repositories_url: `${api}/repos`,
      slug,
      type: 'organization',
      parent: null,
    };
  }

  repository(repo: EmuRepo) {
    const full = `${repo.owner}/${repo.name}`;
    const api = `${this.apiUrl}/repos/${full}`;
    const openIssues = (this.model.pulls.get(full.toLowerCase()) ?? []).filter(
      (p) => p.state === 'open',
    ).length;
    return {
      id: repo.id,
      node_id: Buffer.from(`010:Repository${repo.id}`).toString('base64'),
      name: repo.name,
      full_name: full,
      owner: this.user(repo.owner),
      private: repo.private,
      html_url: `${this.webUrl}/${full}`,
      description: null,
      fork: repo.fork_of !== null,
      url: api,
      archive_url: `${api}/{archive_format}{/ref}`,
      assignees_url: `${api}/assignees{/user}`,
      blobs_url: `${api}/git/blobs{/sha}`,
      branches_url: `${api}/branches{/branch}`,
      collaborators_url: `${api}/collaborators{/collaborator}`,
      comments_url: `${api}/comments{/number}`,
      commits_url: `${api}/commits{/sha}`,
      compare_url: `${api}/compare/{base}...{head}`,
      contents_url: `${api}/contents/{+path}`,
      contributors_url: `${api}/contributors`,
      deployments_url: `${api}/deployments`,
      downloads_url: `${api}/downloads`,
      events_url: `${api}/events`,
      forks_url: `${api}/forks`,
      git_commits_url: `${api}/git/commits{/sha}`,
      git_refs_url: `${api}/git/refs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`,
      git_url: `git://${new URL(this.webUrl).host}/${full}.git`,
      issue_comment_url: `${api}/issues/comments{/number}`,
      issue_events_url: `${api}/issues/events{/number}`,
      issues_url: `${api}/issues{/number}`,
      keys_url: `${api}/keys{/key_id}`,
      labels_url: `${api}/labels{/name}`,
      languages_url: `${api}/languages`,
      merges_url: `${api}/merges`,
      milestones_url: `${api}/milestones{/number}`,
      notifications_url: `${api}/notifications{?since,all,participating}`,
      pulls_url: `${api}/pulls{/number}`,
      releases_url: `${api}/releases{/id}`,
      ssh_url: `git@${new URL(this.webUrl).hostname}:${full}.git`,
      stargazers_url: `${api}/stargazers`,
      statuses_url: `${api}/statuses/{sha}`,
      subscribers_url: `${api}/subscribers`,
      subscription_url: `${api}/subscription`,
      tags_url: `${api}/tags`,
      teams_url: `${api}/teams`,
      trees_url: `${api}/git/trees{/sha}`,
      clone_url: `${this.webUrl}/${full}.git`,
      mirror_url: null,
      hooks_url: `${api}/hooks`,
      svn_url: `${this.webUrl}/${full}`,
      homepage: null,
      language: null,
      forks_count: 0,
      forks: 0,
      stargazers_count: 0,
      watchers_count: 0,
      watchers: 0,
      size: 0,
      default_branch: repo.default_branch,
      open_issues_count: openIssues,
      open_issues: openIssues,
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: true,
      has_wiki: true,
      has_pages: false,
      has_downloads: true,
      has_discussions: false,
      archived: false,
      disabled: false,
      visibility: repo.private ? 'private' : 'public',
      pushed_at: repo.pushed_at.toISOString(),
      created_at: repo.created_at.toISOString(),
      updated_at: repo.updated_at.toISOString(),
      allow_forking: true,
      web_commit_signoff_required: false,
      license: null,
    };
  }

  fullRepository(repo: EmuRepo) {
    const parent = repo.fork_of ? this.model.repo(repo.fork_of) : null;
    return {
      ...this.repository(repo),
      network_count: 0,
      subscribers_count: 0,
      ...(parent ? { parent: this.repository(parent), source: this.repository(parent) } : {}),
    };
  }

  #branch(fullName: string, ref: string, sha: string, deleted = false) {
    if (deleted) {
      // The fork is gone: GitHub keeps the label and sha, and sends `repo: null`.
      const owner = fullName.split('/')[0]!;
      return { label: `${owner}:${ref}`, ref, sha, user: this.user(owner), repo: null };
    }
    const repo = this.model.repo(fullName);
    return {
      label: `${repo.owner}:${ref}`,
      ref,
      sha,
      user: this.user(repo.owner),
      repo: this.repository(repo),
    };
  }

  pullSimple(pull: EmuPull) {
    const api = `${this.apiUrl}/repos/${pull.base_repo}`;
    const self = `${api}/pulls/${pull.number}`;
    const html = `${this.webUrl}/${pull.base_repo}/pull/${pull.number}`;
    return {
      url: self,
      id: pull.id,
      node_id: Buffer.from(`011:PullRequest${pull.id}`).toString('base64'),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: `${api}/issues/${pull.number}`,
      commits_url: `${self}/commits`,
      review_comments_url: `${self}/comments`,
      review_comment_url: `${api}/pulls/comments{/number}`,
      comments_url: `${api}/issues/${pull.number}/comments`,
      statuses_url: `${api}/statuses/${pull.head_sha}`,
      number: pull.number,
      state: pull.state,
      locked: false,
      title: pull.title,
      user: this.user(pull.author),
      body: pull.body || null,
      labels: [],
      milestone: null,
      active_lock_reason: null,
      created_at: pull.created_at.toISOString(),
      updated_at: pull.updated_at.toISOString(),
      closed_at: pull.closed_at?.toISOString() ?? null,
      merged_at: pull.merged_at?.toISOString() ?? null,
      merge_commit_sha: pull.merged ? pull.head_sha : null,
      assignee: null,
      assignees: [],
      requested_reviewers: pull.requested_reviewers.map((login) => this.user(login)),
      requested_teams: pull.requested_teams.map((slug) => this.team(pull.base_repo.split('/')[0]!, slug)),
      head: this.#branch(pull.head_repo, pull.head_ref, pull.head_sha, pull.head_repo_deleted),
      base: this.#branch(pull.base_repo, pull.base_ref, pull.base_sha),
      _links: {
        self: { href: self },
        html: { href: html },
        issue: { href: `${api}/issues/${pull.number}` },
        comments: { href: `${api}/issues/${pull.number}/comments` },
        review_comments: { href: `${self}/comments` },
        review_comment: { href: `${api}/pulls/comments{/number}` },
        commits: { href: `${self}/commits` },
        statuses: { href: `${api}/statuses/${pull.head_sha}` },
      },
      author_association: this.model.association(pull.base_repo, pull.author),
      auto_merge: null,
      draft: pull.draft,
    };
  }

  pull(pull: EmuPull) {
    return {
      ...this.pullSimple(pull),
      merged: pull.merged,
      ...this.#mergeability(pull),
      merged_by: pull.merged_by ? this.user(pull.merged_by) : null,
      comments: pull.comments.length,
      review_comments: pull.threads.reduce((n, t) => n + t.comments.length, 0),
      maintainer_can_modify: false,
      commits: pull.commits,
      additions: pull.additions,
      deletions: pull.deletions,
      changed_files: pull.changed_files,
    };
  }

  /** REST's `mergeable` (null while GitHub computes it), `rebaseable` and `mergeable_state`. */
  #mergeability(pull: EmuPull) {
    if (pull.state !== 'open') return { mergeable: null, rebaseable: null, mergeable_state: 'unknown' };
    const mergeable = this.model.mergeable(pull);
    const known = mergeable === 'UNKNOWN' ? null : mergeable === 'MERGEABLE';
    return {
      mergeable: known,
      rebaseable: known,
      mergeable_state: this.model.mergeStateStatus(pull).toLowerCase(),
    };
  }

  /** `GET /repos/{o}/{r}/commits/{ref}/check-runs` (the latest run of each name). */
  checkRuns(fullName: string, sha: string, slice: (list: EmuCheckRun[]) => EmuCheckRun[]) {
    const { runs } = this.model.checksOf(sha);
    return {
      total_count: runs.length,
      check_runs: slice(runs).map((r) => ({
        id: r.id,
        head_sha: r.head_sha,
        node_id: Buffer.from(`010:CheckRun${r.id}`).toString('base64'),
        external_id: '',
        url: `${this.apiUrl}/repos/${fullName}/check-runs/${r.id}`,
        html_url: `${this.webUrl}/${fullName}/runs/${r.id}`,
        details_url: r.details_url,
        status: r.status,
        conclusion: r.conclusion,
        name: r.name,
        output: { title: r.title, summary: r.summary, text: null, annotations_count: 0 },
      })),
    };
  }

  /** `GET /repos/{o}/{r}/commits/{ref}/status`: the combined state and the latest status of each context. */
  combinedStatus(fullName: string, sha: string, slice: (list: EmuStatus[]) => EmuStatus[]) {
    const { statuses } = this.model.checksOf(sha);
    const state = statuses.some((s) => s.state === 'error' || s.state === 'failure')
      ? 'failure'
      : statuses.length === 0 || statuses.some((s) => s.state === 'pending')
        ? 'pending'
        : 'success';
    return {
      state,
      sha,
      total_count: statuses.length,
      statuses: slice(statuses).map((s) => ({
        id: s.id,
        url: `${this.apiUrl}/repos/${fullName}/statuses/${sha}`,
        state: s.state,
        description: s.description,
        target_url: s.target_url,
        context: s.context,
      })),
      repository: this.repository(this.model.repo(fullName)),
    };
  }

  review(pull: EmuPull, review: EmuReview) {
    const html = `${this.webUrl}/${pull.base_repo}/pull/${pull.number}`;
    return {
      id: review.id,
      node_id: Buffer.from(`017:PullRequestReview${review.id}`).toString('base64'),
      user: this.user(review.login),
      body: review.body,
      state: review.state,
      html_url: `${html}#pullrequestreview-${review.id}`,
      pull_request_url: `${this.apiUrl}/repos/${pull.base_repo}/pulls/${pull.number}`,
      _links: {
        html: { href: `${html}#pullrequestreview-${review.id}` },
        pull_request: { href: `${this.apiUrl}/repos/${pull.base_repo}/pulls/${pull.number}` },
      },
      submitted_at: review.submitted_at.toISOString(),
      commit_id: review.commit_id,
      author_association: this.model.association(pull.base_repo, review.login),
    };
  }
}
