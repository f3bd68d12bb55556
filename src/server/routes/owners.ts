import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { checkOwner, type Env, jsonBody, parse, text, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

const tokenBody = z.object({ token: text(4096).min(1) });

/** Owners' code-host tokens. */
export function ownerRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { chats } = deps;
  const tokenTarget = (c: Context<Env>) => {
    const owner = uuidParam(c, 'owner', 'owner id');
    checkOwner(c, owner);
    return { owner, providerId: c.req.param('provider') ?? '' };
  };
  app.put('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    const { token } = parse(tokenBody, await jsonBody(c));
    await chats.setToken(owner, providerId, token);
    return c.body(null, 204);
  });
  app.delete('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    await chats.removeToken(owner, providerId);
    return c.body(null, 204);
  });
}
