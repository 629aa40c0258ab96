import type { WSContext, WSEvents } from 'hono/ws'
import * as v from 'valibot'
import { CLOSE, FeedError } from '../core/errors.ts'
import { requireCursor } from '../core/cursor.ts'
import type { Client, Feed } from '../core/feed.ts'
import type { PreparedEvent } from '../core/prepared.ts'
import type { Sink, Subscription } from '../core/subscription.ts'
import { parsePatterns } from '../core/topic.ts'
import type { FeedEvent } from '../core/types.ts'
import { clientFrame } from './schemas.ts'

/** What differs between runtimes' sockets, behind `WSContext.raw`. */
export interface SocketOps {
  /** Protocol-level ping; absent where the runtime pings by itself (Deno's idleTimeout). */
  ping?(raw: unknown, onPong: () => void): void
  /** Drops the connection without a closing handshake (it stopped answering). */
  terminate(raw: unknown): void
  bufferedAmount(raw: unknown): number
}

const encoder = new TextEncoder()
function overLimit(data: string | ArrayBuffer | Blob, max: number): boolean {
  if (typeof data !== 'string') return (data instanceof Blob ? data.size : data.byteLength) > max
  // UTF-8 takes 1-3 bytes per UTF-16 unit: only encode when the length alone does not decide.
  return data.length > max || (data.length * 3 > max && encoder.encode(data).length > max)
}

/** One WebSocket connection: its protocol, its subscription, its heartbeat and its age limit. */
export class WsSession implements Client, Sink {
  private readonly sub: Subscription
  private ws: WSContext | undefined
  private badFrames = 0
  private alive = true
  private lastPing = Date.now()
  private readonly deadline: number

  constructor(
    private readonly feed: Feed,
    private readonly ops: SocketOps,
    private readonly url: URL,
  ) {
    this.sub = feed.hub.subscribe(this)
    this.deadline = feed.connectionDeadline()
  }

  events(): WSEvents {
    return {
      onOpen: (_e, ws) => this.open(ws),
      onMessage: (e, ws) => this.message(e.data, ws),
      onClose: () => this.closed(),
      onError: () => this.closed(),
    }
  }

  // --- Sink: what the subscription yields, as frames ---
  event(p: PreparedEvent): void {
    this.send(p.wsFrame)
  }
  snapshot(events: FeedEvent[], cursor: string): void {
    this.send(JSON.stringify({ type: 'snapshot', events, cursor }))
  }
  reset(reason: string): void {
    this.send(JSON.stringify({ type: 'reset', reason }))
  }

  // --- Client: the feed's sweep and drain ---
  tick(now: number): void {
    if (!this.ws) return
    if (now >= this.deadline) return this.close(CLOSE.maxAge, 'max connection age: reconnect and resume')
    const { ping } = this.ops
    if (ping && now - this.lastPing >= this.feed.limits.heartbeatMs) {
      if (!this.alive) {
        this.ops.terminate(this.ws.raw)
        return this.closed()
      }
      this.alive = false
      this.lastPing = now
      ping(this.ws.raw, () => (this.alive = true))
    }
  }
  drain(): void {
    this.close(CLOSE.goingAway, 'server shutting down: reconnect and resume')
  }

  private open(ws: WSContext): void {
    this.ws = ws
    this.feed.clients.add(this)
    this.send(JSON.stringify({ type: 'welcome', cursor: this.feed.hub.position, heartbeatMs: this.feed.limits.heartbeatMs }))
    const topics = this.url.searchParams.get('topics')
    if (topics !== null) this.subscribe(topics, this.url.searchParams.get('since') || undefined)
  }

  private message(data: unknown, ws: WSContext): void {
    this.alive = true
    if (typeof data !== 'string' && !(data instanceof ArrayBuffer) && !(data instanceof Blob)) return
    // ws enforces maxPayload on Node; Deno has no such option, so it is checked here for both.
    if (overLimit(data, this.feed.limits.maxFrameBytes)) return ws.close(CLOSE.messageTooBig, 'frame too big')
    if (typeof data !== 'string') return this.fail(new FeedError('bad_request', 'frames are JSON text, not binary'))
    let json: unknown
    try {
      json = JSON.parse(data)
    } catch {
      return this.fail(new FeedError('invalid_json', 'the frame is not valid JSON'))
    }
    const parsed = v.safeParse(clientFrame, json)
    if (!parsed.success) {
      const type = (json as { type?: unknown } | null)?.type
      const known = type === 'subscribe' || type === 'unsubscribe' || type === 'ping'
      return this.fail(
        known
          ? new FeedError('validation_failed', `bad "${type}" frame: ${v.summarize(parsed.issues).split('\n')[0]?.replace(/^× /, '')}`)
          : new FeedError('unknown_type', 'frame "type" must be "subscribe", "unsubscribe" or "ping"'),
      )
    }
    const frame = parsed.output
    if (frame.type === 'ping') return this.send('{"type":"pong"}')
    if (frame.type === 'unsubscribe') {
      try {
        const patterns = parsePatterns(frame.topics, this.feed.limits.maxPatterns)
        this.sub.remove(patterns)
        return this.send(JSON.stringify({ type: 'unsubscribed', topics: patterns }))
      } catch (err) {
        return this.fail(err)
      }
    }
    this.subscribe(frame.topics, frame.since)
  }

  private subscribe(topics: string | string[], since: string | undefined): void {
    try {
      const max = this.feed.limits.maxPatterns
      const patterns = parsePatterns(topics, max)
      const total = new Set([...this.sub.patterns, ...patterns]).size
      if (total > max) throw new FeedError('too_many_patterns', `this connection would hold ${total} patterns, at most ${max} allowed`)
      const cursor = since === undefined ? undefined : requireCursor(since)
      this.send(JSON.stringify({ type: 'subscribed', topics: patterns, cursor: since ?? this.feed.hub.position }))
      this.sub.add(patterns, cursor).catch((err) => this.fail(err))
    } catch (err) {
      this.fail(err)
    }
  }

  private fail(err: unknown): void {
    const e = err instanceof FeedError ? err : new FeedError('engine_unavailable', 'the event store did not answer; retry')
    if (!(err instanceof FeedError)) this.feed.log.error({ err }, 'subscription failed')
    this.send(JSON.stringify({ type: 'error', code: e.code, message: e.message }))
    // Only the client's own mistakes count towards the abuse limit.
    if (err instanceof FeedError && ++this.badFrames > this.feed.limits.maxBadFrames) {
      this.close(CLOSE.policyViolation, 'too many bad frames')
    }
  }

  private send(frame: string): void {
    const ws = this.ws
    if (!ws || ws.readyState !== 1) return
    if (this.ops.bufferedAmount(ws.raw) > this.feed.limits.maxBufferedBytes) {
      return this.close(CLOSE.slowConsumer, 'too slow: reconnect and resume')
    }
    ws.send(frame)
  }

  private close(code: number, reason: string): void {
    const ws = this.ws
    this.closed()
    ws?.close(code, reason)
  }

  private closed(): void {
    if (!this.ws) return
    this.ws = undefined
    this.sub.close()
    this.feed.clients.delete(this)
  }
}
