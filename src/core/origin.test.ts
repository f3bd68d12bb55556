import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalUnmatchedOrigin, parseRemote } from './origin.ts';

describe('parseRemote', () => {
  it.each([
    ['https://github.com/o/r', 'github.com', ['o', 'r']],
    ['https://github.com/o/r.git', 'github.com', ['o', 'r']],
    ['https://github.com/o/r/', 'github.com', ['o', 'r']],
    ['https://tok@GitHub.com/o/r.git/', 'github.com', ['o', 'r']],
    ['https://user:pass@ghe.corp:8443/o/r', 'ghe.corp:8443', ['o', 'r']],
    ['ssh://git@github.com/o/r.git', 'github.com', ['o', 'r']],
    ['ssh://git@github.com:2222/o/r', 'github.com', ['o', 'r']],
    ['git@github.com:o/r.git', 'github.com', ['o', 'r']],
    ['github.com:o/r', 'github.com', ['o', 'r']],
    ['git@gitlab.com:group/sub/r.git', 'gitlab.com', ['group', 'sub', 'r']],
    ['git://host.example/o/r', 'host.example', ['o', 'r']],
  ])('%s', (origin, host, segments) => {
    expect(parseRemote(origin)).toEqual({ host, segments });
  });

  it.each(['', '   ', 'not a remote', 'ftp://host/o/r', '/local/path', 'https://', 'file:///tmp/repo'])(
    'rejects %j',
    (origin) => {
      expect(parseRemote(origin)).toBeNull();
    },
  );

  it('never throws', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseRemote(s)));
  });
});

describe('canonicalUnmatchedOrigin', () => {
  it.each([
    ['https://tok@Host.Example/o/r.git/', 'https://host.example/o/r'],
    ['https://user:secret@host.example/o/r', 'https://host.example/o/r'],
    ['ssh://git:pw@HOST.example/o/r.git', 'ssh://git@host.example/o/r'],
    ['git@Host.Example:o/r.git', 'git@host.example:o/r'],
    ['https://host.example/o/r', 'https://host.example/o/r'],
  ])('%s → %s', (origin, canonical) => {
    expect(canonicalUnmatchedOrigin(origin)).toBe(canonical);
  });

  it('never keeps the password of an http(s) remote', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_]{6,30}$/), (secret) => {
        expect(canonicalUnmatchedOrigin(`https://x:${secret}@h.example/o/r`)).not.toContain(secret);
        expect(canonicalUnmatchedOrigin(`https://${secret}@h.example/o/r`)).not.toContain(secret);
      }),
    );
  });
});
