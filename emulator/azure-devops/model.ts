import { createHash, randomUUID } from 'node:crypto';
import { EmulatorError as HttpEmulatorError } from '../http.ts';

/**
 * The state of an emulated Azure DevOps Services: organizations, projects (with visibility),
 * Git repositories (with forks), pull requests (status, draft, reviewers and votes, iterations
 * with their changes, commits). Shapes follow the REST API 7.1 reference ("Git" area) and the
 * published specification (MicrosoftDocs/vsts-rest-api-specs, `specification/git/7.1/git.json`).
 */

export type PullStatus = 'active' | 'completed' | 'abandoned';
export type Visibility = 'private' | 'public';

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

export interface AzPull {
  id: number;
  /** The target repository (where the PR lives). */
  repo: AzRepo;
  /** The repository of the source branch: the target itself, or a fork of it. */
  sourceRepo: AzRepo;
  sourceRefName: string;
  targetRefName: string;
  title: string;
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
  /** PR ids are unique within an organization (a project collection). */
  readonly #nextPull = new Map<string, number>();

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
      status: 'active',
      isDraft: input.draft ?? false,
      createdBy: this.user(input.author ?? 'agent@example.com'),
      creationDate: input.created_at ?? this.now(),
      closedDate: null,
      reviewers: [],
      iterations: [],
      commits,
      targetCommit: target,
    };
    pull.iterations.push({
      id: 1,
      sourceCommit: source,
      targetCommit: target,
      createdDate: this.now(),
      changes: changesOf(input.files ?? 1),
    });
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
    return iteration;
  }

  complete(pull: AzPull): void {
    pull.status = 'completed';
    pull.closedDate = this.now();
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
    if (forGroup && !reviewer.votedFor.some((g) => g.id === forGroup.id)) {
      reviewer.votedFor.push(forGroup);
      const group = this.addReviewer(pull, forGroup);
      group.vote = vote;
    }
  }
}

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
