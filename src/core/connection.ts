/**
 * @module
 * The one lifecycle every transport shares: a subscription, registration with
 * the feed's sweep and drain, a deadline, the mapping of every failure to a
 * documented answer (logged once, in `Feed.failure`), and an end that
 * releases everything exactly once. WebSocket, SSE and long polling only
 * say how to write what the subscription yields and how to end.
 */
import type { Cursor } from '../protocol/cursor.ts'
import type { EndReason } from '../protocol/errors.ts'
import type { FeedEvent, ResetReason } from '../protocol/events.ts'
import type { Presence } from '../protocol/presence.ts'
import type { Grant } from './access.ts'
import { Backlog } from './backlog.ts'
import type { FeedError } from './errors.ts'
import type { Feed } from './feed.ts'
import type { Slot } from './limits.ts'
import type { Watcher } from './occupancy.ts'
import type { PreparedEvent } from './prepared.ts'
import type { TransportName } from './stats.ts'
import type { Subscription } from './subscription.ts'
import type { Sink } from './subscription-ports.ts'

export type { TransportName }

/** What every log line about a request carries: its id (X-Request-Id) and, behind Google's front end, its trace. */
export type RequestContext = { requestId: string; trace?: string }

/** How often a backlog checks whether its socket has room again (only while it holds anything). */
const FLUSH_MS = 20

/** What a subscriber asked to be told of its topics besides their events. */
export interface Watch {
  occupancy: boolean
  presence: boolean
}

export abstract class Connection implements Sink, Watcher {
  protected readonly sub: Subscription
  /** When the sweep ends this connection (ms since the epoch). */
  protected deadline = Infinity
  /** When the connection's token expires (ms since the epoch); a refresh moves it. */
  private tokenExpiresAt = Infinity
  private ended = false
  /** The request that opened it: every log line about the connection carries its id and trace. */
  request: RequestContext | undefined
  /** Gives back the client address's connection slot. */
  private slot: Slot | undefined
  /** Events held while the client is behind on a conflated topic; drained as its socket empties. */
  private backlog: Backlog | undefined
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  /** Topics whose occupancy or presence this connection is told of; none for most. */
  private watching: string[] | undefined

  constructor(
    protected readonly feed: Feed,
    readonly transport: TransportName,
  ) {
    this.sub = feed.hub.subscribe(this)
  }

  // --- what a transport writes ---
  /** Writes one event; `conflated` is how many older events of its topic it replaced (0: none). */
  protected abstract deliver(p: PreparedEvent, conflated: number): void
  abstract snapshot(events: FeedEvent[], cursor: string, more: boolean): void
  abstract reset(reason: ResetReason): void
  caughtUp?(cursor: string): void
  /** Tells the client why its request failed (the error is already mapped and logged); `ref` names the WebSocket publish it answers. */
  protected abstract failed(error: FeedError, ref?: string): void
  /**
   * Ends the transport itself: close the socket, end the stream, answer the poll. Called once. A transport
   * whose connection outlives this (an SSE stream's or a poll's socket, still sending what was written)
   * returns when it is gone: until then the connection keeps its address slot and counts as open.
   */
  protected abstract finish(reason: EndReason): void | Promise<void>
  /** Per sweep, while open: heartbeats. */
  protected beat?(now: number): void
  /** Subscribers of a watched topic on every instance (only transports that offer `occupancy` write it). */
  occupancy(_topic: string, _subscribers: number): void {}
  /** Members of a watched presence topic, or who joined and left. */
  presence(_message: Presence): void {}

  /**
   * Each event, in cursor order: written at once, unless the client is behind
   * (CONFLATE_AFTER queued) and the event is on a conflated topic. Then it and
   * everything after it wait in the backlog, where a newer event of a conflated
   * topic replaces the pending one, until the socket has room again.
   */
  event(p: PreparedEvent): void {
    let backlog = this.backlog
    if (backlog === undefined) {
      if (!p.conflatable || this.queuedBytes() < this.feed.limits.conflateAfterBytes) return this.deliver(p, 0)
      backlog = this.backlog = new Backlog()
    }
    const before = backlog.size
    backlog.push(p, p.conflatable)
    if (backlog.size === before) this.feed.stats.conflated++
    // The backlog is bounded with what the socket holds: a client too slow even for that is closed (4008).
    if (backlog.bytes + this.queuedBytes() > this.feed.limits.maxBufferedBytes) return this.end('slow')
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  /** Sends what the backlog holds while the socket has room; checks again shortly while anything is left. */
  private flush(): void {
    this.flushTimer = undefined
    const backlog = this.backlog
    if (backlog === undefined || !this.open) return
    const room = this.feed.limits.conflateAfterBytes
    while (this.queuedBytes() < room) {
      const held = backlog.shift()
      if (held === undefined) {
        this.backlog = undefined
        return
      }
      this.deliver(held.p, held.replaced)
    }
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS)
  }

  /** A reset supersedes what was held: the snapshot that follows is newer than all of it. */
  protected dropBacklog(): void {
    this.backlog = undefined
  }

  get open(): boolean {
    return !this.ended
  }

  /** Joins the feed's sweep and drain, with a deadline (default: MAX_CONNECTION_AGE, jittered). */
  protected begin(deadline = this.feed.connectionDeadline()): void {
    if (this.ended) return
    this.deadline = deadline
    this.feed.clients.add(this)
  }

  /** Holds a connection slot of the client's address (MAX_CONNECTIONS_PER_IP) until the end. */
  hold(slot: Slot): void {
    if (this.ended) return slot.release()
    this.slot = slot
  }

  /** Sets (or, on a refresh, replaces) what the connection's token grants, and when it expires. */
  protected authorize(grant: Grant | undefined): void {
    // Another token may be another member (presence): the instance's list of subscriptions changed.
    if (this.sub.patterns.length > 0 && this.sub.grant?.sub !== grant?.sub) this.feed.hub.changed()
    this.sub.regrant(grant)
    this.tokenExpiresAt = grant?.expiresAt ?? Infinity
  }

  /**
   * Adds patterns (with `since`, replays first); a failure reaches `failed`,
   * mapped and logged once. Patterns that hold only private topics the token
   * does not grant are refused before anything is sent.
   */
  protected subscribe(patterns: string[], since?: Cursor, rewind?: number, watch?: Watch): void {
    try {
      this.feed.access.assertMaySubscribe(this.sub.grant, patterns)
      if (watch?.presence) this.feed.occupancy.assertPresence(patterns, this.sub.grant)
    } catch (err) {
      return this.fail(err)
    }
    this.sub.add(patterns, since, rewind).then(
      // After the snapshot: the counts and members follow it, and include this subscription.
      () => {
        if (watch === undefined || (!watch.occupancy && !watch.presence) || !this.open) return
        this.feed.occupancy.watch(this, patterns, watch)
        this.watching = [...new Set([...(this.watching ?? []), ...patterns])]
      },
      (err: unknown) => this.fail(err),
    )
  }

  /** Patterns given up: their occupancy and presence are no longer told. */
  protected unwatch(patterns: readonly string[]): void {
    if (this.watching === undefined) return
    this.feed.occupancy.unwatch(this, patterns)
    const gone = new Set(patterns)
    this.watching = this.watching.filter((t) => !gone.has(t))
  }

  /** The token ran out without a refresh: WebSocket closes with 4401; SSE says `token_expired` first. */
  protected tokenExpired(): void {
    this.end('token_expired')
  }

  /** Deliveries so far, for the metrics' scrape (ended connections are in the feed's totals). */
  get delivered(): number {
    return this.sub.delivered
  }

  /** Patterns held, for the subscriptions gauge. */
  get patternCount(): number {
    return this.sub.patterns.length
  }

  /** Writing to this client threw: the others go on; this one ends, logged once. */
  crashed(err: unknown): void {
    this.feed.log.error({ err, transport: this.transport, ...this.request }, 'a write to a client failed; closing it')
    this.end('error')
  }

  /** Maps anything thrown while serving this connection to its documented answer. */
  protected fail(err: unknown, ref?: string): void {
    if (this.ended) return
    this.failed(this.feed.failure(err, { transport: this.transport, ...this.request }), ref)
  }

  /** Called by the feed's one sweep timer: deadlines, token expiry, heartbeats. */
  tick(now: number): void {
    if (this.ended) return
    if (now >= this.deadline) return this.end('max_age')
    if (now >= this.tokenExpiresAt) return this.tokenExpired()
    this.beat?.(now)
  }

  /** Shutdown: close now, telling the client to reconnect elsewhere. */
  drain(): void {
    this.end('draining')
  }

  /** Bytes written but not yet taken by the client; transports that queue say how many. */
  queuedBytes(): number {
    return 0
  }

  /** Over the OUTBOUND_BYTES budget: close it as too slow (it resumes from its cursor). */
  shed(): void {
    this.end('slow')
  }

  /**
   * A replay or snapshot page for this client: READ_BYTES, and at most a quarter of MAX_BUFFERED_BYTES, so a
   * page is written whole while the one before drains, and never closes a client that reads as too slow.
   */
  get pageBytes(): number {
    const l = this.feed.limits
    return Math.min(l.readBytes, Math.floor(l.maxBufferedBytes / 4))
  }

  /** Resolves once no more than a page waits for the client (or it ended); looked at every FLUSH_MS. */
  room(): Promise<void> {
    return new Promise((resolve) => {
      const look = () => (!this.open || this.queuedBytes() <= this.pageBytes ? resolve() : setTimeout(look, FLUSH_MS))
      setTimeout(look, 0)
    })
  }

  /** Live events outran a seam (see Sink.overrun): closed as slow, the client resumes from its cursor. */
  overrun(): void {
    this.end('slow')
  }

  /** Releases the subscription and the feed's hold, then ends the transport; once, whatever calls it. */
  end(reason: EndReason): void {
    if (this.ended) return
    this.ended = true
    clearTimeout(this.flushTimer)
    this.backlog = undefined
    if (this.watching !== undefined) this.feed.occupancy.unwatch(this, this.watching)
    this.watching = undefined
    this.sub.close()
    this.feed.stats.deliveries[this.transport] += this.sub.delivered
    this.feed.stats.disconnect(this.transport, reason)
    const gone = this.finish(reason)
    if (gone === undefined) this.release()
    else void gone.then(() => this.release())
  }

  private release(): void {
    this.feed.clients.delete(this)
    this.slot?.release()
  }
}
