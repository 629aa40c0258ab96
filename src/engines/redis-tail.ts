/**
 * @module
 * The Redis engine's live stream: each instance tails the shared Stream with one blocking XREAD loop for its own
 * fan-out, checks after every reconnect that the history is still the one its clients were sent (a failover may
 * have lost writes), and measures how far it lags behind.
 */
import type { Redis } from 'ioredis'
import { newEpoch } from '../core/cursor.ts'
import type { Log } from '../core/log.ts'
import type { FeedEvent } from '../protocol/events.ts'
import { compareIds, decodeEntry } from './redis-codec.ts'
import { checkHistory } from './redis-history.ts'
import { entries, pair, results, streamRead, strOrNull } from './redis-reply.ts'

/** Ids of the last events read, for the log line that names what a failover lost. */
const RECENT = 1000

export interface TailOptions {
  /** The blocking connection the loop reads on; nothing else uses it. */
  reader: Redis
  /** The command connection: the health check and the epoch's move. */
  redis: Redis
  keys: { stream: string; epoch: string; trimmed: string }
  log: Log
  /** How long one blocking read of the live stream waits. */
  blockMs: number
}

/** One instance's read of the shared Stream, from the last id it handed to the hub. */
export class RedisTail {
  private listener: (events: FeedEvent[]) => void = () => {}
  private gapListener: (lost: boolean) => void = () => {}
  /** The history's epoch as this instance knows it. */
  private epoch = ''
  /** Where the live stream reads from. */
  private lastId = '0-0'
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
  private loop: Promise<void> | undefined

  constructor(private readonly opts: TailOptions) {}

  onEvents(listener: (events: FeedEvent[]) => void): void {
    this.listener = listener
  }

  onGap(listener: (lost: boolean) => void): void {
    this.gapListener = listener
  }

  /** Behind one address, a reconnect may reach another server (a promoted replica): look before reading on. */
  distrust(): void {
    this.suspect = true
  }

  /** Did the last health check reach Redis? */
  reachable(): boolean {
    return this.pingOk
  }

  lagSeconds(): number {
    return this.lag
  }

  connect(): Promise<void> {
    return this.opts.reader.connect()
  }

  /** Reads on after `lastId` of `epoch`, and checks Redis once a second. */
  start(epoch: string, lastId: string): void {
    this.epoch = epoch
    this.lastId = lastId
    this.running = true
    this.loop = this.tail()
    const k = this.opts.keys
    this.health = setInterval(() => {
      // One round trip: is Redis there, is the epoch the one this instance knows, and is there an entry past what it dispatched?
      results(this.opts.redis.multi().get(k.epoch).xrange(k.stream, `(${this.lastId}`, '+', 'COUNT', 1).exec()).then(
        ([epoch, next]) => {
          this.pingOk = true
          if (strOrNull(epoch, 'GET epoch') !== this.epoch) this.suspect = true
          const id = entries(next, 'XRANGE')[0]?.[0]
          this.lag = id === undefined ? 0 : Math.max(0, (Date.now() - Number(id.slice(0, id.indexOf('-')))) / 1000)
        },
        () => (this.pingOk = false),
      )
    }, 1000)
  }

  /** Stops reading; the reader connection is closed, the command connection is the caller's. */
  async stop(): Promise<void> {
    this.running = false
    clearInterval(this.health)
    this.opts.reader.disconnect()
    await this.loop?.catch(() => {})
  }

  /**
   * A read that fails as soon as its connection closes. ioredis neither resends nor fails a command that was
   * under way when the connection dropped (without autoResendUnfulfilledCommands): it would wait out its
   * timeout, and then read from wherever the address points by then without the history check.
   */
  private untilClosed<T>(read: Promise<T>): Promise<T> {
    read.catch(() => {}) // when the close wins, the read's own timeout rejects it later
    const reader = this.opts.reader
    let onClose = (): void => {}
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new Error('the connection closed during the read'))
      reader.once('close', onClose)
    })
    return Promise.race([read, closed]).finally(() => reader.off('close', onClose))
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
    const k = this.opts.keys
    const found = await checkHistory(this.opts.reader, k, this.epoch, this.lastRead)
    if (!found.changed) return
    const [epoch, head] = await this.opts.redis.lfRewind(k.epoch, k.stream, this.epoch, newEpoch()).then((r) => pair(r, 'rewind'))
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
    const k = this.opts.keys
    let failures = 0
    while (this.running) {
      try {
        if (this.suspect) await this.verify()
        const xread = this.opts.reader.pipeline().get(k.trimmed).xread('COUNT', 1000, 'BLOCK', this.opts.blockMs, 'STREAMS', k.stream, this.lastId)
        const replies = await this.untilClosed(results(xread.exec()))
        const trimmed = strOrNull(replies[0], 'GET trimmed')
        const got = streamRead(replies[1], 'XREAD')
        failures = 0
        if (trimmed !== null && compareIds(this.lastId, trimmed) < 0) {
          this.opts.log.warn({ lastId: this.lastId, trimmed }, 'Redis trimmed past this instance: its subscribers start over from a snapshot')
          this.lastId = trimmed
          this.gapListener(false)
        }
        if (got.length === 0) continue
        // Entries of another epoch: another instance moved the history on (a loss it saw). Nothing of it is
        // dispatched before this instance checks, resets its subscribers and goes on after the snapshot.
        if (got.some(([, f]) => f[0] === 'e' && f[1] !== this.epoch)) {
          this.suspect = true
          continue
        }
        const events = got.filter(([, f]) => f[0] === 'e').map(([id, f]) => decodeEntry(id, f))
        // The position moves only once the hub has the events: a throw re-reads them (subscribers drop repeats).
        if (events.length) this.listener(events)
        for (const [id] of got) {
          this.recent.push(id)
          this.lastId = this.lastRead = id
        }
        if (this.recent.length > 2 * RECENT) this.recent = this.recent.slice(-RECENT)
      } catch (err) {
        if (!this.running) return
        this.suspect = true
        // Once per outage at warn (the engine guard logs the outage itself); the retries at debug.
        this.opts.log[failures === 0 ? 'warn' : 'debug'](
          { err: err instanceof Error ? err.message : String(err), lastId: this.lastId },
          'live stream read failed; retrying from the last id',
        )
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures++, 2000)))
      }
    }
  }
}
