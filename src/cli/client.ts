import { ConfigError } from '../core/errors.ts';

/** Exit codes scripts can rely on (listed in docs/api.md). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** The service could not be reached. */
  unreachable: 3,
  /** The service refused the request (4xx): see the message. */
  rejected: 4,
  /** Configuration is missing or wrong: the message names what to set. */
  config: 78,
} as const;

/** A CLI failure with the exit code it should end the process with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** The service's HTTP status, when it answered with an error. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ServiceOptions {
  url?: string | undefined;
  key?: string | undefined;
}

/** Where the service is and which key to use: flags, then environment, then the defaults. */
export function serviceTarget(options: ServiceOptions, fallback: ServiceOptions = {}) {
  const url = (options.url ?? process.env.GITSYNC_URL ?? fallback.url ?? 'http://127.0.0.1:7420').replace(
    /\/+$/,
    '',
  );
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new ConfigError(`--url / GITSYNC_URL must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (options.key !== undefined) {
    // Process arguments are visible to every local user (`ps`, /proc/<pid>/cmdline).
    throw new CliError(
      '--key is refused: process arguments are visible to other users; set GITSYNC_API_KEY instead',
      EXIT.usage,
    );
  }
  const key = process.env.GITSYNC_API_KEY || fallback.key;
  if (!key) throw new ConfigError('no API key: set GITSYNC_API_KEY');
  return { url, key };
}

/** Calls the service; maps "unreachable" and 4xx/5xx answers to CliErrors with the service's message. */
export async function callService<T>(
  target: { url: string; key: string },
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    throw new CliError(
      `cannot reach gitsync at ${target.url} (${(cause as Error).message}); is it running? (--url / GITSYNC_URL)`,
      EXIT.unreachable,
    );
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: string; message?: string } } | null)?.error;
    const what = error ? `${error.code}: ${error.message}` : `HTTP ${res.status}`;
    const hint = res.status === 401 ? ' (check GITSYNC_API_KEY)' : '';
    throw new CliError(
      `gitsync refused ${method} ${path}: ${what}${hint}`,
      res.status < 500 ? EXIT.rejected : EXIT.failure,
      res.status,
    );
  }
  return json as T;
}
