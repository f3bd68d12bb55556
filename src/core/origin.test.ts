import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadInputError } from './errors.ts';
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

/** Characters a credential may hold, `@`, `/`, `:`, `#` and `?` included; hosts and paths here are lower-case. */
const CREDENTIAL_CHARS = [...'abcdefghijklmnopqrstuvwxyz0123456789', ..."_-.~!$&'()*+,;=%:/?#@[]"];
/**
 * A credential-looking user-info: at least one upper-case letter, so it can never be a piece of
 * the lower-case host and path it is reported with, and `not.toContain` cannot pass by accident.
 */
const credential = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...CREDENTIAL_CHARS), minLength: 3, maxLength: 30 }),
    fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
    fc.string({ unit: fc.constantFrom(...CREDENTIAL_CHARS), maxLength: 30 }),
  )
  .map(([a, upper, b]) => `${a}${upper}${b}`);

/** Ways an agent's remote may carry a credential, and what may be stored for each. */
const SHAPES: { origin: (cred: string) => string; stored: string[]; host: string }[] = [
  { origin: (c) => `https://${c}@h.example/o/r.git`, stored: ['https://h.example/o/r'], host: 'h.example' },
  { origin: (c) => `https://user:${c}@h.example/o/r`, stored: ['https://h.example/o/r'], host: 'h.example' },
  { origin: (c) => `https:/${c}@h.example/o/r`, stored: ['https://h.example/o/r'], host: 'h.example' },
  { origin: (c) => `https:${c}@h.example/o/r/`, stored: ['https://h.example/o/r'], host: 'h.example' },
  {
    origin: (c) => `http://${c}@h.example:8080/o/r`,
    stored: ['http://h.example:8080/o/r'],
    host: 'h.example:8080',
  },
  {
    origin: (c) => `ssh://${c}@h.example/o/r.git`,
    stored: ['ssh://h.example/o/r', 'ssh://git@h.example/o/r'],
    host: 'h.example',
  },
  {
    origin: (c) => `ssh://git:${c}@h.example:2222/o/r`,
    stored: ['ssh://git@h.example:2222/o/r'],
    host: 'h.example',
  },
  {
    origin: (c) => `git+ssh://${c}@h.example/o/r`,
    stored: ['git+ssh://h.example/o/r', 'git+ssh://git@h.example/o/r'],
    host: 'h.example',
  },
  {
    origin: (c) => `${c}@h.example:o/r.git`,
    stored: ['h.example:o/r', 'git@h.example:o/r'],
    host: 'h.example',
  },
];

describe('credentials in odd origins', () => {
  it.each([
    // A password with an unescaped `/`: strict URL parsing takes `user:pa` for the host.
    ['https://user:pa/ss@host/x', 'https://host/x', 'host', ['x']],
    // One slash: git would read an ssh host "https" and a path holding the credential.
    ['https:/user:pass@host/x', 'https://host/x', 'host', ['x']],
    // scp-like with a token as the user.
    ['ghp_16C7e42F292c6912E7710c838347Ae178B4a@host:o/r', 'host:o/r', 'host', ['o', 'r']],
    ['https://user:p@ss@host/o/r', 'https://host/o/r', 'host', ['o', 'r']],
    ['http:tok@Host.Example/o/r', 'http://host.example/o/r', 'host.example', ['o', 'r']],
  ])('%s → %s', (origin, stored, host, segments) => {
    expect(canonicalUnmatchedOrigin(origin)).toBe(stored);
    expect(parseRemote(origin)).toEqual({ host, segments });
  });

  it.each([
    'ssh:/user:pass@host/x',
    'https://user:pass@host:99999/x',
    'us/er:pass@host',
    'tok@',
    'https://tok@',
  ])('refuses %j: user-info on something that is no remote', (origin) => {
    expect(() => canonicalUnmatchedOrigin(origin)).toThrow(BadInputError);
    expect(() => canonicalUnmatchedOrigin(origin)).toThrow(/^(?!.*pass).*$/);
    expect(parseRemote(origin)).toBeNull();
  });

  it('no reported origin comes back with its credential: stored canonically, or refused', () => {
    fc.assert(
      fc.property(credential, fc.constantFrom(...SHAPES), (cred, shape) => {
        const origin = shape.origin(cred);
        let stored: string;
        try {
          stored = canonicalUnmatchedOrigin(origin);
        } catch (error) {
          expect(error).toBeInstanceOf(BadInputError);
          expect((error as Error).message).not.toContain(cred);
          return;
        }
        expect(stored).not.toContain(cred);
        expect(shape.stored).toContain(stored);
      }),
      { numRuns: 2000 },
    );
  });

  it('parsing never lets a credential into the host or the path', () => {
    fc.assert(
      fc.property(credential, fc.constantFrom(...SHAPES), (cred, shape) => {
        const parsed = parseRemote(shape.origin(cred));
        if (parsed === null) return;
        expect(parsed).toEqual({ host: shape.host, segments: ['o', 'r'] });
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but BadInputError, and never echoes the origin', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          canonicalUnmatchedOrigin(s);
        } catch (error) {
          expect(error).toBeInstanceOf(BadInputError);
          if (s.trim().length > 3) expect((error as Error).message).not.toContain(s.trim());
        }
      }),
    );
  });
});
