import type { Hono } from 'hono'
import type { Limits } from '../config.ts'
import { epochOf, requireCursor, type Cursor } from '../core/cursor.ts'
import { FeedError } from '../core/errors.ts'
import type { Client, Feed, ReadAnswer } from '../core/feed.ts'
import type { PreparedEvent } from '../core/prepared.ts'
import type { Sink, Subscription } from '../core/subscription.ts'
import type { FeedEvent } from '../core/types.ts'
import { queryLimit, queryPatterns } from './read.ts'

/**
 * One held long-poll request. It is a short-lived subscription from the
 * request's cursor, so it shares the replay/live seam with every other
 * transport; its deadline is checked by the feed's one sweep timer, so a
 * waiting poll costs no timer of its own. Nothing outlives the request: the
 * next poll may land on any instance.
 */
class Poll implements Client, Sink {
  readonly answer: Promise<ReadAnswer>
  private resolve!: (a: ReadAnswer) => void
  private reject!: (err: unknown) => void
  private readonly sub: Subscription
  private readonly events: FeedEvent[] = []
  private readonly deadline: number
  private scanned: string
  private caught = false
  private resetTo: { snapshot: FeedEvent[]; cursor: string } | undefined
  private finishing = false
  private done = false

  constructor(
    private readonly feed: Feed,
    since: string,
    waitS: number,
    private readonly limit: number,
  ) {
    this.answer = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.scanned = since
    // No request outlives MAX_CONNECTION_AGE, held polls included.
    this.deadline = Date.now() + Math.min(waitS * 1000, feed.limits.maxConnectionAgeMs)
    this.sub = feed.hub.subscribe(this)
    feed.clients.add(this)
  }

  start(patterns: string[], since: Cursor, signal: AbortSignal): Promise<ReadAnswer> {
    signal.addEventListener('abort', () => this.finish(), { once: true })
    this.sub.add(patterns, since).catch((err: unknown) => this.finish(err))
    return this.answer
  }

  event(p: PreparedEvent): void {
    if (this.done) return
    this.events.push(p.event)
    if (this.events.length >= this.limit) return this.finish()
    // Answer once the current batch is in, not per event.
    if (this.caught && !this.finishing) {
      this.finishing = true
      queueMicrotask(() => this.finish())
    }
  }
  reset(): void {
    this.resetTo = { snapshot: [], cursor: this.scanned }
  }
  snapshot(events: FeedEvent[], cursor: string): void {
    this.resetTo = { snapshot: events, cursor }
    this.finish()
  }
  caughtUp(cursor: string): void {
    this.caught = true
    this.scanned = cursor
    if (this.events.length > 0 || Date.now() >= this.deadline) this.finish()
  }

  tick(now: number): void {
    if (now >= this.deadline) this.finish()
  }
  drain(): void {
    this.finish()
  }

  private finish(err?: unknown): void {
    if (this.done) return
    this.done = true
    this.sub.close()
    this.feed.clients.delete(this)
    if (err !== undefined) return this.reject(err)
    if (this.resetTo) return this.resolve({ reset: true, ...this.resetTo })
    const full = this.events.length >= this.limit
    const last = this.events.at(-1)?.id
    // Once caught up, every match up to the hub's position reached this poll, so the client may skip to it.
    const position = this.feed.hub.position
    const cursor = full ? last! : this.caught && position > this.scanned && epochOf(position) === epochOf(this.scanned) ? position : (last ?? this.scanned)
    this.resolve({ events: this.events, cursor })
  }
}

export function parseWait(raw: string | undefined, limits: Limits): number {
  if (raw === undefined || raw === '') return limits.pollWaitDefaultS
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0 || n > limits.pollWaitMaxS) {
    throw new FeedError('invalid_wait', `wait must be a number of seconds from 0 to ${limits.pollWaitMaxS}`)
  }
  return n
}

/** GET /poll?topics=…&cursor=…&wait=… */
export function mountPoll(app: Hono, feed: Feed): void {
  app.get('/poll', async (c) => {
    feed.assertAccepting()
    const patterns = queryPatterns(c, feed.limits.maxPatterns)
    const wait = parseWait(c.req.query('wait'), feed.limits)
    const limit = queryLimit(c, feed.limits.readLimit)
    const raw = c.req.query('cursor') || undefined
    c.header('Cache-Control', 'no-store')
    if (raw === undefined) return c.json(await feed.read(patterns, undefined, limit))
    const since = requireCursor(raw)
    return c.json(await new Poll(feed, raw, wait, limit).start(patterns, since, c.req.raw.signal))
  })
}
