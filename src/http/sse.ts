import type { Hono } from 'hono'
import { streamSSE, type SSEStreamingApi } from 'hono/streaming'
import { requireCursor } from '../core/cursor.ts'
import { FeedError } from '../core/errors.ts'
import type { Client, Feed } from '../core/feed.ts'
import type { PreparedEvent } from '../core/prepared.ts'
import type { Sink, Subscription } from '../core/subscription.ts'
import type { FeedEvent } from '../core/types.ts'
import { queryPatterns } from './read.ts'

/** One Server-Sent Events stream: a subscription written as SSE messages. */
class SseStream implements Client, Sink {
  readonly done: Promise<void>
  private finish!: () => void
  private readonly sub: Subscription
  private readonly deadline: number
  private lastWrite = Date.now()
  private queued = 0
  private closed = false

  constructor(
    private readonly feed: Feed,
    private readonly stream: SSEStreamingApi,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve))
    this.sub = feed.hub.subscribe(this)
    this.deadline = feed.connectionDeadline()
    feed.clients.add(this)
    stream.onAbort(() => this.close())
  }

  start(patterns: string[], since: string | undefined): void {
    this.write(`retry: ${this.feed.limits.sseRetryMs}\n\n`)
    this.sub.add(patterns, since === undefined ? undefined : requireCursor(since)).catch((err: unknown) => {
      const e = err instanceof FeedError ? err : new FeedError('engine_unavailable', 'the event store did not answer; retry')
      this.write(`event: feed-error\ndata: ${JSON.stringify({ code: e.code, message: e.message })}\n\n`)
      this.close()
    })
  }

  event(p: PreparedEvent): void {
    this.write(p.sseFrame)
  }
  snapshot(events: FeedEvent[], cursor: string): void {
    // Its id is the head, so an EventSource that reconnects resumes after the snapshot.
    this.write(`event: snapshot\nid: ${cursor}\ndata: ${JSON.stringify({ events, cursor })}\n\n`)
  }
  reset(reason: string): void {
    this.write(`event: reset\ndata: ${JSON.stringify({ reason })}\n\n`)
  }

  tick(now: number): void {
    if (now >= this.deadline) return this.close()
    if (now - this.lastWrite >= this.feed.limits.sseHeartbeatMs) this.write(': heartbeat\n\n')
  }
  drain(): void {
    this.close()
  }

  private write(text: string): void {
    if (this.closed) return
    this.lastWrite = Date.now()
    this.queued += text.length
    // A reader that falls this far behind reconnects and resumes rather than growing our memory.
    if (this.queued > this.feed.limits.maxBufferedBytes) return this.close()
    this.stream.write(text).then(
      () => (this.queued -= text.length),
      () => this.close(),
    )
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.sub.close()
    this.feed.clients.delete(this)
    this.finish()
  }
}

/** GET /sse?topics=…&since=… — Last-Event-ID (sent by EventSource on reconnect) wins over ?since. */
export function mountSse(app: Hono, feed: Feed): void {
  app.get('/sse', (c) => {
    feed.assertAccepting()
    const patterns = queryPatterns(c, feed.limits.maxPatterns)
    const since = c.req.header('last-event-id') || c.req.query('since') || undefined
    if (since !== undefined) requireCursor(since) // a 400 now, before the stream starts
    const res = streamSSE(c, async (stream) => {
      const sse = new SseStream(feed, stream)
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
  })
}
