import { Command } from 'commander';
import { GitsyncError } from '../core/errors.ts';
import { migrateCommand } from './migrate.ts';
import { serve } from './serve.ts';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 78 } as const;

const program = new Command()
  .name('gitsync')
  .description('Keeps the pull-request status of AI-agent chats in sync with code hosts')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

program
  .command('serve')
  .description('run the service (embedded database unless GITSYNC_DATABASE_URL is set)')
  .action(serve);

program.command('migrate').description('apply database migrations and exit').action(migrateCommand);

try {
  await program.parseAsync(process.argv);
  process.exitCode = EXIT.ok;
} catch (error) {
  if (error instanceof GitsyncError && error.kind === 'config') {
    process.stderr.write(`gitsync: configuration error: ${error.message}\n`);
    process.exit(EXIT.config);
  }
  process.stderr.write(`gitsync: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(EXIT.failure);
}
