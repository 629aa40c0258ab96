/**
 * @module
 * What every route and transport shares: the guarded engine, the hub, the
 * access rules, the limits, the live connections with their one sweep timer,
 * and the one place failures are mapped and logged.
 */
import type { Config, Limits } from '../config.ts'
import { compareCursors, formatNext, parseNext } from '../protocol/cursor.ts'
import type { Snapshot } from '../protocol/events.ts'
import type { HistoryAnswer, ReadAnswer } from '../protocol/http.ts'
import { Access, type Grant } from './access.ts'
import type { Connection } from './connection.ts'
import { requireCursor } from './cursor.ts'
import type { Engine, TopicInfo } from './engine.ts'
import { FeedError, toFeedError } from './errors.ts'
import { guardEngine } from './guard.ts'
import { Hub } from './hub.ts'
import { ConnectionCounter } from './limits.ts'
import type { Log } from './log.ts'
import { Occupancy } from './occupancy.ts'
import { Publishing } from './publishing.ts'
import { Stats, type TransportName } from './stats.ts'
import { assertTopic } from './topic.ts'
import { PatternSet } from './topic-index.ts'

/** Everything transports share: the engine, the hub, the limits and the set of live clients. */
export class Feed {
  /** The engine behind `guardEngine`: every failure of it is a FeedError. */
  readonly engine: Engine
  readonly hub: Hub
  /** Who is watching and who is here, over every instance. */
  readonly occupancy: Occupancy
  readonly access: Access
  /** MAX_CONNECTIONS_PER_IP: WebSockets, SSE streams and held polls per client address. */
  readonly perAddress: ConnectionCounter
  /** What the metrics report. */
  readonly stats = new Stats()
  /** Publishing: what every publish route and the socket's publish frames share. */
  readonly publishing: Publishing
  /** Live WebSocket sessions, SSE streams and held polls: swept, drained and counted. */
  readonly clients = new Set<Connection>()
  draining = false
  /** The engine answered its start: until then this instance is not ready. */
  private started = false
  /** An engine outage is logged at error once, when it starts; its further failures at debug. */
  private outage = false
  private timer: ReturnType<typeof setInterval> | undefined

  readonly limits: Limits

  constructor(
    engine: Engine,
    /** PRIVATE_TOPICS, CONFLATE_TOPICS (topics conflated for a client that falls behind), PRESENCE_TOPICS and the limits. */
    config: Pick<Config, 'limits' | 'privateTopics' | 'conflateTopics' | 'presenceTopics' | 'ephemeralTopics' | 'openPublishTopics'>,
    readonly log: Log,
  ) {
    const { limits, privateTopics, conflateTopics, presenceTopics } = config
    this.limits = limits
    this.engine = guardEngine(engine, {
      failed: () => this.stats.engineErrors++,
      recovered: () => {
        if (!this.outage) return
        this.outage = false
        this.log.info({ engine: engine.name }, 'the event store answers again')
      },
    })
    this.access = new Access(privateTopics)
    this.publishing = new Publishing(this.engine, this.access, this.stats, limits, config)
    this.perAddress = new ConnectionCounter(limits.maxConnectionsPerIp)
    // Hold as many live events during a seam as one history holds, and one client's bytes; past that, read them again.
    this.hub = new Hub(this.engine, this.access, this.stats, limits.readLimit, limits.historySize, limits.maxBufferedBytes, new PatternSet([...conflateTopics]))
    this.occupancy = new Occupancy(
      this.hub,
      this.access,
      engine.roster,
      { intervalMs: limits.occupancyIntervalMs, maxBytes: limits.occupancyBytes, presenceTopics: new PatternSet([...presenceTopics]) },
      this.stats,
      log,
    )
  }

  async start(): Promise<void> {
    await this.hub.start()
    this.occupancy.start()
    this.started = true
    const l = this.limits
    const tick = Math.min(1000, Math.max(50, Math.min(l.heartbeatMs, l.maxConnectionAgeMs) / 4))
    this.timer = setInterval(() => {
      const now = Date.now()
      let queued = 0
      for (const c of this.clients) {
        c.tick(now)
        queued += c.queuedBytes()
      }
      if (queued > this.limits.outboundBytes) this.shed(queued)
    }, tick)
  }

  /**
   * `rewind` as a client sends it (query string or frame field): a whole number from 1 to TOPIC_HISTORY,
   * else 400 validation_failed; absent is undefined (one event per topic).
   */
  parseRewind(raw: string | number | undefined): number | undefined {
    if (raw === undefined) return undefined
    const n = typeof raw === 'number' ? raw : /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN
    const max = this.limits.topicHistory
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new FeedError(
        'validation_failed',
        max === 0 ? 'rewind is off on this server (TOPIC_HISTORY=0)' : `rewind must be a whole number from 1 to ${max} (TOPIC_HISTORY)`,
      )
    }
    return n
  }

  /**
   * What GET /api/events and /poll answer: events after `since`, or a
   * snapshot when there is none or it is stale. At most `limit` events and
   * about READ_BYTES; a cut answer says `more`.
   */
  async read(patterns: string[], since: string | undefined, limit: number, grant?: Grant, rewind?: number): Promise<ReadAnswer> {
    const set = this.readable(patterns, grant)
    if (since !== undefined) {
      const r = await this.engine.read(requireCursor(since), set, limit, this.limits.readBytes)
      if (!r.stale) return { events: r.events, cursor: r.cursor, ...(r.more && r.events.length > 0 ? { more: true as const } : {}) }
    }
    const snap = await this.snapshotPage(set, undefined, rewind)
    return since === undefined ? { snapshot: snap.events, ...snap.rest } : { reset: true, snapshot: snap.events, ...snap.rest }
  }

  /**
   * GET /api/history: the newest `limit` (at most TOPIC_HISTORY) events of one topic before `before`,
   * oldest first, about READ_BYTES of them; `more` when older ones are kept (pass the first id as `before`).
   */
  async history(topic: string, limit: number, before: string | undefined, grant?: Grant): Promise<HistoryAnswer> {
    assertTopic(topic)
    this.readable([topic], grant)
    if (before !== undefined) requireCursor(before)
    const r = await this.engine.history(topic, Math.min(limit, this.limits.topicHistory), before, this.limits.readBytes)
    if (before !== undefined && compareCursors(before, r.cursor) === undefined) {
      throw new FeedError('invalid_cursor', `"${before.slice(0, 100)}" is not a cursor of this feed's history: ask again without before`)
    }
    return { events: r.events, cursor: r.cursor, ...(r.more ? { more: true as const } : {}) }
  }

  /** GET /api/snapshot: one page (READ_BYTES) of the snapshot; `next` continues the same snapshot. */
  async snapshot(patterns: string[], grant?: Grant, next?: string, rewind?: number): Promise<Snapshot> {
    const snap = await this.snapshotPage(this.readable(patterns, grant), next, rewind)
    return { events: snap.events, ...snap.rest }
  }

  private async snapshotPage(set: PatternSet, next?: string, rewind?: number) {
    const page = next === undefined ? {} : await this.continuation(next)
    const r = await this.engine.snapshot(set, { ...page, maxBytes: this.limits.readBytes, rewind })
    const more = r.more ? { more: true as const, next: formatNext(r.cursor, r.events.at(-1)!.id) } : {}
    return { events: r.events, rest: { cursor: r.cursor, ...more } }
  }

  /**
   * A snapshot's `next`, checked as `since` is: of this history, not ahead of its head, its page after the
   * one before. Anything else is 400 invalid_cursor (start the snapshot again), never echoed as a `cursor`.
   */
  private async continuation(next: string): Promise<{ upTo: string; after: string }> {
    const page = parseNext(next)
    if (page === undefined) throw new FeedError('invalid_cursor', `"${next.slice(0, 100)}" is not a snapshot continuation`)
    const head = await this.engine.head()
    const upTo = compareCursors(page.upTo, head)
    const after = compareCursors(page.after, page.upTo)
    if (upTo === undefined || upTo > 0 || after === undefined || after > 0) {
      throw new FeedError(
        'invalid_cursor',
        `"${next.slice(0, 100)}" is not a continuation of a snapshot of this feed's history: ask for the snapshot again, without next`,
      )
    }
    return page
  }

  /** The patterns as this reader may read them: refused up front when they hold only private topics it is not granted. */
  readable(patterns: string[], grant: Grant | undefined): PatternSet {
    this.access.assertMaySubscribe(grant, patterns)
    return this.access.readable(patterns, grant)
  }

  /** Topics whose latest event is kept, with their subscribers on every instance; private ones only for a grant that may read them (their names are private too). */
  async topics(grant?: Grant): Promise<(TopicInfo & { subscribers: number })[]> {
    const list = await this.engine.topics()
    return list.filter((t) => this.access.mayRead(grant, t.topic)).map((t) => ({ ...t, subscribers: this.occupancy.count(t.topic) }))
  }

  /** When a new connection must be closed: MAX_CONNECTION_AGE, up to 10% early so clients do not all reconnect together. */
  connectionDeadline(): number {
    return Date.now() + this.limits.maxConnectionAgeMs * (1 - Math.random() * 0.1)
  }

  /**
   * Maps anything thrown while serving a client to what the client is told,
   * and logs it once: here, whatever the route or transport. A bug of ours
   * logs at error; an engine outage at error once, when it starts (each
   * failure during it at debug, until the engine answers again); client
   * mistakes and refusals at debug.
   */
  failure(err: unknown, context: Record<string, unknown>): FeedError {
    const { error, unexpected } = toFeedError(err)
    if (error.status < 500 || error.code === 'draining' || error.code === 'websocket_disabled') this.stats.rejection(error.code)
    if (unexpected) this.log.error({ ...context, err }, 'unexpected error')
    else if (error.code === 'engine_unavailable') {
      const first = !this.outage
      this.outage = true
      this.log[first ? 'error' : 'debug'](
        { ...context, code: error.code, err: error.cause ?? error.message },
        first ? 'the event store failed' : 'request failed',
      )
    } else this.log.debug({ ...context, code: error.code, reason: error.message }, 'request refused')
    return error
  }

  /** The live connections, or those of one transport (for the metrics). */
  connectionsOf(transport?: TransportName): Connection[] {
    const out: Connection[] = []
    for (const c of this.clients) if (transport === undefined || c.transport === transport) out.push(c)
    return out
  }

  /**
   * OUTBOUND_BYTES: all clients together hold more unread bytes than the
   * budget. The ones with the most queued are closed first until the rest fit;
   * each resumes from its cursor. Checked by the sweep, so the budget can be
   * overrun for one tick at most, and each client is bounded by MAX_BUFFERED_BYTES meanwhile.
   */
  private shed(total: number): void {
    const heavy = [...this.clients].map((c) => ({ c, q: c.queuedBytes() })).sort((a, b) => b.q - a.q)
    for (const { c, q } of heavy) {
      if (total <= this.limits.outboundBytes || q === 0) break
      this.log.warn({ queued: q, total }, 'outbound budget exceeded: closing the slowest client')
      c.shed()
      total -= q
    }
  }

  /**
   * Readiness: taking clients, and the engine answered once (at start). A later engine outage does not make
   * it false: every instance shares the engine, so all would fail together and the load balancer would have
   * nowhere to send anyone; requests meanwhile answer 503 engine_unavailable, and clients resume after.
   */
  ready(): boolean {
    return !this.draining && this.started
  }

  /** Ready, and the engine answers now: what `/healthz` tells a person. */
  healthy(): boolean {
    return this.ready() && this.engine.healthy()
  }

  assertAccepting(): void {
    if (this.draining) throw new FeedError('draining', 'this instance is shutting down; reconnect to another')
  }

  /**
   * Stops taking clients and closes the ones there are, spread over
   * drainSpreadMs so they do not all reconnect to the others at once.
   * Resolves when all are gone or the spread window (plus a margin) is over.
   */
  async drain(): Promise<void> {
    this.draining = true
    const clients = [...this.clients]
    const spread = this.limits.drainSpreadMs
    await Promise.all(
      clients.map(
        (c, i) =>
          new Promise<void>((resolve) =>
            setTimeout(
              () => {
                c.drain()
                resolve()
              },
              clients.length > 1 ? (i * spread) / (clients.length - 1) : 0,
            ),
          ),
      ),
    )
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.occupancy.close()
    await this.engine.close()
  }
}
