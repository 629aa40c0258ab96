/**
 * @module
 * This instance's fan-out: the engine's live events to the subscriptions whose patterns match.
 */
import { compareCursors } from '../protocol/cursor.ts'
import type { EphemeralEvent, FeedEvent } from '../protocol/events.ts'
import type { Access } from './access.ts'
import type { Engine } from './engine.ts'
import { PreparedEvent } from './prepared.ts'
import type { Stats } from './stats.ts'
import { Subscription } from './subscription.ts'
import type { Sink, SubscriptionHost } from './subscription-ports.ts'
import { type PatternSet, TopicIndex } from './topic-index.ts'

/**
 * This instance's fan-out. The engine's live stream comes in here, in cursor
 * order; each event is serialised once and handed to every subscription whose
 * patterns match it, found through the topic index.
 */
export class Hub implements SubscriptionHost {
  readonly index = new TopicIndex<Subscription>()
  /** Id of the last event dispatched (or the head at start). */
  position = ''
  private stampSeq = 0
  private waiters: { cursor: string; resolve: () => void }[] = []
  private readonly subscriptions = new Set<Subscription>()

  constructor(
    readonly engine: Engine,
    readonly access: Access,
    readonly stats: Stats,
    readonly pageSize: number,
    readonly bufferCap: number,
    readonly bufferBytes: number,
    /** CONFLATE_TOPICS. */
    private readonly conflate: PatternSet,
  ) {
    engine.onEvents((events) => this.dispatch(events))
    engine.onEphemeral((events) => this.dispatchEphemeral(events))
    // Events this instance could not read are lost to its subscribers: each starts over from a snapshot.
    engine.onGap?.((lost) => {
      if (lost) this.stats.historyLost++
      for (const sub of this.subscriptions) sub.resync()
    })
  }

  async start(): Promise<void> {
    this.position = await this.engine.start()
  }

  /** An event serialised once for all its subscribers, with what is decided once per event: private, conflatable. */
  prepare(e: FeedEvent): PreparedEvent {
    return new PreparedEvent(e, this.access.isPrivate(e.topic), this.conflate.matches(e.topic))
  }

  subscribe(sink: Sink): Subscription {
    const sub = new Subscription(this, sink)
    this.subscriptions.add(sub)
    return sub
  }

  /** A subscription that closed: the hub forgets it. */
  forget(sub: Subscription): void {
    this.subscriptions.delete(sub)
  }

  reached(cursor: string): Promise<void> {
    if (this.passed(cursor)) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ cursor, resolve }))
  }

  /** Calls fn once for each subscription on this instance whose patterns match a topic. */
  eachSubscriber(topic: string, fn: (sub: Subscription) => void): void {
    const stamp = ++this.stampSeq
    this.index.forEach(topic, (sub) => {
      if (sub.stamp !== stamp) {
        sub.stamp = stamp
        fn(sub)
      }
    })
  }

  /** Every open subscription on this instance. */
  get all(): ReadonlySet<Subscription> {
    return this.subscriptions
  }

  /** Told when a subscription's patterns or token change (occupancy shares the list with other instances). */
  onChange: () => void = () => {}
  changed(): void {
    this.onChange()
  }

  private dispatch(events: FeedEvent[]): void {
    for (const e of events) {
      this.position = e.id
      // Prepared (serialised) for the first subscriber it reaches: an event nobody here wants costs nothing more.
      let prepared: PreparedEvent | undefined
      const stamp = ++this.stampSeq
      this.index.forEach(e.topic, (sub) => {
        if (sub.stamp === stamp) return
        sub.stamp = stamp
        sub.deliver((prepared ??= this.prepare(e)))
      })
      // Once per event, not per delivery: from its timestamp to its frames handed to the sockets.
      if (prepared !== undefined) this.stats.observeLatency((Date.now() - e.ts) / 1000)
    }
    if (this.waiters.length > 0) {
      const still: typeof this.waiters = []
      for (const w of this.waiters) {
        if (this.passed(w.cursor)) w.resolve()
        else still.push(w)
      }
      this.waiters = still
    }
  }

  /** Events of ephemeral topics: to every matching subscriber now, prepared once, nothing remembered. */
  private dispatchEphemeral(events: EphemeralEvent[]): void {
    for (const e of events) {
      let prepared: PreparedEvent | undefined
      this.eachSubscriber(e.topic, (sub) => sub.deliver((prepared ??= new PreparedEvent(e, this.access.isPrivate(e.topic)))))
    }
  }

  /** A cursor of another epoch cannot be waited for: the engine's history changed under it. */
  private passed(cursor: string): boolean {
    const order = compareCursors(cursor, this.position)
    return order === undefined || order <= 0
  }
}
