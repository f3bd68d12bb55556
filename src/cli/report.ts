import { canonicalUnmatchedOrigin } from '../core/origin.ts';
import { UUID_PATTERN } from '../core/types.ts';
import { CliError, callService, EXIT, reportTarget } from './client.ts';
import { git } from './git.ts';

export interface ReportOptions {
  url?: string;
  key?: string;
  chat?: string;
  workspace?: string;
  owner?: string;
  remote: string;
  branch?: string;
  cwd: string;
  waitForPush?: string;
  /** The push hook: the service URL and key from the checkout's git config, never the environment. */
  fromCheckout?: boolean;
  quiet?: boolean;
}

/**
 * `gitsync report`: posts "this chat pushed branch B of origin O". Branch and origin come from
 * the checkout; credentials in the remote URL are removed before anything leaves the machine.
 * GITSYNC_API_KEY is sent only to --url / GITSYNC_URL (or the default), never to a `gitsync.url`
 * the checkout names: whoever can write the checkout's git config must not receive the user's key.
 */
export async function report(options: ReportOptions): Promise<void> {
  const cwd = options.cwd;
  if ((await git(cwd, 'rev-parse', '--git-dir')) === null) {
    throw new CliError(`${cwd} is not a git checkout (--cwd)`, EXIT.usage);
  }
  const setting = (name: string) =>
    git(cwd, 'config', '--get', `gitsync.${name}`).then((v) => v || undefined);
  const chat = options.chat ?? process.env.GITSYNC_CHAT_ID ?? (await setting('chat'));
  const workspace = options.workspace ?? process.env.GITSYNC_WORKSPACE_ID ?? (await setting('workspace'));
  const owner = options.owner ?? process.env.GITSYNC_OWNER_ID ?? (await setting('owner'));
  if (!chat && !workspace) {
    throw new CliError(
      'say which chat pushed: --chat / GITSYNC_CHAT_ID or --workspace / GITSYNC_WORKSPACE_ID',
      EXIT.usage,
    );
  }
  for (const [flag, value] of [
    ['--chat', chat],
    ['--workspace', workspace],
    ['--owner', owner],
  ] as const) {
    if (value && !UUID_PATTERN.test(value))
      throw new CliError(`${flag} must be a UUID, got ${JSON.stringify(value)}`, EXIT.usage);
  }
  // The key goes only to the URL that came from the same place (client.ts, `reportTarget`).
  const target = reportTarget(
    options,
    { url: await setting('url'), key: await setting('key') },
    options.fromCheckout === true,
  );

  const branch = options.branch ?? (await git(cwd, 'symbolic-ref', '--short', '-q', 'HEAD'));
  if (!branch) throw new CliError('HEAD is not on a branch (detached?); pass --branch', EXIT.usage);
  const remoteUrl =
    (await git(cwd, 'remote', 'get-url', options.remote)) ??
    (options.remote.includes(':') ? options.remote : null);
  if (!remoteUrl)
    throw new CliError(`no remote named ${JSON.stringify(options.remote)} (--remote)`, EXIT.usage);
  const origin = canonicalUnmatchedOrigin(remoteUrl);

  if (options.waitForPush && !(await pushLanded(cwd, options.remote, branch, options.waitForPush))) {
    if (!options.quiet) process.stderr.write('gitsync: the push did not land; nothing reported\n');
    return;
  }
  const result = await callService(target, (api) =>
    api.reportRef({
      ...(chat ? { chat_id: chat } : { workspace_id: workspace, ...(owner && { owner_id: owner }) }),
      branch,
      origin,
    }),
  );
  if (!options.quiet) {
    process.stdout.write(`reported ${branch} of ${origin} for ${result.chat_ids.length} chat(s)\n`);
  }
}

/**
 * Whether the remote's branch now points at `sha`: the remote-tracking ref (updated by git once
 * a push succeeds) is checked often; `git ls-remote` now and then for pushes to plain URLs.
 */
async function pushLanded(cwd: string, remote: string, branch: string, sha: string): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  for (let i = 0; Date.now() < deadline; i++) {
    if ((await git(cwd, 'rev-parse', '--verify', '-q', `refs/remotes/${remote}/${branch}`)) === sha)
      return true;
    if (i % 8 === 7) {
      const line = await git(cwd, 'ls-remote', remote, `refs/heads/${branch}`);
      if (line?.split(/\s+/)[0] === sha) return true;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
