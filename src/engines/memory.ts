/**
 * @module
 * The default engine: one process, no set-up, bounded history, lost on restart.
 */

import type { Limits } from '../config.ts'
import { base36, type Cursor, formatCursor, newEpoch } from '../core/cursor.ts'
import type {
  AppendResult,
  Engine,
  HistoryResult,
  IdempotencyRequest,
  ReadResult,
  SnapshotPage,
  SnapshotResult,
  StoredInput,
  TopicInfo,
} from '../core/engine.ts'
import { idempotencyConflict } from '../core/errors.ts'
import { eventBytes, historyPage, snapshotPage } from '../core/paging.ts'
import type { PatternSet } from '../core/topic-index.ts'
import type { EphemeralEvent, FeedEvent } from '../protocol/events.ts'

/**
 * The memory engine's bounds, straight from the configuration (every one required, so no wiring can leave
 * one out): events by count (`historySize`) and bytes (`historyBytes`), oldest dropped first; each topic's
 * last `topicHistory` events (at least its latest), by topics (`maxTopics`) and bytes of all of them
 * (`latestBytes`), least recently updated topic dropped first; idempotency records by count
 * (`maxIdempotencyKeys`) and bytes (`idempotencyBytes`), oldest dropped first.
 */
export type MemoryEngineOptions = Pick<
  Limits,
  'historySize' | 'historyBytes' | 'maxTopics' | 'latestBytes' | 'topicHistory' | 'maxIdempotencyKeys' | 'idempotencyBytes'
>

/**
 * One topic's kept events, oldest first (its latest last), and their sizes. Dropping the oldest only moves
 * `head` (an `Array.shift` per publish on a full topic was 3% of a publish's CPU); `live` compacts before a read.
 */
interface TopicLog {
  events: FeedEvent[]
  sizes: number[]
  /** How many leading slots are dropped. */
  head: number
  bytes: number
}

/** What a dropped slot holds until the log is compacted. */
const DROPPED: FeedEvent = { id: '', topic: '', data: null, ts: 0 }

/** The log with its dropped slots gone, so index 0 is its oldest kept event. */
function live(log: TopicLog): TopicLog {
  if (log.head > 0) {
    log.events.splice(0, log.head)
    log.sizes.splice(0, log.head)
    log.head = 0
  }
  return log
}

const POS_WIDTH = 11 // 36^11 > 2^53: a sequence number never outgrows it

interface IdempotencyRecord {
  expires: number
  fingerprint: string
  events: FeedEvent[]
  bytes: number
}

/** The default engine: one process, no set-up, bounded history, lost on restart. */
export class MemoryEngine implements Engine {
  readonly name = 'memory'
  /** A fresh epoch per process: the history dies with it, and old cursors must read as stale. */
  readonly epoch = newEpoch()
  private readonly ring: (FeedEvent | undefined)[]
  /** Each ring slot's size in bytes (eventBytes), so reads and the byte bound need no stringify. */
  private readonly sizes: Float64Array
  private seq = 0
  /** The oldest sequence number still in the ring; the byte bound can move it past the count bound. */
  private first = 1
  private historyBytes = 0
  /** Per topic, in update order (moved to the end when written), so the first key is the stalest topic. */
  private readonly logs = new Map<string, TopicLog>()
  /** The Map's last key: the topic written last (eviction never takes it). */
  private newest: string | undefined
  private logBytes = 0
  /** Events kept per topic: TOPIC_HISTORY, and always the latest. */
  private readonly perTopic: number
  private readonly idempotency = new Map<string, IdempotencyRecord>()
  private idempotencyBytes = 0
  private listener: (events: FeedEvent[]) => void = () => {}
  private ephemeral: (events: EphemeralEvent[]) => void = () => {}

  constructor(private readonly opts: MemoryEngineOptions) {
    this.ring = new Array(Math.max(1, opts.historySize))
    this.sizes = new Float64Array(this.ring.length)
    this.perTopic = Math.max(1, opts.topicHistory)
  }

  async start(): Promise<string> {
    return this.cursorAt(this.seq)
  }
  async close(): Promise<void> {}
  healthy(): boolean {
    return true
  }

  onEvents(listener: (events: FeedEvent[]) => void): void {
    this.listener = listener
  }

  /** One process: ephemeral events go straight to its hub, stored nowhere. */
  async broadcast(events: EphemeralEvent[]): Promise<void> {
    this.ephemeral(events)
  }
  onEphemeral(listener: (events: EphemeralEvent[]) => void): void {
    this.ephemeral = listener
  }

  async append(inputs: StoredInput[], idem?: IdempotencyRequest): Promise<AppendResult> {
    const now = Date.now()
    if (idem) {
      this.expireKeys(now)
      const prior = this.idempotency.get(idem.key)
      if (prior) {
        if (prior.fingerprint !== idem.fingerprint) throw idempotencyConflict()
        return { events: prior.events, replayed: true }
      }
    }
    let bytes = 0
    const events = inputs.map((input) => {
      const [event, size] = this.store(input, now)
      bytes += size
      return event
    })
    // The record's own strings count too: a key may be 255 characters.
    if (idem) this.remember(idem, events, bytes + idem.key.length + idem.fingerprint.length + 64, now)
    this.listener(events)
    return { events, replayed: false }
  }

  async read(after: Cursor, patterns: PatternSet, limit: number, maxBytes = Infinity): Promise<ReadResult> {
    const from = this.positionOf(after)
    if (from === undefined) return { stale: true }
    const events: FeedEvent[] = []
    let bytes = 0
    let s = from
    while (s < this.seq && events.length < limit) {
      const slot = (s + 1) % this.ring.length
      const e = this.ring[slot]!
      if (patterns.matches(e.topic)) {
        if (events.length > 0 && bytes + this.sizes[slot]! > maxBytes) break
        bytes += this.sizes[slot]!
        events.push(e)
      }
      s++
    }
    return { stale: false, events, cursor: this.cursorAt(s), more: s < this.seq }
  }

  async snapshot(patterns: PatternSet, page: SnapshotPage = {}): Promise<SnapshotResult> {
    const rewind = page.rewind ?? 1
    const candidates: FeedEvent[] = []
    const sizes = new Map<FeedEvent, number>()
    const take = (all: TopicLog): void => {
      const log = live(all)
      for (let i = Math.max(0, log.events.length - rewind); i < log.events.length; i++) {
        candidates.push(log.events[i]!)
        sizes.set(log.events[i]!, log.sizes[i]!)
      }
    }
    if (patterns.exactOnly) {
      for (const p of patterns.patterns) {
        const log = this.logs.get(p)
        if (log && patterns.matches(p)) take(log)
      }
    } else {
      for (const [topic, log] of this.logs) if (patterns.matches(topic)) take(log)
    }
    return snapshotPage(candidates, this.cursorAt(this.seq), page, (e) => sizes.get(e) ?? 0)
  }

  async history(topic: string, limit: number, before?: string, maxBytes = Infinity): Promise<HistoryResult> {
    const kept = this.logs.get(topic)
    if (!kept || this.opts.topicHistory === 0) return { events: [], cursor: this.cursorAt(this.seq), more: false }
    const log = live(kept)
    return historyPage(log.events, this.cursorAt(this.seq), limit, before, maxBytes, (_, i) => log.sizes[i]!)
  }

  async head(): Promise<string> {
    return this.cursorAt(this.seq)
  }

  async topics(): Promise<TopicInfo[]> {
    return [...this.logs.values()].map(({ events }) => {
      const e = events.at(-1)!
      return { topic: e.topic, lastId: e.id, lastTs: e.ts }
    })
  }

  private store(input: StoredInput, ts: number): [FeedEvent, number] {
    const seq = ++this.seq
    const event: FeedEvent = { id: this.cursorAt(seq), topic: input.topic, data: input.data, ts }
    const size = eventBytes(event, (input.json ?? JSON.stringify(input.data) ?? 'null').length)
    const slot = seq % this.ring.length
    // The slot's old event leaves the history by count...
    if (seq - this.ring.length >= this.first) this.dropOldest()
    this.ring[slot] = event
    this.sizes[slot] = size
    this.historyBytes += size
    // ...and the oldest ones by bytes, keeping at least the newest event.
    while (this.historyBytes > this.opts.historyBytes && this.first < seq) this.dropOldest()
    this.keep(input.topic, event, size)
    return [event, size]
  }

  /** Adds an event to its topic's log (TOPIC_HISTORY), then enforces MAX_TOPICS and LATEST_BYTES. */
  private keep(topic: string, event: FeedEvent, size: number): void {
    let log = this.logs.get(topic)
    // Re-inserting keeps the Map in update order, so the first key is the stalest topic; a topic written
    // twice in a row (one busy topic, a batch on one topic) is already last.
    if (log === undefined) this.logs.set(topic, (log = { events: [], sizes: [], head: 0, bytes: 0 }))
    else if (this.newest !== topic) {
      this.logs.delete(topic)
      this.logs.set(topic, log)
    }
    this.newest = topic
    log.events.push(event)
    log.sizes.push(size)
    log.bytes += size
    this.logBytes += size
    if (log.events.length - log.head > this.perTopic) this.dropFirst(log)
    // Past either bound the stalest topics go, never the one just written...
    while (this.logs.size > 1 && (this.logs.size > this.opts.maxTopics || this.logBytes > this.opts.latestBytes)) {
      const [stalest, old] = this.logs.entries().next().value!
      this.logs.delete(stalest)
      this.logBytes -= old.bytes
    }
    // ...which, alone past LATEST_BYTES, keeps its newest events that fit (its latest at least).
    while (this.logBytes > this.opts.latestBytes && log.events.length - log.head > 1) this.dropFirst(log)
  }

  private dropFirst(log: TopicLog): void {
    const size = log.sizes[log.head]!
    log.events[log.head] = DROPPED // not kept alive until the compaction
    log.head++
    log.bytes -= size
    this.logBytes -= size
    // Compacted once the dropped slots are as many as the kept ones: amortised O(1), at most twice the slots.
    if (log.head >= 16 && log.head * 2 >= log.events.length) live(log)
  }

  private dropOldest(): void {
    const slot = this.first % this.ring.length
    this.historyBytes -= this.sizes[slot]!
    this.ring[slot] = undefined
    this.sizes[slot] = 0
    this.first++
  }

  /** Keeps an idempotency record, within both bounds (count and bytes): the oldest go first. */
  private remember(idem: IdempotencyRequest, events: FeedEvent[], bytes: number, now: number): void {
    this.idempotency.set(idem.key, { expires: now + idem.windowMs, fingerprint: idem.fingerprint, events, bytes })
    this.idempotencyBytes += bytes
    while (this.idempotency.size > this.opts.maxIdempotencyKeys || (this.idempotencyBytes > this.opts.idempotencyBytes && this.idempotency.size > 1)) {
      this.forget(this.idempotency.keys().next().value!)
    }
  }

  private forget(key: string): void {
    const rec = this.idempotency.get(key)
    if (!rec) return
    this.idempotencyBytes -= rec.bytes
    this.idempotency.delete(key)
  }

  /** The sequence number a cursor points at, or undefined when it is not in this history. */
  private positionOf(c: Cursor): number | undefined {
    if (c.epoch !== this.epoch) return undefined
    const seq = parseInt(c.pos, 36)
    // A cursor just before the oldest kept event still reads on with nothing lost.
    if (seq > this.seq || seq < this.first - 1) return undefined
    return seq
  }

  private cursorAt(seq: number): string {
    return formatCursor(this.epoch, base36(seq, POS_WIDTH))
  }

  private expireKeys(now: number): void {
    // One window for every key, so insertion order is expiry order.
    for (const [key, rec] of this.idempotency) {
      if (rec.expires > now) break
      this.forget(key)
    }
  }
}
