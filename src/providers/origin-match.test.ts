import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/clock.ts';
import { BitbucketProvider } from './bitbucket/bitbucket-provider.ts';
import { GitLabProvider } from './gitlab/gitlab-provider.ts';
import { hostPullUrl, isOnHost, matchRepoOnHost } from './origin-match.ts';

describe('origins on an instance', () => {
  const web = 'https://git.corp:8443/gitlab';

  it('an http(s) remote names the web port and sits under the path prefix, which is removed', () => {
    expect(matchRepoOnHost('https://git.corp:8443/gitlab/a/b/c.git', web, true)).toEqual({
      owner: 'a/b',
      name: 'c',
    });
    expect(isOnHost('https://git.corp/gitlab/a/b.git', web)).toBe(false);
    expect(isOnHost('https://git.corp:8443/a/b.git', web)).toBe(false);
  });

  it('ssh remotes carry neither the web port nor the prefix', () => {
    expect(matchRepoOnHost('git@git.corp:gitlab/sub/repo.git', web, true)).toEqual({
      owner: 'gitlab/sub',
      name: 'repo',
    });
    expect(matchRepoOnHost('ssh://git@git.corp:2222/a/b.git', web, true)).toEqual({ owner: 'a', name: 'b' });
  });

  it('never reads . or .. as a segment', () => {
    expect(matchRepoOnHost('git@git.corp:../x.git', web, true)).toBeNull();
    expect(matchRepoOnHost('git@git.corp:a/./x.git', web, true)).toBeNull();
  });
});

describe('hostPullUrl', () => {
  const deps = { clock: new FakeClock(new Date()) };
  const gitlab = new GitLabProvider(
    {
      id: 'gl',
      type: 'gitlab',
      web_url: 'https://gitlab.corp/gitlab',
      api_url: 'https://gitlab.corp/gitlab/api/v4',
    },
    deps,
  );
  const bitbucket = new BitbucketProvider(
    {
      id: 'bb',
      type: 'bitbucket',
      web_url: 'https://bitbucket.org',
      api_url: 'https://api.bitbucket.org/2.0',
    },
    deps,
  );
  const pull = { repo: { owner: 'a/b', name: 'c' }, number: 7 };

  it("keeps the host's URL when it reads back as the same PR (a renamed repository's too)", () => {
    const renamed = 'https://gitlab.corp/gitlab/a/b/renamed/-/merge_requests/7';
    expect(hostPullUrl(gitlab, renamed, pull)).toBe(renamed);
  });

  it('builds the URL when the host gave none, another host, another number or not http(s)', () => {
    const built = gitlab.buildPullUrl(pull);
    expect(built).toBe('https://gitlab.corp/gitlab/a/b/c/-/merge_requests/7');
    for (const given of [
      undefined,
      null,
      '',
      'https://gitlab.internal/a/b/c/-/merge_requests/7',
      'https://gitlab.corp/gitlab/a/b/c/-/merge_requests/8',
      'javascript:alert(1)',
    ]) {
      expect(hostPullUrl(gitlab, given, pull), String(given)).toBe(built);
    }
    const bb = { repo: { owner: 'acme', name: 'api' }, number: 3 };
    expect(hostPullUrl(bitbucket, 'https://example.com/acme/api/pull-requests/3', bb)).toBe(
      'https://bitbucket.org/acme/api/pull-requests/3',
    );
  });
});
