import type { DiffStatus } from '../core/types.ts';
import { httpUrlOrNull } from '../core/url.ts';
import type { PullFeedback } from '../providers/types.ts';
import { itemFingerprint } from './feedback-cursor.ts';
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

/** What the caller asked to leave out (`?trusted_only=true`, `?since=<cursor>`). */
export interface FeedbackFilter {
  /** Leave out threads and people the host shows do not belong to the repository (`trusted: false`). */
  trustedOnly: boolean;
  /** Fingerprints of this ref's items the caller was shown already; null: show everything. */
  since: ReadonlySet<number> | null;
}

/** A ref's answer, how many items `trustedOnly` left out, and the fingerprints its cursor keeps. */
export interface RefFeedbackResult {
  feedback: RefFeedback;
  hidden_untrusted: number;
  /** What the caller has now been shown of this ref: what it shows plus what `since` left out. */
  seen: Set<number>;
}

/**
 * A ref's feedback as the API answers it. In this order, so that no filter starves another: every
 * URL that is not http(s) becomes null and long texts are cut with an ellipsis; `trustedOnly`
 * drops untrusted threads and people (counted in `hidden_untrusted`) before anything is bounded, so
 * strangers' comments cannot push members' out of the answer; `since` drops what the caller was
 * shown already (unchanged); then the lists are bounded by `FEEDBACK_LIMITS`, and `truncated` says
 * whether anything was left out or cut.
 */
export function refFeedback(
  ref: DiffStatus,
  read: PullFeedback | RefreshFailure | null,
  filter: FeedbackFilter = { trustedOnly: false, since: null },
): RefFeedbackResult {
  const base = {
    git_remote_origin: ref.git_remote_origin,
    git_branch: ref.git_branch,
    url: httpUrlOrNull(ref.url),
  };
  const empty = { failing_checks: [], unresolved_threads: [], changes_requested_by: [], truncated: false };
  const none = { hidden_untrusted: 0, seen: new Set<number>() };
  if (read === null) return { feedback: { ...base, ...empty, error: null }, ...none };
  if ('code' in read)
    return { feedback: { ...base, ...empty, error: { code: read.code, message: read.message } }, ...none };
  let truncated = read.truncated;
  let hidden = 0;
  const seen = new Set<number>();
  const cut = (s: string) => {
    if (s.length <= FEEDBACK_LIMITS.text) return s;
    truncated = true;
    return `${s.slice(0, FEEDBACK_LIMITS.text - 1)}…`;
  };
  const trusted = <T extends { trusted: boolean | null }>(list: readonly T[]) => {
    if (!filter.trustedOnly) return list;
    const kept = list.filter((x) => x.trusted !== false);
    hidden += list.length - kept.length;
    return kept;
  };
  // What `since` shows: items the caller has not been shown, each remembered once served.
  const fresh = <T>(kind: 'check' | 'thread', list: readonly T[]) => {
    const out: T[] = [];
    for (const item of list) {
      const print = itemFingerprint(kind, item);
      if (filter.since?.has(print)) seen.add(print);
      else out.push(item);
    }
    return out;
  };
  const first = <T>(kind: 'check' | 'thread' | null, list: readonly T[], n: number) => {
    if (list.length > n) truncated = true;
    const shown = list.slice(0, n);
    if (kind) for (const item of shown) seen.add(itemFingerprint(kind, item));
    return shown;
  };
  const checks = read.failing_checks.map((c) => ({
    name: c.name,
    url: httpUrlOrNull(c.url),
    summary: c.summary === null ? null : cut(c.summary),
  }));
  const threads = trusted(read.unresolved_threads).map((t) => ({
    path: t.path,
    line: t.line,
    author: t.author,
    author_association: t.author_association,
    trusted: t.trusted,
    body: cut(t.body),
    url: httpUrlOrNull(t.url),
  }));
  const failing_checks = first('check', fresh('check', checks), FEEDBACK_LIMITS.items);
  const unresolved_threads = first('thread', fresh('thread', threads), FEEDBACK_LIMITS.items);
  const changes_requested_by = first(
    null,
    trusted(read.changes_requested_by).map((p) => ({ name: p.name, trusted: p.trusted })),
    FEEDBACK_LIMITS.people,
  );
  return {
    feedback: { ...base, failing_checks, unresolved_threads, changes_requested_by, truncated, error: null },
    hidden_untrusted: hidden,
    seen,
  };
}
