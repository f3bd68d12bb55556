import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError } from '../../core/errors.ts';
import { checkOwner, type Env, jsonBody, parse, text, uuidParam } from '../request.ts';
import type { RouteDeps } from './deps.ts';

const tokenBody = z.object({ token: text(4096).min(1) });

/** Owners' code-host tokens. */
export function ownerRoutes(app: Hono<Env>, deps: RouteDeps): void {
  const { store, engine, providers, clock } = deps;
  const tokenTarget = (c: Context<Env>) => {
    const owner = uuidParam(c, 'owner', 'owner id');
    checkOwner(c, owner);
    const providerId = c.req.param('provider') ?? '';
    if (!providers.get(providerId)) throw new NotFoundError(`unknown provider ${providerId}`);
    return { owner, providerId };
  };
  app.put('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    const { token } = parse(tokenBody, await jsonBody(c));
    await store.putToken(owner, providerId, token, clock.now());
    // Refs waiting for a token can go now.
    engine.rowsDue();
    return c.body(null, 204);
  });
  app.delete('/api/v1/owners/:owner/tokens/:provider', async (c) => {
    const { owner, providerId } = tokenTarget(c);
    await store.deleteToken(owner, providerId);
    return c.body(null, 204);
  });
}
