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
import type { Grant } from './access.ts'
import type { FeedError } from './errors.ts'
import type { Feed } from './feed.ts'
import type { PreparedEvent } from './prepared.ts'
import type { TransportName } from './stats.ts'
import type { Sink, Subscription } from './subscription.ts'

export type { TransportName }

export abstract class Connection implements Sink {
  protected readonly sub: Subscription
  /** When the sweep ends this connection (ms since the epoch). */
  protected deadline = Infinity
  /** When the connection's token expires (ms since the epoch); a refresh moves it. */
  private tokenExpiresAt = Infinity
  private ended = false
  /** The id of the request that opened it: every log line about the connection carries it. */
  requestId: string | undefined
  /** Gives back the client address's connection slot. */
  private release: (() => void) | undefined

  constructor(
    protected readonly feed: Feed,
    readonly transport: TransportName,
  ) {
    this.sub = feed.hub.subscribe(this)
  }

  // --- what a transport writes ---
  abstract event(p: PreparedEvent): void
  abstract snapshot(events: FeedEvent[], cursor: string, more: boolean): void
  abstract reset(reason: ResetReason): void
  caughtUp?(cursor: string): void
  /** Tells the client why its request failed (the error is already mapped and logged). */
  protected abstract failed(error: FeedError): void
  /** Ends the transport itself: close the socket, end the stream, answer the poll. Called once. */
  protected abstract finish(reason: EndReason): void
  /** Per sweep, while open: heartbeats. */
  protected beat?(now: number): void

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
  hold(release: () => void): void {
    if (this.ended) return release()
    this.release = release
  }

  /** Sets (or, on a refresh, replaces) what the connection's token grants, and when it expires. */
  protected authorize(grant: Grant | undefined): void {
    this.sub.grant = grant
    this.tokenExpiresAt = grant?.expiresAt ?? Infinity
  }

  /**
   * Adds patterns (with `since`, replays first); a failure reaches `failed`,
   * mapped and logged once. Patterns that hold only private topics the token
   * does not grant are refused before anything is sent.
   */
  protected subscribe(patterns: string[], since?: Cursor): void {
    try {
      this.feed.access.assertMaySubscribe(this.sub.grant, patterns)
    } catch (err) {
      return this.fail(err)
    }
    this.sub.add(patterns, since).catch((err: unknown) => this.fail(err))
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
    return this.sub.patterns.size
  }

  /** Writing to this client threw: the others go on; this one ends, logged once. */
  crashed(err: unknown): void {
    this.feed.log.error({ err, transport: this.transport, requestId: this.requestId }, 'a write to a client failed; closing it')
    this.end('error')
  }

  /** Maps anything thrown while serving this connection to its documented answer. */
  protected fail(err: unknown): void {
    if (this.ended) return
    this.failed(this.feed.failure(err, { transport: this.transport, requestId: this.requestId }))
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

  /** Releases the subscription and the feed's hold, then ends the transport; once, whatever calls it. */
  end(reason: EndReason): void {
    if (this.ended) return
    this.ended = true
    this.sub.close()
    this.feed.clients.delete(this)
    this.release?.()
    this.feed.stats.deliveries[this.transport] += this.sub.delivered
    this.feed.stats.disconnect(this.transport, reason)
    this.finish(reason)
  }
}
