import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { runGitsync, type ServiceProcess, schemaUrl, startGitsync } from './helpers/processes.ts';
import { waitFor } from './helpers/wait.ts';

const ADMIN = 'cli-test-admin-key-000000';

/** The CLI as subprocesses, in real temporary git repositories, against a real `gitsync serve`. */
describe('gitsync CLI', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  let env: Record<string, string>;
  const dirs: string[] = [];
  const owner = randomUUID();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    service = await startGitsync(['serve'], {
      GITSYNC_DATABASE_URL: schemaUrl(db.schema),
      GITSYNC_PORT: '0',
      GITSYNC_ADMIN_TOKEN: ADMIN,
      // PostgreSQL without a key refuses to store owners' tokens.
      GITSYNC_ENCRYPTION_KEY: 'cd'.repeat(32),
    });
    env = { GITSYNC_URL: service.url, GITSYNC_API_KEY: ADMIN };
  });
  afterAll(async () => {
    expect(await service.stop('SIGINT')).toBe(0);
    await db.drop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'gitsync-cli-'));
    dirs.push(d);
    return d;
  };
  const sh = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@e',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@e',
      },
    }).trim();
  /** A checkout on `branch` with one commit and `origin` pointing at `originUrl`. */
  const checkout = (originUrl: string, branch = 'feature') => {
    const dir = tmp();
    sh(dir, 'init', '-q', '-b', branch);
    writeFileSync(join(dir, 'README'), 'hello\n');
    sh(dir, 'add', 'README');
    sh(dir, 'commit', '-q', '-m', 'first');
    sh(dir, 'remote', 'add', 'origin', originUrl);
    return dir;
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON
    return (await res.json().catch(() => null)) as any;
  };
  /** A report key for `owner`: what a checkout's hook may hold. */
  const reportKey = async () =>
    (await api('POST', '/api/v1/keys', { owner_id: owner, name: 'checkout', scope: 'report' })).key as string;
  const newChat = async () => {
    const id = randomUUID();
    await api('PUT', `/api/v1/chats/${id}`, { owner_id: owner, title: 'cli chat' });
    return id;
  };

  it('--help for every command', async () => {
    for (const args of [
      ['--help'],
      ['serve', '--help'],
      ['report', '--help'],
      ['hook', 'install', '--help'],
      ['status', '--help'],
      ['token', 'set', '--help'],
    ]) {
      const r = await runGitsync(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: gitsync/);
    }
    const bad = await runGitsync(['frobnicate']);
    expect(bad.code).toBe(2);
  });

  it('report stores the origin without the credentials it carries', async () => {
    const chat = await newChat();
    const dir = checkout('https://x-access-token:ghs_SECRET123@github.com/acme/app.git');
    const r = await runGitsync(['report', '--chat', chat, '--cwd', dir], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('reported feature of https://github.com/acme/app for 1 chat(s)');
    const view = await api('GET', `/api/v1/chats/${chat}`);
    expect(view.diff_status).toMatchObject({
      git_remote_origin: 'https://github.com/acme/app',
      git_branch: 'feature',
    });
    expect(JSON.stringify(view)).not.toContain('ghs_SECRET123');
  });

  it('report names what is missing, with exit codes scripts can rely on', async () => {
    const dir = checkout('https://github.com/acme/app.git');
    const noChat = await runGitsync(['report', '--cwd', dir], env);
    expect(noChat.code).toBe(2);
    expect(noChat.stderr).toMatch(/--chat/);
    const noKey = await runGitsync(['report', '--chat', randomUUID(), '--cwd', dir], {
      GITSYNC_URL: service.url,
      GITSYNC_API_KEY: '',
    });
    expect(noKey.code).toBe(78);
    expect(noKey.stderr).toMatch(/GITSYNC_API_KEY/);
    const unknown = await runGitsync(['report', '--chat', randomUUID(), '--cwd', dir], env);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/not_found/);
    const down = await runGitsync(['report', '--chat', randomUUID(), '--cwd', dir], {
      ...env,
      GITSYNC_URL: 'http://127.0.0.1:9',
    });
    expect(down.code).toBe(3);
    const notGit = await runGitsync(['report', '--chat', randomUUID(), '--cwd', tmp()], env);
    expect(notGit.code).toBe(2);
  });

  it('after hook install, a git push to a local bare repository reports itself', async () => {
    const chat = await newChat();
    const bare = tmp();
    sh(bare, 'init', '-q', '--bare');
    const dir = checkout(bare, 'agent-branch');
    const install = await runGitsync(['hook', 'install', '--chat', chat, '--cwd', dir], {
      ...env,
      GITSYNC_API_KEY: await reportKey(),
    });
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    expect(readFileSync(join(dir, '.git', 'hooks', 'pre-push'), 'utf8')).toContain('gitsync pre-push hook');
    sh(dir, 'push', '-q', 'origin', 'agent-branch');
    await waitFor(
      async () => (await api('GET', `/api/v1/chats/${chat}`)).diff_status?.git_branch === 'agent-branch',
      20_000,
      'the report',
    );
    expect((await api('GET', `/api/v1/chats/${chat}`)).diff_status.git_remote_origin).toBe(bare);
  });

  it('with the service down the push still succeeds, promptly', async () => {
    const bare = tmp();
    sh(bare, 'init', '-q', '--bare');
    const dir = checkout(bare);
    const install = await runGitsync(['hook', 'install', '--chat', randomUUID(), '--cwd', dir], {
      ...env,
      GITSYNC_API_KEY: await reportKey(),
    });
    expect(install.code).toBe(0);
    // The service moved away (or is down): pushes must not wait for it.
    sh(dir, 'config', 'gitsync.url', 'http://127.0.0.1:9');
    const started = Date.now();
    sh(dir, 'push', '-q', 'origin', 'feature');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(sh(bare, 'rev-parse', 'feature')).toBe(sh(dir, 'rev-parse', 'HEAD'));
  });

  /** A server that records the Authorization header of every request and answers `status`. */
  const recorder = async (status = 202, body: unknown = { chat_ids: [] }) => {
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      req.resume();
      res.writeHead(status, {
        'content-type': 'application/json',
        ...(status === 429 && { 'retry-after': '5' }),
      });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    return {
      url: `http://127.0.0.1:${port}`,
      seen,
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  };

  it("the user's key goes only to a URL from the environment, never to one the checkout names", async () => {
    const trap = await recorder();
    try {
      const bare = tmp();
      sh(bare, 'init', '-q', '--bare');
      const dir = checkout(bare);
      const chat = await newChat();
      const checkoutKey = await reportKey();
      const install = await runGitsync(['hook', 'install', '--chat', chat, '--cwd', dir], {
        ...env,
        GITSYNC_API_KEY: checkoutKey,
      });
      expect(install.code, install.stderr).toBe(0);
      // The agent working in the checkout points it at a server of its own.
      sh(dir, 'config', 'gitsync.url', trap.url);

      // A human reports by hand with their own key in the environment (no GITSYNC_URL): the key
      // goes to the default URL or nowhere, not to the checkout's URL.
      expect(process.env.GITSYNC_URL).toBeUndefined();
      await runGitsync(['report', '--cwd', dir], { GITSYNC_API_KEY: ADMIN });
      expect(trap.seen).toEqual([]);
      // --url with the checkout's key is refused: the checkout's key goes only to its own URL.
      const mixed = await runGitsync(['report', '--cwd', dir, '--url', service.url], { GITSYNC_API_KEY: '' });
      expect(mixed.code).toBe(2);
      expect(mixed.stderr).toMatch(/--url goes with GITSYNC_API_KEY/);

      // The human pushes from a shell holding their key: the hook sends the checkout's own report
      // key (which the agent could read anyway) to the checkout's URL, never the human's key.
      execFileSync('git', ['push', '-q', 'origin', 'feature'], {
        cwd: dir,
        env: { ...process.env, GITSYNC_API_KEY: ADMIN },
      });
      await waitFor(() => trap.seen.length > 0, 20_000, "the hook's report");
      expect(trap.seen).toEqual([`Bearer ${checkoutKey}`]);
    } finally {
      await trap.close();
    }
  });

  it('hook install fails closed: unless the service confirms a report key, nothing is written', async () => {
    const key = await reportKey();
    for (const [what, answer] of [
      ['unreachable', null],
      ['rate limited', [429, { error: { code: 'rate_limited', message: 'slow down' } }]],
      ['failing', [503, { error: { code: 'unavailable', message: 'database away' } }]],
      ['odd', [200, { keys: [] }]],
    ] as const) {
      const fake = answer ? await recorder(answer[0], answer[1]) : null;
      try {
        const dir = checkout('https://github.com/acme/app.git');
        const r = await runGitsync(
          [
            'hook',
            'install',
            '--chat',
            randomUUID(),
            '--cwd',
            dir,
            '--url',
            fake?.url ?? 'http://127.0.0.1:9',
          ],
          { GITSYNC_API_KEY: key },
        );
        expect(r.code, `${what}: ${r.stderr}`).not.toBe(0);
        expect(r.stderr, what).not.toBe('');
        expect(() => sh(dir, 'config', '--get', 'gitsync.key'), what).toThrow();
        expect(existsSync(join(dir, '.git', 'hooks', 'pre-push')), what).toBe(false);
      } finally {
        await fake?.close();
      }
    }
  });

  it('hook install stores only a report key: the admin key, owner keys and --key are refused', async () => {
    const dir = checkout('https://github.com/acme/app.git');
    const admin = await runGitsync(['hook', 'install', '--chat', randomUUID(), '--cwd', dir], env);
    expect(admin.code).toBe(2);
    expect(admin.stderr).toMatch(/refusing to store the admin key.*"scope": "report"/);
    const ownerKey = (await api('POST', '/api/v1/keys', { owner_id: owner, name: 'owner' })).key;
    const byOwner = await runGitsync(['hook', 'install', '--chat', randomUUID(), '--cwd', dir], {
      ...env,
      GITSYNC_API_KEY: ownerKey,
    });
    expect(byOwner.code).toBe(2);
    expect(byOwner.stderr).toMatch(/refusing to store an owner key/);
    const flag = await runGitsync(['hook', 'install', '--chat', randomUUID(), '--cwd', dir, '--key', ADMIN], {
      GITSYNC_URL: service.url,
    });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--key is refused.*GITSYNC_API_KEY/);
    // Nothing was stored by the refused installs.
    expect(() => sh(dir, 'config', '--get', 'gitsync.key')).toThrow();
  });

  it('hook install refuses to overwrite a foreign hook without --force', async () => {
    const dir = checkout('https://github.com/acme/app.git');
    const hookEnv = { ...env, GITSYNC_API_KEY: await reportKey() };
    writeFileSync(join(dir, '.git', 'hooks', 'pre-push'), '#!/bin/sh\nexit 0\n');
    expect((await runGitsync(['hook', 'install', '--chat', randomUUID(), '--cwd', dir], hookEnv)).code).toBe(
      2,
    );
    expect(
      (await runGitsync(['hook', 'install', '--chat', randomUUID(), '--cwd', dir, '--force'], hookEnv)).code,
    ).toBe(0);
    expect(readFileSync(join(dir, '.git', 'hooks', 'pre-push.before-gitsync'), 'utf8')).toContain('exit 0');
  });

  it('status prints chats and PR states; token set|rm link and unlink tokens', async () => {
    const chat = await newChat();
    await api('POST', '/api/v1/git-refs', {
      chat_id: chat,
      origin: 'https://github.com/acme/app',
      branch: 'shown',
    });
    const table = await runGitsync(['status', '--owner', owner], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^CHAT\s+TITLE\s+BRANCH/);
    expect(table.stdout).toContain(chat.slice(0, 8));
    expect(table.stdout).toContain('shown');
    const json = await runGitsync(['status', '--owner', owner, '--json'], env);
    expect(JSON.parse(json.stdout).length).toBeGreaterThan(0);
    // A PR as a refresh would have written it (this service reaches no code host).
    await db.db.query(
      `UPDATE diff_statuses SET url = 'https://github.com/acme/app/pull/7', pr_number = 7,
         pull_request_state = 'open', pull_request_draft = false, checks_state = 'failing',
         checks = '{"passed": 3, "failed": 2, "pending": 0, "skipped": 0, "failing": [{"name": "lint", "url": null}, {"name": "test", "url": null}]}',
         merge_state = 'unknown', unresolved_threads = 2
       WHERE chat_id = $1`,
      [chat],
    );
    const row = (await runGitsync(['status', '--owner', owner], env)).stdout
      .split('\n')
      .find((line) => line.includes(chat.slice(0, 8)));
    expect(row).toMatch(/#7\s+open\s+.*failing: lint, test\s+checking\s+2 open/);
    // Merge readiness: the first blocker in words, and how many more stand behind it.
    expect(row).toMatch(/#7\s+open\s+checks failing \+3\s/);
    await db.db.query(
      `UPDATE diff_statuses SET checks_state = 'passing', merge_state = 'clean', unresolved_threads = 0,
         awaiting_approval = false WHERE chat_id = $1`,
      [chat],
    );
    const ready = (await runGitsync(['status', '--owner', owner], env)).stdout
      .split('\n')
      .find((line) => line.includes(chat.slice(0, 8)));
    expect(ready).toMatch(/#7\s+open\s+ready\s/);
    await db.db.query(
      `UPDATE diff_statuses SET merge_state = 'blocked', merge_state_reason = 'BLOCKED' WHERE chat_id = $1`,
      [chat],
    );
    const blocked = (await runGitsync(['status', '--owner', owner], env)).stdout
      .split('\n')
      .find((line) => line.includes(chat.slice(0, 8)));
    expect(blocked).toMatch(/#7\s+open\s+blocked: BLOCKED\s/);

    const set = await runGitsync(
      ['token', 'set', '--owner', owner, '--provider', 'github'],
      env,
      'ghp_from_stdin\n',
    );
    expect(set.code).toBe(0);
    expect(set.stdout + set.stderr).not.toContain('ghp_from_stdin');
    const rows = await db.db.query<{ secret: string }>(
      'SELECT secret FROM owner_tokens WHERE owner_id = $1',
      [owner],
    );
    expect(rows.rows[0]?.secret).toMatch(/^aes256gcm:v2:/);
    expect(rows.rows[0]?.secret).not.toContain('ghp_from_stdin');
    expect((await runGitsync(['token', 'rm', '--owner', owner, '--provider', 'github'], env)).code).toBe(0);
    expect((await db.db.query('SELECT 1 FROM owner_tokens WHERE owner_id = $1', [owner])).rows).toEqual([]);
    const unknown = await runGitsync(['token', 'set', '--owner', owner, '--provider', 'nope'], env, 'x\n');
    expect(unknown.code).toBe(4);
    // Secrets in process arguments are visible to every local user: refused, naming the way that works.
    const flag = await runGitsync(
      ['token', 'set', '--owner', owner, '--provider', 'github', '--token', 'ghp_in_argv'],
      env,
    );
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--token is refused.*standard input/);
    const keyFlag = await runGitsync(
      ['token', 'rm', '--owner', owner, '--provider', 'github', '--key', ADMIN],
      { GITSYNC_URL: service.url },
    );
    expect(keyFlag.code).toBe(2);
    expect(keyFlag.stderr).toMatch(/--key is refused.*GITSYNC_API_KEY/);
    expect((await runGitsync(['token', 'set', '--provider', 'github'], env)).code).toBe(2);
  });

  it('serve names the setting to fix and exits 78 on bad configuration', async () => {
    const r = await runGitsync(['serve'], { GITSYNC_PORT: 'eighty' });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/GITSYNC_PORT/);
    const file = join(tmp(), 'config.json');
    writeFileSync(file, JSON.stringify({ worker: { batch_size: 10, colour: 'blue' } }));
    const bad = await runGitsync(['serve'], { GITSYNC_CONFIG: file });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/worker: unknown key\(s\) colour/);
  });
});
