import {
  AuthError,
  ConfigError,
  type GitsyncError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
} from '../core/errors.ts';
import type { RefreshFailure } from './outcomes.ts';

/** A refresh failure as a typed error, for callers that asked for an answer (refresh now). */
export function failureError(failure: RefreshFailure): GitsyncError {
  switch (failure.code) {
    case 'rate_limited':
      return new RateLimitedError(failure.paused_until ?? new Date(), failure.message, {
        code: 'rate_limited',
      });
    case 'no_provider':
    case 'config':
      return new ConfigError(failure.message, { code: 'no_provider' });
    case 'no_token':
      return new ConfigError(failure.message, { code: 'no_token' });
    case 'auth':
      return new AuthError(failure.message, { code: 'provider_error' });
    case 'not_found':
      return new NotFoundError(failure.message, { code: 'provider_error' });
    default:
      return new UnavailableError(failure.message, { code: 'provider_error' });
  }
}
