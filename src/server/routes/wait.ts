import type { Hono } from 'hono';
import { z } from 'zod';
import { BadInputError } from '../../core/errors.ts';
import { ChatWaits } from '../chat-waits.ts';
import { type Env, ownerScope, parse, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

/** SPEC §6.2 "Waiting for a change": `timeout_s` is 1..60, 50 when omitted. */
export const WAIT_TIMEOUT_S = { min: 1, max: 60, default: 50 } as const;

// Strict: digits only (no `1e3`, ` 5`, `0x10`), and no parameter the endpoint does not know.
const waitQuery = z.strictObject({
  // Event ids are the log's bigint ids as decimal strings (the SSE `id:`).
  after: z
    .string()
    .regex(/^\d{1,18}$/, 'must be an event id (the SSE id:)')
    .transform((s) => s.replace(/^0+(?=\d)/, ''))
    .optional(),
  timeout_s: z
    .string()
    .regex(/^\d{1,3}$/, 'must be a whole number of seconds')
    .transform(Number)
    .pipe(z.number().int().min(WAIT_TIMEOUT_S.min).max(WAIT_TIMEOUT_S.max))
    .optional(),
});

/**
 * `GET /api/v1/chats/{id}/wait`: answers as soon as the chat (or one of its refs) has an event
 * after `after`, or at the timeout. An open wait takes one of the key's stream slots.
 */
export function waitRoutes(app: Hono<Env>, deps: RouteDeps): ChatWaits {
  const waits = new ChatWaits(deps.hub);
  app.get('/api/v1/chats/:id/wait', async (c) => {
    const id = uuidParam(c, 'id', 'chat id');
    // A parameter given twice is refused too, not silently read once.
    for (const [name, values] of Object.entries(c.req.queries())) {
      if (values.length > 1) throw new BadInputError(`${name} may be given once`);
    }
    const q = parse(waitQuery, c.req.query());
    const owner = ownerScope(c);
    // 404 before anything is held: another owner's chat is not found either.
    const chat = await deps.chats.get(id, owner);
    const stop = new AbortController();
    const release = deps.streams.hold(c.get('principal'), () => stop.abort());
    // The caller went away (or the in-process caller gave up): the slot is given back at once.
    const gone = c.req.raw.signal;
    const onGone = () => stop.abort();
    gone?.addEventListener('abort', onGone);
    try {
      const answer = await waits.wait({
        chat,
        after: q.after,
        timeoutMs: (q.timeout_s ?? WAIT_TIMEOUT_S.default) * 1000,
        signal: stop.signal,
        current: async () => (await deps.store.getChat(id, owner)) ?? null,
      });
      return c.json(answer, 200, { 'cache-control': 'no-store' });
    } finally {
      gone?.removeEventListener('abort', onGone);
      release();
    }
  });
  return waits;
}
