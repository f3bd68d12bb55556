import { loadConfig } from '../config/config.ts';
import { openDatabase } from '../store/database.ts';
import { migrate } from '../store/migrate.ts';

export async function migrateCommand(): Promise<void> {
  const config = loadConfig();
  const db = await openDatabase({ url: config.database_url, dataDir: `${config.data_dir}/pglite` });
  try {
    const applied = await migrate(db);
    process.stdout.write(
      applied.length > 0 ? `applied migrations ${applied.join(', ')}\n` : 'database schema is up to date\n',
    );
  } finally {
    await db.close();
  }
}
