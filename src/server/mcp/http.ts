import { createMcpHandler } from '@modelcontextprotocol/server';
import type { Hono } from 'hono';
import { createClient } from '../../api/client.ts';
import { errorMessage } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { HttpError } from '../http-error.ts';
import type { KeyAuthority } from '../keys.ts';
import type { Env } from '../request.ts';
import { type CallApi, createToolServer } from './tools.ts';

/** The largest MCP request body read (a tool call's arguments are small). */
const MAX_MCP_BODY_BYTES = 1024 * 1024;
/** Base of the in-process API calls: never sent anywhere, so no Host header is checked. */
const IN_PROCESS = 'http://gitsync.in-process';

const bearer = (header: string | undefined) => /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];

/** The host name of a URL or Host header, lower-cased, without port or IPv6 brackets. */
function nameOf(hostOrUrl: string): string | null {
  try {
    const u = new URL(hostOrUrl.includes('://') ? hostOrUrl : `http://${hostOrUrl}`);
    return u.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  } catch {
    return null;
  }
}

/**
 * `POST /mcp`: the Model Context Protocol over Streamable HTTP, stateless (a server per request,
 * no session: any replica answers), for the bearer key's owner. Each tool calls the API in-process
 * with that same key (`apiFetch`), so owners, scopes, rates and error codes are the API's.
 *
 * DNS rebinding (the MCP spec's "Security Warning" for Streamable HTTP, and the SDK's Host/Origin
 * validation): the app already refuses Host names outside GITSYNC_ALLOWED_HOSTS (421, loopback
 * names by default on loopback); here a browser's `Origin` must also name an allowed host — or,
 * where any host name is allowed, the Host the request was sent to. Clients that are not
 * browsers send no Origin and pass.
 */
export function mcpRoutes(
  app: Hono<Env>,
  deps: {
    keys: KeyAuthority;
    allowedHosts: ReadonlySet<string> | null;
    logger: Logger;
    apiFetch: (request: Request) => Response | Promise<Response>;
  },
): void {
  const handler = createMcpHandler(
    ({ authInfo, requestInfo }) => {
      const api = createClient({ url: IN_PROCESS, key: authInfo?.token ?? '', fetch: deps.apiFetch });
      // The MCP client went away: its wait ends (and gives its stream slot back) too.
      const callApi: CallApi = (request) => api.request({ ...request, signal: requestInfo?.signal });
      return createToolServer(callApi);
    },
    {
      legacy: 'stateless',
      maxRequestBodySize: MAX_MCP_BODY_BYTES,
      onerror: (error) => deps.logger.debug({ err: errorMessage(error) }, 'MCP request refused'),
    },
  );

  app.all('/mcp', async (c) => {
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const name = nameOf(origin);
      const host = c.req.header('host');
      const allowed = deps.allowedHosts
        ? name !== null && deps.allowedHosts.has(name)
        : name !== null && host !== undefined && name === nameOf(host);
      if (!allowed) {
        throw new HttpError(
          403,
          'forbidden',
          `requests from the web origin ${JSON.stringify(origin)} are refused`,
        );
      }
    }
    const token = bearer(c.req.header('authorization'));
    const principal = await deps.keys.authenticate(token);
    if (!principal || !token)
      throw new HttpError(401, 'unauthorized', 'a valid API key is required (Authorization: Bearer <key>)');
    return handler.fetch(c.req.raw, {
      authInfo: { token, clientId: principal.key_id ?? 'admin', scopes: [principal.scope] },
    });
  });
}
