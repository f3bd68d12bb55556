import type { DiffStatus } from '../core/types.ts';
import type { PullFeedback } from '../providers/types.ts';
import type { RefreshFailure } from './outcomes.ts';

/** Bounds of one ref's feedback, so an answer stays small enough to hand to an agent. */
export const FEEDBACK_LIMITS = {
  /** Failing checks and unresolved threads listed per ref. */
  items: 50,
  /** Characters of one thread's body or one check's summary. */
  text: 2000,
  /** People listed as requesting changes. */
  people: 50,
};

/** One ref of `GET /api/v1/chats/{id}/feedback` (docs/api.md, "Feedback"). */
export interface RefFeedback extends PullFeedback {
  git_remote_origin: string;
  git_branch: string;
  url: string | null;
  /** Why this ref's feedback could not be read (its lists are then empty); null when it was. */
  error: { code: string; message: string } | null;
}

/**
 * A ref's feedback as the API answers it: the provider's lists bounded by `FEEDBACK_LIMITS`, long
 * texts cut with an ellipsis, and `truncated` set when anything was left out or cut.
 */
export function refFeedback(ref: DiffStatus, read: PullFeedback | RefreshFailure | null): RefFeedback {
  const base = { git_remote_origin: ref.git_remote_origin, git_branch: ref.git_branch, url: ref.url };
  const empty = { failing_checks: [], unresolved_threads: [], changes_requested_by: [], truncated: false };
  if (read === null) return { ...base, ...empty, error: null };
  if ('code' in read) return { ...base, ...empty, error: { code: read.code, message: read.message } };
  let truncated = read.truncated;
  const cut = (s: string) => {
    if (s.length <= FEEDBACK_LIMITS.text) return s;
    truncated = true;
    return `${s.slice(0, FEEDBACK_LIMITS.text - 1)}…`;
  };
  const first = <T>(list: readonly T[], n: number) => {
    if (list.length > n) truncated = true;
    return list.slice(0, n);
  };
  const failing_checks = first(read.failing_checks, FEEDBACK_LIMITS.items).map((c) => ({
    ...c,
    summary: c.summary === null ? null : cut(c.summary),
  }));
  const unresolved_threads = first(read.unresolved_threads, FEEDBACK_LIMITS.items).map((t) => ({
    ...t,
    body: cut(t.body),
  }));
  const changes_requested_by = first(read.changes_requested_by, FEEDBACK_LIMITS.people);
  return { ...base, failing_checks, unresolved_threads, changes_requested_by, truncated, error: null };
}
