import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServiceHarness, type ServiceHarness } from './helpers/service.ts';

/** Origins are stored canonical and without credentials; what cannot be cleaned is refused. */
describe('credentials in reported origins, through the HTTP API', () => {
  let s: ServiceHarness;
  let chat: string;
  beforeEach(async () => {
    s = await createServiceHarness();
    chat = randomUUID();
    await s.call('PUT', `/api/v1/chats/${chat}`, { body: { owner_id: s.owner } });
  });
  afterEach(() => s.close());

  const report = (origin: string) =>
    s.call('POST', '/api/v1/git-refs', { body: { chat_id: chat, origin, branch: 'feature' } });
  const stored = async () =>
    (await s.call('GET', `/api/v1/chats/${chat}`)).json.diff_status?.git_remote_origin;

  it.each([
    ['https://user:hunter2/x@fake.test/acme/app.git', 'https://fake.test/acme/app'],
    ['https:/user:hunter2@fake.test/acme/app', 'https://fake.test/acme/app'],
    ['ghp_hunter2hunter2@fake.test:acme/app.git', 'https://fake.test/acme/app'],
    ['https://user:hunter2/x@Other.Example/o/r.git', 'https://other.example/o/r'],
    ['https:/user:hunter2@other.example/o/r', 'https://other.example/o/r'],
    ['ghp_hunter2hunter2@other.example:o/r.git', 'other.example:o/r'],
  ])('%s is stored as %s', async (origin, canonical) => {
    expect((await report(origin)).status).toBe(202);
    expect(await stored()).toBe(canonical);
  });

  it.each([
    'ssh:/user:hunter2@other.example/o/r',
    'https://user:hunter2@other.example:99999/o/r',
    'us/er:hunter2@host',
  ])('%s: 400, nothing stored, the credential not echoed', async (origin) => {
    const r = await report(origin);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'bad_request' } });
    expect(JSON.stringify(r.json)).not.toContain('hunter2');
    expect(await stored()).toBeUndefined();
  });
});
