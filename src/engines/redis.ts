/**
 * @module
 * The Redis engine: one Stream shared by every instance, each tailing it for its own fan-out.
 */
import { Redis } from 'ioredis'
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
import { checkHistory, REWIND_SCRIPT } from './redis-history.ts'
import { RedisRoster } from './redis-roster.ts'
import { RedisTopics, results, streamInfo } from './redis-topics.ts'

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

type Entry = [id: string, fields: string[]]
/** The scripts, sent once and then called by SHA (ioredis falls back to EVAL when Redis lost them). */
type Scripts = Redis & {
  lfAppend(...args: string[]): Promise<string[]>
  lfEnsure(...args: string[]): Promise<string>
  lfRewind(...args: string[]): Promise<[string, string]>
}
/** Ids of the last events read, for the log line that names what a failover lost. */
const RECENT = 1000
const unavailable = (err: unknown) => (err instanceof FeedError ? err : new FeedError('engine_unavailable', 'Redis did not answer; retry', err))

/** Events in a Redis Stream shared by every instance; each instance tails it for its own fan-out. */
export class RedisEngine implements Engine {
  readonly name = 'redis'
  private readonly redis: Scripts
  private readonly reader: Redis
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
  private listener: (events: FeedEvent[]) => void = () => {}
  private gapListener: (lost: boolean) => void = () => {}
  /** Where the live stream reads from. */
  private lastId = '0-0'
  /** The history's epoch as this instance knows it. */
  private epoch = ''
  /** The last entry the live stream read (it exists in the stream unless trimmed or lost), and the ids before it. */
  private lastRead: string | undefined
  private recent: string[] = []
  /** A reconnect, a failed read or another epoch was seen: the history is checked before the next read. */
  private suspect = true
  private running = false
  private pingOk = true
  /** Seconds since the oldest event not yet handed to the hub was stored; 0 when caught up. Updated by the health check. */
  private lag = 0
  private health: ReturnType<typeof setInterval> | undefined
  private readerLoop: Promise<void> | undefined

  constructor(private readonly opts: RedisEngineOptions) {
    // A publish that waits for replicas (REDIS_WAIT_TIMEOUT) must not time out before Redis answers the WAIT.
    const timeout = Math.max(opts.commandTimeoutMs ?? 2000, opts.limits.redisWaitReplicas > 0 ? opts.limits.redisWaitTimeoutMs + 1000 : 0)
    const common = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(50 * 2 ** n, 1000) }
    // No offline queue: while Redis is away a publish fails at once (503) instead of waiting in memory.
    this.redis = new Redis(opts.url, { ...common, enableOfflineQueue: false, commandTimeout: timeout }) as Scripts
    this.redis.defineCommand('lfAppend', { numberOfKeys: 8, lua: APPEND_SCRIPT })
    this.redis.defineCommand('lfEnsure', { numberOfKeys: 3, lua: ENSURE_SCRIPT })
    this.redis.defineCommand('lfRewind', { numberOfKeys: 2, lua: REWIND_SCRIPT })
    // The live read is never resent by itself after a reconnect: it fails, and the history is checked first.
    this.reader = new Redis(opts.url, {
      ...common,
      enableOfflineQueue: true,
      autoResendUnfulfilledCommands: false,
      commandTimeout: (opts.blockMs ?? 5000) + timeout,
    })
    for (const r of [this.redis, this.reader]) {
      r.on('error', (err) => opts.log.debug({ err: err.message }, 'redis connection error'))
      // Behind one address, a reconnect may reach another server (a promoted replica): look before reading on.
      r.on('ready', () => (this.suspect = true))
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
  }

  async start(): Promise<string> {
    await Promise.all([this.redis.connect(), this.reader.connect(), this.ephemeral.start()])
    const epoch = String(await this.redis.lfEnsure(this.keys.stream, this.keys.epoch, this.keys.trimmed, newEpoch()))
    this.epoch = epoch
    this.lastId = await this.lastGeneratedId()
    this.running = true
    this.readerLoop = this.tail()
    this.health = setInterval(() => {
      // One round trip: is Redis there, is the epoch the one this instance knows, and is there an entry past what it dispatched?
      results(this.redis.multi().get(this.keys.epoch).xrange(this.keys.stream, `(${this.lastId}`, '+', 'COUNT', 1).exec()).then(
        ([epoch, next]) => {
          this.pingOk = true
          if (epoch !== this.epoch) this.suspect = true
          const id = (next as Entry[])[0]?.[0]
          this.lag = id === undefined ? 0 : Math.max(0, (Date.now() - Number(id.slice(0, id.indexOf('-')))) / 1000)
        },
        () => (this.pingOk = false),
      )
    }, 1000)
    return cursorOf(epoch, this.lastId)
  }

  async close(): Promise<void> {
    this.running = false
    clearInterval(this.health)
    this.reader.disconnect()
    this.ephemeral.close()
    await this.readerLoop?.catch(() => {})
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
    return this.pingOk && this.redis.status === 'ready'
  }

  lagSeconds(): number {
    return this.lag
  }

  onEvents(listener: (events: FeedEvent[]) => void): void {
    this.listener = listener
  }

  onGap(listener: (lost: boolean) => void): void {
    this.gapListener = listener
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
    let out: string[]
    // REDIS_WAIT_REPLICAS: WAIT, sent right behind the script on the same connection (one round trip), covers
    // this write and every one before it on the connection, an idempotent replay's original included.
    const replicas = l.redisWaitReplicas
    const appended = this.redis.lfAppend(k.stream, k.epoch, k.latest, k.topics, idem ? k.idem + idem.key : '', k.trimmed, k.counter, k.latestBytes, ...args)
    const acked = replicas > 0 ? this.redis.wait(replicas, l.redisWaitTimeoutMs) : undefined
    acked?.catch(() => {}) // awaited below, unless the script failed first
    try {
      out = await appended
    } catch (err) {
      throw unavailable(err)
    }
    let result: AppendResult
    if (out[0] === 'replay') {
      // The record is "fingerprint epoch ts id,id,…"; the same body means the same topics and data.
      const [fp, epoch, ts0, ids] = out[1]!.split(' ') as [string, string, string, string]
      if (fp !== idem!.fingerprint) throw idempotencyConflict()
      const list = ids.split(',')
      result = { events: inputs.map((i, n) => ({ id: cursorOf(epoch, list[n]!), topic: i.topic, data: i.data, ts: Number(ts0) })), replayed: true }
    } else {
      const epoch = out[1]!
      result = { events: inputs.map((i, n) => ({ id: cursorOf(epoch, out[n + 2]!), topic: i.topic, data: i.data, ts })), replayed: false }
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
    const [epoch, info, trimmed, entries] = await results(multi.exec())
    return [String(epoch), streamInfo(info as unknown[]).last, (trimmed as string | null) ?? '0-0', entries as Entry[]]
  }

  private async lastGeneratedId(): Promise<string> {
    return streamInfo((await this.redis.xinfo('STREAM', this.keys.stream)) as unknown[]).last
  }

  /**
   * A read that fails as soon as its connection closes. ioredis neither resends nor fails a command that was
   * under way when the connection dropped (without autoResendUnfulfilledCommands): it would wait out its
   * timeout, and then read from wherever the address points by then without the history check.
   */
  private untilClosed<T>(read: Promise<T>): Promise<T> {
    read.catch(() => {}) // when the close wins, the read's own timeout rejects it later
    let onClose = (): void => {}
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new Error('the connection closed during the read'))
      this.reader.once('close', onClose)
    })
    return Promise.race([read, closed]).finally(() => this.reader.off('close', onClose))
  }

  /**
   * Before reading on after a reconnect, an error or a new epoch: is the history still the one this
   * instance's clients were sent? If not (a failover lost writes, another instance saw that, or Redis came
   * back empty), it moves to a new epoch, so cursors from before read as stale, and every subscriber here
   * starts over from a snapshot; the live stream goes on from the stream's end (the snapshot covers what
   * came before). Live and resuming clients thus share one history again.
   */
  private async verify(): Promise<void> {
    this.suspect = false
    const found = await checkHistory(this.reader, this.keys, this.epoch, this.lastRead)
    if (!found.changed) return
    const k = this.keys
    const [epoch, head] = await this.redis.lfRewind(k.epoch, k.stream, this.epoch, newEpoch())
    if (found.epoch === this.epoch) {
      const after = found.lostAfter
      const lost = this.recent.filter((id) => after === undefined || compareIds(id, after) > 0)
      this.opts.log.error(
        { lost: lost.slice(-100), lostCount: lost.length, lostAfter: found.lostAfter ?? null, lastRead: this.lastRead, epoch: this.epoch, newEpoch: epoch },
        'Redis lost events this instance had delivered (a failover to a replica behind the primary?): every subscriber starts over from a snapshot in a new epoch',
      )
    } else {
      this.opts.log.warn(
        { epoch: this.epoch, newEpoch: epoch },
        'the Redis history changed epoch (another instance saw a loss, or Redis came back empty): every subscriber starts over from a snapshot',
      )
    }
    this.epoch = epoch
    this.lastId = head
    this.lastRead = head === '0-0' ? undefined : head
    this.recent = []
    this.gapListener(true)
  }

  /**
   * The live stream: one blocking XREAD loop from the last id it delivered.
   * Across errors and reconnects it resumes from that id. Each read is sent
   * with a GET of the trim point: if Redis trimmed past this position (this
   * instance was paused or cut off longer than the history lasts), events were
   * lost to it, and its subscribers are told to start over (`onGap`).
   */
  private async tail(): Promise<void> {
    let failures = 0
    while (this.running) {
      try {
        if (this.suspect) await this.verify()
        const replies = await this.untilClosed(
          results(
            this.reader
              .pipeline()
              .get(this.keys.trimmed)
              .xread('COUNT', 1000, 'BLOCK', this.opts.blockMs ?? 5000, 'STREAMS', this.keys.stream, this.lastId)
              .exec(),
          ),
        )
        const trimmed = replies[0] as string | null
        const res = replies[1] as [string, Entry[]][] | null
        failures = 0
        if (trimmed !== null && compareIds(this.lastId, trimmed) < 0) {
          this.opts.log.warn({ lastId: this.lastId, trimmed }, 'Redis trimmed past this instance: its subscribers start over from a snapshot')
          this.lastId = trimmed
          this.gapListener(false)
        }
        const entries = res?.[0]?.[1]
        if (!entries?.length) continue
        // Entries of another epoch: another instance moved the history on (a loss it saw). Nothing of it is
        // dispatched before this instance checks, resets its subscribers and goes on after the snapshot.
        if (entries.some(([, f]) => f[0] === 'e' && f[1] !== this.epoch)) {
          this.suspect = true
          continue
        }
        const events = entries.filter(([, f]) => f[0] === 'e').map(([id, f]) => decodeEntry(id, f))
        // The position moves only once the hub has the events: a throw re-reads them (subscribers drop repeats).
        if (events.length) this.listener(events)
        this.lastId = this.lastRead = entries.at(-1)![0]
        for (const [id] of entries) this.recent.push(id)
        if (this.recent.length > 2 * RECENT) this.recent = this.recent.slice(-RECENT)
      } catch (err) {
        if (!this.running) return
        this.suspect = true
        // Once per outage at warn (the engine guard logs the outage itself); the retries at debug.
        this.opts.log[failures === 0 ? 'warn' : 'debug'](
          { err: (err as Error).message, lastId: this.lastId },
          'live stream read failed; retrying from the last id',
        )
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures++, 2000)))
      }
    }
  }
}
