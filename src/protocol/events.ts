/**
 * @module
 * Events as publishers send them and as every transport shows them.
 */
import * as v from 'valibot'
import { CURSOR_PATTERN } from './cursor.ts'
import { MAX_SEGMENTS, MAX_TOPIC_LENGTH, SEGMENT_CHARS } from './grammar.ts'

export const cursorSchema = v.pipe(
  v.string(),
  v.regex(new RegExp(CURSOR_PATTERN), 'is not a livefeed cursor'),
  v.description('Opaque position "<epoch>-<position>": events of one history are ordered by it; pass it back to resume.'),
)

const topicDoc = `1-${MAX_SEGMENTS} segments of ${SEGMENT_CHARS} joined by "/", at most ${MAX_TOPIC_LENGTH} characters`
export const topicSchema = v.pipe(v.string(), v.description(`Topic: ${topicDoc}.`))
export const patternSchema = v.pipe(
  v.string(),
  v.description(`Pattern: a topic (${topicDoc}) in which a segment may be "*" (one segment) and the last may be "**" (one or more).`),
)

/** Any JSON value; absent is not one. Described as `{}` (anything) in the API documents. */
export const jsonValue = v.custom<unknown>((x) => x !== undefined, 'is required (any JSON value)')

/** One stored event, as every transport shows it. */
export const feedEvent = v.object({
  id: cursorSchema,
  topic: topicSchema,
  data: jsonValue,
  ts: v.pipe(v.number(), v.description('Server clock when stored, ms since the Unix epoch.')),
})
/**
 * One stored event. Written out rather than inferred from `feedEvent`, so that the SDK's public types
 * do not reach into valibot (JSR's "no slow types"); `tests/fast/protocol.test.ts` holds them equal.
 */
export interface FeedEvent {
  /** Cursor: pass back as `since` to resume after this event. */
  id: string
  topic: string
  data: unknown
  /** Server clock when stored, ms since the Unix epoch. */
  ts: number
}

/**
 * One event as delivered live. `conflated` appears only on a conflated topic (CONFLATE_TOPICS) for a
 * client that fell behind: this event replaced that many older ones of its topic that were never sent.
 */
export const deliveredEvent = v.object({
  ...feedEvent.entries,
  conflated: v.optional(
    v.pipe(
      v.number(),
      v.integer(),
      v.minValue(1),
      v.description('How many older events of this topic this one replaced unsent (the client fell behind on a conflated topic).'),
    ),
  ),
})
/** One event as delivered live (see `deliveredEvent`). */
export interface DeliveredEvent extends FeedEvent {
  /** How many older events of this topic this one replaced unsent (a conflated topic, a client behind). */
  conflated?: number
}

/**
 * An event on an ephemeral topic (EPHEMERAL_TOPICS): delivered live to whoever subscribes now, on every
 * instance, and never stored, so it has no `id` (cursor): no replay, snapshot or history has it.
 */
export const ephemeralEvent = v.object({
  topic: topicSchema,
  data: jsonValue,
  ts: v.pipe(v.number(), v.description('Server clock when published, ms since the Unix epoch.')),
})
/** An event on an ephemeral topic (see `ephemeralEvent`): no `id`, never stored. */
export interface EphemeralEvent {
  topic: string
  data: unknown
  /** Server clock when published, ms since the Unix epoch. */
  ts: number
}

/** An event frame's body: a stored event (with `id`, maybe `conflated`), or an ephemeral one (without). */
export const wireEvent = v.object({ ...deliveredEvent.entries, id: v.optional(cursorSchema) })

/** One event as a publisher sends it. */
export const eventInput = v.object({ topic: topicSchema, data: jsonValue })
export interface EventInput {
  topic: string
  data: unknown
}

const more = v.optional(v.pipe(v.literal(true), v.description('The answer was cut at READ_BYTES (or its count limit): more follows, or may be asked for.')))
/** A snapshot's continuation: `GET /api/snapshot?…&next=<it>` gives the next page of the same snapshot. */
export const nextSchema = v.pipe(
  v.string(),
  v.regex(/^[0-9a-z-]+~[0-9a-z-]+$/, 'is not a snapshot continuation'),
  v.description('Pass back as `next` for the next page of the same snapshot.'),
)
export const moreSchema = more

/**
 * Latest event of each matching topic, oldest first, and the head cursor they
 * were read at. A large one comes in pages (READ_BYTES): every page but the
 * last says `more`, and all carry the same `cursor`; over HTTP, `next` asks for the next page.
 */
export const snapshotSchema = v.object({ events: v.array(feedEvent), cursor: cursorSchema, more, next: v.optional(nextSchema) })
export interface Snapshot {
  events: FeedEvent[]
  cursor: string
  more?: true
  next?: string
}

/** Why a subscriber's position was dropped. */
export const resetReason = v.picklist(['stale_cursor'])
export type ResetReason = 'stale_cursor'
