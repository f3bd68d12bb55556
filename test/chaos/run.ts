/**
 * `npm run chaos`: the fault suite of SPEC §7's reliability goal, against real `gitsync serve`
 * processes, a PostgreSQL of its own (so it can stop and crash it) and the GitHub emulator.
 * Prints one line per invariant (PASS / FAIL / SKIP with figures); exits 1 on any FAIL.
 *
 *   npm run chaos                          every scenario, full sizes
 *   npm run chaos -- --quick               smaller counts
 *   npm run chaos -- --only kill-replica   one scenario (repeat or comma-separate for several)
 */
import pg from 'pg';
import { openDatabase } from '../../src/store/database.ts';
import { migrate } from '../../src/store/migrate.ts';
import { EmbeddedPostgres } from '../helpers/embedded-postgres.ts';
import { DISK_FULL_FULL, DISK_FULL_QUICK, diskFull } from './disk-full.ts';
import { DROP_LISTEN_FULL, DROP_LISTEN_QUICK, dropListen } from './drop-listen.ts';
import { adminPool, Invariants } from './harness.ts';
import { HOST_FAULTS_FULL, HOST_FAULTS_QUICK, hostFaults } from './host-faults.ts';
import { KILL_REPLICA_FULL, KILL_REPLICA_QUICK, killReplica } from './kill-replica.ts';
import { RESTART_POSTGRES_FULL, RESTART_POSTGRES_QUICK, restartPostgres } from './restart-postgres.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .flatMap((a, i) => (a === '--only' ? [args[i + 1] ?? ''] : a.startsWith('--only=') ? [a.slice(7)] : []))
  .flatMap((a) => a.split(','))
  .filter(Boolean);

const sizes = {
  'kill-replica': quick ? KILL_REPLICA_QUICK : KILL_REPLICA_FULL,
  'restart-postgres': quick ? RESTART_POSTGRES_QUICK : RESTART_POSTGRES_FULL,
  'drop-listen': quick ? DROP_LISTEN_QUICK : DROP_LISTEN_FULL,
  'host-faults': quick ? HOST_FAULTS_QUICK : HOST_FAULTS_FULL,
  'disk-full': quick ? DISK_FULL_QUICK : DISK_FULL_FULL,
} as const;
type Name = keyof typeof sizes;
const names = Object.keys(sizes) as Name[];
const unknown = only.filter((n) => !names.includes(n as Name));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; known: ${names.join(', ')}`);
  process.exit(2);
}
const selected = only.length > 0 ? names.filter((n) => only.includes(n)) : names;

console.log(`# gitsync fault suite (${quick ? 'quick' : 'full'} sizes)`);
for (const n of selected) console.log(`  ${n}: ${JSON.stringify(sizes[n])}`);

const inv = new Invariants();
const started = Date.now();
let cluster: EmbeddedPostgres | null = null;

/** A fresh, migrated database of its own for one scenario. */
async function scenarioDatabase(name: string): Promise<{ url: string; pool: pg.Pool }> {
  const dbName = `chaos_${name.replace(/-/g, '_')}`;
  const admin = new pg.Client({ connectionString: cluster!.url });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${dbName}`);
  // The embedded server runs with synchronous_commit=off (a throw-away test server): a crash
  // would then lose commits already acknowledged, which is the server's choice, not gitsync's.
  // A real deployment commits durably; so do the scenario databases.
  await admin.query(`ALTER DATABASE ${dbName} SET synchronous_commit = on`);
  await admin.end();
  const url = cluster!.url.replace(/\/postgres$/, `/${dbName}`);
  const db = await openDatabase({ url });
  await migrate(db);
  await db.close();
  return { url, pool: adminPool(url) };
}

const stopAll = async () => {
  await cluster?.destroy();
  cluster = null;
};
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    // Replicas are our children: they stop with the terminal's signal, or when their parent goes.
    void stopAll().finally(() => process.exit(130));
  });

try {
  if (selected.some((n) => n !== 'disk-full')) {
    cluster = await EmbeddedPostgres.create();
    const version = await cluster.start();
    console.log(`  PostgreSQL ${version} (embedded-postgres) in ${cluster.folder}`);
  }
  for (const name of selected) {
    console.log('');
    console.log(`## ${name}`);
    const t0 = Date.now();
    let pool: pg.Pool | null = null;
    try {
      if (name === 'disk-full') {
        await diskFull(inv, sizes['disk-full']);
      } else {
        const db = await scenarioDatabase(name);
        pool = db.pool;
        if (name === 'kill-replica') await killReplica(inv, db.url, db.pool, sizes[name]);
        if (name === 'restart-postgres') await restartPostgres(inv, db.url, db.pool, cluster!, sizes[name]);
        if (name === 'drop-listen') await dropListen(inv, db.url, db.pool, sizes[name]);
        if (name === 'host-faults') await hostFaults(inv, db.url, db.pool, sizes[name]);
      }
    } catch (error) {
      inv.check(name, 'the scenario ran to its end', false, (error as Error).stack ?? String(error));
    } finally {
      await pool?.end().catch(() => {});
    }
    console.log(`  (${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
} finally {
  await stopAll();
}

const count = (s: string) => inv.results.filter((r) => r.status === s).length;
console.log('');
console.log(
  `# ${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
for (const f of inv.failures) console.log(`FAILED ${f.scenario}: ${f.name}`);
process.exit(inv.failures.length > 0 ? 1 : 0);
