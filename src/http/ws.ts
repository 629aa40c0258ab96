/**
 * @module
 * The WebSocket transport: frames of the protocol (`src/protocol/ws.ts`)
 * over one socket; the lifecycle is the shared `Connection`'s.
 */
import type { WSContext, WSEvents } from 'hono/ws'
import * as v from 'valibot'
import { FULL_GRANT, type Grant } from '../core/access.ts'
import { Connection, type Watch } from '../core/connection.ts'
import { requireCursor } from '../core/cursor.ts'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import { parseClientJson } from '../core/json.ts'
import { Bucket } from '../core/limits.ts'
import type { PreparedEvent } from '../core/prepared.ts'
import { parsePatterns } from '../core/topic.ts'
import { CLOSE_REASON, END_CLOSE_CODE, type EndReason } from '../protocol/errors.ts'
import type { FeedEvent, ResetReason } from '../protocol/events.ts'
import { describeIssues } from '../protocol/issues.ts'
import type { Presence } from '../protocol/presence.ts'
import { CLIENT_FRAME_TYPES, clientFrame, type PublishFrame, refSchema, wsFrames } from '../protocol/ws.ts'
import { sha256 } from './publish.ts'
import type { Tokens } from './tokens.ts'

/** What differs between runtimes' sockets, behind `WSContext.raw`. */
export interface SocketOps {
  /** Protocol-level ping; absent where the runtime pings by itself (Deno's idleTimeout). */
  ping?(raw: unknown, onPong: () => void): void
  /** Drops the connection without a closing handshake (it stopped answering). */
  terminate(raw: unknown): void
  bufferedAmount(raw: unknown): number
  /**
   * A writer of events' frames for one socket, made once when it opens: each frame is built once for all
   * sockets. It answers false, writing nothing, when more than `maxBuffered` bytes already wait for the
   * client. Absent (or undefined for a socket) where the runtime cannot: then `WSContext.send`. Where it
   * exists, every frame of the session goes through it, and the socket's writes are held to the end of each
   * turn of the event loop, from the turn it opens in: the open's welcome, subscribed and snapshot frames
   * leave in one write, as do the events of one turn.
   */
  eventWriter?(raw: unknown): EventWriter | undefined
}

/** One socket's writer of frames, beside the runtime's own `send`. */
export interface EventWriter {
  /** Writes one event's frame; false when the client is too far behind (nothing is written). */
  write(p: PreparedEvent, maxBuffered: number): boolean
  /** Writes one frame made for this socket alone (welcome, snapshot, error…); false as for `write`. */
  text(frame: string, maxBuffered: number): boolean
}

const encoder = new TextEncoder()
function overLimit(data: string | ArrayBuffer | Blob, max: number): boolean {
  if (typeof data !== 'string') return (data instanceof Blob ? data.size : data.byteLength) > max
  // UTF-8 takes 1-3 bytes per UTF-16 unit: only encode when the length alone does not decide.
  return data.length > max || (data.length * 3 > max && encoder.encode(data).length > max)
}

const isKnownType = (type: unknown): boolean => CLIENT_FRAME_TYPES.some((t) => t === type)
const HANDSHAKE_MS = 10_000

/**
 * One WebSocket connection: its frames, its heartbeat and its bad-frame budget. It is its own `WSEvents`
 * (the adapters call them as methods): no events object and closures per socket for its whole life.
 */
export class WsSession extends Connection implements WSEvents {
  private ws: WSContext | undefined
  /** The runtime's frame writer for this socket, while it is open. */
  private writer: EventWriter | undefined
  /** CLIENT_FRAME_RATE: frames a second, burst twice that; made at the first frame (most sockets send none). */
  private frames: Bucket | undefined
  private badFrames = 0
  private alive = true
  private lastPing = Date.now()

  constructor(
    feed: Feed,
    private readonly ops: SocketOps,
    private readonly tokens: Tokens,
    /** `?topics=` and `?since=` of the upgrade request: subscribe on open, for websocat and wscat users. */
    private initial: { topics: string | undefined; since: string | undefined; rewind?: number | undefined; watch?: Watch } | undefined,
    /** What the upgrade request's token grants (checked before the upgrade). */
    grant: Grant | undefined,
    /** The client's address: the publish rate's key when its token has no `sub`. */
    private readonly address: string,
  ) {
    super(feed, 'ws')
    this.authorize(grant)
    // In the feed's sweep from now: a handshake that never completes gives its slot back (see `beat`).
    this.begin()
  }

  onOpen(_e: Event, ws: WSContext): void {
    this.opened(ws)
  }
  onMessage(e: MessageEvent): void {
    this.message(e.data)
  }
  onClose(): void {
    this.end('client')
  }
  onError(): void {
    this.end('client')
  }

  // --- what the subscription yields, as frames ---
  protected deliver(p: PreparedEvent, conflated: number): void {
    if (conflated > 0) return this.send(wsFrames.conflated(p.json, conflated))
    // The hot path: per delivery, one call to a writer made when the socket opened.
    const writer = this.writer
    if (writer === undefined) return this.send(p.wsFrame)
    if (!writer.write(p, this.feed.limits.maxBufferedBytes)) this.end('slow')
  }
  snapshot(events: FeedEvent[], cursor: string, more: boolean): void {
    this.send(wsFrames.snapshot(events, cursor, more))
  }
  reset(reason: ResetReason): void {
    this.dropBacklog()
    this.send(wsFrames.reset(reason))
  }
  override occupancy(topic: string, subscribers: number): void {
    this.send(wsFrames.occupancy(topic, subscribers))
  }
  override presence(message: Presence): void {
    this.send(wsFrames.presence(message))
  }

  protected failed(error: FeedError, ref?: string): void {
    this.send(wsFrames.error(error, ref))
    // Only the client's own mistakes count towards the abuse limit.
    if (error.status < 500 && ++this.badFrames > this.feed.limits.maxBadFrames) this.end('policy')
  }

  protected override beat(now: number): void {
    // Not open yet: onClose never comes for a handshake that does not complete, so the sweep ends it. Until the
    // open, `lastPing` is when the session was made (one sweep instead of a timer per upgrade).
    if (this.ws === undefined) return void (now - this.lastPing >= HANDSHAKE_MS && this.end('client'))
    const { ping } = this.ops
    if (!ping || now - this.lastPing < this.feed.limits.heartbeatMs) return
    if (!this.alive) {
      this.ops.terminate(this.ws.raw)
      return this.end('client')
    }
    this.alive = false
    this.lastPing = now
    ping(this.ws.raw, () => (this.alive = true))
  }

  override queuedBytes(): number {
    return this.ws ? this.ops.bufferedAmount(this.ws.raw) : 0
  }

  protected finish(reason: EndReason): void {
    const ws = this.ws
    this.ws = undefined
    this.writer = undefined
    const code = END_CLOSE_CODE[reason]
    if (ws && code !== undefined) ws.close(code, CLOSE_REASON[code])
  }

  private opened(ws: WSContext): void {
    if (!this.open) return ws.close(END_CLOSE_CODE.draining, 'closed before it opened')
    ws.url = null // the upgrade's URL, kept by the WSContext for the socket's life and never read
    this.ws = ws
    this.lastPing = Date.now()
    this.writer = this.ops.eventWriter?.(ws.raw)
    this.send(wsFrames.welcome(this.feed.hub.position, this.feed.limits.heartbeatMs))
    const initial = this.initial
    this.initial = undefined // an idle socket keeps nothing of its request
    if (initial?.topics !== undefined) this.subscribeTo(initial.topics, initial.since, initial.rewind, initial.watch)
  }

  private message(data: unknown): void {
    this.alive = true
    // Over the rate, a frame is refused unread; each refusal counts towards MAX_BAD_FRAMES (then 1008).
    const now = Date.now()
    this.frames ??= new Bucket(this.feed.limits.clientFrameRate, this.feed.limits.clientFrameRate * 2, now)
    if (this.frames.take(now) > 0) return this.fail(new FeedError('rate_limited', 'too many frames (CLIENT_FRAME_RATE): slow down'))
    if (typeof data !== 'string' && !(data instanceof ArrayBuffer) && !(data instanceof Blob)) return
    // ws enforces maxPayload on Node; Deno has no such option, so it is checked here for both.
    if (overLimit(data, this.feed.limits.maxFrameBytes)) return this.end('too_big')
    if (typeof data !== 'string') return this.fail(new FeedError('bad_request', 'frames are JSON text, not binary'))
    let json: unknown
    try {
      json = parseClientJson(data, this.feed.limits.maxJsonDepth)
    } catch (err) {
      return this.fail(err)
    }
    const parsed = v.safeParse(clientFrame, json)
    if (!parsed.success) {
      const type = typeof json === 'object' && json !== null && 'type' in json ? json.type : undefined
      // A bad publish frame with a good `ref` is answered with it: the client knows which publish failed.
      const ref = type === 'publish' && typeof json === 'object' && json !== null && 'ref' in json ? v.safeParse(refSchema, json.ref) : undefined
      return this.fail(
        isKnownType(type)
          ? new FeedError('validation_failed', `bad "${String(type)}" frame: ${describeIssues(parsed.issues)}`)
          : new FeedError('unknown_type', `frame "type" must be one of ${CLIENT_FRAME_TYPES.map((t) => `"${t}"`).join(', ')}`),
        ref?.success ? ref.output : undefined,
      )
    }
    const frame = parsed.output
    if (frame.type === 'ping') return this.send(wsFrames.pong)
    if (frame.type === 'auth') return void this.refresh(frame.token)
    if (frame.type === 'publish') return void this.publish(frame)
    if (frame.type === 'unsubscribe') {
      try {
        const patterns = parsePatterns(frame.topics, this.feed.limits.maxPatterns)
        this.sub.remove(patterns)
        this.unwatch(patterns)
        return this.send(wsFrames.unsubscribed(patterns))
      } catch (err) {
        return this.fail(err)
      }
    }
    this.subscribeTo(frame.topics, frame.since, frame.rewind, { occupancy: frame.occupancy === true, presence: frame.presence === true })
  }

  /**
   * A `publish` frame: the checks of `POST /api/events` (grant, PUBLISH_RATE, size, idempotency), answered
   * `published` once stored (on Redis: acknowledged by it), or `error`, each with the frame's `ref`.
   */
  private async publish(f: PublishFrame): Promise<void> {
    try {
      const grant = this.sub.grant
      this.feed.publishing.assertMayPublish(grant, f.topic)
      // The publish token is the feed's own source: not throttled, as over HTTP.
      if (grant !== FULL_GRANT) this.feed.publishing.rate.check(grant?.sub !== undefined ? `sub:${grant.sub}` : `ip:${this.address}`)
      const input = { topic: f.topic, data: f.data }
      // One key space with POST /api/events, whose body for one event is this JSON: a retry may go either way.
      const idempotency = f.key === undefined ? undefined : { key: `/api/events\n${f.key}`, fingerprint: await sha256(JSON.stringify(input)) }
      const r = await this.feed.publishing.publish([input], idempotency)
      this.send(wsFrames.published(f.ref, r.events[0]!, r.replayed))
    } catch (err) {
      this.fail(err, f.ref)
    }
  }

  /** An `auth` frame: a new token replaces the old one on the live socket (a refresh before expiry). */
  private async refresh(token: string): Promise<void> {
    try {
      const grant = await this.tokens.grant(token)
      if (!this.open) return
      this.authorize(grant)
      // The publish token never expires: 0 says so.
      this.send(wsFrames.authenticated(Number.isFinite(grant.expiresAt) ? Math.floor(grant.expiresAt / 1000) : 0))
    } catch (err) {
      this.fail(err)
    }
  }

  private subscribeTo(topics: string | string[], since: string | undefined, rewind: number | undefined, watch: Watch | undefined): void {
    try {
      const max = this.feed.limits.maxPatterns
      const patterns = parsePatterns(topics, max)
      const total = new Set([...this.sub.patterns, ...patterns]).size
      if (total > max) throw new FeedError('too_many_patterns', `this connection would hold ${total} patterns, at most ${max} allowed`)
      this.feed.access.assertMaySubscribe(this.sub.grant, patterns)
      const cursor = since === undefined ? undefined : requireCursor(since)
      const n = this.feed.parseRewind(rewind)
      if (watch?.presence) this.feed.occupancy.assertPresence(patterns, this.sub.grant)
      this.send(wsFrames.subscribed(patterns, since ?? this.feed.hub.position))
      this.subscribe(patterns, cursor, n, watch)
    } catch (err) {
      this.fail(err)
    }
  }

  private send(frame: string): void {
    const writer = this.writer
    if (writer === undefined) return void this.writable()?.send(frame)
    if (!writer.text(frame, this.feed.limits.maxBufferedBytes)) this.end('slow')
  }

  /** The socket, if it is open and not too far behind (past MAX_BUFFERED_BYTES it is closed, 4008). */
  private writable(): WSContext | undefined {
    const ws = this.ws
    if (ws?.readyState !== 1) return undefined
    if (this.ops.bufferedAmount(ws.raw) > this.feed.limits.maxBufferedBytes) {
      this.end('slow')
      return undefined
    }
    return ws
  }
}
