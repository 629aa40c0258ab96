/**
 * @module
 * The Server-Sent Events transport: the protocol's SSE messages
 * (`src/protocol/sse.ts`) on one stream; the lifecycle is the shared `Connection`'s.
 */
import type { Context } from 'hono'
import type { Grant } from '../core/access.ts'
import { Connection, type Watch } from '../core/connection.ts'
import { requireCursor } from '../core/cursor.ts'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import type { PreparedEvent } from '../core/prepared.ts'
import { type BodySink, linger, StreamSink, type Wire } from '../core/wire.ts'
import type { EndReason } from '../protocol/errors.ts'
import type { FeedEvent, ResetReason } from '../protocol/events.ts'
import { query } from '../protocol/http.ts'
import type { Presence } from '../protocol/presence.ts'
import { sseFrames } from '../protocol/sse.ts'
import type { MountContext } from './api.ts'
import type { Vars } from './auth.ts'
import { SSE_COMPONENTS } from './openapi.ts'
import { queryPatterns, queryWatch } from './read.ts'

const encoder = new TextEncoder()

/**
 * One Server-Sent Events stream: a subscription written as SSE messages into the response body. The body is
 * a `BodySink` of our own rather than hono's `streamSSE`, whose writer encodes every string for every stream and
 * whose end waits for all that was queued: here an event's message is one buffer shared by every stream
 * (`PreparedEvent.sseBytes`), what waits for the client is counted in bytes (MAX_BUFFERED_BYTES), and an
 * ended stream lets go of its socket (see `linger`). On Node the sink writes to the response itself, corked
 * for the loop turn as WebSocket frames are; elsewhere it is a `ReadableStream` the server reads.
 */
class SseStream extends Connection {
  private lastWrite = Date.now()
  /** Bytes written so far: with what still waits, how much the client took (progress, for `linger`). */
  private written = 0

  constructor(
    feed: Feed,
    grant: Grant | undefined,
    /** The connection under the response, where the runtime can tell of it. */
    private readonly wire: Wire | undefined,
    readonly sink: BodySink,
  ) {
    super(feed, 'sse')
    this.authorize(grant)
    sink.onGone(() => this.end('client'))
    this.begin()
  }
  start(patterns: string[], since: string | undefined, rewind: number | undefined, watch: Watch): void {
    this.text(sseFrames.retry(this.feed.limits.sseRetryMs))
    this.subscribe(patterns, since === undefined ? undefined : requireCursor(since), rewind, watch)
  }
  override occupancy(topic: string, subscribers: number): void {
    this.text(sseFrames.occupancy(topic, subscribers))
  }
  override presence(message: Presence): void {
    this.text(sseFrames.presence(message))
  }

  protected deliver(p: PreparedEvent, conflated: number): void {
    // Only stored events are ever conflated: they have an id.
    if (conflated === 0 || p.id === undefined) this.write(p.sseBytes)
    else this.text(sseFrames.conflated(p.id, p.json, conflated))
  }
  snapshot(events: FeedEvent[], cursor: string, more: boolean): void {
    this.text(sseFrames.snapshot(events, cursor, more))
  }
  reset(reason: ResetReason): void {
    this.dropBacklog()
    this.text(sseFrames.reset(reason))
  }

  protected failed(error: FeedError): void {
    this.text(sseFrames.error(error))
    this.end('error')
  }
  protected override tokenExpired(): void {
    this.text(sseFrames.error(new FeedError('token_expired', 'the token expired: get a new token and reconnect')))
    this.end('token_expired')
  }
  protected override beat(now: number): void {
    if (now - this.lastWrite >= this.feed.limits.sseHeartbeatMs) this.text(sseFrames.heartbeat)
  }
  override queuedBytes(): number {
    return this.sink.queued()
  }

  /**
   * The stream ends; its socket goes promptly. A client too slow to read is cut at once (what waits is
   * dropped: it resumes from its cursor). Otherwise the end follows what was written, and a client that
   * takes nothing of it for END_GRACE is cut then.
   */
  protected finish(reason: EndReason): Promise<void> | undefined {
    if (reason === 'client') return undefined
    const cut = () => {
      if (this.wire?.destroy) this.wire.destroy()
      else this.sink.abort()
    }
    if (reason === 'slow') cut()
    else this.sink.end()
    if (this.wire === undefined) return undefined
    return linger(this.wire, this.feed.limits.endGraceMs, () => this.wire?.written?.() ?? this.written - this.queuedBytes(), cut)
  }

  private text(frame: string): void {
    this.write(encoder.encode(frame))
  }

  private write(bytes: Uint8Array): void {
    if (!this.open) return
    // A reader this far behind reconnects and resumes rather than growing our memory.
    if (this.queuedBytes() > this.feed.limits.maxBufferedBytes) return this.end('slow')
    this.lastWrite = Date.now()
    this.written += bytes.byteLength
    this.sink.write(bytes)
  }
}

/** GET /sse?topics=…&since=… — Last-Event-ID (sent by EventSource on reconnect) wins over ?since. */
export function mountSse({ api, feed, tokens, checkOrigin, admit, wire }: MountContext): void {
  api.get(
    '/sse',
    {
      summary: 'Server-Sent Events stream',
      description: `A text/event-stream. Each SSE event name and the component its \`data:\` is: ${Object.entries(SSE_COMPONENTS)
        .map(([e, c]) => `\`${e}\` → ${c}`)
        .join(
          ', ',
        )}. An event's \`id:\` is its cursor; the snapshot's is the head. \`Last-Event-ID\` wins over \`since\`. After \`feed-error\` the stream ends.`,
      tags: ['subscribe'],
      query: {
        topics: { schema: query.topics, required: true },
        since: { schema: query.since },
        rewind: { schema: query.rewind },
        occupancy: { schema: query.occupancy },
        presence: { schema: query.presence },
        token: { schema: query.token },
      },
      responses: { 200: { description: 'The stream', mediaType: 'text/event-stream' } },
      errors: [
        'invalid_pattern',
        'too_many_patterns',
        'invalid_cursor',
        'validation_failed',
        'invalid_token',
        'forbidden',
        'forbidden_origin',
        'too_many_connections',
        'draining',
      ],
    },
    async (c: Context<Vars>) => {
      feed.assertAccepting()
      checkOrigin(c)
      const patterns = queryPatterns(c, feed.limits.maxPatterns)
      const since = c.req.header('last-event-id') || c.req.query('since') || undefined
      if (since !== undefined) requireCursor(since) // a 400 now, before the stream starts
      const rewind = feed.parseRewind(c.req.query('rewind'))
      const watch = queryWatch(c)
      // As are a bad token and a forbidden subscription: HTTP errors, before the stream starts.
      const grant = await tokens.fromRequest(c)
      feed.access.assertMaySubscribe(grant, patterns)
      if (watch.presence) feed.occupancy.assertPresence(patterns, grant)
      const slot = admit(c)
      const under = wire(c)
      const sse = new SseStream(feed, grant, under, under?.sink?.() ?? new StreamSink())
      sse.hold(slot)
      sse.request = c.get('request')
      sse.start(patterns, since, rewind, watch)
      // No proxy buffering or transformation of the stream (nginx honours X-Accel-Buffering).
      const headers = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' }
      const body = sse.sink.body
      return body === null ? c.body(null, 200, headers) : c.body(body, 200, headers)
    },
  )
}
