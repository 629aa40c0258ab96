/**
 * @module
 * The engine contract: where events are stored and how they reach this
 * instance's fan-out. `engines/memory.ts` and `engines/redis.ts` implement it;
 * `tests/engine.test.ts` is the one contract test both pass.
 */
import type { Cursor } from '../protocol/cursor.ts'
import type { EphemeralEvent, EventInput, FeedEvent } from '../protocol/events.ts'
import type { PatternSet } from './topic-index.ts'

export interface TopicInfo {
  topic: string
  lastId: string
  lastTs: number
}

/**
 * An event to store. `json` is its data as JSON when the caller already has it (a publish serialises the data
 * once, for the MAX_EVENT_BYTES check): engines use it rather than serialise the data again.
 */
export interface StoredInput extends EventInput {
  json?: string
}

/**
 * Where events are stored and how newly stored events reach this instance's
 * fan-out. Every method is async and assumes nothing in-process, so an
 * engine may be shared by many instances (Redis) or live in memory.
 * Failures of the backing store are thrown as FeedError engine_unavailable;
 * anything else an engine throws is mapped the same way by `guardEngine`.
 */
export interface Engine {
  readonly name: string
  /** Connects; resolves the head cursor, and onEvents delivers every event after it. */
  start(): Promise<string>
  close(): Promise<void>
  /** False while the backing store is unreachable (readiness goes 503). */
  healthy(): boolean
  /** How far behind the shared store this instance's live stream is, in seconds (0 when caught up); shared engines only. */
  lagSeconds?(): number

  /**
   * Stores a batch atomically, in order. With an idempotency key, a repeat
   * within the window returns the first result (replayed: true) and stores
   * nothing; a repeat with a different body throws idempotency_conflict.
   */
  append(inputs: StoredInput[], idempotency?: IdempotencyRequest): Promise<AppendResult>

  /**
   * Events after `after` whose topic matches, oldest first, at most `limit`
   * and about `maxBytes` (cut at an event boundary, at least one event).
   * `cursor` is how far the engine scanned (the last event looked at, matching
   * or not), so the next read continues there; `more` says the answer was cut.
   * "stale" when `after` is from another epoch, ahead of the head, or older
   * than the history kept.
   */
  read(after: Cursor, patterns: PatternSet, limit: number, maxBytes?: number): Promise<ReadResult>

  /**
   * Latest event of each matching topic, oldest first, and the head, taken at
   * one instant. Paged: a page holds the events after `page.after` up to
   * `page.upTo` (the first page's head, so the pages together are one instant),
   * about `page.maxBytes` of them; `more` says another page follows.
   */
  snapshot(patterns: PatternSet, page?: SnapshotPage): Promise<SnapshotResult>

  /**
   * The newest events of one topic before `before` (default: all kept), oldest first: at most `limit`,
   * and about `maxBytes` (the newest that fit, at least one). `more` says older ones are kept; `cursor`
   * is the head. Events of another epoch than the head's are never returned.
   */
  history(topic: string, limit: number, before?: string, maxBytes?: number): Promise<HistoryResult>

  head(): Promise<string>
  topics(): Promise<TopicInfo[]>

  /**
   * Every event stored from now on, by any instance, exactly once and in
   * cursor order, in batches. One listener (the hub).
   */
  onEvents(listener: (events: FeedEvent[]) => void): void

  /**
   * The live stream lost events it could not read in time (a shared store
   * trimmed them past this instance's position, after a long pause or
   * outage; `lost` false), or the history itself went back (a failover lost
   * events already delivered, or the store came back empty: a new epoch;
   * `lost` true): every subscriber must start over from a snapshot. Shared engines only.
   */
  onGap?(listener: (lost: boolean) => void): void

  /**
   * Events of ephemeral topics (EPHEMERAL_TOPICS): handed to `onEphemeral` on every instance, this one
   * included, and stored nowhere. Resolves once sent on (Redis: PUBLISH answered).
   */
  broadcast(events: EphemeralEvent[]): Promise<void>
  /** Every ephemeral event any instance broadcasts from now on, as it arrives. One listener (the hub). */
  onEphemeral(listener: (events: EphemeralEvent[]) => void): void

  /** Where instances tell each other who subscribes to what (occupancy, presence); shared engines only. */
  readonly roster?: Roster
}

/**
 * Each instance's list of its subscriptions (`Occupancy` writes and reads it as an opaque string), shared
 * between instances. An instance's list lives `ttlMs` after it last wrote or touched it: one that dies
 * stops counting then.
 */
export interface Roster {
  /** Replaces this instance's list. */
  put(instance: string, list: string, ttlMs: number): Promise<void>
  /** Keeps this instance's list alive, unchanged; false when it had expired (a long pause): put it again. */
  touch(instance: string, ttlMs: number): Promise<boolean>
  /** The lists of every other live instance, each at most `maxBytes` long (longer ones are left out). */
  others(instance: string, maxBytes: number): Promise<string[]>
  /** This instance is going: its list goes at once. */
  drop(instance: string): Promise<void>
}

export interface IdempotencyRequest {
  key: string
  /** Digest of the request body: same key with another body is a conflict. */
  fingerprint: string
  windowMs: number
}

export interface AppendResult {
  events: FeedEvent[]
  replayed: boolean
}

export type ReadResult = { stale: false; events: FeedEvent[]; cursor: string; more: boolean } | { stale: true }

export interface SnapshotPage {
  /** Only events after this cursor: the last one of the page before. */
  after?: string
  /** Only events up to this cursor: the first page's head. */
  upTo?: string
  maxBytes?: number
  /** Up to this many newest events of each matching topic (TOPIC_HISTORY kept); default 1, the latest. */
  rewind?: number
}

export interface HistoryResult {
  events: FeedEvent[]
  /** The head when read: live events after it follow what this answer holds. */
  cursor: string
  more: boolean
}

export interface SnapshotResult {
  /** Oldest first; with `rewind`, several of one topic. */
  events: FeedEvent[]
  /** The head the snapshot was taken at (for every page: the first page's). */
  cursor: string
  more: boolean
}
