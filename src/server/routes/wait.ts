import type { Hono } from 'hono';
import { WAIT_TIMEOUT_S, waitQuery } from '../../api/schemas.ts';
import { BadInputError } from '../../core/errors.ts';
import { ChatWaits } from '../chat-waits.ts';
import { type Env, ownerScope, parse, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

export { WAIT_TIMEOUT_S };

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
    // The caller went away (or the in-process caller gave up): the slot is given back at once,
    // not once the wait has finished answering nobody (`release` may be called twice).
    const gone = c.req.raw.signal;
    const onGone = () => {
      release();
      stop.abort();
    };
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
