import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORKER_SETTINGS } from '../core/schedule.ts';
import { loadConfig } from './config.ts';

const withFile = (content: unknown) => {
  const dir = mkdtempSync(join(tmpdir(), 'gitsync-config-'));
  const path = join(dir, 'config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

describe('loadConfig', () => {
  it('defaults: embedded database, 127.0.0.1:7420, github.com and gitlab.com with env tokens', () => {
    const config = loadConfig({ GITHUB_TOKEN: 'ghp_x' });
    expect(config).toMatchObject({
      database_url: undefined,
      host: '127.0.0.1',
      port: 7420,
      log_level: 'info',
    });
    expect(config.worker).toEqual(DEFAULT_WORKER_SETTINGS);
    expect(config.providers.map((p) => [p.id, p.api_url, p.service_token])).toEqual([
      ['github', 'https://api.github.com', 'ghp_x'],
      ['gitlab', 'https://gitlab.com/api/v4', undefined],
    ]);
  });

  it('reads providers and worker settings from the file', () => {
    const path = withFile({
      providers: [
        {
          id: 'ghe',
          type: 'github',
          web_url: 'https://ghe.corp/',
          token_env: 'GHE_TOKEN',
          webhook_secret_env: 'GHE_HOOK',
        },
        {
          id: 'local',
          type: 'github',
          web_url: 'http://127.0.0.1:9000',
          api_url: 'http://127.0.0.1:9000/api',
        },
      ],
      worker: { batch_size: 500, concurrency: 64, enabled: false },
    });
    const config = loadConfig({ GITSYNC_CONFIG: path, GHE_TOKEN: 't', GHE_HOOK: 's' });
    expect(config.providers[0]).toMatchObject({
      web_url: 'https://ghe.corp',
      api_url: 'https://ghe.corp/api/v3',
      service_token: 't',
      webhook_secret: 's',
    });
    expect(config.providers[1]?.api_url).toBe('http://127.0.0.1:9000/api');
    expect(config.worker).toMatchObject({
      batch_size: 500,
      concurrency: 64,
      enabled: false,
      tick_interval_ms: 10_000,
    });
  });

  it.each([
    [{ GITSYNC_PORT: 'eighty' }, /GITSYNC_PORT/],
    [{ GITSYNC_PORT: '70000' }, /GITSYNC_PORT/],
    [{ GITSYNC_LOG_LEVEL: 'loud' }, /GITSYNC_LOG_LEVEL/],
    [{ GITSYNC_DATABASE_URL: 'mysql://x' }, /GITSYNC_DATABASE_URL/],
    [{ GITSYNC_ADMIN_TOKEN: 'short' }, /GITSYNC_ADMIN_TOKEN/],
    [{ GITSYNC_CONFIG: '/nonexistent/gitsync.json' }, /GITSYNC_CONFIG: cannot read/],
  ])('names the variable to fix: %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each([
    ['{not json', /not valid JSON/],
    [
      { providers: [{ id: 'x', type: 'github', web_url: 'https://h', colour: 'red' }] },
      /providers\[0\]: unknown key\(s\) colour/,
    ],
    [{ worker: { batch_size: 0 } }, /worker\.batch_size/],
    [{ worker: { tick_interval: 5 } }, /worker: unknown key\(s\) tick_interval/],
    [{ providers: [{ id: 'x', type: 'svn', web_url: 'https://h' }] }, /providers\[0\]\.type: must be one of/],
    [{ providers: [{ id: 'x', type: 'github', web_url: 'ftp://h' }] }, /providers\[0\]\.web_url/],
    [{ providers: [{ id: 'x', type: 'github' }] }, /providers\[0\]\.web_url/],
    [
      {
        providers: [
          { id: 'x', type: 'gitea', web_url: 'https://git.corp', api_url: 'https://u:pw@git.corp/api/v1' },
        ],
      },
      /providers\[0\]\.api_url: must be an http\(s\) URL without credentials/,
    ],
    [
      {
        providers: [
          { id: 'x', type: 'github', web_url: 'https://a' },
          { id: 'x', type: 'github', web_url: 'https://b' },
        ],
      },
      /duplicate id x/,
    ],
    [{ extra: true }, /unknown key\(s\) extra/],
  ])('rejects a bad file with the key to fix: %j', (content, message) => {
    const path = withFile(content);
    expect(() => loadConfig({ GITSYNC_CONFIG: path })).toThrow(message);
    expect(() => loadConfig({ GITSYNC_CONFIG: path })).toThrow(path);
    expect(() => loadConfig({ GITSYNC_CONFIG: path })).not.toThrow(/pw@/);
  });
});

describe('secrets from files (`*_FILE`, as container secrets are mounted)', () => {
  const KEY = 'ab'.repeat(32);

  it('reads the encryption key, the admin token, the database URL and the metrics key from files', () => {
    const config = loadConfig({
      GITSYNC_ENCRYPTION_KEY_FILE: withFile(`${KEY}\n`),
      GITSYNC_ADMIN_TOKEN_FILE: withFile('admin-token-from-a-file\r\n'),
      GITSYNC_DATABASE_URL_FILE: withFile('postgresql://gitsync:pw@db:5432/gitsync\n'),
      GITSYNC_METRICS_TOKEN_FILE: withFile('scrape-key'),
    });
    expect(config).toMatchObject({
      encryption_key: KEY,
      admin_token: 'admin-token-from-a-file',
      database_url: 'postgresql://gitsync:pw@db:5432/gitsync',
      metrics_token: 'scrape-key',
    });
  });

  it('checks a value from a file as it checks the variable', () => {
    expect(() => loadConfig({ GITSYNC_ADMIN_TOKEN_FILE: withFile('short\n') })).toThrow(
      /GITSYNC_ADMIN_TOKEN must be at least 16 characters/,
    );
    expect(() => loadConfig({ GITSYNC_DATABASE_URL_FILE: withFile('mysql://x\n') })).toThrow(
      /GITSYNC_DATABASE_URL must be a postgres/,
    );
  });

  it.each([
    [
      { GITSYNC_ADMIN_TOKEN: 'a'.repeat(20), GITSYNC_ADMIN_TOKEN_FILE: '/nowhere' },
      /set GITSYNC_ADMIN_TOKEN or GITSYNC_ADMIN_TOKEN_FILE, not both/,
    ],
    [
      { GITSYNC_ENCRYPTION_KEY_FILE: '/nowhere/key' },
      /GITSYNC_ENCRYPTION_KEY_FILE: cannot read \/nowhere\/key \(ENOENT\)/,
    ],
    [{ GITSYNC_ENCRYPTION_KEY_FILE: withFile('\n') }, /GITSYNC_ENCRYPTION_KEY_FILE: .* is empty/],
    [
      { GITSYNC_ADMIN_TOKEN_FILE: withFile('first-line-secret\nsecond-line-secret\n') },
      /holds more than one line/,
    ],
  ])('refuses %j with a message naming the variable, never the content', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
    expect(() => loadConfig(env)).not.toThrow(/secret/);
  });
});
