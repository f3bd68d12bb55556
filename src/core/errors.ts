/**
 * The few error types gitsync uses, split by who has to act. Code hosts, the store and the
 * HTTP layer translate raw failures into these in one place each; messages never hold a token.
 */

export type ErrorKind =
  | 'unavailable'
  | 'rate_limited'
  | 'auth'
  | 'config'
  | 'not_found'
  | 'bad_input'
  | 'conflict';

/**
 * Every error code gitsync answers with — on the API (`{"error": {"code"}}`), in refresh
 * outcomes and rows — set where the error is raised and kept unchanged to the answer.
 * `server/http-error.ts` gives each its HTTP status.
 */
export type ErrorCode =
  // bad input: the caller must fix the request
  | 'bad_request'
  | 'chat_too_deep'
  // not found
  | 'not_found'
  | 'no_ref'
  // conflicts with the current state
  | 'conflict'
  | 'too_many_children'
  // a person must act: configuration, tokens
  | 'no_provider'
  | 'no_token'
  | 'token_rejected'
  | 'encryption_key_required'
  | 'misconfigured'
  // the owner paused tracking on this provider
  | 'paused'
  // wait: the host's rate limit, or one of ours
  | 'rate_limited'
  | 'quota_exceeded'
  // the code host failed (down, timed out, answered garbage or an error): retry later
  | 'provider_error'
  // our database cannot be reached: retry shortly
  | 'unavailable'
  | 'internal';

export interface ErrorOptions {
  cause?: unknown;
  /** The code for API clients and rows; each class has its default. */
  code?: ErrorCode;
}

export abstract class GitsyncError extends Error {
  abstract readonly kind: ErrorKind;
  readonly code: ErrorCode;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code ?? (new.target as unknown as { defaultCode: ErrorCode }).defaultCode;
  }
  /** When trying again makes sense (rate limits): the `Retry-After` of an HTTP answer. */
  get retryAt(): Date | undefined {
    return undefined;
  }
}

/** Transient: the code host is down, slow or answered garbage. Retry later. */
export class UnavailableError extends GitsyncError {
  static readonly defaultCode: ErrorCode = 'provider_error';
  readonly kind = 'unavailable';
}

/**
 * The host refuses more requests with this token until `resetAt`. `scope` names the budget that
 * ran out where a host keeps several per token (GitHub: `core` for REST, `graphql`); undefined
 * means the host's one budget.
 */
export class RateLimitedError extends GitsyncError {
  static readonly defaultCode: ErrorCode = 'rate_limited';
  readonly kind = 'rate_limited';
  readonly scope: string | undefined;
  constructor(
    readonly resetAt: Date,
    message = `rate limited until ${resetAt.toISOString()}`,
    options?: ErrorOptions & { scope?: string | undefined },
  ) {
    super(message, options);
    this.scope = options?.scope;
  }
  override get retryAt(): Date {
    return this.resetAt;
  }
}

/** The token is missing, invalid or lacks permission: a person must act. */
export class AuthError extends GitsyncError {
  static readonly defaultCode: ErrorCode = 'token_rejected';
  readonly kind = 'auth';
}

/** gitsync is configured wrongly for this request (no provider, unsupported host…): a person must act. */
export class ConfigError extends GitsyncError {
  static readonly defaultCode: ErrorCode = 'misconfigured';
  readonly kind = 'config';
}

export class NotFoundError extends GitsyncError {
  static readonly defaultCode: ErrorCode = 'not_found';
  readonly kind = 'not_found';
}

export class BadInputError extends GitsyncError {
  static readonly defaultCode: ErrorCode = 'bad_request';
  readonly kind = 'bad_input';
}

/** The request contradicts the current state (e.g. unarchive under an archived parent). */
export class ConflictError extends GitsyncError {
  static readonly defaultCode: ErrorCode = 'conflict';
  readonly kind = 'conflict';
}

/**
 * An error of the class that fits `code`, for a failure recorded earlier (a refresh outcome) and
 * raised now for a caller that wants an answer.
 */
export function errorFromCode(code: ErrorCode, message: string, retryAt?: Date): GitsyncError {
  switch (code) {
    case 'rate_limited':
    case 'quota_exceeded':
      return new RateLimitedError(retryAt ?? new Date(), message, { code });
    case 'token_rejected':
      return new AuthError(message, { code });
    case 'no_provider':
    case 'no_token':
    case 'encryption_key_required':
    case 'misconfigured':
      return new ConfigError(message, { code });
    case 'not_found':
    case 'no_ref':
      return new NotFoundError(message, { code });
    case 'bad_request':
    case 'chat_too_deep':
      return new BadInputError(message, { code });
    case 'conflict':
    case 'too_many_children':
    case 'paused':
      return new ConflictError(message, { code });
    case 'provider_error':
    case 'unavailable':
    case 'internal':
      return new UnavailableError(message, { code });
  }
}

export const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);
