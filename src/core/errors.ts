/**
 * Every error livefeed reports has a stable code. This file is the one place
 * that maps a code to its HTTP status, and a WebSocket condition to its close code.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  invalid_topic: 400,
  invalid_pattern: 400,
  invalid_cursor: 400,
  invalid_wait: 400,
  too_many_patterns: 400,
  validation_failed: 400,
  unknown_type: 400,
  since_not_first: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_conflict: 422,
  internal: 500,
  draining: 503,
  engine_unavailable: 503,
  websocket_disabled: 503,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export class FeedError extends Error {
  readonly status: number
  constructor(readonly code: ErrorCode, message: string) {
    super(message)
    this.name = 'FeedError'
    this.status = ERROR_STATUS[code]
  }
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } }
  }
}

/** WebSocket close codes livefeed sends (documented in the README). */
export const CLOSE = {
  /** Server shutting down: reconnect (another instance will answer) and resume. */
  goingAway: 1001,
  /** Too many bad frames. */
  policyViolation: 1008,
  /** A frame over MAX_FRAME_BYTES. */
  messageTooBig: 1009,
  /** MAX_CONNECTION_AGE reached: reconnect at once and resume from your cursor. */
  maxAge: 4000,
  /** The client read too slowly (MAX_BUFFERED_BYTES queued): reconnect and resume. */
  slowConsumer: 4008,
} as const
