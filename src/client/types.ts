/**
 * @module
 * Options and events of the livefeed client. Wire shapes are the protocol's (`src/protocol/`).
 */
import type { BAD_FRAME, ErrorCode } from '../protocol/errors.ts'
import type { DeliveredEvent, EphemeralEvent, FeedEvent, ResetReason } from '../protocol/events.ts'
import type { ClientTransportName } from '../protocol/transports.ts'

export type { DeliveredEvent, EphemeralEvent, FeedEvent }

/** What `feed.publish()` resolves with: the stored event, or on an ephemeral topic the event sent on (no `id`). */
export type PublishedEvent = FeedEvent | EphemeralEvent

/** `feed.publish(topic, data, options)`. */
export interface PublishOptions {
  /** Idempotency key (1-255 printable ASCII): a retry with it is stored once. Default: a random one per publish. */
  key?: string
}

/** The SDK's transport names (`websocket`, `sse`, `poll`), from the protocol. */
export type TransportName = ClientTransportName
export type FeedState = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface FeedEvents {
  /** Each event once, in order; `conflated: n` when it replaced n older events of its topic that were never sent. */
  event: DeliveredEvent
  /** The latest event of each topic; a large snapshot comes as several, every one but the last with `more`. */
  snapshot: { events: FeedEvent[]; cursor: string; more: boolean }
  reset: { reason: ResetReason }
  status: { state: FeedState; transport: TransportName | undefined }
  /** An event of an ephemeral topic (the server's EPHEMERAL_TOPICS): live only, no `id`, never replayed. */
  ephemeral: EphemeralEvent
  /** With `occupancy`: subscribers of a topic subscribed by exact name, on every instance, when it changes. */
  occupancy: { topic: string; subscribers: number }
  /**
   * With `presence`: a topic's members (token `sub`s) now, and who joined and left since the last one. After
   * a reconnect the server's full list is compared with what was shown, so nobody joins or leaves twice.
   */
  presence: { topic: string; members: string[]; joined: string[]; left: string[] }
  /** A server error (its code), or `bad_frame`: something arrived that the protocol does not describe. */
  error: { code: ErrorCode | typeof BAD_FRAME; message: string }
}

/** The part of the WebSocket API the client uses (browsers, Deno, and Node's `ws` package all have it). */
export interface WebSocketLike {
  readonly readyState: number
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: unknown) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}
export type WebSocketCtor = new (url: string) => WebSocketLike

/** The part of the EventSource API the client uses. */
export interface EventSourceLike {
  onopen: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
  addEventListener(type: string, fn: (ev: { data: string; lastEventId?: string }) => void): void
  close(): void
}
export type EventSourceCtor = new (url: string) => EventSourceLike

/** `feed.history(topic, options)`: which page of the topic's kept events. */
export interface HistoryOptions {
  /** Events in the answer: 1 to the server's TOPIC_HISTORY (its default). */
  limit?: number
  /** Only events before this cursor: the first event's id of the page before. */
  before?: string
}

/** One page of a topic's history, oldest first; `more` when older events are kept. `cursor` is the server's head. */
export interface FeedHistory {
  events: FeedEvent[]
  cursor: string
  more: boolean
}

export interface ConnectOptions {
  /** Topic patterns, e.g. ["scores/**", "stocks/AAPL"]. */
  topics: string[]
  /** Resume after this cursor instead of starting from the snapshot. */
  since?: string
  /**
   * The snapshot carries up to this many newest events of each topic instead of only the latest (1 to the
   * server's TOPIC_HISTORY): a chart or a chat starts filled. Also after a reset; ignored when resuming.
   */
  rewind?: number
  /**
   * Ask for `occupancy` events: how many subscribe to each topic named exactly in `topics` (not patterns),
   * over the whole deployment. WebSocket and SSE only (long polling has none).
   */
  occupancy?: boolean
  /**
   * Ask for `presence` events of each topic named exactly that the server's PRESENCE_TOPICS matches: who
   * (token `sub`) is subscribed. Needs a token whose `subscribe` grants the topic. WebSocket and SSE only.
   */
  presence?: boolean
  /** Transports in order of preference. Default: websocket, sse, poll. */
  transports?: TransportName[]
  /** WebSocket implementation where there is no global one (Node 20: the `ws` package). */
  WebSocket?: WebSocketCtor
  /** EventSource implementation where there is no global one. */
  EventSource?: EventSourceCtor
  fetch?: typeof fetch
  /** Reconnect delay: full jitter over initialMs·2^attempt, capped at maxMs. Defaults 250 ms and 15 s. */
  backoff?: { initialMs?: number; maxMs?: number }
  /** A transport that has not opened within this is given up on. Default 10 s. */
  connectTimeoutMs?: number
  /** After this long on a fallback transport, try the preferred ones again. Default 60 s. */
  retryBetterAfterMs?: number
  /** Long-poll hold time in seconds. Default 25. */
  pollWaitS?: number
  /**
   * Where access tokens come from, for private topics. Called before each
   * connection, shortly before the token expires (over WebSocket the new one
   * replaces it on the live socket), and after the server refused or ended
   * one (`invalid_token`, `token_expired`, close 4401). The feed resumes from
   * its cursor each time, so nothing is lost.
   */
  getToken?: () => string | Promise<string>
}
