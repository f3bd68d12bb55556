import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../src/core/clock.ts';
import { DEFAULT_LIMITS } from '../src/core/limits.ts';
import { silentLogger } from '../src/core/logger.ts';
import { DEFAULT_WORKER_SETTINGS } from '../src/core/schedule.ts';
import { Chats } from '../src/engine/chats.ts';
import { Engine } from '../src/engine/engine.ts';
import { type ChangeEvent, InProcessBus } from '../src/events/publisher.ts';
import { FakeCodeHost, FakeProvider } from '../src/providers/fake/fake-provider.ts';
import { ProviderRegistry } from '../src/providers/registry.ts';
import { createTestStore } from './helpers/databases.ts';

/** A library user working through `Chats` gets what the HTTP API gives: events, and due rows announced once. */
describe('chat operations in the library', () => {
  let drop: (() => Promise<void>) | null = null;
  afterEach(() => drop?.());

  it('publishes every change with its write and announces due rows once per operation', async () => {
    const bus = new InProcessBus();
    const events: ChangeEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const t = await createTestStore('pglite', undefined, bus);
    drop = t.drop;
    const clock = new FakeClock(new Date());
    const providers = new ProviderRegistry([new FakeProvider(new FakeCodeHost('https://fake.test'))]);
    let announced = 0;
    const engine = new Engine({
      store: t.store,
      providers,
      clock,
      settings: DEFAULT_WORKER_SETTINGS,
      logger: silentLogger,
      announceDue: () => announced++,
    });
    const chats = new Chats({ store: t.store, engine, providers, clock });
    const owner = randomUUID();
    const id = randomUUID();
    await chats.put({ id, owner_id: owner, title: 'library' });
    await chats.report({ chat_id: id, origin: 'https://fake.test/acme/app', branch: 'b' }, owner);
    await chats.archive(id, owner);
    await chats.unarchive(id, owner);
    await chats.setToken(owner, 'fake', 'tok');
    await chats.removeToken(owner, 'fake');
    await chats.delete(id, owner);
    expect(events.map((e) => e.kind)).toEqual([
      'chat_created',
      'diff_status_change',
      'chat_archived',
      'chat_unarchived',
      'chat_deleted',
    ]);
    // The report, the unarchive and the new token made rows due: one announcement each.
    expect(announced).toBe(3);
    await expect(chats.get(id)).rejects.toMatchObject({ code: 'not_found' });
    await expect(chats.setToken(owner, 'nope', 'tok')).rejects.toMatchObject({ code: 'not_found' });
    // Another owner's chat is not found for this owner.
    const theirs = randomUUID();
    await chats.put({ id: theirs, owner_id: randomUUID() });
    await expect(chats.put({ id: theirs, owner_id: owner }, owner)).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('a tree holds at most descendants_per_root chats, however many are created at once (PostgreSQL)', async () => {
    const t = await createTestStore('postgres');
    drop = t.drop;
    const owner = randomUUID();
    const now = new Date();
    const limits = { ...DEFAULT_LIMITS, descendants_per_root: 6, children_per_chat: 4 };
    const root = randomUUID();
    await t.store.putChat({ id: root, owner_id: owner }, now, limits);
    const a = randomUUID();
    await t.store.putChat({ id: a, owner_id: owner, parent_chat_id: root }, now, limits);
    // Twenty creates at once, on the pool's ten connections, under two parents of one tree.
    const tries = Array.from({ length: 20 }, (_, i) =>
      t.store
        .putChat({ id: randomUUID(), owner_id: owner, parent_chat_id: i % 2 ? root : a }, now, limits)
        .then(
          () => 'created',
          (error: { code?: string }) => error.code,
        ),
    );
    const outcomes = await Promise.all(tries);
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(5);
    expect(new Set(outcomes.filter((o) => o !== 'created'))).toEqual(new Set(['too_many_children']));
    const tree = await t.store.getChat(root);
    const count = (c: { children: { children: unknown[] }[] }): number =>
      c.children.reduce((n, child) => n + 1 + count(child as never), 0);
    expect(count(tree!)).toBe(6);
    // Each parent within children_per_chat too.
    expect(tree!.children.length).toBeLessThanOrEqual(4);
    expect(tree!.children.find((c) => c.id === a)!.children.length).toBeLessThanOrEqual(4);
  });
});
