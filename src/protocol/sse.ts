/**
 * @module
 * The Server-Sent Events protocol on `/sse`: event names, their payloads and
 * their encoding. Events are unnamed (`message`) messages whose `id` is the
 * event's cursor, so a plain `EventSource` resumes with `Last-Event-ID`.
 */
import * as v from 'valibot'
import { type ErrorDetail, errorDetail } from './errors.ts'
import { type FeedEvent, type ResetReason, resetReason, snapshotSchema, wireEvent } from './events.ts'
import { occupancySchema, type Presence, presenceSchema } from './presence.ts'

/** Each SSE event name and the JSON in its `data:` field. */
export const SSE_EVENTS = {
  /** One stored event (with `conflated` when it replaced older ones); its `id:` is the event's cursor. An ephemeral event has neither `id` nor `id:`. */
  message: wireEvent,
  /** Latest event of each subscribed topic, in pages; the last page's `id:` is the head cursor, so a reconnect resumes after it. */
  snapshot: snapshotSchema,
  /** The `since` / `Last-Event-ID` cursor is gone: a snapshot follows. */
  reset: v.object({ reason: resetReason }),
  /** The stream cannot go on (an engine failure, a bad request): the stream ends after it. */
  'feed-error': errorDetail,
  /** With `occupancy=1`: subscribers of a topic on every instance, on subscribing and when it changes. */
  occupancy: occupancySchema,
  /** With `presence=1`: a topic's members (`members`), then who `joined` and `left`. */
  presence: presenceSchema,
} as const
export type SseEventName = keyof typeof SSE_EVENTS

/** Encoders of the stream's messages: the only place SSE text is written. */
export const sseFrames = {
  retry: (ms: number) => `retry: ${ms}\n\n`,
  heartbeat: ': heartbeat\n\n',
  /** From an event already serialised once for all subscribers; an ephemeral one has no id, and no `id:` (Last-Event-ID stays). */
  event: (id: string | undefined, eventJson: string) => (id === undefined ? `data: ${eventJson}\n\n` : `id: ${id}\ndata: ${eventJson}\n\n`),
  /** The same, saying how many older events of its topic it replaced (conflation). */
  conflated: (id: string, eventJson: string, replaced: number) => `id: ${id}\ndata: ${eventJson.slice(0, -1)},"conflated":${replaced}}\n\n`,
  /**
   * One page of a snapshot. Only the last page carries `id:`: an EventSource cut mid-snapshot reconnects
   * with the Last-Event-ID it had before (none on a first connect), so it is sent the snapshot again, never
   * resumed from its head as if it had it all.
   */
  snapshot: (events: FeedEvent[], cursor: string, more = false) =>
    `event: snapshot\n${more ? '' : `id: ${cursor}\n`}data: ${JSON.stringify({ events, cursor, ...(more ? { more } : {}) })}\n\n`,
  reset: (reason: ResetReason) => `event: reset\ndata: ${JSON.stringify({ reason })}\n\n`,
  occupancy: (topic: string, subscribers: number) => `event: occupancy\ndata: ${JSON.stringify({ topic, subscribers })}\n\n`,
  presence: (p: Presence) => `event: presence\ndata: ${JSON.stringify(p)}\n\n`,
  error: (e: ErrorDetail) => `event: feed-error\ndata: ${JSON.stringify({ code: e.code, message: e.message })}\n\n`,
}
