import type { Hono } from 'hono';
import { chatBody, feedbackQuery, listQuery, refBody, refreshBody } from '../../api/schemas.ts';
import { BadInputError } from '../../core/errors.ts';
import { checkOwner, type Env, jsonBody, ownerScope, parse, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

// Bodies and queries: the API's contract (api/schemas.ts), which the OpenAPI document describes.

/** Chats, ref reports and "refresh now": the HTTP face of `Chats` (engine/chats.ts). */
export function chatRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { chats } = deps;
  const chatId = (c: Parameters<typeof ownerScope>[0]) => uuidParam(c, 'id', 'chat id');

  app.put('/api/v1/chats/:id', async (c) => {
    const id = chatId(c);
    const body = parse(chatBody, await jsonBody(c));
    checkOwner(c, body.owner_id);
    const { chat, created } = await chats.put({ id, ...body }, ownerScope(c));
    return c.json(chat, created ? 201 : 200);
  });

  app.post('/api/v1/chats/:id/archive', async (c) => c.json(await chats.archive(chatId(c), ownerScope(c))));

  app.post('/api/v1/chats/:id/unarchive', async (c) =>
    c.json(await chats.unarchive(chatId(c), ownerScope(c))),
  );

  app.delete('/api/v1/chats/:id', async (c) => {
    await chats.delete(chatId(c), ownerScope(c));
    return c.body(null, 204);
  });

  app.get('/api/v1/chats', async (c) => {
    const q = parse(listQuery, c.req.query());
    if (q.owner_id) checkOwner(c, q.owner_id);
    const result = await chats.list({
      owner_id: q.owner_id ?? ownerScope(c),
      archived: q.archived === 'true',
      limit: q.limit,
      cursor: q.cursor,
    });
    return c.json(result);
  });

  app.get('/api/v1/chats/:id', async (c) => {
    return c.json(await chats.get(chatId(c), ownerScope(c)));
  });

  app.post('/api/v1/git-refs', async (c) => {
    const body = parse(refBody, await jsonBody(c));
    if (body.owner_id) checkOwner(c, body.owner_id);
    // A workspace is not an owner's: a report reaches only the reporting owner's chats in it, so
    // the admin key must say whose.
    const owner = ownerScope(c) ?? body.owner_id;
    if (!body.chat_id && body.workspace_id && owner === undefined) {
      throw new BadInputError('owner_id is required with workspace_id when reporting with the admin key');
    }
    const result = await chats.report(
      { chat_id: body.chat_id, workspace_id: body.workspace_id, origin: body.origin, branch: body.branch },
      owner,
    );
    return c.json(result, 202);
  });

  app.get('/api/v1/chats/:id/feedback', async (c) => {
    const id = chatId(c);
    const q = parse(feedbackQuery, c.req.query());
    return c.json(
      await chats.feedback(id, ownerScope(c), { trusted_only: q.trusted_only === 'true', since: q.since }),
    );
  });

  app.post('/api/v1/chats/:id/diff-status/refresh', async (c) => {
    const id = chatId(c);
    const body = parse(refreshBody, await jsonBody(c, true));
    return c.json(await chats.refreshNow(id, body, ownerScope(c)));
  });
}
