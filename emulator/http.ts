import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';

/**
 * What the emulators share at the HTTP edge: the error a model or route throws to answer a status,
 * a bounded body reader, and the admin API wrapper (`/_emulator/...`) that `gitsync demo` and
 * out-of-process tests drive.
 */

/** Thrown by an emulator's model or routes; the server answers `status` with the host's error shape. */
export class EmulatorError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The request body as text; past 1 MB it throws a 413 `EmulatorError` with `tooLarge` as message. */
export async function readBody(req: IncomingMessage, tooLarge = 'body too large'): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 1_000_000) throw new EmulatorError(413, tooLarge);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The parsed JSON, or undefined when `text` is not JSON. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * One admin request: `action(method, parts, input)` with the path below `/_emulator/` split and
 * decoded and the JSON body (`{}` when empty). Its result is the answer (201 for POST); undefined
 * is a 404; a zod or emulator error is a 400 or its status, as `{ message }`.
 */
export async function answerAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  action: (method: string, parts: string[], input: unknown) => unknown,
): Promise<void> {
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const method = req.method ?? 'GET';
  let parts: string[];
  try {
    parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
  } catch {
    return json(400, { message: 'path is not valid percent-encoding' });
  }
  try {
    let input: unknown = {};
    if (method === 'POST' || method === 'PATCH' || method === 'PUT' || method === 'DELETE') {
      const text = await readBody(req);
      input = text ? safeJson(text) : {};
      if (input === undefined) return json(400, { message: 'body is not JSON' });
    }
    const result = action(method, parts, input);
    if (result === undefined) return json(404, { message: `no admin route ${method} ${url.pathname}` });
    json(method === 'POST' ? 201 : 200, result);
  } catch (error) {
    if (error instanceof z.ZodError) return json(400, { message: z.prettifyError(error) });
    if (error instanceof EmulatorError) return json(error.status, { message: error.message });
    throw error;
  }
}
