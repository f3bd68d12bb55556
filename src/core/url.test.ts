import { describe, expect, it } from 'vitest';
import { httpUrlOrNull, withHttpUrls } from './url.ts';

describe('httpUrlOrNull: only http(s) links are served', () => {
  it.each([
    ['https://ci.example/run/1', 'https://ci.example/run/1'],
    ['http://ci.example/run/1?x=1#y', 'http://ci.example/run/1?x=1#y'],
    ['HTTPS://CI.example/a', 'HTTPS://CI.example/a'],
    // What a browser strips around a link is stripped, and the link re-written.
    [' https://ci.example/a ', 'https://ci.example/a'],
    ['javascript:alert(1)', null],
    [' JaVaScRiPt:alert(1)', null],
    ['\u0000javascript:alert(1)', null],
    ['java\tscript:alert(1)', null],
    ['data:text/html,<script>alert(1)</script>', null],
    ['vbscript:msgbox(1)', null],
    ['file:///etc/passwd', null],
    ['//evil.example/x', null],
    ['/relative/path', null],
    ['not a url', null],
    ['', null],
    [null, null],
    [undefined, null],
  ])('%j → %j', (input, output) => {
    expect(httpUrlOrNull(input)).toBe(output);
  });

  it('withHttpUrls: the PR link, avatar, failing checks and earlier PRs of a status', () => {
    expect(
      withHttpUrls({
        url: 'javascript:alert(1)',
        author_avatar_url: 'data:image/svg+xml,<svg onload=alert(1)>',
        checks: {
          failing: [
            { name: 'a', url: 'javascript:x' },
            { name: 'b', url: 'https://ci/b' },
          ],
        },
        previous_prs: [{ url: 'javascript:y' }, { url: 'https://host/pr/1' }],
      }),
    ).toEqual({
      url: null,
      author_avatar_url: null,
      checks: {
        failing: [
          { name: 'a', url: null },
          { name: 'b', url: 'https://ci/b' },
        ],
      },
      previous_prs: [{ url: 'https://host/pr/1' }],
    });
  });
});
