/**
 * @module
 * The Redis engine: one Stream shared by every instance, each tailing it for its own fan-out.
 */
import { type ClientContext, Redis, type Result } from 'ioredis'
import type { Limits } from '../config.ts'
import { type Cursor, newEpoch } from '../core/cursor.ts'
import type {
  AppendResult,
  Engine,
  HistoryResult,
  IdempotencyRequest,
  ReadResult,
  Roster,
  SnapshotPage,
  SnapshotResult,
  StoredInput,
  TopicInfo,
} from '../core/engine.ts'
import { FeedError, idempotencyConflict } from '../core/errors.ts'
import type { Log } from '../core/log.ts'
import { eventBytes } from '../core/paging.ts'
import type { PatternSet } from '../core/topic-index.ts'
import type { EphemeralEvent, FeedEvent } from '../protocol/events.ts'
import { APPEND_SCRIPT, compareIds, cursorOf, cursorStreamId, decodeEntry, ENSURE_SCRIPT, entryDataLength } from './redis-codec.ts'
import { RedisEphemeral } from './redis-ephemeral.ts'
import { REWIND_SCRIPT } from './redis-history.ts'
import { type Entry, entries, lastGeneratedId, ReplyError, results, str, strings, strOrNull } from './redis-reply.ts'
import { RedisRoster } from './redis-roster.ts'
import { RedisTail } from './redis-tail.ts'
import { RedisTopics } from './redis-topics.ts'

export interface RedisEngineOptions {
  url: string
  /** Key prefix, so several feeds (or test runs) can share one Redis. */
  prefix: string
  /** HISTORY_SIZE, MAX_TOPICS, LATEST_BYTES, TOPIC_HISTORY and REDIS_WAIT_*: what the engine itself enforces on Redis. */
  limits: Pick<Limits, 'historySize' | 'maxTopics' | 'latestBytes' | 'topicHistory' | 'redisWaitReplicas' | 'redisWaitTimeoutMs'>
  log: Log
  /** A command that has not answered by then fails (a publish gets 503). */
  commandTimeoutMs?: number
  /** How long one blocking read of the live stream waits. */
  blockMs?: number
}

// The scripts, sent once and then called by SHA (ioredis falls back to EVAL when Redis lost them); their
// answers are read with a check (redis-reply.ts).
declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    lfAppend(...args: string[]): Result<unknown, Context>
    lfEnsure(...args: string[]): Result<unknown, Context>
    lfRewind(...args: string[]): Result<unknown, Context>
  }
}

const unavailable = (err: unknown) => (err instanceof FeedError ? err : new FeedError('engine_unavailable', 'Redis did not answer; retry', err))

/** The events as stored: the inputs with the ids the append script gave them, one per input. */
function stored(inputs: StoredInput[], epoch: string, ids: string[], ts: number): FeedEvent[] {
  if (ids.length !== inputs.length) throw unavailable(new ReplyError('append ids', ids))
  return inputs.map((i, n) => ({ id: cursorOf(epoch, ids[n] ?? ''), topic: i.topic, data: i.data, ts }))
}

/** Events in a Redis Stream shared by every instance; each instance tails it for its own fan-out. */
export class RedisEngine implements Engine {
  readonly name = 'redis'
  private readonly redis: Redis
  private readonly keys: {
    stream: string
    epoch: string
    latest: string
    topics: string
    idem: string
    trimmed: string
    counter: string
    latestBytes: string
    /** Prefix of each topic's history list (TOPIC_HISTORY). */
    history: string
  }
  /** Reads of the per-topic keys: snapshots, histories, the topic list. */
  private readonly perTopic: RedisTopics
  readonly roster: Roster
  private readonly ephemeral: RedisEphemeral
  /** This instance's read of the stream, for its own fan-out. */
  private readonly live: RedisTail

  constructor(private readonly opts: RedisEngineOptions) {
    // A publish that waits for replicas (REDIS_WAIT_TIMEOUT) must not time out before Redis answers the WAIT.
    const timeout = Math.max(opts.commandTimeoutMs ?? 2000, opts.limits.redisWaitReplicas > 0 ? opts.limits.redisWaitTimeoutMs + 1000 : 0)
    const common = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(50 * 2 ** n, 1000) }
    // No offline queue: while Redis is away a publish fails at once (503) instead of waiting in memory.
    this.redis = new Redis(opts.url, { ...common, enableOfflineQueue: false, commandTimeout: timeout })
    this.redis.defineCommand('lfAppend', { numberOfKeys: 8, lua: APPEND_SCRIPT })
    this.redis.defineCommand('lfEnsure', { numberOfKeys: 3, lua: ENSURE_SCRIPT })
    this.redis.defineCommand('lfRewind', { numberOfKeys: 2, lua: REWIND_SCRIPT })
    // The live read is never resent by itself after a reconnect: it fails, and the history is checked first.
    const reader = new Redis(opts.url, {
      ...common,
      enableOfflineQueue: true,
      autoResendUnfulfilledCommands: false,
      commandTimeout: (opts.blockMs ?? 5000) + timeout,
    })
    for (const r of [this.redis, reader]) {
      r.on('error', (err) => opts.log.debug({ err: err.message }, 'redis connection error'))
      r.on('ready', () => this.live.distrust())
    }
    const p = opts.prefix
    this.keys = {
      stream: `${p}stream`,
      epoch: `${p}epoch`,
      latest: `${p}latest`,
      topics: `${p}topics`,
      idem: `${p}idem:`,
      trimmed: `${p}trimmed`,
      counter: `${p}topic-seq`,
      latestBytes: `${p}latest-bytes`,
      history: `${p}h:`,
    }
    this.perTopic = new RedisTopics(this.redis, this.keys)
    this.roster = new RedisRoster(this.redis, `${p}roster`)
    this.ephemeral = new RedisEphemeral(opts.url, common, `${p}ephemeral`, opts.log)
    this.live = new RedisTail({ reader, redis: this.redis, keys: this.keys, log: opts.log, blockMs: opts.blockMs ?? 5000 })
  }

  async start(): Promise<string> {
    await Promise.all([this.redis.connect(), this.live.connect(), this.ephemeral.start()])
    const epoch = str(await this.redis.lfEnsure(this.keys.stream, this.keys.epoch, this.keys.trimmed, newEpoch()), 'ensure')
    const last = await this.lastGeneratedId()
    this.live.start(epoch, last)
    return cursorOf(epoch, last)
  }

  async close(): Promise<void> {
    await this.live.stop()
    this.ephemeral.close()
    this.redis.disconnect()
  }

  async broadcast(events: EphemeralEvent[]): Promise<void> {
    await this.ephemeral.broadcast(this.redis, events).catch((err: unknown) => {
      throw unavailable(err)
    })
  }
  onEphemeral(listener: (events: EphemeralEvent[]) => void): void {
    this.ephemeral.onEphemeral(listener)
  }

  healthy(): boolean {
    return this.live.reachable() && this.redis.status === 'ready'
  }

  lagSeconds(): number {
    return this.live.lagSeconds()
  }

  onEvents(listener: (events: FeedEvent[]) => void): void {
    this.live.onEvents(listener)
  }

  onGap(listener: (lost: boolean) => void): void {
    this.live.onGap(listener)
  }

  async append(inputs: StoredInput[], idem?: IdempotencyRequest): Promise<AppendResult> {
    const ts = Date.now()
    const k = this.keys
    const l = this.opts.limits
    const args = [
      String(l.historySize),
      String(l.maxTopics),
      idem?.fingerprint ?? '',
      String(idem?.windowMs ?? 0),
      newEpoch(),
      String(ts),
      String(l.latestBytes),
      String(l.topicHistory),
      k.history,
    ]
    for (const i of inputs) args.push(i.topic, i.json ?? JSON.stringify(i.data))
    // REDIS_WAIT_REPLICAS: WAIT, sent right behind the script on the same connection (one round trip), covers
    // this write and every one before it on the connection, an idempotent replay's original included.
    const replicas = l.redisWaitReplicas
    const appended = this.redis.lfAppend(k.stream, k.epoch, k.latest, k.topics, idem ? k.idem + idem.key : '', k.trimmed, k.counter, k.latestBytes, ...args)
    const acked = replicas > 0 ? this.redis.wait(replicas, l.redisWaitTimeoutMs) : undefined
    acked?.catch(() => {}) // awaited below, unless the script failed first
    let out: string[]
    try {
      out = strings(await appended, 'append')
    } catch (err) {
      throw unavailable(err)
    }
    // ['ok', epoch, id, id, …] with one id per input, or ['replay', record] for a key seen before.
    const [kind, second = '', ...ids] = out
    let result: AppendResult
    if (kind === 'replay') {
      // The record is "fingerprint epoch ts id,id,…"; the same body means the same topics and data.
      const [fp, epoch = '', ts0, list = ''] = second.split(' ')
      if (fp !== idem?.fingerprint) throw idempotencyConflict()
      result = { events: stored(inputs, epoch, list.split(','), Number(ts0)), replayed: true }
    } else {
      result = { events: stored(inputs, second, ids, ts), replayed: false }
    }
    if (acked !== undefined) await this.confirm(acked, replicas)
    return result
  }

  /** The write reached `replicas` replicas, or the publish is 503: a retry with its Idempotency-Key stores it once. */
  private async confirm(acked: Promise<number>, replicas: number): Promise<void> {
    let n: number
    try {
      n = await acked
    } catch (err) {
      throw unavailable(err)
    }
    if (n < replicas) {
      throw new FeedError(
        'engine_unavailable',
        `stored, but ${n} of ${replicas} Redis replicas confirmed it within ${this.opts.limits.redisWaitTimeoutMs} ms (REDIS_WAIT_REPLICAS): retry with the same Idempotency-Key`,
      )
    }
  }

  async read(after: Cursor, patterns: PatternSet, limit: number, maxBytes = Infinity): Promise<ReadResult> {
    let from = cursorStreamId(after)
    if (!from) return { stale: true }
    const events: FeedEvent[] = []
    let bytes = 0
    const page = Math.max(100, limit)
    try {
      for (;;) {
        const [epoch, last, trimmed, entries] = await this.page(from, page)
        // Another history, a cursor past the head, or events after it trimmed away: the client must start over.
        if (epoch !== after.epoch || compareIds(from, last) > 0 || compareIds(from, trimmed) < 0) return { stale: true }
        for (const [id, fields] of entries) {
          const e = decodeEntry(id, fields)
          if (patterns.matches(e.topic)) {
            const size = eventBytes(e, entryDataLength(fields))
            // Cut before this one: the cursor stays on the last event scanned before it.
            if (events.length > 0 && bytes + size > maxBytes) return { stale: false, events, cursor: cursorOf(after.epoch, from), more: true }
            bytes += size
            events.push(e)
          }
          from = id
          if (events.length >= limit) return { stale: false, events, cursor: e.id, more: true }
        }
        if (entries.length < page) return { stale: false, events, cursor: cursorOf(after.epoch, from), more: false }
      }
    } catch (err) {
      throw unavailable(err)
    }
  }

  snapshot(patterns: PatternSet, page: SnapshotPage = {}): Promise<SnapshotResult> {
    return this.perTopic.snapshot(patterns, page).catch((err: unknown) => Promise.reject(unavailable(err)))
  }

  history(topic: string, limit: number, before?: string, maxBytes = Infinity): Promise<HistoryResult> {
    return this.perTopic.history(topic, limit, before, maxBytes).catch((err: unknown) => Promise.reject(unavailable(err)))
  }

  async head(): Promise<string> {
    try {
      const [epoch, id] = await Promise.all([this.redis.get(this.keys.epoch), this.lastGeneratedId()])
      return cursorOf(epoch!, id)
    } catch (err) {
      throw unavailable(err)
    }
  }

  topics(): Promise<TopicInfo[]> {
    return this.perTopic.topics().catch((err: unknown) => Promise.reject(unavailable(err)))
  }

  /** One page of the stream after `from`, with the epoch, the head and the trim point, read atomically. */
  private async page(from: string, count: number): Promise<[epoch: string, last: string, trimmed: string, entries: Entry[]]> {
    const k = this.keys
    const multi = this.redis.multi().get(k.epoch).xinfo('STREAM', k.stream).get(k.trimmed).xrange(k.stream, `(${from}`, '+', 'COUNT', count)
    const [epoch, info, trimmed, got] = await results(multi.exec())
    return [String(epoch), lastGeneratedId(info), strOrNull(trimmed, 'GET trimmed') ?? '0-0', entries(got, 'XRANGE')]
  }

  private async lastGeneratedId(): Promise<string> {
    return lastGeneratedId(await this.redis.xinfo('STREAM', this.keys.stream))
  }
}
