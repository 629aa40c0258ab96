/**
 * @module
 * The two sides of a subscription: the `Sink` a transport gives it to write to (a WebSocket session, an SSE
 * stream, a long poll), and the `SubscriptionHost` (the hub) it reads from and reports to.
 */
import type { FeedEvent, ResetReason } from '../protocol/events.ts'
import type { Access } from './access.ts'
import type { Engine } from './engine.ts'
import type { PreparedEvent } from './prepared.ts'
import type { Stats } from './stats.ts'
import type { Subscription } from './subscription.ts'
import type { TopicIndex } from './topic-index.ts'

/** What a transport (WebSocket session, SSE stream, long poll) does with what a subscription yields. */
export interface Sink {
  /** Each event once, in cursor order: replayed first, then live. */
  event(e: PreparedEvent): void
  /**
   * Latest event of each newly subscribed topic, then live events after `cursor`; a large one in pages
   * (READ_BYTES), every page with the same `cursor` and all but the last with `more`.
   */
  snapshot(events: FeedEvent[], cursor: string, more: boolean): void
  /** The `since` cursor is gone (older than the history, or another epoch): a snapshot follows. */
  reset(reason: ResetReason): void
  /** The seam is done: everything up to `cursor` was sent; live events follow. */
  caughtUp?(cursor: string): void
  /** Writing an event threw: the delivery to everyone else goes on, this consumer ends. */
  crashed(err: unknown): void
  /**
   * Bytes one replay or snapshot page may hold for this consumer: READ_BYTES, or less where the transport
   * queues for a client, so that no page is more than the client may have queued.
   */
  readonly pageBytes: number
  /** Resolves once the consumer has room for the next page (what it queued drained), or it ended. */
  room(): Promise<void>
  /**
   * Live events overflowed a seam's buffer while older patterns were live (their events were only there), or
   * while the consumer had not taken the page before: it is as far behind as a slow client, and must resume.
   */
  overrun(): void
}

export interface SubscriptionHost {
  readonly engine: Engine
  readonly access: Access
  readonly stats: Stats
  forget(sub: Subscription): void
  /** Its patterns or its token changed. */
  changed(): void
  /** An event as delivered: serialised once, its topic's private and conflated flags decided once. */
  prepare(e: FeedEvent): PreparedEvent
  readonly index: TopicIndex<Subscription>
  readonly pageSize: number
  /** Live events held during a seam; past it (or past `bufferBytes`) they are dropped and read again from the engine. */
  readonly bufferCap: number
  /** Bytes of live events held during one consumer's seam (MAX_BUFFERED_BYTES). */
  readonly bufferBytes: number
  /**
   * Resolves once live dispatch has passed `cursor`. A shared engine's reads
   * can run ahead of this instance's live stream; flushing before dispatch
   * catches up would let an event the replay covered arrive again as live.
   */
  reached(cursor: string): Promise<void>
}
