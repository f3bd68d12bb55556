import type { Chat, ChatList } from '../api/client.ts';
import type { BlockerKind } from '../core/types.ts';
import { callService, serviceTarget } from './client.ts';

export interface StatusOptions {
  url?: string;
  key?: string;
  owner?: string;
  archived?: boolean;
  json?: boolean;
}

function state(s: Chat['diff_status']): string {
  if (!s) return '-';
  if (s.paused_until) return 'paused';
  if (s.last_error && !s.pull_request_state) return 'error';
  if (!s.pull_request_state) return 'no PR yet';
  if (s.pull_request_state === 'open' && s.pull_request_draft) return 'draft';
  return s.pull_request_state;
}

function review(s: Chat['diff_status']): string {
  if (!s?.pull_request_state) return '';
  if (s.changes_requested) return 'changes requested';
  if (s.approved) return 'approved';
  return s.reviewer_count ? `${s.reviewer_count} reviewer(s)` : '';
}

/** The head commit's checks at a glance: `failing: lint, test`, `pending 2/5`, `passing 5`. */
function checks(s: Chat['diff_status']): string {
  if (!s?.pull_request_state || !s.checks_state || !s.checks) return '';
  const c = s.checks;
  const total = c.passed + c.failed + c.pending + c.skipped;
  switch (s.checks_state) {
    case 'failing': {
      const names = c.failing.map((f) => f.name);
      const more = c.failed > names.length ? ` +${c.failed - names.length}` : '';
      return `failing: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` +${names.length - 3}` : more}`;
    }
    case 'pending':
      return `pending ${c.pending}/${total}`;
    case 'passing':
      return `passing ${c.passed}`;
    default:
      return 'no checks';
  }
}

/** Each blocker kind in words (docs/api.md, "Merge readiness"). */
const BLOCKER_WORDS: Record<BlockerKind, string> = {
  no_pr: 'no PR',
  not_open: '',
  draft: 'draft',
  conflicts: 'conflicts',
  behind: 'behind',
  checks_failing: 'checks failing',
  checks_pending: 'checks pending',
  changes_requested: 'changes requested',
  unresolved_threads: 'threads open',
  needs_approval: 'needs approval',
  blocked: 'blocked',
  unknown: 'not known yet',
};

/** `ready`, or the first blocker in words (`blocked` with the host's word), and how many more. */
function readiness(s: Chat['diff_status']): string {
  if (!s || s.ready === null || s.ready === undefined) return '';
  if (s.ready) return 'ready';
  const [first, ...rest] = s.blockers ?? [];
  if (!first || first.kind === 'not_open') return '';
  const words =
    first.kind === 'blocked' && first.detail ? `blocked: ${first.detail}` : BLOCKER_WORDS[first.kind];
  return rest.length > 0 ? `${words} +${rest.length}` : words;
}

/** Mergeability, with "checking" while the host computes it; only for open PRs. */
function merge(s: Chat['diff_status']): string {
  if (s?.pull_request_state !== 'open' || !s.merge_state) return '';
  return s.merge_state === 'unknown' ? 'checking' : s.merge_state;
}

/** `gitsync status`: a table of chats (children indented) with their primary ref's PR state. */
export async function status(options: StatusOptions): Promise<void> {
  const target = serviceTarget(options);
  // Every page: an owner with thousands of chats sees them all.
  const chats: Chat[] = [];
  for (let cursor: string | null = null; ; ) {
    const page: ChatList = await callService(target, (api) =>
      api.listChats({
        archived: options.archived ? 'true' : 'false',
        limit: 500,
        ...(options.owner && { owner_id: options.owner }),
        ...(cursor && { cursor }),
      }),
    );
    chats.push(...page.chats);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(chats, null, 2)}\n`);
    return;
  }
  const rows: string[][] = [
    [
      'CHAT',
      'TITLE',
      'BRANCH',
      'PR',
      'STATE',
      'READY',
      'REVIEW',
      'CHECKS',
      'MERGE',
      'THREADS',
      '+/-',
      'NOTE',
    ],
  ];
  const walk = (chat: Chat, depth: number) => {
    const s = chat.diff_status;
    rows.push([
      `${'  '.repeat(depth)}${chat.id.slice(0, 8)}`,
      chat.title.slice(0, 40),
      s?.git_branch ?? '',
      s?.pr_number ? `#${s.pr_number}` : '',
      state(s),
      readiness(s),
      review(s),
      checks(s),
      merge(s),
      s?.pull_request_state && s.unresolved_threads ? `${s.unresolved_threads} open` : '',
      s?.additions !== null && s?.additions !== undefined ? `+${s.additions}/-${s.deletions}` : '',
      s?.paused_until ? `until ${s.paused_until}` : (s?.last_error ?? ''),
    ]);
    for (const child of chat.children) walk(child, depth + 1);
  };
  for (const chat of chats) walk(chat, 0);
  if (rows.length === 1) {
    process.stdout.write(options.archived ? 'no archived chats\n' : 'no chats yet\n');
    return;
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows)
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}
