/**
 * drop-listen: two replicas; PostgreSQL ends their LISTEN connections (as a failover or an idle
 * killer would). An event stream on replica B must still receive the events of reports sent to
 * replica A — right after the drop (caught up) and once the listeners are back.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { startGitHubEmulator } from '../../emulator/github/server.ts';
import { SseClient } from '../helpers/sse.ts';
import {
  ADMIN_KEY,
  Api,
  type Invariants,
  Replica,
  replicaEnv,
  SERVICE_TOKEN,
  SecretWatch,
  scanForSecrets,
  setUpOwner,
  waitUntil,
  writeConfig,
} from './harness.ts';

export interface DropListenSizes {
  /** Drops; each is followed by one report sent at once and one after the listeners are back. */
  rounds: number;
  /** How long B's stream may take to show an event. */
  deliveryDeadlineMs: number;
}

export const DROP_LISTEN_FULL: DropListenSizes = { rounds: 3, deliveryDeadlineMs: 5_000 };
export const DROP_LISTEN_QUICK: DropListenSizes = { rounds: 1, deliveryDeadlineMs: 5_000 };

const SCENARIO = 'drop-listen';

export async function dropListen(
  inv: Invariants,
  databaseUrl: string,
  pool: pg.Pool,
  s: DropListenSizes,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-chaos-listen-'));
  const gh = await startGitHubEmulator();
  const secrets = new SecretWatch();
  secrets.add('admin key', ADMIN_KEY);
  secrets.add('service token', SERVICE_TOKEN);
  const api = new Api(secrets, ADMIN_KEY);
  const replicas: Replica[] = [];
  let stream: SseClient | null = null;
  try {
    gh.addToken(SERVICE_TOKEN, 'chaos-service');
    gh.model.createRepo({ owner: 'acme', name: 'listen' });
    const config = writeConfig(dir, gh, { tick_interval_ms: 500, lease_ms: 10_000 });
    const [a, b] = await Promise.all(
      ['replica-a', 'replica-b'].map((n) => Replica.start(n, replicaEnv(databaseUrl, config, n))),
    );
    replicas.push(a!, b!);
    const owner = await setUpOwner(api, a!.url, secrets, gh, randomUUID());
    const chat = randomUUID();
    await api.call(a!.url, 'PUT', `/api/v1/chats/${chat}`, { body: { owner_id: owner.id }, key: owner.key });
    stream = await SseClient.open(`${b!.url}/api/v1/events?owner_id=${owner.id}`, {
      authorization: `Bearer ${owner.key}`,
    });
    const listeners = async () =>
      (
        await pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()`,
        )
      ).rows[0]!.n;

    /** Reports a new branch to A; resolves with how long B's stream took to show it, or null. */
    const deliver = async (branch: string): Promise<number | null> => {
      const t0 = Date.now();
      const r = await api.call(a!.url, 'POST', '/api/v1/git-refs', {
        body: { chat_id: chat, origin: `${gh.webUrl}/acme/listen`, branch },
        key: owner.key,
      });
      if (r.status !== 202) return null;
      const seen = await waitUntil(
        () =>
          stream!.events.some((e) => {
            if (e.event !== 'diff_status_change') return false;
            return JSON.parse(e.data).changed_diff_status?.git_branch === branch;
          }),
        s.deliveryDeadlineMs,
        10,
      );
      return seen ? Date.now() - t0 : null;
    };

    const baseline = await deliver('baseline');
    inv.info(
      `before any drop: B's stream shows a report sent to A in ${baseline ?? 'never'} ms; ${await listeners()} LISTEN connections`,
    );

    const rounds: { killed: number; atOnce: number | null; back: number | null; later: number | null }[] = [];
    for (let i = 0; i < s.rounds; i++) {
      const killed = await pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()`,
      );
      const dropped = Date.now();
      // A report right away, while the listeners are (probably) still gone: caught up later.
      const atOnce = await deliver(`drop-${i}-at-once`);
      const reconnected = await waitUntil(async () => Number(await listeners()) >= 2, 15_000, 50);
      const back = reconnected ? Date.now() - dropped : null;
      const later = await deliver(`drop-${i}-later`);
      rounds.push({ killed: killed.rowCount ?? 0, atOnce, back, later });
      inv.info(
        `drop ${i + 1}: terminated ${killed.rowCount} LISTEN connections; event on B ${atOnce ?? 'never'} ms (sent at once), ` +
          `${later ?? 'never'} ms (after the listeners were back, ${back ?? 'never'} ms after the drop)`,
      );
    }
    inv.check(
      SCENARIO,
      'the LISTEN connections were there to drop',
      baseline !== null && rounds.every((r) => r.killed >= 2),
      `terminated ${rounds.map((r) => r.killed).join(', ')} LISTEN connections (two replicas)`,
    );
    inv.check(
      SCENARIO,
      `B's stream receives events of reports sent to A after a drop (within ${s.deliveryDeadlineMs} ms)`,
      rounds.every((r) => r.atOnce !== null && r.later !== null),
      `sent right after the drop: ${rounds.map((r) => r.atOnce ?? 'never').join(', ')} ms; ` +
        `sent after the listeners were back: ${rounds.map((r) => r.later ?? 'never').join(', ')} ms`,
    );
    inv.check(
      SCENARIO,
      'the listeners come back',
      rounds.every((r) => r.back !== null),
      `two LISTEN connections again ${rounds.map((r) => r.back ?? 'never').join(', ')} ms after each drop`,
    );
    inv.check(
      SCENARIO,
      'both replicas alive, the stream still open',
      replicas.every((r) => r.alive) && stream.status === 200,
      `${replicas.filter((r) => r.alive).length}/2 alive; stream status ${stream.status}, ${stream.events.length} events`,
    );
    await scanForSecrets(SCENARIO, inv, secrets, replicas, pool, api);
  } finally {
    await stream?.close();
    await Promise.all(replicas.map((r) => r.stop('SIGTERM')));
    await gh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
