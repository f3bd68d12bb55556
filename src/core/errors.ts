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

export interface ErrorOptions {
  cause?: unknown;
  /** A stable machine-readable code for API clients (`no_token`, `no_ref`…); defaults to the kind. */
  code?: string;
}

export abstract class GitsyncError extends Error {
  abstract readonly kind: ErrorKind;
  readonly #code: string | undefined;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.#code = options?.code;
  }
  get code(): string {
    return this.#code ?? this.kind;
  }
}

/** Transient: the host or database is down, slow or answered garbage. Retry later. */
export class UnavailableError extends GitsyncError {
  readonly kind = 'unavailable';
}

/**
 * The host refuses more requests with this token until `resetAt`. `scope` names the budget that
 * ran out where a host keeps several per token (GitHub: `core` for REST, `graphql`); undefined
 * means the host's one budget.
 */
export class RateLimitedError extends GitsyncError {
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
}

/** The token is missing, invalid or lacks permission: a person must act. */
export class AuthError extends GitsyncError {
  readonly kind = 'auth';
}

/** gitsync is configured wrongly for this request (no provider, unsupported host…): a person must act. */
export class ConfigError extends GitsyncError {
  readonly kind = 'config';
}

export class NotFoundError extends GitsyncError {
  readonly kind = 'not_found';
}

export class BadInputError extends GitsyncError {
  readonly kind = 'bad_input';
}

/** The request contradicts the current state (e.g. unarchive under an archived parent). */
export class ConflictError extends GitsyncError {
  readonly kind = 'conflict';
}

export const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);
