import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Engine } from '../src/engine/engine.ts';
import { createProviders, ProviderRegistry } from '../src/providers/registry.ts';
import type { ProviderConfig } from '../src/providers/types.ts';
import { createTestStore, type DatabaseKind } from './helpers/databases.ts';

/**
 * Refs reported before their host had a provider (or before the provider's type was implemented)
 * were stored in the form known then. At start they take the form their provider gives now, so a
 * report of the same remote after the upgrade meets the same ref instead of making a second one.
 */
describe.each(['postgres', 'pglite'] as DatabaseKind[])(
  'stored origins when providers change (%s)',
  (kind) => {
    let drop: (() => Promise<void>) | null = null;
    afterEach(async () => {
      await drop?.();
      drop = null;
    });

    const engineWith = (
      store: Awaited<ReturnType<typeof createTestStore>>['store'],
      configs: ProviderConfig[],
    ) => {
      const clock = new FakeClock(new Date());
      return new Engine({
        store,
        providers: new ProviderRegistry(createProviders(configs, { clock })),
        clock,
        settings: DEFAULT_WORKER_SETTINGS,
        logger: silentLogger,
      });
    };

    it('an origin stored unmatched moves to its new provider’s form, due at once, without duplicates', async () => {
      const t = await createTestStore(kind);
      drop = t.drop;
      const before = engineWith(t.store, []);
      const now = new Date();
      const [a, b] = [randomUUID(), randomUUID()];
      for (const chat of [a, b]) await t.store.putChat({ id: chat, owner_id: randomUUID() }, now);
      await before.reportRef({ chat_id: a, origin: 'git@git.corp.example:team/sub/app.git', branch: 'x' });
      await before.reportRef({ chat_id: b, origin: 'git@git.corp.example:team/sub/app.git', branch: 'y' });
      // b also reported the same branch again after the upgrade, in the new form.
      const gitlab = {
        id: 'corp',
        type: 'gitlab',
        web_url: 'https://git.corp.example',
        api_url: 'https://git.corp.example/api/v4',
      };
      const after = engineWith(t.store, [gitlab]);
      await after.reportRef({ chat_id: b, origin: 'https://git.corp.example/team/sub/app', branch: 'y' });
      const moved = await t.store.recanonicalizeOrigins(
        (o) => after.canonicalOrigin(o),
        new Date(now.getTime() + 60_000),
      );
      expect(moved).toBe(1);
      const refsOf = async (chat: string) => (await t.store.getChat(chat))!.diff_statuses;
      expect((await refsOf(a)).map((r) => [r.git_remote_origin, r.provider_id])).toEqual([
        ['https://git.corp.example/team/sub/app', 'corp'],
      ]);
      expect((await refsOf(a))[0]!.stale_at.getTime()).toBeLessThanOrEqual(now.getTime() + 60_000);
      expect((await refsOf(b)).map((r) => r.git_remote_origin)).toEqual([
        'https://git.corp.example/team/sub/app',
      ]);
      // Nothing left to move the second time.
      expect(await t.store.recanonicalizeOrigins((o) => after.canonicalOrigin(o), new Date())).toBe(0);
    });
  },
);
