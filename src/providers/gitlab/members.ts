import { z } from 'zod';
import type { CallOptions, Trust } from '../types.ts';
import type { GitLabClient } from './client.ts';

/**
 * GitLab's access levels (`lib/gitlab/access.rb`, `Gitlab::Access`): the names GitLab shows for
 * them, served as a thread author's `author_association`.
 */
const ACCESS_LEVEL_NAMES: Record<number, string> = {
  0: 'No access',
  5: 'Minimal Access',
  10: 'Guest',
  15: 'Planner',
  20: 'Reporter',
  30: 'Developer',
  40: 'Maintainer',
  50: 'Owner',
};

/** Developer (`Gitlab::Access::DEVELOPER`): the level that may push and update merge requests. */
const DEVELOPER = 30;

export const accessLevelName = (level: number | null): string | null =>
  level === null ? null : (ACCESS_LEVEL_NAMES[level] ?? `access level ${level}`);

/**
 * Whether an access level shows the person belongs to the project (SPEC §6.2): Developer or above
 * do; a lower level, or no membership at all, does not; unknown (not read): null.
 */
export function gitlabTrust(level: number | null | undefined): Trust {
  if (level === undefined) return null;
  return level !== null && level >= DEVELOPER;
}

/** `GET /projects/:id/members/all` (GitLab docs, "Group and project members API"): the fields read. */
const membersSchema = z.array(z.object({ id: z.number().int(), access_level: z.number().int() }));

/** How long a person's level in a project is kept: a feedback read asks again after it. */
const MEMBER_TTL_MS = 10 * 60_000;
/** `user_ids` asked in one request: GitLab's largest page, so that one page holds every answer. */
const IDS_PER_REQUEST = 100;
/** Entries kept at most; past it the cache starts over (it is only a saving). */
const MAX_ENTRIES = 10_000;

/**
 * People's access levels in projects, for feedback: one `members/all?user_ids[]=…` request asks
 * for every person not known yet (direct, inherited and invited-group members; someone it does
 * not list is no member: level null), each answer kept per (project, user) for `MEMBER_TTL_MS`.
 * A failed read leaves those people unknown (undefined) — feedback is still answered — and is not
 * kept.
 */
export class MemberLevels {
  readonly #kept = new Map<string, { level: number | null; until: number }>();

  constructor(
    private readonly client: GitLabClient,
    private readonly now: () => number,
  ) {}

  async levels(
    project: string,
    userIds: readonly number[],
    call: CallOptions,
  ): Promise<Map<number, number | null>> {
    const out = new Map<number, number | null>();
    const now = this.now();
    const missing: number[] = [];
    for (const id of new Set(userIds)) {
      const kept = this.#kept.get(`${project}\u0000${id}`);
      if (kept && kept.until > now) out.set(id, kept.level);
      else missing.push(id);
    }
    const ask = missing.slice(0, IDS_PER_REQUEST);
    if (ask.length === 0) return out;
    let members: z.infer<typeof membersSchema>;
    try {
      const query = ask.map((id) => `user_ids[]=${id}`).join('&');
      members = (
        await this.client.getPage(
          `/projects/${encodeURIComponent(project)}/members/all?${query}&per_page=${IDS_PER_REQUEST}`,
          membersSchema,
          call,
        )
      ).items;
    } catch {
      return out;
    }
    if (this.#kept.size > MAX_ENTRIES) this.#kept.clear();
    for (const id of ask) {
      // members/all lists a person once per membership (the project's and each ancestor group's):
      // the highest level is the one that applies.
      const levels = members.filter((m) => m.id === id).map((m) => m.access_level);
      const level = levels.length > 0 ? Math.max(...levels) : null;
      out.set(id, level);
      this.#kept.set(`${project}\u0000${id}`, { level, until: now + MEMBER_TTL_MS });
    }
    return out;
  }
}
