import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../src/core/clock.ts';
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
});
