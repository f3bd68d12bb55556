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
export function startGitsync(
  args: string[],
  env: Record<string, string>,
  ready = /listening on (http:\/\/\S+) /,
  timeoutMs = 30_000,
): Promise<ServiceProcess & { match: RegExpMatchArray }> {
  return startProcess(process.execPath, [GITSYNC_BIN, ...args], {
    env: { GITSYNC_LOG_LEVEL: 'warn', ...env },
    ready,
    timeoutMs,
  });
}

/** Runs a program and resolves when its output matches `ready` (by default gitsync's "listening on"). */
export async function startProcess(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; ready?: RegExp; timeoutMs?: number } = {},
): Promise<ServiceProcess & { match: RegExpMatchArray }> {
  const ready = options.ready ?? /listening on (http:\/\/\S+) /;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const proc = spawn(command, args, {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
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
  const what = [command, ...args].join(' ');
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const deadline = setTimeout(
      () => reject(new Error(`${what} not ready in time:\n${out}\n${err}`)),
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
      reject(new Error(`${what} exited (${code}) before it was ready:\n${out}\n${err}`));
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
