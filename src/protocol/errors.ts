/**
 * @module
 * Every error livefeed reports has a stable code. This file is the one place
 * that maps a code to its HTTP status, and a WebSocket condition to its close
 * code; the error body is `{"error":{"code","message"}}` on HTTP, an `error`
 * frame on WebSocket and a `feed-error` event on SSE.
 */
import * as v from 'valibot'

export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  invalid_topic: 400,
  invalid_pattern: 400,
  invalid_cursor: 400,
  invalid_wait: 400,
  too_deep: 400,
  too_many_patterns: 400,
  validation_failed: 400,
  unknown_type: 400,
  since_not_first: 400,
  unauthorized: 401,
  invalid_token: 401,
  token_expired: 401,
  forbidden: 403,
  forbidden_origin: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_conflict: 422,
  upgrade_required: 426,
  too_many_connections: 429,
  rate_limited: 429,
  internal: 500,
  draining: 503,
  engine_unavailable: 503,
  websocket_disabled: 503,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

/**
 * Whole seconds to wait before retrying, sent as `Retry-After` with these codes (a `rate_limited` answer
 * carries the wait its bucket computed instead).
 */
export const RETRY_AFTER_S: Partial<Record<ErrorCode, number>> = {
  engine_unavailable: 1,
  too_many_connections: 5,
  draining: 1,
}
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode]
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]

/** What the SDK reports (as an `error` with this code) for a frame or answer it cannot understand. */
export const BAD_FRAME = 'bad_frame'

export const errorDetail = v.object({
  code: v.picklist(ERROR_CODES),
  message: v.string(),
})
export type ErrorDetail = v.InferOutput<typeof errorDetail>

/** The body of every HTTP error answer. */
export const errorBody = v.pipe(
  v.object({ error: errorDetail }),
  v.description('Every error: a stable code (docs/protocol.md lists them) and a message that says what and where.'),
)
export type ErrorBody = v.InferOutput<typeof errorBody>

/** WebSocket close codes livefeed sends, with what a client should do. */
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
  /** The connection's token expired without a refresh: get a new token and reconnect. */
  tokenExpired: 4401,
} as const
export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE]

/**
 * Why the server ends a connection, on every transport. A WebSocket is closed
 * with the code beside the reason; an SSE stream or a held poll just ends.
 * `client` and `error` close nothing more: the client left, or was told why.
 */
export const END_CLOSE_CODE = {
  client: undefined,
  error: undefined,
  done: undefined,
  max_age: CLOSE.maxAge,
  draining: CLOSE.goingAway,
  slow: CLOSE.slowConsumer,
  policy: CLOSE.policyViolation,
  too_big: CLOSE.messageTooBig,
  token_expired: CLOSE.tokenExpired,
} as const satisfies Record<string, CloseCode | undefined>
export type EndReason = keyof typeof END_CLOSE_CODE
/** Every reason a connection ends, as `livefeed_disconnects_total` labels it. */
export const END_REASONS = Object.keys(END_CLOSE_CODE) as EndReason[]

/** The close reason text sent with each code. */
export const CLOSE_REASON: Record<CloseCode, string> = {
  [CLOSE.goingAway]: 'server shutting down: reconnect and resume',
  [CLOSE.policyViolation]: 'too many bad frames',
  [CLOSE.messageTooBig]: 'frame too big',
  [CLOSE.maxAge]: 'max connection age: reconnect and resume',
  [CLOSE.slowConsumer]: 'too slow: reconnect and resume',
  [CLOSE.tokenExpired]: 'token expired: get a new token and reconnect',
}
