import type { Context, Hono } from 'hono';
import { tokenBody } from '../../api/schemas.ts';
import { checkOwner, type Env, jsonBody, ownerScope, parse, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

/** Owners' code-host tokens, their pause switch, and their budgets. */
export function ownerRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { chats } = deps;
  const tokenTarget = (c: Context<Env>) => {
    const owner = uuidParam(c, 'owner_id', 'owner id');
    checkOwner(c, owner);
    return { owner, providerId: c.req.param('provider_id') ?? '' };
  };
  app.put('/api/v1/owners/:owner_id/tokens/:provider_id', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    const { token, paused } = parse(tokenBody, await jsonBody(c));
    if (token !== undefined) await chats.setToken(owner, providerId, token);
    if (paused !== undefined) await chats.setPaused(owner, providerId, paused);
    return c.body(null, 204);
  });
  app.get('/api/v1/owners/:owner_id/budget', async (c) => {
    const owner = uuidParam(c, 'owner_id', 'owner id');
    checkOwner(c, owner);
    // Of the service token, an owner's key sees its own use and allowance; the admin key its totals.
    return c.json(await chats.budget(owner, { admin: ownerScope(c) === undefined }));
  });
  app.delete('/api/v1/owners/:owner_id/tokens/:provider_id', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    await chats.removeToken(owner, providerId);
    return c.body(null, 204);
  });
}
