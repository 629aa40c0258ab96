/**
 * @module
 * The Server-Sent Events transport: the protocol's SSE messages
 * (`src/protocol/sse.ts`) on one stream; the lifecycle is the shared `Connection`'s.
 */
import type { Context } from 'hono'
import { streamSSE, type SSEStreamingApi } from 'hono/streaming'
import type { Vars } from './auth.ts'
import { Connection } from '../core/connection.ts'
import { requireCursor } from '../core/cursor.ts'
import type { Grant } from '../core/access.ts'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import type { PreparedEvent } from '../core/prepared.ts'
import type { FeedEvent, ResetReason } from '../protocol/events.ts'
import { query } from '../protocol/http.ts'
import { sseFrames } from '../protocol/sse.ts'
import type { MountContext } from './api.ts'
import { SSE_COMPONENTS } from './openapi.ts'
import { queryPatterns } from './read.ts'

/** One Server-Sent Events stream: a subscription written as SSE messages. */
class SseStream extends Connection {
  readonly done: Promise<void>
  private resolveDone!: () => void
  private lastWrite = Date.now()
  private queued = 0

  constructor(
    feed: Feed,
    private readonly stream: SSEStreamingApi,
    grant: Grant | undefined,
  ) {
    super(feed, 'sse')
    this.authorize(grant)
    this.done = new Promise((resolve) => (this.resolveDone = resolve))
    this.begin()
    stream.onAbort(() => this.end('client'))
  }

  start(patterns: string[], since: string | undefined): void {
    this.write(sseFrames.retry(this.feed.limits.sseRetryMs))
    this.subscribe(patterns, since === undefined ? undefined : requireCursor(since))
  }

  protected deliver(p: PreparedEvent, conflated: number): void {
    this.write(conflated === 0 ? p.sseFrame : sseFrames.conflated(p.event.id, p.json, conflated))
  }
  snapshot(events: FeedEvent[], cursor: string, more: boolean): void {
    this.write(sseFrames.snapshot(events, cursor, more))
  }
  reset(reason: ResetReason): void {
    this.dropBacklog()
    this.write(sseFrames.reset(reason))
  }

  protected failed(error: FeedError): void {
    this.write(sseFrames.error(error))
    this.end('error')
  }
  protected override tokenExpired(): void {
    this.write(sseFrames.error(new FeedError('token_expired', 'the token expired: get a new token and reconnect')))
    this.end('token_expired')
  }
  protected override beat(now: number): void {
    if (now - this.lastWrite >= this.feed.limits.sseHeartbeatMs) this.write(sseFrames.heartbeat)
  }
  override queuedBytes(): number {
    return this.queued
  }
  protected finish(): void {
    this.resolveDone()
  }

  private write(text: string): void {
    if (!this.open) return
    this.lastWrite = Date.now()
    this.queued += text.length
    // A reader that falls this far behind reconnects and resumes rather than growing our memory.
    if (this.queued > this.feed.limits.maxBufferedBytes) return this.end('slow')
    this.stream.write(text).then(
      () => (this.queued -= text.length),
      () => this.end('client'),
    )
  }
}

/** GET /sse?topics=…&since=… — Last-Event-ID (sent by EventSource on reconnect) wins over ?since. */
export function mountSse({ api, feed, tokens, checkOrigin, admit }: MountContext): void {
  api.get(
    '/sse',
    {
      summary: 'Server-Sent Events stream',
      description: `A text/event-stream. Each SSE event name and the component its \`data:\` is: ${Object.entries(SSE_COMPONENTS)
        .map(([e, c]) => `\`${e}\` → ${c}`)
        .join(', ')}. An event's \`id:\` is its cursor; the snapshot's is the head. \`Last-Event-ID\` wins over \`since\`. After \`feed-error\` the stream ends.`,
      tags: ['subscribe'],
      query: { topics: { schema: query.topics, required: true }, since: { schema: query.since }, token: { schema: query.token } },
      responses: { 200: { description: 'The stream', mediaType: 'text/event-stream' } },
      errors: ['invalid_pattern', 'too_many_patterns', 'invalid_cursor', 'invalid_token', 'forbidden', 'forbidden_origin', 'too_many_connections', 'draining'],
    },
    async (c: Context<Vars>) => {
      feed.assertAccepting()
      checkOrigin(c)
      const patterns = queryPatterns(c, feed.limits.maxPatterns)
      const since = c.req.header('last-event-id') || c.req.query('since') || undefined
      if (since !== undefined) requireCursor(since) // a 400 now, before the stream starts
      // As are a bad token and a forbidden subscription: HTTP errors, before the stream starts.
      const grant = await tokens.fromRequest(c)
      feed.access.assertMaySubscribe(grant, patterns)
      const slot = admit(c)
      const res = streamSSE(c, async (stream) => {
        const sse = new SseStream(feed, stream, grant)
        sse.hold(slot)
        sse.requestId = c.get('requestId')
        sse.start(patterns, since)
        await sse.done
      })
      // No proxy buffering or transformation of the stream (nginx honours X-Accel-Buffering). streamSSE
      // fixes Cache-Control itself, so the response is rebuilt with ours; nothing before this route reads
      // c.res (see headers.ts), so Hono has no earlier response whose headers it would merge over these.
      const headers = new Headers(res.headers)
      headers.set('Cache-Control', 'no-cache, no-transform')
      headers.set('X-Accel-Buffering', 'no')
      return new Response(res.body, { status: res.status, headers })
    },
  )
}
