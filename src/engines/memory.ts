/**
 * @module
 * The default engine: one process, no set-up, bounded history, lost on restart.
 */
import { base36, byCursor, formatCursor, newEpoch, type Cursor } from '../core/cursor.ts'
import type { AppendResult, Engine, IdempotencyRequest, ReadResult, Snapshot, TopicInfo } from '../core/engine.ts'
import { idempotencyConflict } from '../core/errors.ts'
import type { PatternSet } from '../core/topic-index.ts'
import type { EventInput, FeedEvent } from '../protocol/events.ts'

export interface MemoryEngineOptions {
  /** Events kept for replay (ring buffer). */
  historySize: number
  /** Topics whose latest event is kept; the least recently updated is dropped past it. */
  maxTopics: number
  maxIdempotencyKeys: number
}

const POS_WIDTH = 11 // 36^11 > 2^53: a sequence number never outgrows it

interface IdempotencyRecord {
  expires: number
  fingerprint: string
  events: FeedEvent[]
}

/** The default engine: one process, no set-up, bounded history, lost on restart. */
export class MemoryEngine implements Engine {
  readonly name = 'memory'
  /** A fresh epoch per process: the history dies with it, and old cursors must read as stale. */
  readonly epoch = newEpoch()
  private readonly ring: (FeedEvent | undefined)[]
  private seq = 0
  private readonly latest = new Map<string, FeedEvent>()
  private readonly idempotency = new Map<string, IdempotencyRecord>()
  private listener: (events: FeedEvent[]) => void = () => {}

  constructor(private readonly opts: MemoryEngineOptions) {
    this.ring = new Array(Math.max(1, opts.historySize))
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

  async append(inputs: EventInput[], idem?: IdempotencyRequest): Promise<AppendResult> {
    const now = Date.now()
    if (idem) {
      this.expireKeys(now)
      const prior = this.idempotency.get(idem.key)
      if (prior) {
        if (prior.fingerprint !== idem.fingerprint) throw idempotencyConflict()
        return { events: prior.events, replayed: true }
      }
    }
    const events = inputs.map((input) => this.store(input, now))
    if (idem) {
      this.idempotency.set(idem.key, { expires: now + idem.windowMs, fingerprint: idem.fingerprint, events })
      if (this.idempotency.size > this.opts.maxIdempotencyKeys) this.idempotency.delete(this.idempotency.keys().next().value!)
    }
    this.listener(events)
    return { events, replayed: false }
  }

  async read(after: Cursor, patterns: PatternSet, limit: number): Promise<ReadResult> {
    const from = this.positionOf(after)
    if (from === undefined) return { stale: true }
    const events: FeedEvent[] = []
    let s = from
    while (s < this.seq && events.length < limit) {
      s++
      const e = this.ring[s % this.ring.length]!
      if (patterns.matches(e.topic)) events.push(e)
    }
    return { stale: false, events, cursor: this.cursorAt(s) }
  }

  async snapshot(patterns: PatternSet): Promise<Snapshot> {
    const events: FeedEvent[] = []
    if (patterns.exactOnly) {
      for (const p of patterns.patterns) {
        const e = this.latest.get(p)
        if (e && patterns.matches(p)) events.push(e)
      }
    } else {
      for (const e of this.latest.values()) if (patterns.matches(e.topic)) events.push(e)
    }
    events.sort(byCursor)
    return { events, cursor: this.cursorAt(this.seq) }
  }

  async head(): Promise<string> {
    return this.cursorAt(this.seq)
  }

  async topics(): Promise<TopicInfo[]> {
    return [...this.latest.values()].map((e) => ({ topic: e.topic, lastId: e.id, lastTs: e.ts }))
  }

  private store(input: EventInput, ts: number): FeedEvent {
    const seq = ++this.seq
    const event: FeedEvent = { id: this.cursorAt(seq), topic: input.topic, data: input.data, ts }
    this.ring[seq % this.ring.length] = event
    // Re-inserting keeps the Map in update order, so the first key is the stalest topic.
    this.latest.delete(input.topic)
    this.latest.set(input.topic, event)
    if (this.latest.size > this.opts.maxTopics) this.latest.delete(this.latest.keys().next().value!)
    return event
  }

  /** The sequence number a cursor points at, or undefined when it is not in this history. */
  private positionOf(c: Cursor): number | undefined {
    if (c.epoch !== this.epoch) return undefined
    const seq = parseInt(c.pos, 36)
    const oldestKept = Math.max(1, this.seq - this.ring.length + 1)
    if (seq > this.seq || seq < oldestKept - 1) return undefined
    return seq
  }

  private cursorAt(seq: number): string {
    return formatCursor(this.epoch, base36(seq, POS_WIDTH))
  }

  private expireKeys(now: number): void {
    // One window for every key, so insertion order is expiry order.
    for (const [key, rec] of this.idempotency) {
      if (rec.expires > now) break
      this.idempotency.delete(key)
    }
  }
}
