import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GitsyncClient } from '../api/client.ts';
import { CliError, callService, EXIT, serviceTarget } from './client.ts';
import { git } from './git.ts';

const MARKER = '# gitsync pre-push hook';

/** The package's `bin/gitsync.js`: the nearest one above this file (in src/ or in the built dist/). */
function packageBin(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'bin', 'gitsync.js');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('cannot find bin/gitsync.js above the gitsync sources');
  }
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * The hook: hands each pushed branch to a detached `gitsync report` that waits for the push to land,
 * with the URL and key stored in the checkout (`--from-checkout`): a key in the pushing shell's
 * environment is never sent anywhere by a push.
 */
export function hookScript(node = process.execPath, bin = packageBin()): string {
  return `#!/bin/sh
${MARKER}: reports each pushed branch once the push has succeeded.
# Installed by \`gitsync hook install\`. It never slows the push down and never fails it:
# the report runs in the background, after git has updated the remote-tracking ref.
remote="$1"
z40=0000000000000000000000000000000000000000
while read -r local_ref local_sha remote_ref remote_sha; do
  [ "$local_sha" = "$z40" ] && continue
  case "$remote_ref" in refs/heads/*) ;; *) continue ;; esac
  branch="\${remote_ref#refs/heads/}"
  ( ${quote(node)} ${quote(bin)} report --from-checkout --remote "$remote" --branch "$branch" --wait-for-push "$local_sha" --quiet </dev/null >/dev/null 2>&1 & )
done
exit 0
`;
}

export interface HookOptions {
  cwd: string;
  chat?: string;
  workspace?: string;
  url?: string;
  key?: string;
  force?: boolean;
}

const REPORT_KEY_HOWTO =
  'create one with POST /api/v1/keys {"owner_id": …, "name": …, "scope": "report"} and set it as GITSYNC_API_KEY';

/**
 * Confirms with the service that the key is a report key before it is stored in the checkout's
 * git config, where the agent working there can read it. The service tells which kind a key is: an
 * admin key may list keys, an owner key may list chats, a report key is refused both (403
 * `forbidden`). Anything else — the service unreachable, 401, 429, 5xx — confirms nothing, and
 * nothing is stored (fail closed: storing an unchecked key could hand a human's key to the agent).
 */
async function checkReportKey(target: { url: string; key: string }): Promise<void> {
  const probe = async (
    ask: (api: GitsyncClient) => Promise<unknown>,
  ): Promise<{ status: number; code?: string }> => {
    try {
      await callService(target, ask, 5_000);
      return { status: 200 };
    } catch (error) {
      if (error instanceof CliError && error.exitCode === EXIT.unreachable)
        throw new CliError(
          `${error.message}; the key could not be confirmed to be a report key, so nothing was installed`,
          EXIT.unreachable,
        );
      if (error instanceof CliError && error.status !== undefined)
        return { status: error.status, ...(error.code !== undefined && { code: error.code }) };
      throw error;
    }
  };
  const unconfirmed = (answer: { status: number; code?: string }) =>
    new CliError(
      `the service answered ${answer.status}${answer.code ? ` ${answer.code}` : ''} when asked what kind of key this is; nothing was installed (retry later)`,
      answer.status < 500 ? EXIT.rejected : EXIT.failure,
      answer.status,
    );
  const keys = await probe((api) => api.listKeys());
  if (keys.status === 200)
    throw new CliError(
      `refusing to store the admin key in the checkout; use a report key: ${REPORT_KEY_HOWTO}`,
      EXIT.usage,
    );
  if (keys.status === 401) throw new CliError('the service does not accept this key (401)', EXIT.rejected);
  if (keys.status !== 403 || keys.code !== 'forbidden') throw unconfirmed(keys);
  const chats = await probe((api) => api.listChats({ limit: 1 }));
  if (chats.status === 200)
    throw new CliError(
      `refusing to store an owner key in the checkout (it can read and change every chat of its owner); use a report key: ${REPORT_KEY_HOWTO}`,
      EXIT.usage,
    );
  if (chats.status !== 403 || chats.code !== 'forbidden') throw unconfirmed(chats);
}

/**
 * `gitsync hook install`: writes the pre-push hook and stores chat/workspace, service URL and key
 * (from flags or the environment) in the checkout's git config (`gitsync.*`).
 */
export async function installHook(options: HookOptions): Promise<string> {
  const cwd = options.cwd;
  const gitDir = await git(cwd, 'rev-parse', '--git-dir');
  if (gitDir === null) throw new CliError(`${cwd} is not a git checkout (--cwd)`, EXIT.usage);
  const hooksPath = await git(cwd, 'rev-parse', '--git-path', 'hooks');
  const dir = resolve(cwd, hooksPath && hooksPath !== '' ? hooksPath : join(gitDir, 'hooks'));
  const file = join(isAbsolute(dir) ? dir : resolve(cwd, dir), 'pre-push');
  const existing = await readFile(file, 'utf8').catch(() => null);
  const foreign = existing !== null && !existing.includes(MARKER);
  if (foreign && !options.force) {
    throw new CliError(
      `${file} exists and is not gitsync's; rerun with --force to replace it (it is kept as pre-push.before-gitsync)`,
      EXIT.usage,
    );
  }
  // Recorded in the checkout so pushes from any shell report, whatever their environment. Anyone
  // who can read the checkout (the agent) can read that key: it must be a report key, confirmed
  // before anything in the checkout changes.
  const target = serviceTarget(options);
  await checkReportKey(target);
  if (foreign) {
    await rename(file, `${file}.before-gitsync`);
  }
  for (const [name, value] of Object.entries({
    chat: options.chat,
    workspace: options.workspace,
    url: target.url,
    key: target.key,
  })) {
    if (value !== undefined && (await git(cwd, 'config', '--local', `gitsync.${name}`, value)) === null) {
      throw new CliError(`could not store gitsync.${name} in the git config`, EXIT.failure);
    }
  }
  await mkdir(dir, { recursive: true });
  await writeFile(file, hookScript());
  await chmod(file, 0o755);
  return file;
}
