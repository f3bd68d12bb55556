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

/** `user_ids` asked in one request: GitLab's largest page, so that one page holds every answer. */
const IDS_PER_REQUEST = 100;

/**
 * People's access levels in a project, for feedback: one `members/all?user_ids[]=…` request asks
 * for every person (direct, inherited and invited-group members; someone it does not list is no
 * member: level null), at most IDS_PER_REQUEST of them. Nothing is kept: feedback never answers
 * from an earlier read, and a promotion or removal shows at the next one. A failed read leaves
 * those people unknown (undefined) — feedback is still answered.
 */
export class MemberLevels {
  constructor(private readonly client: GitLabClient) {}

  async levels(
    project: string,
    userIds: readonly number[],
    call: CallOptions,
  ): Promise<Map<number, number | null>> {
    const out = new Map<number, number | null>();
    const ask = [...new Set(userIds)].slice(0, IDS_PER_REQUEST);
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
    for (const id of ask) {
      // members/all lists a person once per membership (the project's and each ancestor group's):
      // the highest level is the one that applies.
      const levels = members.filter((m) => m.id === id).map((m) => m.access_level);
      out.set(id, levels.length > 0 ? Math.max(...levels) : null);
    }
    return out;
  }
}
