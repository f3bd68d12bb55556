/**
 * disk-full: the embedded database (PGlite) on a small tmpfs that a filler file fills up. Writes
 * must fail with clear errors (5xx with an error body, logged), the process must not crash, and
 * once space returns writes must succeed again, with nothing accepted lost and the database
 * readable after a restart. Needs root to mount the tmpfs; elsewhere it says SKIP and why.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmdirSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGitHubEmulator } from '../../emulator/github/server.ts';
import { openDatabase } from '../../src/store/database.ts';
import {
  ADMIN_KEY,
  Api,
  type ApiAnswer,
  ENCRYPTION_KEY,
  hasErrorBody,
  type Invariants,
  OWNER_TOKEN,
  Replica,
  SERVICE_TOKEN,
  SERVICE_TOKEN_ENV,
  SecretWatch,
  scanForSecrets,
  setUpOwner,
  waitUntil,
  writeConfig,
} from './harness.ts';
import { summarize } from './restart-postgres.ts';

export interface DiskFullSizes {
  tmpfsMb: number;
  /** Writes attempted while the disk is full (a chat and a report each), at most. */
  writesWhileFull: number;
  titleBytes: number;
}

export const DISK_FULL_FULL: DiskFullSizes = { tmpfsMb: 96, writesWhileFull: 400, titleBytes: 900 };
export const DISK_FULL_QUICK: DiskFullSizes = { tmpfsMb: 96, writesWhileFull: 150, titleBytes: 900 };

const SCENARIO = 'disk-full';

export async function diskFull(inv: Invariants, s: DiskFullSizes): Promise<void> {
  if (process.getuid?.() !== 0) {
    inv.skip(SCENARIO, 'disk-full on a small tmpfs', 'not running as root: cannot mount a tmpfs');
    return;
  }
  const mount = mkdtempSync(join(tmpdir(), 'gitsync-chaos-tmpfs-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${s.tmpfsMb}m,mode=0700`, 'tmpfs', mount], {
    encoding: 'utf8',
  });
  if (mounted.status !== 0) {
    rmdirSync(mount);
    inv.skip(
      SCENARIO,
      'disk-full on a small tmpfs',
      `mount -t tmpfs failed: ${(mounted.stderr || mounted.error?.message || '').trim()}`,
    );
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-chaos-disk-'));
  const gh = await startGitHubEmulator();
  const secrets = new SecretWatch();
  secrets.add('admin key', ADMIN_KEY);
  secrets.add('service token', SERVICE_TOKEN);
  secrets.add('encryption key', ENCRYPTION_KEY);
  const api = new Api(secrets, ADMIN_KEY);
  const replicas: Replica[] = [];
  const filler = join(mount, 'filler');
  try {
    gh.addToken(SERVICE_TOKEN, 'chaos-service');
    gh.model.createRepo({ owner: 'acme', name: 'disk' });
    const config = writeConfig(dir, gh, {
      tick_interval_ms: 500,
      fresh_ttl_ms: 2_000,
      error_backoff_ms: 1_000,
    });
    const dataDir = join(mount, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const env = {
      GITSYNC_DATA_DIR: dataDir,
      GITSYNC_ADMIN_TOKEN: ADMIN_KEY,
      GITSYNC_ENCRYPTION_KEY: ENCRYPTION_KEY,
      GITSYNC_CONFIG: config,
      [SERVICE_TOKEN_ENV]: SERVICE_TOKEN,
    };
    let replica = await Replica.start('embedded', env, 60_000);
    replicas.push(replica);
    const owner = await setUpOwner(api, replica.url, secrets, gh, randomUUID(), OWNER_TOKEN);
    const accepted: { chat: string; branch: string }[] = [];
    let n = 0;
    /** A new chat with a long title, and a report of a new branch on it. */
    const write = async (): Promise<ApiAnswer[]> => {
      const chat = randomUUID();
      const branch = `disk-${n++}`;
      const put = await api.call(replica.url, 'PUT', `/api/v1/chats/${chat}`, {
        body: { owner_id: owner.id, title: 'x'.repeat(s.titleBytes) },
        key: owner.key,
        timeoutMs: 10_000,
      });
      if (put.status !== 201) return [put];
      gh.model.openPull('acme/disk', { head: branch });
      const rep = await api.call(replica.url, 'POST', '/api/v1/git-refs', {
        body: { chat_id: chat, origin: `${gh.webUrl}/acme/disk`, branch },
        key: owner.key,
        timeoutMs: 10_000,
      });
      if (rep.status === 202) accepted.push({ chat, branch });
      return [put, rep];
    };
    for (let i = 0; i < 20; i++) await write();
    const baseline = accepted.length;

    // Fill the file system to the last byte.
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(1 << 20, 0x61);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      for (let size = 1 << 19; size >= 512; size >>= 1) {
        try {
          for (;;) writeSync(fd, chunk, 0, size);
        } catch {
          // smaller pieces until nothing fits
        }
      }
    } finally {
      closeSync(fd);
    }
    const free = statfsSync(mount);
    inv.info(`tmpfs of ${s.tmpfsMb} MB full: ${free.bavail * free.bsize} bytes free`);
    const stderrBefore = replica.stderr.length;

    const whileFull: ApiAnswer[] = [];
    for (let i = 0; i < s.writesWhileFull && replica.alive; i++) {
      whileFull.push(...(await write()));
      // Enough seen once the failures keep coming.
      if (whileFull.filter((a) => a.status >= 500 || a.status === 0).length >= 40) break;
    }
    const failed = whileFull.filter((a) => a.status >= 500 || a.status === 0);
    const clear = failed.filter((a) => a.status >= 500 && hasErrorBody(a));
    const logged = replica.stderr
      .slice(stderrBefore)
      .split('\n')
      .filter((l) => /"level":(50|60)/.test(l));
    inv.check(
      SCENARIO,
      'writes on a full disk fail with a 5xx error body, logged, never hang',
      failed.length > 0 && clear.length === failed.length && logged.length > 0,
      `${whileFull.length} requests while full: ${summarize(whileFull.map((a) => (a.status === 0 ? `no answer (${a.error})` : `${a.status} ${a.body?.error?.code ?? ''}`.trim())))}; ` +
        `slowest ${Math.max(0, ...whileFull.map((a) => a.ms)).toFixed(0)} ms; ${logged.length} error lines logged` +
        (logged[0] ? `, e.g. ${logged[0].slice(0, 300)}` : ''),
    );
    inv.check(
      SCENARIO,
      'no crash while the disk is full',
      replica.alive,
      replica.alive
        ? `pid ${replica.pid} alive`
        : `EXITED ${JSON.stringify(replica.exit)}; output in ${replica.crashLog}`,
    );

    // Space returns.
    rmSync(filler);
    const freed = Date.now();
    const recovered =
      replica.alive &&
      (await waitUntil(async () => (await write()).every((a) => a.status < 300), 30_000, 500));
    let after = 0;
    if (recovered) for (let i = 0; i < 20; i++) if ((await write()).every((a) => a.status < 300)) after++;
    inv.check(
      SCENARIO,
      'writes succeed again once space returns',
      recovered && after === 20,
      recovered
        ? `first success ${Date.now() - freed} ms after the filler was deleted; then ${after}/20 writes succeeded`
        : 'no write succeeded within 30 s',
    );

    // No corruption: a clean stop, a new process on the same folder, everything accepted readable.
    if (replica.alive) await replica.stop('SIGTERM');
    const cleanExit = replica.exit?.code === 0;
    let restarted = false;
    let missing = accepted.length;
    try {
      replica = await Replica.start('embedded-restarted', env, 60_000);
      replicas.push(replica);
      restarted = true;
      const found = await Promise.all(
        accepted.map(async ({ chat, branch }) => {
          const a = await api.call(replica.url, 'GET', `/api/v1/chats/${chat}`, {
            key: owner.key,
            timeoutMs: 10_000,
          });
          return (
            a.status === 200 &&
            a.body.diff_statuses?.some((d: { git_branch: string }) => d.git_branch === branch)
          );
        }),
      );
      missing = found.filter((f) => !f).length;
    } catch (error) {
      inv.info(`restart failed: ${(error as Error).message.slice(0, 1500)}`);
    }
    inv.check(
      SCENARIO,
      'no corruption: a clean stop, a restart on the same folder, every accepted report present',
      cleanExit && restarted && missing === 0,
      `stop exit code ${replica === replicas[0] ? 'n/a' : replicas[0]!.exit?.code}; restart ${restarted ? 'ok' : 'FAILED'}; ` +
        `${accepted.length - missing}/${accepted.length} accepted reports readable (${baseline} before the disk filled)`,
    );

    // The secret scan reads the embedded database itself, once no process holds it; /metrics
    // is read first, while the process still serves.
    if (replica.alive) await api.call(replica.url, 'GET', '/metrics', { key: null });
    if (replica.alive) await replica.stop('SIGTERM');
    const db = await openDatabase({ dataDir: join(dataDir, 'pglite') });
    try {
      await scanForSecrets(SCENARIO, inv, secrets, replicas, db, api);
    } finally {
      await db.close();
    }
  } finally {
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    await gh.close();
    rmSync(filler, { force: true });
    const un = spawnSync('umount', [mount], { encoding: 'utf8' });
    if (un.status !== 0) spawnSync('umount', ['-l', mount]);
    try {
      rmdirSync(mount);
    } catch {
      // still mounted (busy): left for the operator, named in the output
      console.log(`  could not remove ${mount}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
