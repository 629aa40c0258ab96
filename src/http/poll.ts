/**
 * @module
 * Long polling: each held request is a short-lived `Connection` from the
 * request's cursor, so it shares the replay/live seam and the lifecycle with
 * every other transport. Nothing outlives the request: the next poll may land
 * on any instance.
 */
import type { Context } from 'hono'
import type { Limits } from '../config.ts'
import type { Grant } from '../core/access.ts'
import { Connection } from '../core/connection.ts'
import { type Cursor, compareCursors, requireCursor } from '../core/cursor.ts'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import type { PreparedEvent } from '../core/prepared.ts'
import { linger, type Wire } from '../core/wire.ts'
import { formatNext } from '../protocol/cursor.ts'
import type { FeedEvent } from '../protocol/events.ts'
import { query, type ReadAnswer, readAnswer } from '../protocol/http.ts'
import { addAnswerHeader, errorAnswer, jsonAnswer } from './answer.ts'
import type { MountContext } from './api.ts'
import type { Vars } from './auth.ts'
import { queryLimit, queryPatterns } from './read.ts'

/** One held long-poll request; its deadline is checked by the feed's one sweep timer, so it costs no timer of its own. */
class Poll extends Connection {
  readonly answer: Promise<ReadAnswer | FeedError>
  private resolve!: (a: ReadAnswer | FeedError) => void
  private readonly events: FeedEvent[] = []
  private scanned: string
  private caught = false
  private resetTo: { snapshot: FeedEvent[]; cursor: string; more?: true; next?: string } | undefined
  /** Bytes of the events collected: the answer is cut at READ_BYTES. */
  private bytes = 0
  private error: FeedError | undefined
  private finishing = false

  constructor(
    feed: Feed,
    since: string,
    waitS: number,
    private readonly limit: number,
    grant: Grant | undefined,
    private readonly wire: Wire | undefined,
  ) {
    super(feed, 'poll')
    this.authorize(grant)
    this.answer = new Promise((resolve) => (this.resolve = resolve))
    this.scanned = since
    // No request outlives MAX_CONNECTION_AGE, held polls included.
    this.begin(Date.now() + Math.min(waitS * 1000, feed.limits.maxConnectionAgeMs))
  }

  start(patterns: string[], since: Cursor, signal: AbortSignal): Promise<ReadAnswer | FeedError> {
    signal.addEventListener('abort', () => this.end('client'), { once: true })
    this.subscribe(patterns, since)
    return this.answer
  }

  /**
   * Never conflated: a poll holds no socket buffer, its answer is cut at READ_BYTES instead. Ephemeral events
   * are not for polls: an answer's cursor could not move past them, and the next poll would not have them.
   */
  protected deliver(p: PreparedEvent): void {
    if (!this.open || !('id' in p.event)) return
    this.events.push(p.event)
    this.bytes += p.json.length
    if (this.events.length >= this.limit || this.bytes >= this.feed.limits.readBytes) return this.end('done')
    // Answer once the current batch is in, not per event.
    if (this.caught && !this.finishing) {
      this.finishing = true
      queueMicrotask(() => this.end('done'))
    }
  }
  reset(): void {
    this.resetTo = { snapshot: [], cursor: this.scanned }
  }
  /** Only after a stale cursor (a poll with none is a plain read): the first page, and where the rest is. */
  snapshot(events: FeedEvent[], cursor: string, more: boolean): void {
    this.resetTo = { snapshot: events, cursor, ...(more ? { more: true as const, next: formatNext(cursor, events.at(-1)!.id) } : {}) }
    this.end('done')
  }
  override caughtUp(cursor: string): void {
    this.caught = true
    this.scanned = cursor
    if (this.events.length > 0 || Date.now() >= this.deadline) this.end('done')
  }

  protected failed(error: FeedError): void {
    this.error = error
    this.end('error')
  }

  /** The answer is one page: READ_BYTES, nothing queues behind it. */
  override get pageBytes(): number {
    return this.feed.limits.readBytes
  }

  /**
   * Answers; the poll keeps its slot until its connection has taken the answer (a client that takes
   * nothing of it for END_GRACE is cut).
   */
  protected finish(): Promise<void> | undefined {
    this.answerNow()
    const wire = this.wire
    if (wire === undefined) return undefined
    return linger(
      wire,
      this.feed.limits.endGraceMs,
      () => wire.written?.() ?? 0,
      () => wire.destroy?.(),
    )
  }

  /** Max age or drain answer what there is: an empty answer is a poll's normal end. */
  private answerNow(): void {
    if (this.error) return this.resolve(this.error)
    if (this.resetTo) return this.resolve({ reset: true, ...this.resetTo })
    const full = this.events.length >= this.limit || this.bytes >= this.feed.limits.readBytes
    const last = this.events.at(-1)?.id
    // Once caught up, every match up to the hub's position reached this poll, so the client may skip to it.
    const position = this.feed.hub.position
    const ahead = (compareCursors(position, this.scanned) ?? 0) > 0
    const cursor = full ? last! : this.caught && ahead ? position : (last ?? this.scanned)
    this.resolve({ events: this.events, cursor, ...(full ? { more: true as const } : {}) })
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
export function mountPoll({ api, feed, tokens, checkOrigin, admit, wire }: MountContext): void {
  api.get(
    '/poll',
    {
      summary: 'Long poll',
      description:
        "Answers at once when anything matches after `cursor`; otherwise holds the request until an event arrives or `wait` passes. Poll again with the answer's `cursor`. Without `cursor`: a snapshot.",
      tags: ['subscribe'],
      query: {
        topics: { schema: query.topics, required: true },
        cursor: { schema: query.cursor },
        wait: { schema: query.wait },
        limit: { schema: query.limit },
        rewind: { schema: query.rewind },
        token: { schema: query.token },
      },
      responses: { 200: { description: 'Events (possibly none), or a snapshot', schema: readAnswer } },
      errors: [
        'invalid_pattern',
        'too_many_patterns',
        'invalid_cursor',
        'invalid_wait',
        'validation_failed',
        'bad_request',
        'invalid_token',
        'forbidden',
        'forbidden_origin',
        'too_many_connections',
        'draining',
        'engine_unavailable',
      ],
    },
    async (c: Context<Vars>) => {
      feed.assertAccepting()
      checkOrigin(c)
      const patterns = queryPatterns(c, feed.limits.maxPatterns)
      const wait = parseWait(c.req.query('wait'), feed.limits)
      const limit = queryLimit(c, feed.limits.readLimit)
      const raw = c.req.query('cursor') || undefined
      addAnswerHeader(c, 'cache-control', 'no-store')
      const grant = await tokens.fromRequest(c)
      const rewind = feed.parseRewind(c.req.query('rewind'))
      if (raw === undefined) return jsonAnswer(c, await feed.read(patterns, undefined, limit, grant, rewind), 200)
      const since = requireCursor(raw)
      feed.access.assertMaySubscribe(grant, patterns)
      const slot = admit(c)
      const poll = new Poll(feed, raw, wait, limit, grant, wire(c))
      poll.hold(slot)
      poll.request = c.get('request')
      const answer = await poll.start(patterns, since, c.req.raw.signal)
      // Already mapped and logged by the connection: answered here, not rethrown to be logged again.
      return answer instanceof FeedError ? errorAnswer(c, answer) : jsonAnswer(c, answer, 200)
    },
  )
}
