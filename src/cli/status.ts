import type { ChatView, DiffStatus } from '../core/types.ts';
import { callService, serviceTarget } from './client.ts';

export interface StatusOptions {
  url?: string;
  key?: string;
  owner?: string;
  archived?: boolean;
  json?: boolean;
}

type JsonChat = Omit<ChatView, 'children' | 'diff_status'> & {
  children: JsonChat[];
  diff_status: (DiffStatus & { paused_until: string | null }) | null;
};

function state(s: JsonChat['diff_status']): string {
  if (!s) return '-';
  if (s.paused_until) return 'paused';
  if (s.last_error && !s.pull_request_state) return 'error';
  if (!s.pull_request_state) return 'no PR yet';
  if (s.pull_request_state === 'open' && s.pull_request_draft) return 'draft';
  return s.pull_request_state;
}

function review(s: JsonChat['diff_status']): string {
  if (!s?.pull_request_state) return '';
  if (s.changes_requested) return 'changes requested';
  if (s.approved) return 'approved';
  return s.reviewer_count ? `${s.reviewer_count} reviewer(s)` : '';
}

/** `gitsync status`: a table of chats (children indented) with their primary ref's PR state. */
export async function status(options: StatusOptions): Promise<void> {
  const target = serviceTarget(options);
  const query = new URLSearchParams({ archived: String(options.archived ?? false), limit: '500' });
  if (options.owner) query.set('owner_id', options.owner);
  const { chats } = await callService<{ chats: JsonChat[] }>(target, 'GET', `/api/v1/chats?${query}`);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(chats, null, 2)}\n`);
    return;
  }
  const rows: string[][] = [['CHAT', 'TITLE', 'BRANCH', 'PR', 'STATE', 'REVIEW', '+/-', 'NOTE']];
  const walk = (chat: JsonChat, depth: number) => {
    const s = chat.diff_status;
    rows.push([
      `${'  '.repeat(depth)}${chat.id.slice(0, 8)}`,
      chat.title.slice(0, 40),
      s?.git_branch ?? '',
      s?.pr_number ? `#${s.pr_number}` : '',
      state(s),
      review(s),
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
