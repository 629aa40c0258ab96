/**
 * @module
 * The server's error type. Codes, statuses and close codes are the
 * protocol's (`src/protocol/errors.ts`); this adds the exception that carries
 * one, and the one mapping of anything thrown to a code.
 */
import { ERROR_STATUS, type ErrorBody, type ErrorCode, type ErrorStatus, RETRY_AFTER_S } from '../protocol/errors.ts'

export class FeedError extends Error {
  readonly status: ErrorStatus
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** What went wrong underneath (an engine's own error), for the log only. */
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'FeedError'
    this.status = ERROR_STATUS[code]
  }
  /** Whole seconds a client should wait before it retries (`Retry-After`), for the codes that have one. */
  get retryAfterS(): number | undefined {
    return RETRY_AFTER_S[this.code]
  }
  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message } }
  }
}

/**
 * What a client is told about anything thrown: a FeedError as it is; anything
 * else is a bug of ours, `internal`, and `unexpected` is true so the caller logs it.
 * (Engine failures never arrive here raw: the feed's engine guard makes them `engine_unavailable`.)
 */
export function toFeedError(err: unknown): { error: FeedError; unexpected: boolean } {
  if (err instanceof FeedError) return { error: err, unexpected: false }
  return { error: new FeedError('internal', 'internal error'), unexpected: true }
}

/** A second use of an Idempotency-Key with another body: every engine answers it the same way. */
export const idempotencyConflict = (): FeedError => new FeedError('idempotency_conflict', 'this Idempotency-Key was already used with a different request body')
