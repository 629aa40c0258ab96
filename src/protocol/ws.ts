/**
 * @module
 * The WebSocket protocol on `/ws`: JSON text frames, each with a `type`.
 */
import * as v from 'valibot'
import { type ErrorDetail, errorDetail } from './errors.ts'
import {
  cursorSchema,
  type EphemeralEvent,
  ephemeralEvent,
  type FeedEvent,
  feedEvent,
  jsonValue,
  patternSchema,
  type ResetReason,
  resetReason,
  snapshotSchema,
  topicSchema,
  wireEvent,
} from './events.ts'
import { IDEMPOTENCY_KEY } from './http.ts'
import { occupancySchema, type Presence, presenceChange } from './presence.ts'

// --- client → server ---

const topics = v.array(patternSchema)

export const subscribeFrame = v.object({
  type: v.literal('subscribe'),
  topics,
  /** Checked as a cursor by the server, so a bad one is answered `invalid_cursor`. */
  since: v.optional(v.pipe(v.string(), v.description('Resume after this cursor; only while nothing else is subscribed.'))),
  /** Checked against TOPIC_HISTORY by the server (`validation_failed`). */
  rewind: v.optional(
    v.pipe(
      v.number(),
      v.description('The snapshot carries up to this many newest events of each matching topic instead of one (1 to TOPIC_HISTORY); ignored with `since`.'),
    ),
  ),
  occupancy: v.optional(
    v.pipe(v.boolean(), v.description('Send `occupancy` frames for each topic of this frame named exactly: on subscribing, then when the count changes.')),
  ),
  presence: v.optional(
    v.pipe(
      v.boolean(),
      v.description('Send `presence` frames for each topic of this frame named exactly that PRESENCE_TOPICS matches (the token must grant it).'),
    ),
  ),
})
export const unsubscribeFrame = v.object({ type: v.literal('unsubscribe'), topics })
export const pingFrame = v.object({ type: v.literal('ping') })
/** Replaces the connection's token without reconnecting (a refresh before it expires). */
export const authFrame = v.object({ type: v.literal('auth'), token: v.pipe(v.string(), v.maxLength(8192)) })
/** The client's name for one publish: its answer (`published` or `error`) carries it back. */
export const refSchema = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(64),
  v.description("The client's name for this publish (1-64 characters): the answer carries it."),
)
/** Publishes one event over the socket: the token must grant the topic in `publish`, or OPEN_PUBLISH_TOPICS match it. */
export const publishFrame = v.object({
  type: v.literal('publish'),
  ref: refSchema,
  topic: topicSchema,
  data: jsonValue,
  key: v.optional(
    v.pipe(
      v.string(),
      v.regex(IDEMPOTENCY_KEY, 'must be 1-255 printable ASCII characters'),
      v.description('As Idempotency-Key: a retry with the same key (over the socket or POST /api/events) answers the first result.'),
    ),
  ),
})
export type PublishFrame = v.InferOutput<typeof publishFrame>

export const clientFrame = v.variant('type', [subscribeFrame, unsubscribeFrame, pingFrame, authFrame, publishFrame])
export type ClientFrame = v.InferOutput<typeof clientFrame>
export const CLIENT_FRAME_TYPES = ['subscribe', 'unsubscribe', 'ping', 'auth', 'publish'] as const

// --- server → client ---

export const welcomeFrame = v.object({
  type: v.literal('welcome'),
  cursor: cursorSchema,
  heartbeatMs: v.pipe(v.number(), v.description('The server pings this often; a client may send `ping` as often.')),
})
export const subscribedFrame = v.object({ type: v.literal('subscribed'), topics, cursor: cursorSchema })
/** One page of the snapshot; pages but the last say `more`. */
export const snapshotFrame = v.object({ type: v.literal('snapshot'), ...snapshotSchema.entries })
/** An event: a stored one with its `id` (cursor), or one of an ephemeral topic, without. */
export const eventFrame = v.object({ type: v.literal('event'), ...wireEvent.entries })
export const resetFrame = v.object({ type: v.literal('reset'), reason: resetReason })
export const unsubscribedFrame = v.object({ type: v.literal('unsubscribed'), topics })
export const pongFrame = v.object({ type: v.literal('pong') })
/** A refusal; `ref` when it answers a `publish` frame that had one. */
export const errorFrame = v.object({ type: v.literal('error'), ...errorDetail.entries, ref: v.optional(refSchema) })
/** A `publish` frame's event was stored (on Redis: acknowledged by it), or sent on when ephemeral. */
export const publishedFrame = v.object({
  type: v.literal('published'),
  ref: refSchema,
  event: v.union([feedEvent, ephemeralEvent]),
  replayed: v.optional(v.pipe(v.literal(true), v.description('A retry with a known `key`: the first result, nothing stored again.'))),
})
/** The token of an `auth` frame was accepted; `exp` is when it expires (seconds since the Unix epoch). */
export const authenticatedFrame = v.object({ type: v.literal('authenticated'), exp: v.number() })
/** Subscribers of a topic on every instance: on subscribing with `occupancy`, then when it changes. */
export const occupancyFrame = v.object({ type: v.literal('occupancy'), ...occupancySchema.entries })
/** Members of a topic: all of them (`members`) on subscribing with `presence`, then who `joined` and who `left`. */
export const presenceFrame = v.object({
  type: v.literal('presence'),
  topic: presenceChange.entries.topic,
  members: v.optional(presenceChange.entries.joined),
  joined: v.optional(presenceChange.entries.joined),
  left: v.optional(presenceChange.entries.left),
})

export const serverFrame = v.variant('type', [
  welcomeFrame,
  subscribedFrame,
  snapshotFrame,
  eventFrame,
  resetFrame,
  unsubscribedFrame,
  pongFrame,
  errorFrame,
  authenticatedFrame,
  occupancyFrame,
  presenceFrame,
  publishedFrame,
])
export type ServerFrame = v.InferOutput<typeof serverFrame>

/** Encoders of the server's frames: the only place their JSON is written. */
export const wsFrames = {
  welcome: (cursor: string, heartbeatMs: number) => JSON.stringify({ type: 'welcome', cursor, heartbeatMs } satisfies ServerFrame),
  subscribed: (topics: string[], cursor: string) => JSON.stringify({ type: 'subscribed', topics, cursor } satisfies ServerFrame),
  snapshot: (events: FeedEvent[], cursor: string, more = false) =>
    JSON.stringify({ type: 'snapshot', events, cursor, ...(more ? { more } : {}) } satisfies ServerFrame),
  /** From an event already serialised once for all subscribers: `{"type":"event",…event}` without a second stringify. */
  event: (eventJson: string) => `{"type":"event",${eventJson.slice(1)}`,
  /** The same, saying how many older events of its topic it replaced (conflation). */
  conflated: (eventJson: string, replaced: number) => `{"type":"event",${eventJson.slice(1, -1)},"conflated":${replaced}}`,
  reset: (reason: ResetReason) => JSON.stringify({ type: 'reset', reason } satisfies ServerFrame),
  unsubscribed: (topics: string[]) => JSON.stringify({ type: 'unsubscribed', topics } satisfies ServerFrame),
  pong: '{"type":"pong"}',
  error: (e: ErrorDetail, ref?: string) =>
    JSON.stringify({ type: 'error', code: e.code, message: e.message, ...(ref !== undefined ? { ref } : {}) } satisfies ServerFrame),
  published: (ref: string, event: FeedEvent | EphemeralEvent, replayed: boolean) =>
    JSON.stringify({ type: 'published', ref, event, ...(replayed ? { replayed } : {}) } satisfies ServerFrame),
  authenticated: (exp: number) => JSON.stringify({ type: 'authenticated', exp } satisfies ServerFrame),
  occupancy: (topic: string, subscribers: number) => JSON.stringify({ type: 'occupancy', topic, subscribers } satisfies ServerFrame),
  presence: (p: Presence) => JSON.stringify({ type: 'presence', ...p } satisfies ServerFrame),
}
