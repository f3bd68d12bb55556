import { randomUUID } from 'node:crypto';
import { FakeClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../../src/core/schedule.ts';
import { Engine } from '../../src/engine/engine.ts';
import { type ChangeEvent, InProcessBus } from '../../src/events/publisher.ts';
import { FakeCodeHost, FakeProvider } from '../../src/providers/fake/fake-provider.ts';
import { ProviderRegistry } from '../../src/providers/registry.ts';
import type { Provider } from '../../src/providers/types.ts';
import { createTestStore, type DatabaseKind } from './databases.ts';

export const REPO = 'https://fake.test/acme/app';

/** A real store, the fake code host, a fake clock and an event recorder wired into an Engine. */
export async function createEngineHarness(
  kind: DatabaseKind,
  options: { settings?: Partial<WorkerSettings>; providers?: (host: FakeCodeHost) => Provider[] } = {},
) {
  const bus = new InProcessBus();
  const test = await createTestStore(kind, undefined, bus);
  const clock = new FakeClock('2026-03-01T12:00:00.000Z');
  const host = new FakeCodeHost('https://fake.test');
  const registry = new ProviderRegistry(options.providers?.(host) ?? [new FakeProvider(host)]);
  const events: ChangeEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const settings = { ...DEFAULT_WORKER_SETTINGS, ...options.settings };
  const engine = new Engine({
    store: test.store,
    providers: registry,
    clock,
    settings,
    logger: silentLogger,
  });
  const owner = randomUUID();
  await test.store.putToken(owner, 'fake', 'token-owner-1', clock.now());

  const newChat = async (opts: { owner?: string; workspace?: string; parent?: string } = {}) => {
    const id = randomUUID();
    await test.store.putChat(
      { id, owner_id: opts.owner ?? owner, workspace_id: opts.workspace, parent_chat_id: opts.parent },
      clock.now(),
    );
    return id;
  };
  /** A chat with one reported ref on `branch` of the fake repository. */
  const trackedChat = async (branch: string, opts: { owner?: string; origin?: string } = {}) => {
    const id = await newChat(opts);
    await engine.reportRef({ chat_id: id, origin: opts.origin ?? REPO, branch });
    return id;
  };
  const ref = async (chatId: string) => (await test.store.getChat(chatId))!.diff_status!;

  return { ...test, clock, host, registry, bus, events, settings, engine, owner, newChat, trackedChat, ref };
}

export type EngineHarness = Awaited<ReturnType<typeof createEngineHarness>>;
