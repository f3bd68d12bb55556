import { createHash, randomUUID } from 'node:crypto';
import { EmulatorError as HttpEmulatorError } from '../http.ts';

/**
 * The state of an emulated Azure DevOps Services: organizations, projects (with visibility),
 * Git repositories (with forks), pull requests (status, draft, reviewers and votes, iterations
 * with their changes, commits, the test merge computed after each push, comment threads) and
 * branch policies with their evaluations on each PR (build validation, status checks, minimum
 * reviewers, comment resolution). Shapes follow the REST API 7.1 reference ("Git" and "Policy"
 * areas) and the published specification (MicrosoftDocs/vsts-rest-api-specs,
 * `specification/git/7.1/git.json`, `specification/policy/7.1/policy.json`).
 */

export type PullStatus = 'active' | 'completed' | 'abandoned';
export type Visibility = 'private' | 'public';
/** `PullRequestAsyncStatus`: the test merge Azure DevOps computes after each push. */
export type MergeStatus = 'notSet' | 'queued' | 'conflicts' | 'succeeded' | 'rejectedByPolicy' | 'failure';
/** `PolicyEvaluationStatus`. */
export type EvaluationStatus = 'queued' | 'running' | 'approved' | 'rejected' | 'notApplicable' | 'broken';
/** `CommentThreadStatus` (system threads have none). */
export type ThreadStatus = 'active' | 'fixed' | 'wontFix' | 'closed' | 'byDesign' | 'pending';
/** `GitStatusState`, as a service posts it for a status policy. */
export type StatusState = 'notSet' | 'pending' | 'succeeded' | 'failed' | 'error' | 'notApplicable';

/**
 * Branch policy types by their shared ids (Microsoft's Azure DevOps CLI extension,
 * `azext_devops/dev/common/const.py`) and the display names "Policy Types - List" gives them.
 */
export const POLICY_TYPES = {
  build: { id: '0609b952-1397-4640-95ec-e00a01b2c241', displayName: 'Build' },
  status: { id: 'cbdc66da-9728-4af8-aada-9a5a32e4a226', displayName: 'Status' },
  minimumReviewers: {
    id: 'fa4e907d-c16b-4a4c-9dfa-4906e5d171dd',
    displayName: 'Minimum number of reviewers',
  },
  /** vsts-rest-api-specs `specification/policy/7.1/httpExamples/configurations/GET__policy_configurations.json`. */
  requiredReviewers: { id: 'fd2167ab-b0be-447a-8ec8-39368250530e', displayName: 'Required reviewers' },
  comments: { id: 'c6a1889d-b943-4856-b76f-9e46bb6b0df2', displayName: 'Comment requirements' },
} as const;
export type PolicyKind = keyof typeof POLICY_TYPES;

export interface AzIdentity {
  id: string;
  uniqueName: string;
  displayName: string;
  /** A group or team: can be a reviewer, cannot vote itself. */
  isContainer: boolean;
}

export interface AzProject {
  id: string;
  org: string;
  name: string;
  visibility: Visibility;
}

export interface AzRepo {
  id: string;
  org: string;
  project: AzProject;
  name: string;
  /** The repository this one was forked from. */
  parentId: string | null;
  /** Branch name → head commit. */
  branches: Map<string, string>;
}

export interface AzReviewer {
  identity: AzIdentity;
  /** 10 approved, 5 approved with suggestions, 0 none, -5 waiting for author, -10 rejected. */
  vote: number;
  hasDeclined: boolean;
  isRequired: boolean;
  /** Groups this person's vote counts for. */
  votedFor: AzIdentity[];
}

export interface AzChange {
  path: string;
  changeType: 'add' | 'edit' | 'delete' | 'rename';
  isFolder?: boolean;
}

export interface AzIteration {
  id: number;
  sourceCommit: string;
  targetCommit: string;
  createdDate: Date;
  changes: AzChange[];
}

/** A branch policy of a repository's branch ("Configurations": type, blocking, settings). */
export interface AzPolicy {
  id: number;
  kind: PolicyKind;
  repo: AzRepo;
  branch: string;
  isBlocking: boolean;
  isEnabled: boolean;
  settings: Record<string, unknown>;
  createdBy: AzIdentity;
  createdDate: Date;
}

/** One build of a build validation policy: the commits it ran on, and its error lines. */
export interface AzBuild {
  id: number;
  sourceCommit: string;
  targetCommit: string;
  startedDate: Date;
  errors: string[];
}

/** One policy running on one PR (`PolicyEvaluationRecord`). */
export interface AzEvaluation {
  id: string;
  policy: AzPolicy;
  status: EvaluationStatus;
  startedDate: Date;
  completedDate: Date | null;
  /** Build validation: its latest build (kept after a push, then no longer current). */
  build: AzBuild | null;
  /**
   * Build validation: the build's result has expired (branch policies, "Build expiration": the
   * target branch moved) and nothing runs until someone queues it again (`context.isExpired`).
   */
  expired: boolean;
}

/**
 * A status a service posted on the PR ("Pull Request Statuses - Create"): on the PR itself, or on
 * one iteration (`iterationId`: it "applies only to the code that was evaluated and none of the
 * future updates", Azure Repos docs, "Pull request status"). A new status of the same context
 * (genre and name) replaces the shown one; every one posted stays in the list.
 */
export interface AzPullStatus {
  id: number;
  genre: string | null;
  name: string;
  state: StatusState;
  description: string | null;
  targetUrl: string | null;
  iterationId: number | null;
  createdBy: AzIdentity;
  creationDate: Date;
}

export interface AzComment {
  id: number;
  parentCommentId: number;
  author: AzIdentity;
  content: string;
  commentType: 'text' | 'codeChange' | 'system';
  isDeleted: boolean;
  publishedDate: Date;
}

/** A comment thread: people's (with a status, maybe on a file line) or a system one (none). */
export interface AzThread {
  id: number;
  status: ThreadStatus | null;
  filePath: string | null;
  /** Line in the right (new) file, or in the left (old) one for a comment on a deleted line. */
  line: { side: 'right' | 'left'; line: number } | null;
  comments: AzComment[];
  isDeleted: boolean;
  publishedDate: Date;
  lastUpdatedDate: Date;
  properties: Record<string, { $type: string; $value: string | number }>;
}

export interface AzPull {
  id: number;
  /** The target repository (where the PR lives). */
  repo: AzRepo;
  /** The repository of the source branch: the target itself, or a fork of it. */
  sourceRepo: AzRepo;
  sourceRefName: string;
  targetRefName: string;
  title: string;
  /** Markdown, any length; lists show at most its first 400 characters. */
  description: string;
  status: PullStatus;
  isDraft: boolean;
  createdBy: AzIdentity;
  creationDate: Date;
  closedDate: Date | null;
  reviewers: AzReviewer[];
  iterations: AzIteration[];
  /** Commit ids, oldest first. */
  commits: string[];
  targetCommit: string;
  /** `queued` after each push, until the next read computes it where `mergeOnRead` (`settleMerge`). */
  mergeStatus: MergeStatus;
  /** Whether the source and target conflict: what the next computed merge says. */
  conflicts: boolean;
  evaluations: AzEvaluation[];
  threads: AzThread[];
  /** Statuses posted on the PR, oldest first. */
  statuses: AzPullStatus[];
  /** Completed with "delete source branch after merging" (`completionOptions.deleteSourceBranch`). */
  deletedSourceBranch: boolean;
}

/** An emulator error with the `typeKey` Azure DevOps puts beside its message. */
export class EmulatorError extends HttpEmulatorError {
  constructor(
    status: number,
    message: string,
    readonly typeKey = 'InvalidArgumentValueException',
  ) {
    super(status, message);
  }
}

const lower = (s: string) => s.toLowerCase();
let commitSeq = 0;
const newCommit = (seed: string) =>
  createHash('sha1').update(`${seed}:${++commitSeq}:${Math.random()}`).digest('hex');

export class AzureDevOpsModel {
  readonly projects = new Map<string, AzProject>();
  readonly repos = new Map<string, AzRepo>();
  readonly identities = new Map<string, AzIdentity>();
  readonly pulls: AzPull[] = [];
  readonly policies: AzPolicy[] = [];
  /** PR ids are unique within an organization (a project collection). */
  readonly #nextPull = new Map<string, number>();
  #nextPolicy = 0;
  #nextBuild = 1000;
  /** The identity Azure DevOps writes system threads as. */
  readonly system: AzIdentity = {
    id: '41113706-4320-4083-9150-925feb93fc22',
    uniqueName: '',
    displayName: '[DefaultCollection]\\Project Collection Service Accounts',
    isContainer: true,
  };

  /**
   * Whether a test merge stays `queued` after a push until the next read of the PR (which finds
   * it queued and has it computed for the read after: `settleMerge`). Off, it is computed at once,
   * so that reads in a row answer alike — Azure DevOps computes it within moments of the push.
   */
  mergeOnRead = false;

  constructor(readonly now: () => Date = () => new Date()) {}

  /** A person, created on first use; `uniqueName` is the sign-in name (an e-mail address). */
  user(uniqueName: string, displayName?: string): AzIdentity {
    const key = lower(uniqueName);
    let id = this.identities.get(key);
    if (!id) {
      id = {
        id: randomUUID(),
        uniqueName,
        displayName: displayName ?? uniqueName.split('@')[0]!,
        isContainer: false,
      };
      this.identities.set(key, id);
    }
    return id;
  }

  /** A group or team, named as Azure DevOps shows it (`[Project]\Team`). */
  group(displayName: string): AzIdentity {
    const key = lower(`group:${displayName}`);
    let id = this.identities.get(key);
    if (!id) {
      const uniqueName = `vstfs:///Classification/TeamProject/${randomUUID()}\\${displayName.split('\\').at(-1)}`;
      id = { id: randomUUID(), uniqueName, displayName, isContainer: true };
      this.identities.set(key, id);
    }
    return id;
  }

  createProject(input: { org: string; name: string; visibility?: Visibility }): AzProject {
    const key = lower(`${input.org}/${input.name}`);
    const existing = this.projects.get(key);
    if (existing) {
      if (input.visibility) existing.visibility = input.visibility;
      return existing;
    }
    const project = {
      id: randomUUID(),
      org: input.org,
      name: input.name,
      visibility: input.visibility ?? 'private',
    };
    this.projects.set(key, project);
    return project;
  }

  project(org: string, nameOrId: string): AzProject | undefined {
    const byName = this.projects.get(lower(`${org}/${nameOrId}`));
    if (byName) return byName;
    return [...this.projects.values()].find(
      (p) => lower(p.org) === lower(org) && lower(p.id) === lower(nameOrId),
    );
  }

  /** `path` is `org/project/repo`; a fork names its parent's path in `fork_of`. */
  createRepo(path: string, options: { visibility?: Visibility; fork_of?: string } = {}): AzRepo {
    const [org, projectName, name] = splitPath(path);
    const project = this.createProject({
      org,
      name: projectName,
      ...(options.visibility ? { visibility: options.visibility } : {}),
    });
    const parent = options.fork_of ? this.repo(options.fork_of) : null;
    const repo: AzRepo = {
      id: randomUUID(),
      org,
      project,
      name,
      parentId: parent?.id ?? null,
      branches: new Map([['main', parent?.branches.get('main') ?? newCommit(path)]]),
    };
    this.repos.set(lower(path), repo);
    return repo;
  }

  /** A repository by `org/project/repo`; throws when there is none. */
  repo(path: string): AzRepo {
    const repo = this.repos.get(lower(path));
    if (!repo) throw new Error(`no repository ${path}`);
    return repo;
  }

  /** A repository of a project by name or id, as the REST API resolves `{repositoryId}`. */
  findRepo(project: AzProject, nameOrId: string): AzRepo | undefined {
    return [...this.repos.values()].find(
      (r) => r.project === project && (lower(r.name) === lower(nameOrId) || lower(r.id) === lower(nameOrId)),
    );
  }

  repoById(id: string): AzRepo | undefined {
    return [...this.repos.values()].find((r) => r.id === id);
  }

  /** Pushes a new commit to `branch`; returns it. */
  push(path: string, branch: string): string {
    const commit = newCommit(`${path}:${branch}`);
    this.repo(path).branches.set(branch, commit);
    return commit;
  }

  openPull(
    path: string,
    input: {
      source_branch: string;
      /** `org/project/repo` of a fork holding the branch. */
      source_repo?: string;
      target_branch?: string;
      title?: string;
      description?: string;
      author?: string;
      draft?: boolean;
      /** Changed paths, or how many files changed. */
      files?: string[] | number;
      commits?: number;
      created_at?: Date;
    },
  ): AzPull {
    const repo = this.repo(path);
    const sourceRepo = input.source_repo ? this.repo(input.source_repo) : repo;
    const id = (this.#nextPull.get(lower(repo.org)) ?? 0) + 1;
    this.#nextPull.set(lower(repo.org), id);
    const source =
      sourceRepo.branches.get(input.source_branch) ??
      this.push(sourceRepo === repo ? path : input.source_repo!, input.source_branch);
    const target = repo.branches.get(input.target_branch ?? 'main') ?? newCommit('target');
    const commits = Array.from({ length: Math.max(1, input.commits ?? 1) }, () => newCommit('c'));
    commits[commits.length - 1] = source;
    const pull: AzPull = {
      id,
      repo,
      sourceRepo,
      sourceRefName: `refs/heads/${input.source_branch}`,
      targetRefName: `refs/heads/${input.target_branch ?? 'main'}`,
      title: input.title ?? `Changes on ${input.source_branch}`,
      description: input.description ?? '',
      status: 'active',
      isDraft: input.draft ?? false,
      createdBy: this.user(input.author ?? 'agent@example.com'),
      creationDate: input.created_at ?? this.now(),
      closedDate: null,
      reviewers: [],
      iterations: [],
      commits,
      targetCommit: target,
      mergeStatus: 'queued',
      conflicts: false,
      evaluations: [],
      threads: [],
      statuses: [],
      deletedSourceBranch: false,
    };
    pull.iterations.push({
      id: 1,
      sourceCommit: source,
      targetCommit: target,
      createdDate: this.now(),
      changes: changesOf(input.files ?? 1),
    });
    this.#queueMerge(pull);
    this.pulls.push(pull);
    return pull;
  }

  pull(path: string, id: number): AzPull {
    const repo = this.repo(path);
    const pull = this.pulls.find((p) => p.repo.org === repo.org && p.id === id);
    if (!pull) throw new Error(`no pull request ${id} in ${path}`);
    return pull;
  }

  /** A push to the PR's source branch: a new iteration with these changes, and new commits. */
  pushToPull(pull: AzPull, input: { files?: string[] | number; commits?: number } = {}): AzIteration {
    const added = Array.from({ length: Math.max(1, input.commits ?? 1) }, () => newCommit('c'));
    pull.commits.push(...added);
    const head = added.at(-1)!;
    pull.sourceRepo.branches.set(pull.sourceRefName.slice('refs/heads/'.length), head);
    const iteration: AzIteration = {
      id: pull.iterations.length + 1,
      sourceCommit: head,
      targetCommit: pull.targetCommit,
      createdDate: this.now(),
      changes: changesOf(input.files ?? 1),
    };
    pull.iterations.push(iteration);
    // A push starts a new test merge, and resets what depended on the old source: build
    // validations queue a new build (the old one is no longer current); status policies set to
    // "reset on new changes" wait for a new status.
    this.#queueMerge(pull);
    for (const e of this.evaluations(pull)) {
      const s = e.policy.settings;
      if (e.policy.kind === 'build' && s.manualQueueOnly !== true) {
        this.#requeue(e);
        e.expired = false;
      }
      if (e.policy.kind === 'status' && s.invalidateOnSourceUpdate === true) this.#requeue(e);
      // "When new changes are pushed": "Reset all approval votes" (`resetOnSourcePush`) clears
      // votes of 10 and 5; "Reset all code reviewer votes" (`resetRejectionsOnSourcePush`) clears
      // every vote (Azure Repos docs, "Branch policies", minimum number of reviewers).
      if (
        e.policy.kind === 'minimumReviewers' &&
        (s.resetOnSourcePush === true || s.resetRejectionsOnSourcePush === true)
      )
        for (const r of pull.reviewers) if (r.vote > 0 || s.resetRejectionsOnSourcePush === true) r.vote = 0;
    }
    this.#systemThread(pull, `The reference ${pull.sourceRefName} was updated.`, {
      CodeReviewThreadType: { $type: 'System.String', $value: 'RefUpdate' },
      CodeReviewRefNewHeadCommit: { $type: 'System.String', $value: head },
    });
    return iteration;
  }

  /** The source commit of the PR's last iteration: its head. */
  head(pull: AzPull): string {
    return pull.iterations.at(-1)!.sourceCommit;
  }

  /** Whether the PR's source and target conflict; the merge is computed again. */
  setConflicts(pull: AzPull, conflicts: boolean): void {
    pull.conflicts = conflicts;
    this.#queueMerge(pull);
  }

  /** A new test merge: queued until the next read (`mergeOnRead`), else computed at once. */
  #queueMerge(pull: AzPull): void {
    pull.mergeStatus = 'queued';
    if (!this.mergeOnRead) this.settleMerge(pull);
  }

  /** Sets the merge status as is (`rejectedByPolicy`, `failure`, `notSet`: answers a test wants). */
  setMergeStatus(pull: AzPull, status: MergeStatus): void {
    pull.mergeStatus = status;
  }

  /**
   * A read after a push finds the merge still queued; the service computes it meanwhile, so the
   * next read has the result (Azure DevOps computes it asynchronously within moments).
   */
  settleMerge(pull: AzPull): void {
    if (pull.mergeStatus === 'queued') pull.mergeStatus = pull.conflicts ? 'conflicts' : 'succeeded';
  }

  // ---- branch policies and their evaluations ------------------------------------------------

  /**
   * A branch policy on `branch` of the repository at `path` (settings as "Configurations - Create"
   * takes them). Build validation: `{displayName?, manualQueueOnly?, validDuration?}`; status:
   * `{statusGenre, statusName, defaultDisplayName?, invalidateOnSourceUpdate?}`; minimum reviewers:
   * `{minimumApproverCount}`.
   */
  addPolicy(
    path: string,
    kind: PolicyKind,
    options: {
      branch?: string;
      blocking?: boolean;
      enabled?: boolean;
      settings?: Record<string, unknown>;
    } = {},
  ): AzPolicy {
    const repo = this.repo(path);
    const id = ++this.#nextPolicy;
    const branch = options.branch ?? 'main';
    const scope = [{ refName: `refs/heads/${branch}`, matchKind: 'Exact', repositoryId: repo.id }];
    const defaults: Record<PolicyKind, Record<string, unknown>> = {
      build: {
        buildDefinitionId: 100 + id,
        queueOnSourceUpdateOnly: true,
        manualQueueOnly: false,
        validDuration: 720,
      },
      status: { invalidateOnSourceUpdate: true, policyApplicability: null },
      minimumReviewers: {
        minimumApproverCount: 1,
        creatorVoteCounts: false,
        allowDownvotes: false,
        resetOnSourcePush: false,
      },
      requiredReviewers: { requiredReviewerIds: [], creatorVoteCounts: false, message: null },
      comments: {},
    };
    const policy: AzPolicy = {
      id,
      kind,
      repo,
      branch,
      isBlocking: options.blocking ?? true,
      isEnabled: options.enabled ?? true,
      settings: { ...defaults[kind], ...options.settings, scope },
      createdBy: this.user('admin@example.com'),
      createdDate: this.now(),
    };
    this.policies.push(policy);
    return policy;
  }

  /**
   * The PR's evaluations, one per enabled policy of its target branch (created on first sight,
   * queued). Reviewer and comment policies are evaluated from the PR as it is now.
   */
  evaluations(pull: AzPull): AzEvaluation[] {
    const target = pull.targetRefName.slice('refs/heads/'.length);
    for (const policy of this.policies) {
      if (policy.repo !== pull.repo || policy.branch !== target || !policy.isEnabled) continue;
      if (pull.evaluations.some((e) => e.policy === policy)) continue;
      pull.evaluations.push({
        id: randomUUID(),
        policy,
        status: 'queued',
        startedDate: this.now(),
        completedDate: null,
        build: null,
        expired: false,
      });
    }
    const live = pull.evaluations.filter((e) => e.policy.isEnabled);
    for (const e of live) {
      if (e.policy.kind === 'minimumReviewers') e.status = this.#minimumReviewers(pull, e.policy.settings);
      if (e.policy.kind === 'requiredReviewers') e.status = this.#requiredReviewers(pull, e.policy.settings);
      if (e.policy.kind === 'comments')
        e.status = pull.threads.some((t) => isOpen(t)) ? 'rejected' : 'approved';
    }
    return live;
  }

  /**
   * "Require a minimum number of reviewers" (Azure Repos docs, "Branch policies"): at least
   * `minimumApproverCount` people approve (10 or 5); the creator's vote counts only with
   * `creatorVoteCounts`; a vote of −5 or −10 holds the PR unless `allowDownvotes` ("Allow
   * completion even if some reviewers vote to wait or reject"). Groups do not vote.
   */
  #minimumReviewers(pull: AzPull, s: Record<string, unknown>): EvaluationStatus {
    const people = pull.reviewers.filter(
      (r) => !r.identity.isContainer && (s.creatorVoteCounts === true || r.identity !== pull.createdBy),
    );
    if (s.allowDownvotes !== true && people.some((r) => r.vote <= -5)) return 'rejected';
    const approvals = people.filter((r) => r.vote >= 5).length;
    return approvals >= Number(s.minimumApproverCount ?? 1) ? 'approved' : 'queued';
  }

  /**
   * "Automatically include code reviewers" made required: each reviewer of `requiredReviewerIds`
   * (a person, or a group answered by a member's vote for it, `votedFor`) approves — or, with
   * `minimumApproverCount`, that many of them; a rejection by one of them holds the PR.
   */
  #requiredReviewers(pull: AzPull, s: Record<string, unknown>): EvaluationStatus {
    const ids = Array.isArray(s.requiredReviewerIds) ? (s.requiredReviewerIds as string[]) : [];
    const votes = ids.map((id) => {
      const counted = (r: AzReviewer) => s.creatorVoteCounts === true || r.identity !== pull.createdBy;
      const own = pull.reviewers.find((r) => r.identity.id === id && !r.identity.isContainer && counted(r));
      const forGroup = pull.reviewers.filter(
        (r) => !r.identity.isContainer && counted(r) && r.votedFor.some((g) => g.id === id),
      );
      const all = [...(own ? [own] : []), ...forGroup].map((r) => r.vote);
      return all.some((v) => v <= -5) ? -10 : all.some((v) => v >= 5) ? 10 : 0;
    });
    if (votes.some((v) => v < 0)) return 'rejected';
    const needed = s.minimumApproverCount != null ? Number(s.minimumApproverCount) : ids.length;
    return votes.filter((v) => v > 0).length >= needed ? 'approved' : 'queued';
  }

  #evaluation(pull: AzPull, policy: AzPolicy): AzEvaluation {
    const e = this.evaluations(pull).find((x) => x.policy === policy);
    if (!e) throw new Error(`policy ${policy.id} does not apply to pull request ${pull.id}`);
    return e;
  }

  #requeue(e: AzEvaluation): void {
    e.status = 'queued';
    e.startedDate = this.now();
    e.completedDate = null;
  }

  /**
   * A build of a build validation policy: `running`, or done (`succeeded` / `failed`, with error
   * lines). It runs on the PR's head unless `commit` names another — a build of a commit since
   * replaced, reporting late.
   */
  build(
    pull: AzPull,
    policy: AzPolicy,
    result: 'running' | 'succeeded' | 'failed',
    options: { errors?: string[]; commit?: string } = {},
  ): AzBuild {
    const e = this.#evaluation(pull, policy);
    const commit = options.commit ?? this.head(pull);
    // A result finishes the build running on that commit, if there is one.
    const running = e.status === 'running' && e.build?.sourceCommit === commit ? e.build : null;
    const build: AzBuild = (result !== 'running' && running) || {
      id: ++this.#nextBuild,
      sourceCommit: commit,
      targetCommit: pull.targetCommit,
      startedDate: this.now(),
      errors: [],
    };
    build.errors = options.errors ?? [];
    e.build = build;
    e.expired = false;
    e.status = result === 'running' ? 'running' : result === 'succeeded' ? 'approved' : 'rejected';
    e.completedDate = result === 'running' ? null : this.now();
    return build;
  }

  /**
   * The build of a build validation policy expires (branch policies, "Build expiration": the
   * target branch was updated and the passing build is too old). Azure DevOps then waits for
   * someone to queue it again: the evaluation is `queued` with `context.isExpired`, and nothing
   * runs.
   */
  expireBuild(pull: AzPull, policy: AzPolicy): void {
    const e = this.#evaluation(pull, policy);
    if (!e.build) throw new Error(`policy ${policy.id} has no build on pull request ${pull.id} to expire`);
    e.expired = true;
    e.status = 'queued';
    e.completedDate = null;
  }

  /** A service posts the status a status policy requires: the policy follows its state. */
  postStatus(pull: AzPull, policy: AzPolicy, state: StatusState): AzPullStatus {
    const s = policy.settings;
    return this.postPullStatus(pull, {
      genre: typeof s.statusGenre === 'string' ? s.statusGenre : null,
      name: String(s.statusName ?? `status-${policy.id}`),
      state,
    });
  }

  /**
   * A status posted on the PR ("Pull Request Statuses - Create"), with or without a policy that
   * requires it: on the PR, or on an iteration (`iteration`: its id, or `head` for the last one).
   * A status policy of the same genre and name follows its state.
   */
  postPullStatus(
    pull: AzPull,
    input: {
      name: string;
      genre?: string | null;
      state: StatusState;
      description?: string;
      target_url?: string;
      iteration?: number | 'head';
      author?: string;
    },
  ): AzPullStatus {
    const iterationId = input.iteration === 'head' ? pull.iterations.at(-1)!.id : (input.iteration ?? null);
    if (iterationId !== null && !pull.iterations.some((it) => it.id === iterationId))
      throw new Error(`no iteration ${iterationId} on pull request ${pull.id}`);
    const status: AzPullStatus = {
      // "The status ID is unique within the pull request across all iterations."
      id: (pull.statuses.at(-1)?.id ?? 0) + 1,
      genre: input.genre ?? null,
      name: input.name,
      state: input.state,
      description: input.description ?? null,
      targetUrl: input.target_url ?? null,
      iterationId,
      createdBy: this.user(input.author ?? 'ci@example.com'),
      creationDate: this.now(),
    };
    pull.statuses.push(status);
    const same = (a: unknown, b: string | null) => lower(String(a ?? '')) === lower(b ?? '');
    for (const e of this.evaluations(pull)) {
      const s = e.policy.settings;
      if (
        e.policy.kind !== 'status' ||
        !same(s.statusName, status.name) ||
        !same(s.statusGenre, status.genre)
      )
        continue;
      const statuses: Record<StatusState, EvaluationStatus> = {
        notSet: 'queued',
        pending: 'running',
        succeeded: 'approved',
        failed: 'rejected',
        error: 'rejected',
        notApplicable: 'notApplicable',
      };
      e.status = statuses[status.state];
      e.completedDate = status.state === 'pending' || status.state === 'notSet' ? null : this.now();
    }
    return status;
  }

  /** Sets an evaluation's status as is (`broken`, `notApplicable`: answers a test wants). */
  setEvaluation(pull: AzPull, policy: AzPolicy, status: EvaluationStatus): void {
    this.#evaluation(pull, policy).status = status;
  }

  // ---- comment threads ------------------------------------------------------------------------

  /** A new thread by `author`: on the PR, or on a file line (`side` left: a deleted line). */
  comment(
    pull: AzPull,
    input: {
      author: string;
      content: string;
      path?: string;
      line?: number;
      side?: 'right' | 'left';
      status?: ThreadStatus;
    },
  ): AzThread {
    const thread: AzThread = {
      id: (pull.threads.at(-1)?.id ?? 0) + 1,
      status: input.status ?? 'active',
      filePath: input.path ?? null,
      line: input.line !== undefined ? { side: input.side ?? 'right', line: input.line } : null,
      comments: [],
      isDeleted: false,
      publishedDate: this.now(),
      lastUpdatedDate: this.now(),
      properties: {
        'Microsoft.TeamFoundation.Discussion.SupportsMarkdown': { $type: 'System.Int32', $value: 1 },
      },
    };
    pull.threads.push(thread);
    this.reply(thread, input.author, input.content);
    return thread;
  }

  reply(thread: AzThread, author: string, content: string): AzComment {
    const comment: AzComment = {
      id: (thread.comments.at(-1)?.id ?? 0) + 1,
      parentCommentId: thread.comments.length > 0 ? 1 : 0,
      author: this.user(author),
      content,
      commentType: 'text',
      isDeleted: false,
      publishedDate: this.now(),
    };
    thread.comments.push(comment);
    thread.lastUpdatedDate = this.now();
    return comment;
  }

  /** Resolves (`fixed`, `wontFix`, `closed`, `byDesign`) or reactivates a thread. */
  setThreadStatus(thread: AzThread, status: ThreadStatus): void {
    thread.status = status;
    thread.lastUpdatedDate = this.now();
  }

  /** Deletes a comment (kept, `isDeleted`, without content); a thread whose comments are all deleted is deleted. */
  deleteComment(thread: AzThread, commentId: number): void {
    const comment = thread.comments.find((c) => c.id === commentId);
    if (!comment) throw new Error(`no comment ${commentId} in thread ${thread.id}`);
    comment.isDeleted = true;
    comment.content = '';
    thread.isDeleted = thread.comments.every((c) => c.isDeleted);
    thread.lastUpdatedDate = this.now();
  }

  /** What Azure DevOps writes into a PR itself (votes, pushes): a thread of one system comment, without status. */
  #systemThread(pull: AzPull, content: string, properties: AzThread['properties']): void {
    pull.threads.push({
      id: (pull.threads.at(-1)?.id ?? 0) + 1,
      status: null,
      filePath: null,
      line: null,
      comments: [
        {
          id: 1,
          parentCommentId: 0,
          author: this.system,
          content,
          commentType: 'system',
          isDeleted: false,
          publishedDate: this.now(),
        },
      ],
      isDeleted: false,
      publishedDate: this.now(),
      lastUpdatedDate: this.now(),
      properties,
    });
  }

  /**
   * Completes (merges) the PR. `delete_source_branch`: "Delete source branch after merging"
   * (`completionOptions.deleteSourceBranch`) — the branch is gone from its repository, and the
   * PR keeps its `sourceRefName` (it is still found by it).
   */
  complete(pull: AzPull, options: { delete_source_branch?: boolean } = {}): void {
    pull.status = 'completed';
    pull.closedDate = this.now();
    if (options.delete_source_branch) {
      pull.sourceRepo.branches.delete(pull.sourceRefName.slice('refs/heads/'.length));
      pull.deletedSourceBranch = true;
    }
  }

  abandon(pull: AzPull): void {
    pull.status = 'abandoned';
    pull.closedDate = this.now();
  }

  /** Adds a reviewer (a person by unique name, or a group made with `group()`). */
  addReviewer(pull: AzPull, who: string | AzIdentity, options: { required?: boolean } = {}): AzReviewer {
    const identity = typeof who === 'string' ? this.user(who) : who;
    let reviewer = pull.reviewers.find((r) => r.identity.id === identity.id);
    if (!reviewer) {
      reviewer = {
        identity,
        vote: 0,
        hasDeclined: false,
        isRequired: options.required ?? false,
        votedFor: [],
      };
      pull.reviewers.push(reviewer);
    }
    return reviewer;
  }

  /** A person's vote; voting makes them a reviewer. `forGroup`: the vote also answers that group. */
  vote(pull: AzPull, who: string, vote: -10 | -5 | 0 | 5 | 10, forGroup?: AzIdentity): void {
    const reviewer = this.addReviewer(pull, who);
    reviewer.vote = vote;
    this.#systemThread(pull, `${reviewer.identity.displayName} voted ${vote}`, {
      CodeReviewThreadType: { $type: 'System.String', $value: 'VoteUpdate' },
      CodeReviewVoteResult: { $type: 'System.String', $value: String(vote) },
    });
    if (forGroup && !reviewer.votedFor.some((g) => g.id === forGroup.id)) {
      reviewer.votedFor.push(forGroup);
      const group = this.addReviewer(pull, forGroup);
      group.vote = vote;
    }
  }
}

/** An open thread: active or pending, with a comment not deleted. */
const isOpen = (t: AzThread) =>
  !t.isDeleted && (t.status === 'active' || t.status === 'pending') && t.comments.some((c) => !c.isDeleted);

function changesOf(files: string[] | number): AzChange[] {
  const paths =
    typeof files === 'number' ? Array.from({ length: files }, (_, i) => `/src/file-${i + 1}.ts`) : files;
  return paths.map((path) => ({ path, changeType: 'edit' as const }));
}

export function splitPath(path: string): [string, string, string] {
  const parts = path.split('/');
  if (parts.length !== 3 || parts.some((p) => p === ''))
    throw new Error(`expected org/project/repo, got ${path}`);
  return parts as [string, string, string];
}
