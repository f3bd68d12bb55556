import type { Clock } from '../core/clock.ts';
import type { RepoRef } from '../providers/types.ts';

/**
 * How long an answer is believed. A public repository rarely turns private, and while it is
 * believed public the service token reads it for every owner, so this bounds how long that can
 * outlive a change to private; re-checks are cheap (conditional requests, 304s not charged).
 */
export const PUBLIC_ANSWER_TTL_MS = 60 * 60_000;
/** A repository not confirmed public is asked again after this (it may have been made public). */
export const NOT_PUBLIC_ANSWER_TTL_MS = 10 * 60_000;
/** Answers kept at most; the oldest go first (reports of many made-up repositories cannot grow memory). */
const MAX_ANSWERS = 50_000;

/**
 * Which repositories a code host confirmed public, per provider, remembered in memory for a
 * while so the service token's budget is not spent asking at every refresh. Failures are not
 * remembered; concurrent questions about one repository share one request.
 */
export class PublicRepos {
  readonly #answers = new Map<string, { isPublic: boolean; until: number }>();
  readonly #asking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly clock: Clock,
    private readonly ttl = { public: PUBLIC_ANSWER_TTL_MS, notPublic: NOT_PUBLIC_ANSWER_TTL_MS },
  ) {}

  /** Repository names compare without case on every host gitsync talks to. */
  static key(providerId: string, repo: RepoRef): string {
    return `${providerId}\u0000${repo.owner.toLowerCase()}/${repo.name.toLowerCase()}`;
  }

  /** The remembered answer while it is fresh, else undefined. */
  known(providerId: string, repo: RepoRef): boolean | undefined {
    const key = PublicRepos.key(providerId, repo);
    const answer = this.#answers.get(key);
    if (!answer) return undefined;
    if (answer.until > this.clock.now().getTime()) return answer.isPublic;
    this.#answers.delete(key);
    return undefined;
  }

  /** The remembered answer, else `ask()`'s (remembered unless it throws). */
  async isPublic(providerId: string, repo: RepoRef, ask: () => Promise<boolean>): Promise<boolean> {
    const known = this.known(providerId, repo);
    if (known !== undefined) return known;
    const key = PublicRepos.key(providerId, repo);
    let pending = this.#asking.get(key);
    if (!pending) {
      pending = ask()
        .then((isPublic) => {
          this.#remember(key, isPublic);
          return isPublic;
        })
        .finally(() => this.#asking.delete(key));
      this.#asking.set(key, pending);
    }
    return pending;
  }

  #remember(key: string, isPublic: boolean): void {
    const ttl = isPublic ? this.ttl.public : this.ttl.notPublic;
    this.#answers.delete(key);
    this.#answers.set(key, { isPublic, until: this.clock.now().getTime() + ttl });
    if (this.#answers.size > MAX_ANSWERS) this.#answers.delete(this.#answers.keys().next().value!);
  }
}
