/**
 * The API called with a key, as the CLI, `gitsync mcp` and the MCP endpoint (in process) call it:
 * one way to build the request and one way to read its answer.
 */

/** A request to `url` with `key` as its Bearer credential and `body`, if any, as JSON. */
export function apiRequest(
  url: string,
  key: string,
  method: string,
  body: unknown,
  signal: AbortSignal,
): Request {
  return new Request(url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
}

/** An answer of the API: its status, its JSON body (null when empty or not JSON) and `Retry-After`. */
export interface ApiAnswer {
  status: number;
  json: unknown;
  retryAfter: string | null;
}

export async function readApiAnswer(res: Response): Promise<ApiAnswer> {
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, retryAfter: res.headers.get('retry-after') };
}
