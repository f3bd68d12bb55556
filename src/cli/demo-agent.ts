/**
 * A simulated coding agent of `gitsync demo`. It drives its loop — push, `report_push`,
 * `wait_for_pr_change`, `pr_feedback`, fix, push again, `pr_status` — through gitsync's MCP tools
 * (SPEC §6.2 "MCP", docs/agents.md) over the service's real `POST /mcp`, with the official MCP
 * client, as an agent configured as in docs/agents.md does. What it sees it prints, one line per
 * step, so that the terminal shows the agents' side of what the dashboard shows.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { z } from 'zod';

// The answers' fields the agent reads (docs/api.md, "MCP"); the rest pass through unread.
const blocker = z.object({ kind: z.string(), detail: z.string().nullable() });
const ref = z.looseObject({
  git_branch: z.string(),
  pr_number: z.number().nullable(),
  pull_request_state: z.string().nullable(),
  ready: z.boolean().nullable(),
  blockers: z.array(blocker),
});
export type AgentRef = z.infer<typeof ref>;
const statusAnswer = z.looseObject({ refs: z.array(ref) });
const waitAnswer = z.looseObject({
  changed: z.boolean(),
  event_id: z.string(),
  refs: z.array(ref).optional(),
});
const feedbackAnswer = z.looseObject({
  cursor: z.string().optional(),
  refs: z.array(
    z.looseObject({
      git_branch: z.string(),
      error: z.looseObject({ code: z.string() }).nullish(),
      failing_checks: z.array(z.looseObject({ name: z.string(), summary: z.string().nullish() })),
      unresolved_threads: z.array(
        z.looseObject({
          path: z.string().nullish(),
          line: z.number().nullish(),
          author: z.string().nullish(),
          body: z.string().nullish(),
        }),
      ),
    }),
  ),
});

export interface AgentChat {
  id: string;
  title: string;
}

/** A tool answered `isError`: its text starts with the error code (docs/agents.md, "Errors"). */
export class ToolError extends Error {}

/** How a ref reads in one line: its PR and whether it is ready, else its first blocker. */
export function describeRef(r: AgentRef): string {
  if (r.pr_number === null) return 'no PR yet';
  const pr = `PR #${r.pr_number}`;
  if (r.pull_request_state !== 'open') return `${pr} ${r.pull_request_state ?? 'state unknown'}`;
  if (r.ready === true) return `${pr} ready`;
  const [first, ...rest] = r.blockers;
  if (!first) return `${pr} not read yet`;
  const more = rest.length ? ` +${rest.map((b) => b.kind).join(' +')}` : '';
  return `${pr} ${first.kind}${first.detail ? ` (${first.detail})` : ''}${more}`;
}

/** The first line of a reviewer's or CI's text, short: the terminal shows a glimpse, the tool the whole. */
const glimpse = (text: string | null | undefined) => {
  const line = (text ?? '').split('\n')[0]!.trim();
  return JSON.stringify(line.length > 72 ? `${line.slice(0, 71)}…` : line);
};

export class DemoAgent {
  /** Per chat: the `event_id` to pass as `after` next time, and the feedback `cursor`. */
  readonly #after = new Map<string, string>();
  readonly #cursor = new Map<string, string>();
  /** Per chat and branch: what was printed last, so that a wait prints only what changed. */
  readonly #said = new Map<string, string>();

  private constructor(
    private readonly client: Client,
    private readonly options: {
      /** Tool calls made, by tool name (shared by the demo's agents). */
      counts: Map<string, number>;
      log: (line: string) => void;
      signal: AbortSignal;
      /** `timeout_s` of each wait. */
      waitS: number;
      /** How long one `waitUntil` may wait in all before the agent gives up on it. */
      giveUpMs: number;
      /** A pause before asking the host again (the demo's pace). */
      pause: () => Promise<void>;
    },
  ) {}

  /** An MCP session with the service at `url` (its `/mcp`), with an owner key. */
  static async connect(url: string, key: string, options: DemoAgent['options']): Promise<DemoAgent> {
    const client = new Client({ name: 'gitsync-demo-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL('/mcp', url), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
      { signal: options.signal },
    );
    return new DemoAgent(client, options);
  }

  close(): Promise<void> {
    return this.client.close();
  }

  /** One tool call; `rate_limited` is waited out (the seconds it names) and the call made again. */
  async #call(name: string, args: Record<string, unknown>): Promise<unknown> {
    for (;;) {
      this.options.counts.set(name, (this.options.counts.get(name) ?? 0) + 1);
      const result = await this.client.callTool(
        { name, arguments: args },
        // A wait is held up to its timeout: the request may take that long, and a little more.
        { signal: this.options.signal, timeout: (this.options.waitS + 30) * 1000 },
      );
      if (!result.isError) return result.structuredContent;
      const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join(' ');
      const retry = /^rate_limited:.*retry after (\d+) s/.exec(text);
      if (!retry) throw new ToolError(`${name}: ${text}`);
      await abortableSleep(Number(retry[1]) * 1000, this.options.signal);
      if (this.options.signal.aborted) throw new ToolError(`${name}: stopped`);
    }
  }

  #log(chat: AgentChat, what: string): void {
    this.options.log(`agent "${chat.title}": ${what}`);
  }

  async reportPush(chat: AgentChat, branch: string, origin: string): Promise<void> {
    await this.#call('report_push', { chat_id: chat.id, branch, origin });
    this.#log(chat, `pushed ${branch}, report_push`);
  }

  /**
   * `wait_for_pr_change` until the chat's ref of `branch` satisfies `done`, passing each answer's
   * `event_id` as `after` so that nothing between two calls is missed. The first wait of a chat
   * passes `after: "0"`: the chat's newest event is after it, so that wait answers at once with the
   * refs as they are. Prints each new state it sees; gives up (returns null) after `giveUpMs`.
   */
  async waitUntil(chat: AgentChat, branch: string, done: (r: AgentRef) => boolean): Promise<AgentRef | null> {
    const deadline = Date.now() + this.options.giveUpMs;
    while (Date.now() < deadline && !this.options.signal.aborted) {
      const answer = waitAnswer.parse(
        await this.#call('wait_for_pr_change', {
          chat_id: chat.id,
          after: this.#after.get(chat.id) ?? '0',
          timeout_s: this.options.waitS,
        }),
      );
      this.#after.set(chat.id, answer.event_id);
      const r = answer.refs?.find((x) => x.git_branch === branch);
      if (!answer.changed || !r) continue;
      const said = describeRef(r);
      const key = `${chat.id} ${branch}`;
      if (this.#said.get(key) !== said) {
        this.#said.set(key, said);
        this.#log(chat, `wait_for_pr_change → ${said}`);
      }
      if (done(r)) return r;
    }
    if (!this.options.signal.aborted) this.#log(chat, `gave up waiting on ${branch}`);
    return null;
  }

  /**
   * `pr_feedback` (with the last answer's cursor as `since`): what to fix on `branch`. A ref the
   * host could not be read for (`error`, e.g. while the host's rate limit lasts) is asked again a
   * few times; such an answer's cursor is not kept, so that nothing it left out is skipped later.
   */
  async feedback(chat: AgentChat, branch: string): Promise<void> {
    let mine: z.infer<typeof feedbackAnswer>['refs'][number] | undefined;
    for (let attempt = 1; ; attempt++) {
      const since = this.#cursor.get(chat.id);
      const answer = feedbackAnswer.parse(
        await this.#call('pr_feedback', { chat_id: chat.id, ...(since ? { since } : {}) }),
      );
      mine = answer.refs.find((r) => r.git_branch === branch);
      if (!mine?.error) {
        if (answer.cursor) this.#cursor.set(chat.id, answer.cursor);
        break;
      }
      this.#log(chat, `pr_feedback → could not read ${branch} (${mine.error.code})`);
      if (attempt === 6 || this.options.signal.aborted) return;
      await this.options.pause();
    }
    const items = [
      ...(mine?.failing_checks ?? []).map((c) => `failing check ${c.name}: ${glimpse(c.summary)}`),
      ...(mine?.unresolved_threads ?? []).map(
        (t) =>
          `thread at ${t.path ?? 'the PR'}${t.line != null ? `:${t.line}` : ''} by ${t.author ?? 'someone'}: ${glimpse(t.body)}`,
      ),
    ];
    this.#log(chat, `pr_feedback → ${items.length ? items.join('; ') : 'nothing new to act on'}`);
  }

  /** `pr_status`: the chat's refs as gitsync last read them. */
  async status(chat: AgentChat, branch: string): Promise<AgentRef | null> {
    const answer = statusAnswer.parse(await this.#call('pr_status', { chat_id: chat.id }));
    const r = answer.refs.find((x) => x.git_branch === branch) ?? null;
    this.#log(chat, `pr_status → ${r ? describeRef(r) : `no ref for ${branch}`}`);
    return r;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
