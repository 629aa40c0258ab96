/**
 * @module
 * `GET /metrics` in the Prometheus text format, from prom-client: the feed's
 * own counts (read from `Stats` and the live connections at scrape time, so
 * the hot path pays nothing but an increment), HTTP requests by route and
 * status, and prom-client's default process metrics. Open to loopback
 * clients; from elsewhere it needs `Authorization: Bearer $METRICS_TOKEN`.
 */
import type { Context, MiddlewareHandler } from 'hono'
import client from 'prom-client'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import { END_REASONS } from '../protocol/errors.ts'
import { TRANSPORTS, type TransportName } from '../protocol/transports.ts'
import type { MountContext } from './api.ts'
import { isLoopback } from './auth.ts'
import { RequestMetrics } from './request-metrics.ts'
import { bearerToken, sameSecret } from './tokens.ts'

/** One registry per app: its metrics read this feed. */
export class Metrics {
  readonly registry = new client.Registry()

  constructor(feed: Feed) {
    const r = this.registry
    const stats = feed.stats
    client.collectDefaultMetrics({ register: r })
    const byTransport = (count: (t: TransportName) => number) => TRANSPORTS.map((t) => ({ t, n: count(t) }))
    new client.Gauge({
      name: 'livefeed_connections',
      help: 'Open WebSockets and SSE streams, and held polls, by transport.',
      labelNames: ['transport'],
      registers: [r],
      collect() {
        for (const { t, n } of byTransport((t) => feed.connectionsOf(t).length)) this.set({ transport: t }, n)
      },
    })
    new client.Gauge({
      name: 'livefeed_subscriptions',
      help: 'Topic patterns held by all connections.',
      registers: [r],
      collect() {
        this.set(feed.connectionsOf().reduce((n, c) => n + c.patternCount, 0))
      },
    })
    new client.Gauge({
      name: 'livefeed_presence_members',
      help: "Distinct token subjects (sub) among this instance's connections subscribed to PRESENCE_TOPICS.",
      registers: [r],
      collect() {
        this.set(feed.occupancy.localMembers())
      },
    })
    new client.Counter({
      name: 'livefeed_occupancy_messages_total',
      help: 'occupancy and presence messages sent to watchers, by type.',
      labelNames: ['type'],
      registers: [r],
      collect() {
        this.reset()
        this.inc({ type: 'occupancy' }, stats.occupancyMessages)
        this.inc({ type: 'presence' }, stats.presenceMessages)
      },
    })
    new client.Counter({
      name: 'livefeed_events_published_total',
      help: 'Events stored by this instance.',
      registers: [r],
      collect() {
        this.reset()
        this.inc(stats.published)
      },
    })
    new client.Counter({
      name: 'livefeed_deliveries_total',
      help: 'Events handed to clients, by transport.',
      labelNames: ['transport'],
      registers: [r],
      collect() {
        this.reset()
        for (const t of TRANSPORTS) this.inc({ transport: t }, stats.deliveries[t] + feed.connectionsOf(t).reduce((n, c) => n + c.delivered, 0))
      },
    })
    const latency = new client.Histogram({
      name: 'livefeed_delivery_latency_seconds',
      help: "From an event's ts to its frames handed to the sockets (once per event).",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    })
    stats.observeLatency = (s) => latency.observe(s)
    new client.Counter({
      name: 'livefeed_disconnects_total',
      help: `Connections ended, by transport and reason (${END_REASONS.join(', ')}).`,
      labelNames: ['transport', 'reason'],
      registers: [r],
      collect() {
        this.reset()
        for (const [key, n] of stats.disconnects) {
          const [transport, reason] = key.split(' ')
          this.inc({ transport, reason }, n)
        }
      },
    })
    new client.Counter({
      name: 'livefeed_conflated_total',
      help: 'Events not sent to a client that fell behind because a newer one of their topic replaced them (CONFLATE_TOPICS).',
      registers: [r],
      collect() {
        this.reset()
        this.inc(stats.conflated)
      },
    })
    new client.Counter({
      name: 'livefeed_rejections_total',
      help: 'Requests and frames refused, by error code.',
      labelNames: ['code'],
      registers: [r],
      collect() {
        this.reset()
        for (const [code, n] of stats.rejections) this.inc({ code }, n)
      },
    })
    new client.Counter({
      name: 'livefeed_resumes_total',
      help: 'Subscribes with a cursor: replayed from it, or reset (the cursor was gone).',
      labelNames: ['result'],
      registers: [r],
      collect() {
        this.reset()
        this.inc({ result: 'replayed' }, stats.resumes.replayed)
        this.inc({ result: 'reset' }, stats.resumes.reset)
      },
    })
    new client.Counter({
      name: 'livefeed_engine_errors_total',
      help: 'Engine calls that failed.',
      labelNames: ['engine'],
      registers: [r],
      collect() {
        this.reset()
        this.inc({ engine: feed.engine.name }, stats.engineErrors)
      },
    })
    new client.Counter({
      name: 'livefeed_history_lost_total',
      help: 'Times the shared history went back (a Redis failover lost delivered events, or Redis came back empty): every subscriber was reset to a new epoch.',
      registers: [r],
      collect() {
        this.reset()
        this.inc(stats.historyLost)
      },
    })
    new client.Counter({
      name: 'livefeed_connections_dropped_total',
      help: 'TCP connections closed as they were accepted because MAX_CONNECTIONS were open (Node).',
      registers: [r],
      collect() {
        this.reset()
        this.inc(stats.dropped)
      },
    })
    new client.Gauge({
      name: 'livefeed_engine_lag_seconds',
      help: 'Redis: age of the oldest event this instance has not yet dispatched (0 when caught up).',
      registers: [r],
      // Several workers (WORKERS): the instance lags as much as its slowest process.
      aggregator: 'max',
      collect() {
        this.set(feed.engine.lagSeconds?.() ?? 0)
      },
    })
  }

  /** Counts every request by its route pattern (never its path: bounded), status and duration. */
  readonly http: MiddlewareHandler = new RequestMetrics(this.registry).http

  /** A gauge read when scraped, for what the app holds beside the feed (summed over WORKERS). */
  gauge(name: string, help: string, read: () => number): void {
    new client.Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read())
      },
    })
  }
}

/**
 * GET /metrics: loopback clients, or `Authorization: Bearer $METRICS_TOKEN` (401; 403 when no token is
 * configured). `text` gives the instance's metrics when this process is one of several (WORKERS).
 */
export function metricsRoute({ api, config, clientAddress }: MountContext, metrics: Metrics, text = () => metrics.registry.metrics()): void {
  const guard = async (c: Context) => {
    if (isLoopback(clientAddress(c))) return
    const token = config.metricsToken
    if (token === undefined) throw new FeedError('forbidden', 'metrics are open to loopback only: set METRICS_TOKEN to read them from elsewhere')
    const given = bearerToken(c)
    if (given === undefined || !sameSecret(given, token)) {
      c.header('WWW-Authenticate', 'Bearer realm="livefeed-metrics"')
      throw new FeedError('unauthorized', 'metrics need "Authorization: Bearer <METRICS_TOKEN>"')
    }
  }
  api.get(
    '/metrics',
    {
      summary: 'Prometheus metrics',
      tags: ['meta'],
      responses: { 200: { description: 'The Prometheus text format', mediaType: 'text/plain' } },
      errors: ['unauthorized', 'forbidden'],
    },
    async (c) => {
      await guard(c)
      return c.body(await text(), 200, { 'Content-Type': metrics.registry.contentType })
    },
  )
}
