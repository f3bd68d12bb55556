import type { Hono } from 'hono';
import { BadInputError } from '../../core/errors.ts';
import { UUID_PATTERN } from '../../core/types.ts';
import { checkOwner, type Env, ownerScope } from '../request.ts';
import type { RouteDeps } from './deps.ts';

/** The change-event stream (server-sent events). */
export function eventRoutes(app: Hono<Env>, deps: RouteDeps): void {
  app.get('/api/v1/events', async (c) => {
    const ownerParam = c.req.query('owner_id');
    if (ownerParam !== undefined && !UUID_PATTERN.test(ownerParam))
      throw new BadInputError('owner_id must be a UUID');
    if (ownerParam) checkOwner(c, ownerParam.toLowerCase());
    const owner = ownerParam?.toLowerCase() ?? ownerScope(c);
    const lastId = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    return deps.streams.open(c, c.get('principal'), owner, lastId);
  });
}
