import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TEST_DATABASE_URL } from './databases.ts';

export const GITSYNC_BIN = fileURLToPath(new URL('../../bin/gitsync.js', import.meta.url));

/** PostgreSQL URL whose connections work in `schema` (what a replica of that deployment uses). */
export const schemaUrl = (schema: string) =>
  `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;

export interface ServiceProcess {
  url: string;
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Sends `signal` and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `gitsync <args>` as a subprocess and resolves when its output matches `ready`. */
export async function startGitsync(
  args: string[],
  env: Record<string, string>,
  ready = /listening on (http:\/\/\S+) /,
  timeoutMs = 30_000,
): Promise<ServiceProcess & { match: RegExpMatchArray }> {
  const proc = spawn(process.execPath, [GITSYNC_BIN, ...args], {
    env: { ...process.env, GITSYNC_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => {
    out += d;
  });
  proc.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const deadline = setTimeout(
      () => reject(new Error(`gitsync ${args.join(' ')} not ready in time:\n${out}\n${err}`)),
      timeoutMs,
    );
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(deadline);
        resolve(m);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(deadline);
      reject(new Error(`gitsync ${args.join(' ')} exited (${code}) before it was ready:\n${out}\n${err}`));
    });
  });
  return {
    url: match[1] ?? '',
    match,
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/** Runs `gitsync <args>` to completion. */
export function runGitsync(args: string[], env: Record<string, string> = {}, input?: string, cwd?: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const proc = spawn(process.execPath, [GITSYNC_BIN, ...args], {
      env: { ...process.env, ...env },
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => {
      stdout += d;
    });
    proc.stderr.on('data', (d) => {
      stderr += d;
    });
    proc.stdin.end(input ?? '');
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
