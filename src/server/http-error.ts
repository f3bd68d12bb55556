import { GitsyncError, type RateLimitedError } from '../core/errors.ts';

/** An HTTP-only failure (auth, permissions, size, load) with its status, error code and headers. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 408 | 413 | 415 | 421 | 429 | 503,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorResponse {
  status: number;
  body: { error: { code: string; message: string } };
  headers: Record<string, string>;
}

/** The one mapping from errors to responses: `{"error": {"code", "message"}}` with a fitting status. */
export function toErrorResponse(error: unknown, now: Date): ErrorResponse {
  const out = (status: number, code: string, message: string, headers: Record<string, string> = {}) => ({
    status,
    body: { error: { code, message } },
    headers,
  });
  if (error instanceof HttpError) return out(error.status, error.code, error.message, error.headers);
  if (error instanceof GitsyncError) {
    // A code host's failure during "refresh now", whatever its kind.
    if (error.code === 'provider_error') return out(502, 'provider_error', error.message);
    switch (error.kind) {
      case 'bad_input':
        return out(400, error.code === 'bad_input' ? 'bad_request' : error.code, error.message);
      case 'not_found':
        return out(404, error.code === 'no_ref' ? 'no_ref' : 'not_found', error.message);
      case 'conflict':
        return out(409, error.code, error.message);
      case 'rate_limited': {
        // A host's limit during "refresh now", or one of ours (`quota_exceeded`).
        const resetAt = (error as RateLimitedError).resetAt;
        const seconds = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
        const code = error.code === 'quota_exceeded' ? error.code : 'rate_limited';
        return out(429, code, error.message, { 'retry-after': String(seconds) });
      }
      case 'config':
        return out(422, error.code === 'config' ? 'no_provider' : error.code, error.message);
      case 'auth':
      case 'unavailable':
        return out(502, 'provider_error', error.message);
    }
  }
  return out(500, 'internal', 'internal error');
}
