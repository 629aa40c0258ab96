/**
 * @module
 * The HTTP API's bodies and answers: publishing, reading, long polling,
 * topics and health. The route table itself (paths, query parameters, which
 * answer each gives) is built beside the routes and turned into
 * `GET /openapi.json` from these schemas.
 */
import * as v from 'valibot'
import {
  cursorSchema,
  type EphemeralEvent,
  ephemeralEvent,
  eventInput,
  type FeedEvent,
  feedEvent,
  moreSchema,
  nextSchema,
  snapshotSchema,
  topicSchema,
} from './events.ts'

/** An Idempotency-Key (HTTP header, or a publish frame's `key`): 1-255 printable ASCII characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/

/** One item or a batch of 1..max items, each checked by `item`. */
export function oneOrMany<S extends v.GenericSchema>(item: S, max: number) {
  return v.union([item, v.pipe(v.array(item), v.minLength(1, 'must not be empty'), v.maxLength(max, `must hold at most ${max} items`))])
}

/** `POST /api/events`: one event or a batch, stored atomically and in order. */
export const publishBody = (maxBatch: number) => oneOrMany(eventInput, maxBatch)
/** A batch's answer; a single event is answered with the stored event itself. */
export const publishedBatch = v.object({ events: v.union([v.array(feedEvent), v.array(ephemeralEvent)]) })
export const publishAnswer = v.union([feedEvent, ephemeralEvent, publishedBatch])
export type PublishAnswer = FeedEvent | EphemeralEvent | v.InferOutput<typeof publishedBatch>

/** Events after the given cursor. `cursor` is how far the server scanned: pass it back as `since` (or `cursor` on /poll). */
export const eventsAnswer = v.object({ events: v.array(feedEvent), cursor: cursorSchema, more: moreSchema })
/** The given cursor is gone (older than the history, or another epoch): start over from this snapshot (its first page, when `more`). */
export const resetAnswer = v.object({
  reset: v.literal(true),
  snapshot: v.array(feedEvent),
  cursor: cursorSchema,
  more: moreSchema,
  next: v.optional(nextSchema),
})
/** No cursor was given: the latest event of each matching topic (its first page, when `more`: the rest from `GET /api/snapshot?next=`). */
export const snapshotAnswer = v.object({ snapshot: v.array(feedEvent), cursor: cursorSchema, more: moreSchema, next: v.optional(nextSchema) })

/** What `GET /api/events` and `GET /poll` answer. */
export const readAnswer = v.union([eventsAnswer, resetAnswer, snapshotAnswer])
export type ReadAnswer = v.InferOutput<typeof readAnswer>

/**
 * `GET /api/history`: one topic's newest events (TOPIC_HISTORY kept) before `before`, oldest first; `cursor`
 * is the head (subscribe with it as `since` to go on live); `more` when older ones are kept.
 */
export const historyAnswer = v.object({
  events: v.array(feedEvent),
  cursor: cursorSchema,
  more: v.optional(v.pipe(v.literal(true), v.description("Older events of this topic are kept: ask again with the first event's id as `before`."))),
})
export type HistoryAnswer = v.InferOutput<typeof historyAnswer>

/** `GET /api/snapshot`. */
export { snapshotSchema }

export const topicInfo = v.object({
  topic: topicSchema,
  lastId: cursorSchema,
  lastTs: v.number(),
  subscribers: v.pipe(
    v.number(),
    v.description('Subscriptions on every instance whose patterns match the topic (the instances share their lists every OCCUPANCY_INTERVAL).'),
  ),
})
export const topicsAnswer = v.object({ topics: v.array(topicInfo) })
export type TopicsAnswer = v.InferOutput<typeof topicsAnswer>

export const healthAnswer = v.object({
  status: v.picklist(['ok', 'unavailable']),
  engine: v.string(),
  engineHealthy: v.boolean(),
  draining: v.boolean(),
  connections: v.number(),
  cursor: v.string(),
})
export type HealthAnswer = v.InferOutput<typeof healthAnswer>
export const livenessAnswer = v.object({ status: v.literal('ok') })

/** Query parameters, as the API documents describe them (the routes check them with the same rules). */
export const query = {
  topics: v.pipe(v.string(), v.description('Comma-separated topic patterns (or the parameter repeated), at most MAX_PATTERNS.')),
  since: v.pipe(cursorSchema, v.description('Resume after this cursor.')),
  next: nextSchema,
  cursor: v.pipe(cursorSchema, v.description('Where the previous answer left off; none for a snapshot.')),
  topic: v.pipe(topicSchema, v.description('One topic, not a pattern.')),
  before: v.pipe(cursorSchema, v.description("Only events before this cursor (the first event's id of the answer before); default: the newest.")),
  historyLimit: v.pipe(v.string(), v.regex(/^[1-9][0-9]*$/), v.description('Events per answer, 1 to TOPIC_HISTORY (larger is cut to it; the default).')),
  rewind: v.pipe(
    v.string(),
    v.regex(/^[1-9][0-9]*$/),
    v.description('The snapshot carries up to this many newest events of each matching topic instead of one: 1 to TOPIC_HISTORY. Ignored with a cursor.'),
  ),
  limit: v.pipe(v.string(), v.regex(/^[1-9][0-9]*$/), v.description('Events per answer, 1 to READ_LIMIT (larger is capped).')),
  occupancy: v.pipe(
    v.picklist(['1', 'true']),
    v.description('Send `occupancy` (subscribers on every instance) for each topic subscribed by exact name, on subscribing and when it changes.'),
  ),
  presence: v.pipe(
    v.picklist(['1', 'true']),
    v.description(
      'Send `presence` (members with a token `sub`) for each topic subscribed by exact name that PRESENCE_TOPICS matches; needs a token granting it.',
    ),
  ),
  token: v.pipe(v.string(), v.description('An access token (HS256 JWT) for clients that cannot send `Authorization: Bearer`: it grants private topics.')),
  wait: v.pipe(
    v.string(),
    v.regex(/^[0-9]+(\.[0-9]+)?$/),
    v.description('Seconds to hold the request when nothing is new: 0 to POLL_WAIT_MAX (default POLL_WAIT_DEFAULT).'),
  ),
}
