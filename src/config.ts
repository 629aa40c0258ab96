/**
 * @module
 * Every limit and default of livefeed, in one place, checked at start by one
 * valibot schema. Each setting is read from the environment variable of the
 * same name; its default, its allowed range and its unit are written beside
 * it. A bad value stops the start with one line naming the variable, the
 * value given and what is allowed (how a value is read and checked:
 * config-read.ts). docs/configuration.md's table mirrors this file (a test
 * holds them together).
 */
import * as v from 'valibot'
import {
  booleanSchema,
  bytes,
  ConfigError,
  count,
  type Env,
  millis,
  type NumberSetting,
  numberSchema,
  patternList,
  patternsOrNone,
  read,
  seconds,
  tokenSecrets,
} from './config-read.ts'

export { allowed, ConfigError } from './config-read.ts'

const KiB = 1024
const MiB = 1024 * KiB
const DAY = 86_400

/** The numeric limits, in the units the code uses (seconds settings become ms, except the poll waits). */
export const LIMITS = {
  historySize: count('HISTORY_SIZE', 10_000, 1, 10_000_000, 'events kept for replay (Redis: trimmed past it plus ~10%)'),
  maxTopics: count('MAX_TOPICS', 100_000, 1, 10_000_000, 'topics whose latest event is kept for snapshots; the least recently updated is dropped past it'),
  maxEventBytes: bytes('MAX_EVENT_BYTES', 64 * KiB, 1, 16 * MiB, 'serialized `data` of one event'),
  maxBodyBytes: bytes('MAX_BODY_BYTES', MiB, 1, 64 * MiB, 'one publish request'),
  maxBatch: count('MAX_BATCH', 1000, 1, 100_000, 'events in one publish'),
  idempotencyWindowMs: seconds('IDEMPOTENCY_WINDOW', 600, 1, DAY, 'how long an Idempotency-Key answers with its first result'),
  maxIdempotencyKeys: count('MAX_IDEMPOTENCY_KEYS', 100_000, 1, 10_000_000, 'idempotency keys remembered at once (memory engine)'),
  maxPatterns: count('MAX_PATTERNS', 100, 1, 10_000, 'patterns per connection or request'),
  maxFrameBytes: bytes('MAX_FRAME_BYTES', 64 * KiB, 128, 16 * MiB, 'one client frame; more closes with 1009'),
  maxBadFrames: count('MAX_BAD_FRAMES', 20, 0, 1_000_000, 'bad frames a client may send; more closes with 1008'),
  maxBufferedBytes: bytes('MAX_BUFFERED_BYTES', MiB, 64 * KiB, GiB(1), 'queued for one slow client before it is closed (4008; SSE ends)'),
  conflateAfterBytes: bytes(
    'CONFLATE_AFTER',
    64 * KiB,
    KiB,
    GiB(1),
    'queued for one client before events on CONFLATE_TOPICS are conflated for it (newest per topic)',
  ),
  outboundBytes: bytes('OUTBOUND_BYTES', 512 * MiB, MiB, GiB(64), 'queued for all clients together; past it the clients with the most queued are closed first'),
  historyBytes: bytes('HISTORY_BYTES', 256 * MiB, MiB, GiB(64), 'memory engine: bytes of replay history, beside HISTORY_SIZE (whichever is hit first)'),
  idempotencyBytes: bytes('IDEMPOTENCY_BYTES', 64 * MiB, 64 * KiB, GiB(16), 'memory engine: bytes of idempotency records (the answers they replay)'),
  latestBytes: bytes(
    'LATEST_BYTES',
    256 * MiB,
    64 * KiB,
    GiB(64),
    'bytes of the events kept per topic (the latest, for snapshots, and TOPIC_HISTORY), beside MAX_TOPICS; the least recently updated topic is dropped past it',
  ),
  topicHistory: count(
    'TOPIC_HISTORY',
    100,
    0,
    10_000,
    "events kept per topic for `rewind` and GET /api/history, within LATEST_BYTES; a busy topic never evicts another's; 0 turns both off",
  ),
  occupancyIntervalMs: millis(
    'OCCUPANCY_INTERVAL',
    1000,
    50,
    60_000,
    'occupancy and presence: counts and members are shared between instances and sent to watchers at most this often; a dead instance stops counting within three',
  ),
  occupancyBytes: bytes(
    'OCCUPANCY_BYTES',
    4 * MiB,
    64 * KiB,
    GiB(1),
    "occupancy and presence: the list of this instance's subscriptions it shares, and each other instance's it holds; past it the rarest are left out",
  ),
  readBytes: bytes('READ_BYTES', 4 * MiB, 64 * KiB, GiB(1), 'one read answer, replay page or snapshot page; past it the answer is cut and says where to go on'),
  tokenCacheBytes: bytes(
    'TOKEN_CACHE_BYTES',
    4 * MiB,
    0,
    GiB(1),
    'tokens (TOKEN_SECRET) that verified, remembered until they expire so that the same token again is not verified again; past it the least recently used go; 0 is off',
  ),
  maxConnections: count(
    'MAX_CONNECTIONS',
    0,
    0,
    10_000_000,
    'Node: TCP connections this process holds; past it new ones are closed at once; 0 is the soft open-file limit minus 1000',
  ),
  headersTimeoutMs: seconds('HEADERS_TIMEOUT', 10, 0.1, 600, 'Node: a connection that has not sent a whole request head by then is closed, idle or partial'),
  maxConnectionsPerIp: count('MAX_CONNECTIONS_PER_IP', 200, 1, 1_000_000, 'WebSockets, SSE streams and held polls of one client address'),
  trustProxy: count('TRUST_PROXY', 0, 0, 10, 'proxies in front that append to X-Forwarded-For (App Engine: 1); 0 uses the socket address'),
  publishRate: count('PUBLISH_RATE', 200, 0, 1_000_000, 'publish requests per second per publisher (token subject, else address), burst twice that; 0 is off'),
  publishRateBytes: bytes(
    'PUBLISH_RATE_BYTES',
    8 * MiB,
    4 * KiB,
    GiB(1),
    'the PUBLISH_RATE buckets, one per publisher (token subject, else address; ~200 bytes each); past it the least recently used are forgotten, and start again with a full burst',
  ),
  clientFrameRate: count('CLIENT_FRAME_RATE', 50, 1, 100_000, 'frames per second one WebSocket may send, burst twice that'),
  bodyTimeoutMs: seconds('BODY_TIMEOUT', 10, 0.1, 600, 'a request body must arrive within this, else 408'),
  maxJsonDepth: count('MAX_JSON_DEPTH', 64, 1, 1000, 'nesting of arrays and objects in a request body or frame'),
  redisWaitReplicas: count('REDIS_WAIT_REPLICAS', 0, 0, 16, 'Redis: a publish is answered only once this many replicas hold it (WAIT); 0 does not wait'),
  redisWaitTimeoutMs: millis(
    'REDIS_WAIT_TIMEOUT',
    500,
    1,
    60_000,
    'Redis: how long a publish waits for REDIS_WAIT_REPLICAS; past it the answer is 503 engine_unavailable',
  ),
  heartbeatMs: seconds('HEARTBEAT', 25, 0.05, 3600, 'WebSocket ping interval'),
  maxConnectionAgeMs: seconds('MAX_CONNECTION_AGE', 3300, 0.1, DAY, 'jittered down by up to 10%; also bounds SSE streams and held polls'),
  endGraceMs: seconds(
    'END_GRACE',
    2,
    0.1,
    5,
    'an ended SSE stream or answered poll whose client takes nothing of it for this long is cut (its socket destroyed)',
  ),
  drainSpreadMs: seconds('DRAIN_SPREAD', 2, 0, 600, 'on SIGTERM, socket closes are spread over this window'),
  shutdownGraceMs: seconds('SHUTDOWN_GRACE', 10, 0.1, 3600, 'the process exits 0 by then whatever is left'),
  workerRestarts: count('WORKER_RESTARTS', 10, 0, 1000, 'WORKERS: crashed workers replaced per minute; one more and the instance exits 1'),
  readLimit: count('READ_LIMIT', 1000, 1, 100_000, 'events per read, replay page or poll answer'),
  sseHeartbeatMs: seconds('SSE_HEARTBEAT', 15, 0.05, 3600, 'SSE heartbeat comment interval'),
  sseRetryMs: seconds('SSE_RETRY', 1, 0, 3600, 'the `retry:` hint sent to EventSource'),
  pollWaitDefaultS: seconds('POLL_WAIT_DEFAULT', 25, 0, 3600, 'long-poll hold time when `wait` is not given'),
  pollWaitMaxS: seconds('POLL_WAIT_MAX', 55, 0, 3600, 'the longest `wait` a poll may ask for'),
} satisfies Record<string, NumberSetting>

function GiB(n: number): number {
  return n * 1024 * MiB
}

export type Limits = { [K in keyof typeof LIMITS]: number }

/** Settings kept in seconds (they are compared with a client's `wait`, in seconds). */
const KEEP_SECONDS: ReadonlySet<keyof Limits> = new Set(['pollWaitDefaultS', 'pollWaitMaxS'])

/** Every limit at its default. */
export const DEFAULT_LIMITS: Limits = mapLimits((s) => s.default)

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
  /** `gcp`: lines as Cloud Logging reads them (severity, message, trace); `json`: pino's own. */
  logFormat: (typeof LOG_FORMATS)[number]
  /** The project a trace id belongs to, for Cloud Logging's trace field (App Engine sets it). */
  gcpProject: string | undefined
  /** HS256 secrets tokens are verified against, newest first (rotation: add the new one, later drop the old). */
  tokenSecrets: string[]
  /** Patterns of private topics: only a token that grants them may read them. */
  privateTopics: string[]
  /** Bearer token for GET /metrics from anywhere but loopback. */
  metricsToken: string | undefined
  /** Patterns of topics conflated for a client that falls behind (CONFLATE_AFTER): it gets the newest pending event per topic. */
  conflateTopics: string[]
  /** Origins whose pages may open /ws, /sse and /poll; `*` (the default) is any. */
  allowedOrigins: '*' | string[]
  /** Patterns of topics whose subscribers with a token `sub` are listed as members (presence); empty: none. */
  presenceTopics: string[]
  /** Patterns of topics a WebSocket may publish to without a token granting them. */
  openPublishTopics: string[]
  /** Patterns of topics delivered live and never stored: no cursor, replay, snapshot or history. */
  ephemeralTopics: string[]
  /** Node: processes serving the port (cluster), or `auto`, one per core; more than one needs REDIS_URL. */
  workers: number | 'auto'
  limits: Limits
}

/** TOKEN_SECRET: each secret's least length, as HS256 asks (RFC 7518: a key of at least the hash's size). */
const MIN_SECRET_BYTES = 32
const WORKERS = 'auto, or a whole number from 1 to 256'
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const LOG_FORMATS = ['json', 'gcp'] as const

/** The non-numeric settings; every one is optional, with its default applied after the check. */
const OTHER = {
  PORT: v.pipe(v.string(), v.regex(/^[0-9]{1,5}$/, 'a port from 0 to 65535'), v.transform(Number), v.maxValue(65535, 'a port from 0 to 65535')),
  HOST: v.pipe(v.string(), v.minLength(1, 'an address to listen on')),
  NODE_ENV: v.string(),
  PUBLISH_TOKEN: v.string(),
  REDIS_URL: v.pipe(v.string(), v.regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// URL')),
  REDIS_PREFIX: v.string(),
  WEBSOCKET: booleanSchema,
  STATIC_DIR: v.pipe(v.string(), v.minLength(1, 'a directory')),
  LOG_LEVEL: v.picklist(LOG_LEVELS, `one of ${LOG_LEVELS.join(', ')}`),
  LOG_FORMAT: v.picklist(LOG_FORMATS, `one of ${LOG_FORMATS.join(', ')}`),
  GOOGLE_CLOUD_PROJECT: v.pipe(v.string(), v.regex(/^[a-z0-9:.-]{1,100}$/, 'a Google Cloud project id')),
  ALLOWED_ORIGINS: v.pipe(
    v.string(),
    v.transform((s) =>
      s.trim() === '*'
        ? ('*' as const)
        : s
            .split(',')
            .map((o) => o.trim().replace(/\/$/, ''))
            .filter((o) => o !== ''),
    ),
    v.check((o) => o === '*' || (o.length > 0 && o.every((x) => /^https?:\/\/[^/\s]+$/.test(x))), '* or comma-separated origins such as https://example.com'),
  ),
  WORKERS: v.union(
    [v.literal('auto'), v.pipe(v.string(), v.regex(/^[0-9]{1,3}$/, WORKERS), v.transform(Number), v.minValue(1, WORKERS), v.maxValue(256, WORKERS))],
    WORKERS,
  ),
  PRIVATE_TOPICS: patternList('comma-separated topic patterns, such as private/**'),
  CONFLATE_TOPICS: patternsOrNone('none, or comma-separated topic patterns, such as stocks/**'),
  PRESENCE_TOPICS: patternsOrNone('none, or comma-separated topic patterns, such as chat/**'),
  OPEN_PUBLISH_TOPICS: patternsOrNone('none, or comma-separated topic patterns, such as lobby/**'),
  EPHEMERAL_TOPICS: patternsOrNone('none, or comma-separated topic patterns, such as typing/**,cursors/**'),
}

/**
 * Relations between settings. A default gives way to the setting it depends
 * on (POLL_WAIT_MAX=5 alone makes the default wait 5); two values set against
 * each other stop the start with a line that names both.
 */
const RELATIONS: { env: string; atMost: string; key: keyof Limits; limit: keyof Limits }[] = [
  { env: 'POLL_WAIT_DEFAULT', atMost: 'POLL_WAIT_MAX', key: 'pollWaitDefaultS', limit: 'pollWaitMaxS' },
  { env: 'DRAIN_SPREAD', atMost: 'SHUTDOWN_GRACE', key: 'drainSpreadMs', limit: 'shutdownGraceMs' },
  { env: 'CONFLATE_AFTER', atMost: 'MAX_BUFFERED_BYTES', key: 'conflateAfterBytes', limit: 'maxBufferedBytes' },
]

function relate(env: Env, limits: Limits): void {
  for (const r of RELATIONS) {
    if (limits[r.key] <= limits[r.limit]) continue
    if (env[r.env] === undefined || env[r.env] === '') limits[r.key] = limits[r.limit]
    else throw new ConfigError(`${r.env}="${env[r.env]}" is not allowed: it must be at most ${r.atMost} (${env[r.atMost] || LIMITS[r.limit].default})`)
  }
}

/** Builds the limits from one value per setting (the only place the keys are walked). */
function mapLimits(value: (s: NumberSetting, key: keyof Limits) => number): Limits {
  const out: Partial<Limits> = {}
  for (const [key, s] of Object.entries(LIMITS) as [keyof Limits, NumberSetting][]) {
    const n = value(s, key)
    out[key] = s.unit === 's' && !KEEP_SECONDS.has(key) ? n * 1000 : n
  }
  return out as Limits
}

/** Reads and checks the whole configuration; throws ConfigError on the first bad value. */
export function loadConfig(env: Env): Config {
  const limits = mapLimits((s) => read(env, s.env, numberSchema(s)) ?? s.default)
  relate(env, limits)
  const redisUrl = read(env, 'REDIS_URL', OTHER.REDIS_URL)
  const workers = read(env, 'WORKERS', OTHER.WORKERS) ?? 1
  if (workers !== 1 && redisUrl === undefined) {
    // The memory engine lives in one process: its workers would each hold a different feed.
    throw new ConfigError(
      `WORKERS="${env.WORKERS}" is not allowed without REDIS_URL: workers share events through Redis, the memory engine keeps them in one process`,
    )
  }
  return {
    port: read(env, 'PORT', OTHER.PORT) ?? 8080,
    host: read(env, 'HOST', OTHER.HOST) ?? '0.0.0.0',
    nodeEnv: read(env, 'NODE_ENV', OTHER.NODE_ENV) ?? 'development',
    publishToken: read(env, 'PUBLISH_TOKEN', OTHER.PUBLISH_TOKEN),
    redisUrl,
    redisPrefix: read(env, 'REDIS_PREFIX', OTHER.REDIS_PREFIX) ?? 'livefeed:',
    websocket: read(env, 'WEBSOCKET', OTHER.WEBSOCKET) ?? true,
    staticDir: read(env, 'STATIC_DIR', OTHER.STATIC_DIR) ?? './static',
    logLevel: read(env, 'LOG_LEVEL', OTHER.LOG_LEVEL) ?? 'info',
    // App Engine sets GAE_SERVICE; there Cloud Logging reads the lines, and it wants severity and message.
    logFormat: read(env, 'LOG_FORMAT', OTHER.LOG_FORMAT) ?? (env.GAE_SERVICE ? 'gcp' : 'json'),
    gcpProject: read(env, 'GOOGLE_CLOUD_PROJECT', OTHER.GOOGLE_CLOUD_PROJECT),
    tokenSecrets: tokenSecrets(env.TOKEN_SECRET, MIN_SECRET_BYTES),
    privateTopics: read(env, 'PRIVATE_TOPICS', OTHER.PRIVATE_TOPICS) ?? ['private/**'],
    conflateTopics: read(env, 'CONFLATE_TOPICS', OTHER.CONFLATE_TOPICS) ?? ['stocks/**'],
    presenceTopics: read(env, 'PRESENCE_TOPICS', OTHER.PRESENCE_TOPICS) ?? [],
    openPublishTopics: read(env, 'OPEN_PUBLISH_TOPICS', OTHER.OPEN_PUBLISH_TOPICS) ?? [],
    ephemeralTopics: read(env, 'EPHEMERAL_TOPICS', OTHER.EPHEMERAL_TOPICS) ?? [],
    allowedOrigins: read(env, 'ALLOWED_ORIGINS', OTHER.ALLOWED_ORIGINS) ?? '*',
    metricsToken: env.METRICS_TOKEN || undefined,
    workers,
    limits,
  }
}

/**
 * Deno runs one process per instance, from either entry: `WORKERS` relies on Node's cluster primary handing
 * one port's connections out, which Deno's own server lacks and its Node compatibility is not tested for here.
 */
export function refuseWorkersOnDeno(config: Config): void {
  if (config.workers !== 1)
    throw new ConfigError(`WORKERS="${config.workers}" is not allowed on Deno: run one Deno process per core, each a separate instance on Redis`)
}
