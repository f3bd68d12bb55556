/**
 * The code-host side of a scenario: repositories, chats with PRs, a stream of ref reports that
 * looks like agents at work (re-pushes, new branches whose PR comes before, after or never), and
 * a "team" that changes PRs meanwhile (retitle, draft, merge, close).
 */
import { randomUUID } from 'node:crypto';
import type { GitHubEmulator } from '../../emulator/github/server.ts';
import type { Api, Owner, ReportTarget } from './harness.ts';

interface WorldChat {
  id: string;
  owner: Owner;
  repo: string;
  branch: string;
  version: number;
}

export class World {
  readonly chats: WorldChat[] = [];
  readonly #pending: ReportTarget[] = [];
  readonly #laterOpens = new Map<NodeJS.Timeout, () => void>();
  /** Deterministic choices (a seeded generator): a failing run can be repeated. */
  #seed: number;

  constructor(
    private readonly gh: GitHubEmulator,
    readonly repos: string[],
    seed = 1,
  ) {
    this.#seed = seed;
    for (const full of repos) {
      const [owner, name] = full.split('/');
      gh.model.createRepo({ owner: owner!, name: name! });
    }
  }

  random(): number {
    // mulberry32
    this.#seed = (this.#seed + 0x6d2b79f5) | 0;
    let t = this.#seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  /** Creates `n` chats through the API (each owner's own key), each on a first branch, most with a PR. */
  async createChats(api: Api, base: string, owners: Owner[], n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const owner = owners[i % owners.length]!;
      const chat: WorldChat = {
        id: randomUUID(),
        owner,
        repo: this.repos[i % this.repos.length]!,
        branch: '',
        version: 0,
      };
      const put = await api.call(base, 'PUT', `/api/v1/chats/${chat.id}`, {
        body: { owner_id: owner.id, title: `chaos chat ${i}` },
        key: owner.key,
      });
      if (put.status !== 201) throw new Error(`creating a chat: ${put.status} ${put.text}`);
      chat.branch = `c${i}-v0`;
      if (this.random() < 0.85)
        this.gh.model.openPull(chat.repo, { head: chat.branch, title: `PR of ${chat.branch}` });
      this.chats.push(chat);
      this.#pending.push(this.#target(chat));
    }
  }

  /** The next report: first every chat's first branch, then re-pushes and new branches. */
  nextReport(): ReportTarget {
    const first = this.#pending.shift();
    if (first) return first;
    const chat = this.pick(this.chats);
    if (this.random() < 0.5) {
      // A push to the same branch: moves the PR's head too when there is one.
      this.gh.model.push(chat.repo, chat.branch);
      return this.#target(chat);
    }
    chat.version++;
    chat.branch = `c${this.chats.indexOf(chat)}-v${chat.version}`;
    const roll = this.random();
    if (roll < 0.6) this.gh.model.openPull(chat.repo, { head: chat.branch, title: `PR of ${chat.branch}` });
    else if (roll < 0.8) {
      // The PR is opened a moment after the push, outside the agent: found by polling.
      const branch = chat.branch;
      const open = () => this.gh.model.openPull(chat.repo, { head: branch, title: `PR of ${branch}` });
      const timer = setTimeout(
        () => {
          this.#laterOpens.delete(timer);
          open();
        },
        300 + Math.floor(this.random() * 1500),
      );
      this.#laterOpens.set(timer, open);
    }
    return this.#target(chat);
  }

  /** Opens at once every PR still scheduled for later, so the final truth is fixed. */
  settle(): void {
    for (const [timer, open] of this.#laterOpens) {
      clearTimeout(timer);
      open();
    }
    this.#laterOpens.clear();
  }

  /** One change by the team on a random open PR. */
  mutate(): void {
    const repo = this.pick(this.repos);
    const open = (this.gh.model.pulls.get(repo.toLowerCase()) ?? []).filter((p) => p.state === 'open');
    if (open.length === 0) return;
    const pull = this.pick(open);
    const roll = this.random();
    if (roll < 0.4)
      this.gh.model.updatePull(repo, pull.number, {
        title: `${pull.title.split(' #')[0]} #${Math.floor(this.random() * 1e6)}`,
      });
    else if (roll < 0.6) this.gh.model.updatePull(repo, pull.number, { draft: !pull.draft });
    else if (roll < 0.8) this.gh.model.merge(repo, pull.number);
    else this.gh.model.close(repo, pull.number);
  }

  #target(chat: WorldChat): ReportTarget {
    const stored = `${this.gh.webUrl}/${chat.repo}`;
    // Reported sometimes with `.git`, as `git remote -v` shows it: one ref either way.
    const origin = this.random() < 0.3 ? `${stored}.git` : stored;
    return { chat_id: chat.id, origin, branch: chat.branch, stored_origin: stored, key: chat.owner.key };
  }
}
