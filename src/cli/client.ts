import { createClient, GitsyncApiError, type GitsyncClient, GitsyncUnreachableError } from '../api/client.ts';
import { DEFAULT_SERVICE_URL } from '../config/defaults.ts';
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
    /** The service's error code (`forbidden`, `rate_limited`, …), when its answer had one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface ServiceOptions {
  url?: string | undefined;
  key?: string | undefined;
}

const DEFAULT_URL = DEFAULT_SERVICE_URL;

/** A service URL without trailing slashes, refused unless http(s); `source` names where it came from. */
export function checkedUrl(url: string, source: string): string {
  const trimmed = url.replace(/\/+$/, '');
  try {
    const u = new URL(trimmed);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new ConfigError(`${source} must be an http(s) URL, got ${JSON.stringify(trimmed)}`);
  }
  return trimmed;
}

function refuseKeyFlag(options: ServiceOptions): void {
  if (options.key !== undefined) {
    // Process arguments are visible to every local user (`ps`, /proc/<pid>/cmdline).
    throw new CliError(
      '--key is refused: process arguments are visible to other users; set GITSYNC_API_KEY instead',
      EXIT.usage,
    );
  }
}

/** Where the service is and which key to use: the flag or the environment, else the default URL. */
export function serviceTarget(options: ServiceOptions) {
  const url = checkedUrl(options.url ?? (process.env.GITSYNC_URL || DEFAULT_URL), '--url / GITSYNC_URL');
  refuseKeyFlag(options);
  const key = process.env.GITSYNC_API_KEY;
  if (!key) throw new ConfigError('no API key: set GITSYNC_API_KEY');
  return { url, key };
}

/**
 * Where a report goes and with which key. The URL and the key always come from the same place, so
 * that a checkout (whose git config the agent working in it may write) never chooses where the
 * user's key is sent: GITSYNC_API_KEY goes with --url / GITSYNC_URL (or the default), the
 * checkout's `gitsync.key` with the checkout's `gitsync.url` (or the default). `checkoutOnly` (the
 * push hook) uses the checkout's pair whatever the environment holds.
 */
export function reportTarget(
  options: ServiceOptions,
  checkout: ServiceOptions,
  checkoutOnly = false,
): { url: string; key: string } {
  refuseKeyFlag(options);
  if (!checkoutOnly && process.env.GITSYNC_API_KEY) return serviceTarget(options);
  if (options.url !== undefined) {
    throw new CliError(
      "--url goes with GITSYNC_API_KEY: the checkout's gitsync.key is sent only to the checkout's gitsync.url",
      EXIT.usage,
    );
  }
  if (!checkout.key) {
    throw new ConfigError(
      checkoutOnly
        ? 'no gitsync.key in this checkout: run `gitsync hook install` again'
        : 'no API key: set GITSYNC_API_KEY (or run `gitsync hook install` in this checkout)',
    );
  }
  return { url: checkedUrl(checkout.url ?? DEFAULT_URL, 'git config gitsync.url'), key: checkout.key };
}

/**
 * Calls the service with the typed client (api/client.ts): "unreachable" and refusals become
 * CliErrors carrying the service's code and message.
 */
export async function callService<T>(
  target: { url: string; key: string },
  work: (api: GitsyncClient) => Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  try {
    return await work(createClient({ url: target.url, key: target.key, timeoutMs }));
  } catch (error) {
    if (error instanceof GitsyncUnreachableError) {
      throw new CliError(
        `cannot reach gitsync at ${target.url} (${error.reason}); is it running? (--url / GITSYNC_URL)`,
        EXIT.unreachable,
      );
    }
    if (error instanceof GitsyncApiError) {
      const what = error.code ? `${error.code}: ${error.message}` : error.message;
      const hint = error.status === 401 ? ' (check GITSYNC_API_KEY)' : '';
      throw new CliError(
        `gitsync refused ${error.method} ${error.path}: ${what}${hint}`,
        error.status < 500 ? EXIT.rejected : EXIT.failure,
        error.status,
        error.code ?? undefined,
      );
    }
    throw error;
  }
}
