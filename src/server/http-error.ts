import { type ErrorCode, GitsyncError } from '../core/errors.ts';
import { isDatabaseUnreachable } from '../store/database.ts';

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

/** The HTTP status of every error code (docs/api.md). */
const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  chat_too_deep: 400,
  not_found: 404,
  no_ref: 404,
  conflict: 409,
  too_many_children: 409,
  no_provider: 422,
  no_token: 422,
  token_rejected: 422,
  encryption_key_required: 422,
  misconfigured: 422,
  paused: 409,
  rate_limited: 429,
  quota_exceeded: 429,
  internal: 500,
  provider_error: 502,
  unavailable: 503,
};

/** What a client waiting for the database is told to wait, in seconds. */
const DATABASE_RETRY_S = 5;

/** The one mapping from errors to responses: `{"error": {"code", "message"}}` with a fitting status. */
export function toErrorResponse(error: unknown, now: Date): ErrorResponse {
  const out = (status: number, code: string, message: string, headers: Record<string, string> = {}) => ({
    status,
    body: { error: { code, message } },
    headers,
  });
  if (error instanceof HttpError) return out(error.status, error.code, error.message, error.headers);
  if (error instanceof GitsyncError && error.code !== 'internal') {
    const headers: Record<string, string> = {};
    if (error.retryAt) {
      const seconds = Math.max(1, Math.ceil((error.retryAt.getTime() - now.getTime()) / 1000));
      headers['retry-after'] = String(seconds);
    }
    return out(STATUS[error.code], error.code, error.message, headers);
  }
  if (isDatabaseUnreachable(error)) {
    return out(503, 'unavailable', 'the database cannot be reached; retry shortly', {
      'retry-after': String(DATABASE_RETRY_S),
    });
  }
  // Unexpected failures say nothing about their cause (it is logged).
  return out(500, 'internal', 'internal error');
}
