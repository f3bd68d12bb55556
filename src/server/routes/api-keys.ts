import type { Hono } from 'hono';
import { keyBody } from '../../api/schemas.ts';
import { NotFoundError } from '../../core/errors.ts';
import { type Env, jsonBody, parse, requireAdmin, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

/** API keys: the admin key only. */
export function apiKeyRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { store, keys, streams } = deps;
  app.post('/api/v1/keys', async (c) => {
    requireAdmin(c);
    const body = parse(keyBody, await jsonBody(c));
    return c.json(await keys.createOwnerKey(body.owner_id, body.name, body.scope), 201);
  });
  app.get('/api/v1/keys', async (c) => {
    requireAdmin(c);
    return c.json({ keys: await store.listApiKeys() });
  });
  app.delete('/api/v1/keys/:id', async (c) => {
    requireAdmin(c);
    const id = uuidParam(c, 'id', 'key id');
    if (!(await store.deleteApiKey(id))) throw new NotFoundError(`key ${id} not found`);
    // Its open streams end now on this replica, and at their next heartbeat on the others.
    streams.closeKey(id);
    return c.body(null, 204);
  });
}
