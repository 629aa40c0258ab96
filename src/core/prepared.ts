/**
 * @module
 * An event serialised once for all the subscribers it goes to.
 */
import type { EphemeralEvent, FeedEvent } from '../protocol/events.ts'
import { sseFrames } from '../protocol/sse.ts'
import { wsFrames } from '../protocol/ws.ts'

const encoder = new TextEncoder()

/**
 * An event serialised once for all its subscribers: each transport's frame is
 * built from the same JSON the first time a subscriber of that transport
 * needs it, never once per subscriber.
 */
export class PreparedEvent {
  readonly json: string
  /** The event's cursor; none for an event of an ephemeral topic (never stored). */
  readonly id: string | undefined
  private ws?: string
  private sse?: Uint8Array
  constructor(
    readonly event: FeedEvent | EphemeralEvent,
    /** On a private topic: each subscriber's grant is checked before it gets it. */
    readonly isPrivate: boolean,
    /** On a conflated topic (CONFLATE_TOPICS): a client that fell behind gets only the newest pending one. */
    readonly conflatable = false,
  ) {
    this.json = JSON.stringify(event)
    this.id = 'id' in event ? event.id : undefined
  }
  get wsFrame(): string {
    return (this.ws ??= wsFrames.event(this.json))
  }
  /** The SSE message as bytes, encoded once: every stream enqueues the same buffer (none is copied per subscriber). */
  get sseBytes(): Uint8Array {
    return (this.sse ??= encoder.encode(sseFrames.event(this.id, this.json)))
  }
}
