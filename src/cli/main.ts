import { Command, Option } from 'commander';
import { GitsyncError } from '../core/errors.ts';
import { CliError, EXIT } from './client.ts';

// Each command's module is loaded when that command runs: `serve` should not load the demo's
// emulators (GitHub's whole GraphQL schema among them), which took its start from about 0.3 s of
// module loading to 0.75 s and 55 MB more memory (docs/benchmarks.md, "Footprint and start time").
const serve = async () => (await import('./serve.ts')).serve();
const demo = async (options: { pace?: string }) => (await import('./demo.ts')).demo(options);
const migrateCommand = async () => (await import('./migrate.ts')).migrateCommand();

const urlOption = () =>
  new Option('--url <url>', 'gitsync service URL (env GITSYNC_URL; default http://127.0.0.1:7420)');
/** Refused with a message (keys come from GITSYNC_API_KEY: arguments are visible to other users). */
const keyOption = () => new Option('--key <key>').hideHelp();

const program = new Command()
  .name('gitsync')
  .description('Keeps the pull-request status of AI-agent chats in sync with code hosts')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage))
  .addHelpText(
    'after',
    '\nThe API key comes from GITSYNC_API_KEY (never from arguments, which other users can see).\nExit codes: 0 ok, 1 failure, 2 usage, 3 service unreachable, 4 refused by the service, 78 configuration.',
  );

program
  .command('serve')
  .description(
    'run the service: HTTP API, events, worker (embedded database unless GITSYNC_DATABASE_URL is set)',
  )
  .action(serve);

program
  .command('demo')
  .description(
    'offline demo: GitHub and GitLab emulators + service + simulated agents using the MCP tools; open the printed dashboard link',
  )
  .option(
    '--pace <factor>',
    "time between the simulated agents' steps, as a factor (0.2: five times as fast)",
    '1',
  )
  .action(demo);

program.command('migrate').description('apply database migrations and exit').action(migrateCommand);

program
  .command('report')
  .description("report this checkout's branch and origin (credentials removed) for a chat or workspace")
  .option('--chat <id>', 'chat that pushed (env GITSYNC_CHAT_ID, git config gitsync.chat)')
  .option('--workspace <id>', 'workspace that pushed, for every chat in it (env GITSYNC_WORKSPACE_ID)')
  .option('--owner <id>', 'with --workspace and the admin key: whose chats (env GITSYNC_OWNER_ID)')
  .option('--remote <name>', 'remote whose URL is the origin', 'origin')
  .option('--branch <name>', 'branch to report (default: the checked-out branch)')
  .option('--cwd <dir>', 'the checkout', process.cwd())
  .addOption(
    new Option('--wait-for-push <sha>', 'report only once the remote branch is at this commit').hideHelp(),
  )
  // The push hook's: URL and key from the checkout's git config only, whatever the environment holds.
  .addOption(new Option('--from-checkout').hideHelp())
  .option('--quiet', 'print nothing on success')
  .addOption(urlOption())
  .addOption(keyOption())
  .action(async (options) => (await import('./report.ts')).report(options));

program
  .command('hook')
  .description('git integration')
  .command('install')
  .description(
    'make every successful `git push` in this checkout report itself (never slows or fails the push); needs a report key in GITSYNC_API_KEY',
  )
  .option('--chat <id>', 'chat to report for (stored as git config gitsync.chat)')
  .option('--workspace <id>', 'workspace to report for (gitsync.workspace)')
  .option('--cwd <dir>', 'the checkout', process.cwd())
  .option('--force', 'replace an existing pre-push hook (kept as pre-push.before-gitsync)')
  .addOption(urlOption())
  .addOption(keyOption())
  .action(async (options) => {
    const { installHook } = await import('./hook.ts');
    const file = await installHook(options);
    process.stdout.write(`installed ${file}\n`);
  });

program
  .command('status')
  .description('table of chats and the state of their pull requests')
  .option('--owner <id>', 'only this owner (needed by nothing but the admin key)')
  .option('--archived', 'show archived chats instead of active ones')
  .option('--json', 'print the chats as JSON')
  .addOption(urlOption())
  .addOption(keyOption())
  .action(async (options) => (await import('./status.ts')).status(options));

program
  .command('mcp')
  .description(
    "gitsync's MCP tools (pr_status, pr_feedback, wait_for_pr_change, refresh_pr, report_push) over stdio, for agents that start MCP servers as commands; forwards to the service at GITSYNC_URL with GITSYNC_API_KEY",
  )
  .addOption(urlOption())
  .addOption(keyOption())
  .action(async (options) => (await import('./mcp.ts')).mcp(options));

program
  .command('healthcheck')
  .description(
    "exit 0 when the service's /readyz answers 200 (database reachable and migrated), else 1 with the reason; for container health checks (address: --url, GITSYNC_URL, else GITSYNC_HOST:GITSYNC_PORT)",
  )
  .addOption(
    new Option('--url <url>', 'gitsync service URL (env GITSYNC_URL; else GITSYNC_HOST and GITSYNC_PORT)'),
  )
  .option('--timeout <seconds>', 'how long to wait for the answer', '5')
  .action(async (options) => (await import('./healthcheck.ts')).healthcheck(options));

const token = program.command('token').description("link or unlink an owner's code-host token");
for (const [name, description, action] of [
  ['set', 'store a token (read from standard input)', 'setToken'],
  ['rm', 'remove a token', 'removeToken'],
] as const) {
  const command = token
    .command(name)
    .description(description)
    .requiredOption('--owner <id>', 'owner id (UUID)')
    .requiredOption('--provider <id>', 'provider id from the configuration, e.g. github');
  // Refused with a message: a token in the arguments is visible to other users.
  if (name === 'set') command.addOption(new Option('--token <token>').hideHelp());
  command
    .addOption(urlOption())
    .addOption(keyOption())
    .action(async (options) => (await import('./token.ts'))[action](options));
}

try {
  await program.parseAsync(process.argv);
  process.exitCode = EXIT.ok;
} catch (error) {
  if (error instanceof CliError) {
    process.stderr.write(`gitsync: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  if (error instanceof GitsyncError && error.kind === 'config') {
    process.stderr.write(`gitsync: configuration error: ${error.message}\n`);
    process.exit(EXIT.config);
  }
  process.stderr.write(`gitsync: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(EXIT.failure);
}
