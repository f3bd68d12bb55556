import { describe, expect, it } from 'vitest';
import { AuthError, NotFoundError, RateLimitedError, UnavailableError } from '../../core/errors.ts';
import { translateGitHubError } from './errors.ts';

const now = new Date('2026-03-01T12:00:00.000Z');
const t = (status: number, headers: Record<string, string> = {}) =>
  translateGitHubError(status, new Headers(headers), 'GET /repos/o/r/pulls/1', now);

describe('translateGitHubError (SPEC §5)', () => {
  it('403 with x-ratelimit-remaining: 0 waits until x-ratelimit-reset', () => {
    const error = t(403, {
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Date.parse('2026-03-01T12:30:00Z') / 1000),
    });
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).resetAt.toISOString()).toBe('2026-03-01T12:30:00.000Z');
  });

  it('429 with retry-after waits that many seconds', () => {
    const error = t(429, { 'retry-after': '90' }) as RateLimitedError;
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.resetAt.toISOString()).toBe('2026-03-01T12:01:30.000Z');
  });

  it('403 with retry-after (secondary limit) is a rate limit; retry-after wins over the reset time', () => {
    const error = t(403, {
      'retry-after': '30',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '9999999999',
    }) as RateLimitedError;
    expect(error.resetAt.toISOString()).toBe('2026-03-01T12:00:30.000Z');
  });

  it('a 429 naming no time waits a minute, as GitHub advises', () => {
    expect((t(429) as RateLimitedError).resetAt.toISOString()).toBe('2026-03-01T12:01:00.000Z');
  });

  it('a 403 without rate-limit headers is not a rate limit but a permission error', () => {
    expect(t(403, { 'x-ratelimit-remaining': '4999' })).toBeInstanceOf(AuthError);
    expect(t(403)).toBeInstanceOf(AuthError);
  });

  it('401 is auth, 404 not found, 5xx and the rest unavailable', () => {
    expect(t(401)).toBeInstanceOf(AuthError);
    expect(t(404)).toBeInstanceOf(NotFoundError);
    expect(t(502)).toBeInstanceOf(UnavailableError);
    expect(t(503)).toBeInstanceOf(UnavailableError);
    expect(t(422)).toBeInstanceOf(UnavailableError);
  });
});
