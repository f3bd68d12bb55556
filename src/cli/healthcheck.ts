import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config/defaults.ts';
import { ConfigError } from '../core/errors.ts';
import { CliError, checkedUrl, EXIT } from './client.ts';

export interface HealthcheckOptions {
  url?: string | undefined;
  /** Seconds to wait for the answer. */
  timeout?: string | undefined;
}

/** Hosts that mean "every interface" when listening: asked on loopback instead. */
const WILDCARDS: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1', '[::]': '::1' };

/**
 * The service to ask: `--url`, else GITSYNC_URL (as the other commands), else where `gitsync serve`
 * with this environment listens (GITSYNC_HOST and GITSYNC_PORT, as in a container that sets them).
 */
export function healthcheckUrl(options: HealthcheckOptions, env: NodeJS.ProcessEnv = process.env): string {
  if (options.url !== undefined) return checkedUrl(options.url, '--url');
  if (env.GITSYNC_URL) return checkedUrl(env.GITSYNC_URL, 'GITSYNC_URL');
  const listen = env.GITSYNC_HOST || DEFAULT_HOST;
  const host = WILDCARDS[listen] ?? listen;
  const port = env.GITSYNC_PORT ? Number(env.GITSYNC_PORT) : DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new ConfigError(
      `GITSYNC_PORT must be a port from 1 to 65535 to check (or set GITSYNC_URL / --url), got ${JSON.stringify(env.GITSYNC_PORT)}`,
    );
  return checkedUrl(
    `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`,
    'GITSYNC_HOST / GITSYNC_PORT',
  );
}

function timeoutMs(option: string | undefined): number {
  if (option === undefined) return 5_000;
  const seconds = Number(option);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3_600)
    throw new CliError(
      `--timeout must be a number of seconds from 0 to 3600, got ${JSON.stringify(option)}`,
      EXIT.usage,
    );
  return Math.round(seconds * 1000);
}

interface Answer {
  status: number;
  body: string;
}

/**
 * One GET with node:http(s), not fetch: fetch refuses the ports the Fetch standard calls bad
 * (6000, 6665–6669, …), where an operator may well run gitsync. Redirects are not followed (one is
 * an answer other than 200). The body is read up to 4 KiB; the deadline covers the whole answer.
 */
function get(url: string, ms: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      { signal: AbortSignal.timeout(ms) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 4096) body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

/** Why a request got no answer, in a few words: refused, timed out, name not found, … */
function unreachableReason(error: unknown, ms: number): string {
  const { code, message } = error as { code?: string; message?: string };
  switch (code) {
    case 'ABORT_ERR': // the deadline's signal: the whole answer, not one pause between bytes
      return `no answer within ${ms / 1000} s`;
    case 'ECONNREFUSED':
      return 'connection refused (is gitsync running there?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found';
    case 'ECONNRESET':
      return 'connection closed before an answer';
    default:
      return `${code ? `${code}: ` : ''}${String(message ?? error).split('\n')[0]}`;
  }
}

/**
 * `gitsync healthcheck`: exit 0 when the service's `/readyz` answers 200 (its database reachable
 * and migrated), else 1 with one line saying why. 1 is what container runtimes read as unhealthy
 * (Docker's HEALTHCHECK: 0 healthy, 1 unhealthy, 2 reserved). Needs no shell and no key.
 */
export async function healthcheck(options: HealthcheckOptions): Promise<void> {
  const ms = timeoutMs(options.timeout);
  const url = `${healthcheckUrl(options)}/readyz`;
  let answer: Answer;
  try {
    answer = await get(url, ms);
  } catch (error) {
    throw new CliError(`not ready: ${url}: ${unreachableReason(error, ms)}`, EXIT.failure);
  }
  if (answer.status !== 200) {
    let said = '';
    try {
      const message = (JSON.parse(answer.body) as { error?: { message?: unknown } }).error?.message;
      // One short line: it is printed into a container's health log.
      if (typeof message === 'string') said = `: ${message.replace(/\s+/g, ' ').slice(0, 200)}`;
    } catch {
      // Not gitsync's JSON error: the status says enough.
    }
    throw new CliError(`not ready: ${url} answered ${answer.status}${said}`, EXIT.failure);
  }
  process.stdout.write(`ready: ${url}\n`);
}
