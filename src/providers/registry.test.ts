import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.ts';
import { GiteaProvider } from './gitea/gitea-provider.ts';
import { GitLabProvider } from './gitlab/gitlab-provider.ts';
import { createProviders, PROVIDER_TYPES, ProviderRegistry } from './registry.ts';

describe('provider registry', () => {
  it('has exactly one provider folder per code-host type (fake/ is for tests only)', () => {
    const folders = readdirSync(fileURLToPath(new URL('.', import.meta.url)), { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'fake')
      .map((d) => d.name)
      .sort();
    // Forgejo is served by the Gitea folder (one provider, two types).
    const folderOf = (type: string) => (type === 'forgejo' ? 'gitea' : type);
    expect([...new Set(Object.keys(PROVIDER_TYPES).map(folderOf))].sort()).toEqual(folders);
  });

  it('maps an origin to the first provider whose host matches', () => {
    const registry = new ProviderRegistry(
      createProviders(
        [
          { id: 'github', type: 'github', web_url: 'https://github.com', api_url: 'https://api.github.com' },
          { id: 'ghe', type: 'github', web_url: 'https://ghe.corp', api_url: 'https://ghe.corp/api/v3' },
          {
            id: 'gitlab',
            type: 'gitlab',
            web_url: 'https://gitlab.com',
            api_url: 'https://gitlab.com/api/v4',
          },
          { id: 'gitea', type: 'gitea', web_url: 'https://code.corp', api_url: 'https://code.corp/api/v1' },
          {
            id: 'corp',
            type: 'gitlab',
            web_url: 'https://code.corp/gitlab',
            api_url: 'https://code.corp/gitlab/api/v4',
          },
        ],
        { clock: systemClock },
      ),
    );
    expect(registry.match('git@github.com:a/b.git')?.provider.config.id).toBe('github');
    expect(registry.match('https://ghe.corp/a/b')?.provider.config.id).toBe('ghe');
    expect(registry.match('https://github.com/just-owner')).toMatchObject({ repo: null });
    expect(registry.match('https://bitbucket.org/a/b')).toBeNull();
    const gitlab = registry.match('https://gitlab.com/group/sub/repo');
    expect(gitlab?.provider).toBeInstanceOf(GitLabProvider);
    expect(gitlab?.provider.repoUrl(gitlab.repo!)).toBe('https://gitlab.com/group/sub/repo');
    // Each provider decides what is its own: one host, a Gitea at the root (listed first) and a
    // GitLab under /gitlab; the one served under the longer path wins.
    expect(registry.match('https://code.corp/gitlab/team/app')?.provider.config.id).toBe('corp');
    expect(registry.match('git@code.corp:team/app.git')?.provider.config.id).toBe('corp');
    const gitea = registry.match('https://code.corp/team/app');
    expect(gitea?.provider.config.id).toBe('gitea');
    expect(gitea?.provider).toBeInstanceOf(GiteaProvider);
  });

  it('refuses unknown types and duplicate ids', () => {
    expect(() =>
      createProviders([{ id: 'x', type: 'svn', web_url: 'https://x', api_url: 'https://x' }], {
        clock: systemClock,
      }),
    ).toThrow(/unknown type/);
    const p = createProviders([{ id: 'x', type: 'github', web_url: 'https://x', api_url: 'https://x' }], {
      clock: systemClock,
    });
    expect(() => new ProviderRegistry([...p, ...p])).toThrow(/duplicate provider id/);
  });
});
