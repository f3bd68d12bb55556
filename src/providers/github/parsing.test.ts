import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { GitHubProvider } from './github-provider.ts';

const dotcom = new GitHubProvider(
  { id: 'github', type: 'github', web_url: 'https://github.com', api_url: 'https://api.github.com' },
  { clock: systemClock },
);
const ghe = new GitHubProvider(
  {
    id: 'ghe',
    type: 'github',
    web_url: 'https://ghe.corp.example',
    api_url: 'https://ghe.corp.example/api/v3',
  },
  { clock: systemClock },
);

describe('GitHub origin parsing', () => {
  it.each([
    'https://github.com/acme/app',
    'https://github.com/acme/app.git',
    'https://github.com/acme/app/',
    'https://github.com/acme/app.git/',
    'https://GitHub.COM/acme/app',
    'https://x-access-token:ghs_secret@github.com/acme/app.git',
    'https://ghp_token@github.com/acme/app',
    'http://github.com/acme/app',
    'ssh://git@github.com/acme/app.git',
    'ssh://git@github.com:22/acme/app',
    // Credentials in odd places: an unescaped `/` in the password, one slash after the scheme,
    // an scp-like remote with a token as its user.
    'https://user:pa/ss@github.com/acme/app',
    'https:/user:pass@github.com/acme/app.git',
    'ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com:acme/app.git',
    'git@github.com:acme/app.git',
    'git@github.com:acme/app',
    'github.com:acme/app.git',
  ])('%s → acme/app', (origin) => {
    expect(dotcom.parseOrigin(origin)).toEqual({ owner: 'acme', name: 'app' });
    expect(dotcom.repoUrl(dotcom.parseOrigin(origin)!)).toBe('https://github.com/acme/app');
  });

  it.each([
    ['https://ghe.corp.example/team/svc.git', { owner: 'team', name: 'svc' }],
    ['git@ghe.corp.example:team/svc.git', { owner: 'team', name: 'svc' }],
    ['ssh://git@ghe.corp.example:2222/team/svc', { owner: 'team', name: 'svc' }],
  ])('Enterprise Server: %s', (origin, repo) => {
    expect(ghe.parseOrigin(origin)).toEqual(repo);
    expect(dotcom.parseOrigin(origin)).toBeNull();
  });

  it.each([
    'https://gitlab.com/acme/app',
    'https://github.com/acme',
    'https://github.com/acme/app/tree/main',
    'https://github.com.evil.example/acme/app',
    'git@github.com:acme/app/extra.git',
    '',
    'acme/app',
  ])('rejects %j', (origin) => {
    expect(dotcom.parseOrigin(origin)).toBeNull();
  });
});

describe('GitHub PR URLs', () => {
  it.each([
    ['https://github.com/acme/app/pull/42', 42],
    ['https://github.com/acme/app/pull/42/', 42],
    ['https://github.com/acme/app/pull/42/files', 42],
    ['https://github.com/acme/app/pull/42#discussion_r1', 42],
    ['https://github.com/acme/app/pull/42?w=1', 42],
  ])('%s', (url, number) => {
    expect(dotcom.parsePullUrl(url)).toEqual({ repo: { owner: 'acme', name: 'app' }, number });
  });

  it.each([
    'https://github.com/acme/app/issues/42',
    'https://github.com/acme/app/pull/0',
    'https://github.com/acme/app/pull/x',
    'https://gitlab.com/acme/app/pull/42',
    'https://ghe.corp.example/acme/app/pull/42',
    'not a url',
  ])('rejects %s', (url) => {
    expect(dotcom.parsePullUrl(url)).toBeNull();
  });
});

const name = fc
  .stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,30}$/)
  .filter((s) => s !== '.' && s !== '..' && !s.toLowerCase().endsWith('.git'));

describe('GitHub parsing properties', () => {
  it('parsing never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl()), (s) => {
        dotcom.parseOrigin(s);
        dotcom.parsePullUrl(s);
      }),
    );
  });

  it('build → parse round-trips for PR URLs and repository URLs', () => {
    fc.assert(
      fc.property(name, name, fc.integer({ min: 1, max: 2 ** 31 }), (owner, repo, number) => {
        for (const p of [dotcom, ghe]) {
          const pull = { repo: { owner, name: repo }, number };
          expect(p.parsePullUrl(p.buildPullUrl(pull))).toEqual(pull);
          expect(p.parseOrigin(p.repoUrl(pull.repo))).toEqual(pull.repo);
          expect(p.parseOrigin(`git@${new URL(p.config.web_url).host}:${owner}/${repo}.git`)).toEqual(
            pull.repo,
          );
        }
      }),
    );
  });

  it('a credential in the user-info never reaches the repository (so never the stored origin)', () => {
    const chars = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.~%!$&*+=:/?#@'];
    const credential = fc.string({ unit: fc.constantFrom(...chars), minLength: 1, maxLength: 40 });
    const shapes = [
      (c: string) => `https://${c}@github.com/acme/app.git`,
      (c: string) => `https://x-access-token:${c}@github.com/acme/app`,
      (c: string) => `https:/${c}@github.com/acme/app`,
      (c: string) => `ssh://git:${c}@github.com/acme/app`,
      (c: string) => `${c}@github.com:acme/app.git`,
    ];
    fc.assert(
      fc.property(credential, fc.constantFrom(...shapes), (cred, shape) => {
        // Whatever the user-info holds, everything before its last `@` goes: the remote is acme/app,
        // stored as https://github.com/acme/app.
        const repo = dotcom.parseOrigin(shape(cred));
        expect(repo).toEqual({ owner: 'acme', name: 'app' });
        expect(dotcom.repoUrl(repo!)).toBe('https://github.com/acme/app');
      }),
      { numRuns: 1000 },
    );
  });

  it("a host that is not the provider's is always rejected", () => {
    const host = fc.domain().filter((d) => d.toLowerCase() !== 'github.com');
    fc.assert(
      fc.property(host, name, name, (h, owner, repo) => {
        expect(dotcom.parseOrigin(`https://${h}/${owner}/${repo}`)).toBeNull();
        expect(dotcom.parseOrigin(`git@${h}:${owner}/${repo}.git`)).toBeNull();
        expect(dotcom.parsePullUrl(`https://${h}/${owner}/${repo}/pull/1`)).toBeNull();
      }),
    );
  });
});
