import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { checkOwner, type Env, jsonBody, ownerScope, parse, text, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

/**
 * A token, the pause switch, or both: `{"paused": true}` stops every call with the owner's token
 * for that provider until `{"paused": false}` (the token, if any, stays linked).
 */
const tokenBody = z
  .strictObject({ token: text(4096).min(1).optional(), paused: z.boolean().optional() })
  .refine((b) => b.token !== undefined || b.paused !== undefined, {
    message: 'give a token, "paused", or both',
  });

/** Owners' code-host tokens, their pause switch, and their budgets. */
export function ownerRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { chats } = deps;
  const tokenTarget = (c: Context<Env>) => {
    const owner = uuidParam(c, 'owner', 'owner id');
    checkOwner(c, owner);
    return { owner, providerId: c.req.param('provider') ?? '' };
  };
  app.put('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    const { token, paused } = parse(tokenBody, await jsonBody(c));
    if (token !== undefined) await chats.setToken(owner, providerId, token);
    if (paused !== undefined) await chats.setPaused(owner, providerId, paused);
    return c.body(null, 204);
  });
  app.get('/api/v1/owners/:owner/budget', async (c) => {
    const owner = uuidParam(c, 'owner', 'owner id');
    checkOwner(c, owner);
    // Of the service token, an owner's key sees its own use and allowance; the admin key its totals.
    return c.json(await chats.budget(owner, { admin: ownerScope(c) === undefined }));
  });
  app.delete('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    await chats.removeToken(owner, providerId);
    return c.body(null, 204);
  });
}
