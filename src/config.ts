/**
 * Every limit and default of livefeed, in one place. Each is read from the
 * environment variable of the same name; the default is written beside it.
 * The README's "Configuration" table mirrors this file.
 */
export interface Config {
  port: number
  host: string
  /** "production" refuses to start without PUBLISH_TOKEN. */
  nodeEnv: string
  publishToken: string | undefined
  redisUrl: string | undefined
  /** Prefix of every Redis key, so several feeds can share one Redis. */
  redisPrefix: string
  /** Serve /ws at all (false is a test and proxy-debugging switch). */
  websocket: boolean
  staticDir: string
  logLevel: string
  limits: Limits
}

export interface Limits {
  /** Events kept for replay by the memory engine (Redis: approximate MAXLEN). */
  historySize: number
  /** Distinct topics whose latest event is kept for snapshots; the least recently updated topic is dropped past it. */
  maxTopics: number
  /** Serialized size of one event's `data`. */
  maxEventBytes: number
  /** Size of one publish request body. */
  maxBodyBytes: number
  /** Events in one publish batch. */
  maxBatch: number
  /** How long an Idempotency-Key answers with its first result. */
  idempotencyWindowMs: number
  /** Idempotency keys remembered at once by the memory engine. */
  maxIdempotencyKeys: number
  /** Patterns one connection (or one SSE/poll request) may hold. */
  maxPatterns: number
  /** Size of one frame a WebSocket client may send; bigger closes with 1009. */
  maxFrameBytes: number
  /** Bad frames a WebSocket client may send before it is closed with 1008. */
  maxBadFrames: number
  /** Bytes queued for a slow WebSocket client before it is closed with 4008. */
  maxBufferedBytes: number
  /** Server ping interval; a socket silent for two intervals is dropped. */
  heartbeatMs: number
  /** Sockets are closed with 4000 after this age (jittered down by up to 10%). */
  maxConnectionAgeMs: number
  /** On SIGTERM, socket closes are spread over this window... */
  drainSpreadMs: number
  /** ...and the process exits within this grace period, whatever is left. */
  shutdownGraceMs: number
  /** Events one replay page / one GET /api/events / one poll answer carries. */
  readLimit: number
  /** SSE heartbeat comment interval and the `retry:` hint. */
  sseHeartbeatMs: number
  sseRetryMs: number
  /** Long-poll hold time: default and maximum, in seconds. */
  pollWaitDefaultS: number
  pollWaitMaxS: number
}

export const DEFAULT_LIMITS: Limits = {
  historySize: 10_000,
  maxTopics: 100_000,
  maxEventBytes: 64 * 1024,
  maxBodyBytes: 1024 * 1024,
  maxBatch: 1000,
  idempotencyWindowMs: 10 * 60_000,
  maxIdempotencyKeys: 100_000,
  maxPatterns: 100,
  maxFrameBytes: 64 * 1024,
  maxBadFrames: 20,
  maxBufferedBytes: 8 * 1024 * 1024,
  heartbeatMs: 25_000,
  maxConnectionAgeMs: 3300_000,
  drainSpreadMs: 2_000,
  shutdownGraceMs: 10_000,
  readLimit: 1000,
  sseHeartbeatMs: 15_000,
  sseRetryMs: 1_000,
  pollWaitDefaultS: 25,
  pollWaitMaxS: 55,
}

type Env = Record<string, string | undefined>

/** Reads a number; `scale` turns the variable's unit (seconds) into the field's (ms), fallback included. */
function num(env: Env, name: string, fallback: number, scale = 1): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback * scale
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`)
  return n * scale
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  return !/^(0|false|no|off)$/i.test(raw)
}

export function loadConfig(env: Env): Config {
  const d = DEFAULT_LIMITS
  return {
    port: num(env, 'PORT', 8080),
    host: env.HOST || '0.0.0.0',
    nodeEnv: env.NODE_ENV || 'development',
    publishToken: env.PUBLISH_TOKEN || undefined,
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX || 'livefeed:',
    websocket: bool(env, 'WEBSOCKET', true),
    staticDir: env.STATIC_DIR || './static',
    logLevel: env.LOG_LEVEL || 'info',
    limits: {
      historySize: num(env, 'HISTORY_SIZE', d.historySize),
      maxTopics: num(env, 'MAX_TOPICS', d.maxTopics),
      maxEventBytes: num(env, 'MAX_EVENT_BYTES', d.maxEventBytes),
      maxBodyBytes: num(env, 'MAX_BODY_BYTES', d.maxBodyBytes),
      maxBatch: num(env, 'MAX_BATCH', d.maxBatch),
      idempotencyWindowMs: num(env, 'IDEMPOTENCY_WINDOW', d.idempotencyWindowMs / 1000, 1000),
      maxIdempotencyKeys: num(env, 'MAX_IDEMPOTENCY_KEYS', d.maxIdempotencyKeys),
      maxPatterns: num(env, 'MAX_PATTERNS', d.maxPatterns),
      maxFrameBytes: num(env, 'MAX_FRAME_BYTES', d.maxFrameBytes),
      maxBadFrames: num(env, 'MAX_BAD_FRAMES', d.maxBadFrames),
      maxBufferedBytes: num(env, 'MAX_BUFFERED_BYTES', d.maxBufferedBytes),
      heartbeatMs: num(env, 'HEARTBEAT', d.heartbeatMs / 1000, 1000),
      maxConnectionAgeMs: num(env, 'MAX_CONNECTION_AGE', d.maxConnectionAgeMs / 1000, 1000),
      drainSpreadMs: num(env, 'DRAIN_SPREAD', d.drainSpreadMs / 1000, 1000),
      shutdownGraceMs: num(env, 'SHUTDOWN_GRACE', d.shutdownGraceMs / 1000, 1000),
      readLimit: num(env, 'READ_LIMIT', d.readLimit),
      sseHeartbeatMs: num(env, 'SSE_HEARTBEAT', d.sseHeartbeatMs / 1000, 1000),
      sseRetryMs: num(env, 'SSE_RETRY', d.sseRetryMs / 1000, 1000),
      pollWaitDefaultS: num(env, 'POLL_WAIT_DEFAULT', d.pollWaitDefaultS),
      pollWaitMaxS: num(env, 'POLL_WAIT_MAX', d.pollWaitMaxS),
    },
  }
}
