import { z } from 'zod';
import { AuthError, NotFoundError } from '../../core/errors.ts';
import { type CallOptions, type RepoRef, repoKey as repoKeyOf, type Trust } from '../types.ts';
import type { GiteaClient } from './client.ts';

/**
 * `GET /repos/{owner}/{repo}/collaborators/{user}/permission` (Gitea/Forgejo API, "Get repository
 * permissions for a user"): `permission` is the access mode's name (`models/perm/access_mode.go`:
 * `none`, `read`, `write`, `admin`, `owner`), counting org teams and the owner, not only invited
 * collaborators.
 */
const permissionSchema = z.object({ permission: z.string().nullish() });

/** People asked about per feedback read at most (one request each); the rest stay unknown. */
const MAX_ASKED = 10;
/** How long an answer (or a refusal, per repository) is kept. */
const PERMISSION_TTL_MS = 10 * 60_000;
/** Entries kept at most; past it the cache starts over (it is only a saving). */
const MAX_ENTRIES = 10_000;

/**
 * Whether a permission shows the person belongs to the repository (SPEC §6.2): write, admin and
 * owner do (a collaborator who may push, or the owner); read and none do not (anyone reads a public
 * repository: read says nothing of belonging); anything else: null.
 */
export function giteaTrust(permission: string | null | undefined): Trust {
  switch (permission?.toLowerCase()) {
    case 'write':
    case 'admin':
    case 'owner':
      return true;
    case 'read':
    case 'none':
      return false;
    default:
      return null;
  }
}

/**
 * People's permission in repositories, for feedback: one request per person not known yet, each
 * answer kept per (repository, person). Gitea lets a token ask about another user only when its
 * user is a site admin or an admin of the repository — anyone else gets 403 "Only admins can
 * query all permissions, repo admins can query all repo permissions, collaborators can query only
 * their own" (`routers/api/v1/repo/collaborators.go`, `GetRepoPermissions`). A 403 is kept for
 * the repository, so such a token asks once and every person there stays unknown (null) until it
 * expires; any other failure leaves that person unknown and is not kept.
 */
export class CollaboratorPermissions {
  readonly #kept = new Map<string, { permission: string | null | 'refused'; until: number }>();

  constructor(
    private readonly client: GiteaClient,
    private readonly now: () => number,
  ) {}

  /** Each login's permission (lower-case login → word); absent: unknown. */
  async permissions(
    repo: RepoRef,
    logins: readonly string[],
    call: CallOptions,
  ): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    const repoKey = repoKeyOf(repo);
    const now = this.now();
    const fresh = (key: string) => {
      const kept = this.#kept.get(key);
      return kept && kept.until > now ? kept : undefined;
    };
    if (fresh(repoKey)?.permission === 'refused') return out;
    const missing: string[] = [];
    for (const login of new Set(logins.map((l) => l.toLowerCase()))) {
      const kept = fresh(`${repoKey}\u0000${login}`);
      if (kept) out.set(login, kept.permission === 'refused' ? null : kept.permission);
      else missing.push(login);
    }
    if (this.#kept.size > MAX_ENTRIES) this.#kept.clear();
    for (const login of missing.slice(0, MAX_ASKED)) {
      try {
        const { data } = await this.client.get(
          `/repos/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}/collaborators/${encodeURIComponent(login)}/permission`,
          permissionSchema,
          call,
        );
        const permission = data.permission ?? null;
        out.set(login, permission);
        this.#kept.set(`${repoKey}\u0000${login}`, { permission, until: now + PERMISSION_TTL_MS });
      } catch (e) {
        if (e instanceof AuthError) {
          this.#kept.set(repoKey, { permission: 'refused', until: now + PERMISSION_TTL_MS });
          break;
        }
        // No such user (a deleted account): nothing to say of them.
        if (e instanceof NotFoundError)
          this.#kept.set(`${repoKey}\u0000${login}`, { permission: null, until: now + PERMISSION_TTL_MS });
      }
    }
    return out;
  }
}
