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

  // A ticket for one stream, for browsers: EventSource cannot send headers, and a key in a URL
  // stays in proxies' logs. The key goes in the Authorization header of this POST; the ticket in
  // the stream's URL (`?ticket=`) is good once, for 30 s, on any replica.
  app.post('/api/v1/events/tickets', async (c) => {
    const p = c.get('principal');
    const { ticket, expires_at } = await deps.hub.issueStreamTicket({
      key_id: p.key_id,
      admin: p.admin,
      owner_id: p.owner_id,
      scope: p.scope,
    });
    return c.json({ ticket, expires_at: expires_at.toISOString() }, 201, { 'cache-control': 'no-store' });
  });
}
