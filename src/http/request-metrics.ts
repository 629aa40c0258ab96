/**
 * @module
 * `livefeed_http_requests_total` and `livefeed_http_request_duration_seconds`: every request counted by its
 * route pattern (never its path: bounded), status and duration. Counted in plain numbers on the request's
 * path and handed to prom-client when scraped: a labelled `inc()` or `observe()` builds, checks and hashes its
 * label set on every call, ~5 µs a request, the most of what metrics cost a WebSocket connect or a publish.
 */
import type { MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import client from 'prom-client'

/** The duration buckets' upper bounds, in seconds (prom-client's defaults). */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const DURATION = 'livefeed_http_request_duration_seconds'
const DURATION_HELP = 'HTTP request duration, by route.'

/** One route's durations: how many fell in each bucket (not cumulative), their sum and count. */
class Durations {
  readonly counts = new Array<number>(BUCKETS.length).fill(0)
  sum = 0
  count = 0
  clear(): void {
    this.counts.fill(0)
    this.sum = 0
    this.count = 0
  }
  observe(seconds: number): void {
    let i = 0
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++
    if (i < BUCKETS.length) this.counts[i]!++ // past the last bound: counted in +Inf (count) only
    this.sum += seconds
    this.count++
  }
}

/** A sample as prom-client's Histogram hands it to its registry: `le` in labels, the route in sharedLabels. */
interface Sample {
  labels: { le?: number | string }
  sharedLabels: { route: string }
  value: number
  metricName: string
}

/**
 * The duration histogram, read from `Durations` when scraped. It answers `getForPromString`, which prom-client's
 * registry reads for the text format and the Histogram's own `get()` for WORKERS' aggregation, with what
 * prom-client's own Histogram would for the same observations (`tests/fast/request-metrics.test.ts` compares
 * both): cumulative `_bucket`s by `le`, `+Inf`, `_sum` and `_count`.
 */
export class RouteDurations extends client.Histogram<'route'> {
  readonly routes = new Map<string, Durations>()

  constructor(registers: client.Registry[]) {
    super({ name: DURATION, help: DURATION_HELP, labelNames: ['route'], buckets: BUCKETS, registers })
  }

  /** The route's tally, made at its first request. */
  of(route: string): Durations {
    let d = this.routes.get(route)
    if (d === undefined) this.routes.set(route, (d = new Durations()))
    return d
  }

  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: Sample[]; aggregator: 'sum' }> {
    const values: Sample[] = []
    for (const [route, d] of this.routes) {
      const sharedLabels = { route }
      let below = 0
      BUCKETS.forEach((le, i) => {
        below += d.counts[i]!
        values.push({ labels: { le }, sharedLabels, value: below, metricName: `${DURATION}_bucket` })
      })
      values.push(
        { labels: { le: '+Inf' }, sharedLabels, value: d.count, metricName: `${DURATION}_bucket` },
        { labels: {}, sharedLabels, value: d.sum, metricName: `${DURATION}_sum` },
        { labels: {}, sharedLabels, value: d.count, metricName: `${DURATION}_count` },
      )
    }
    return { name: DURATION, help: DURATION_HELP, type: 'histogram', values, aggregator: 'sum' }
  }

  override reset(): void {
    // prom-client's constructor calls this too, before this class's fields exist.
    if (this.routes === undefined) return
    for (const d of this.routes.values()) d.clear()
  }
}

/** One route and status's tallies: Hono's route object and the status find them without building a key. */
interface Tally {
  requests: number
  durations: Durations
}

export class RequestMetrics {
  private readonly byRoute = new WeakMap<object, Map<number, Tally>>()
  /** Requests no route matched, by status. */
  private readonly unrouted = new Map<number, Tally>()
  /** Every tally by its labels, for the scrape. */
  private readonly tallies = new Map<string, { route: string; status: string; tally: Tally }>()
  private readonly durations: RouteDurations

  constructor(registry: client.Registry) {
    const tallies = this.tallies
    new client.Counter({
      name: 'livefeed_http_requests_total',
      help: 'HTTP requests, by route and status.',
      labelNames: ['route', 'status'],
      registers: [registry],
      collect() {
        this.reset()
        for (const { route, status, tally } of tallies.values()) this.inc({ route, status }, tally.requests)
      },
    })
    this.durations = new RouteDurations([registry])
  }

  private tally(route: string, status: number): Tally {
    // Two route objects may share a pattern (GET and POST of one path): one tally per label set.
    const key = `${status} ${route}`
    const known = this.tallies.get(key)
    if (known !== undefined) return known.tally
    const tally = { requests: 0, durations: this.durations.of(route) }
    this.tallies.set(key, { route, status: String(status), tally })
    return tally
  }

  /** The middleware: counts every request by its route pattern, status and duration. */
  readonly http: MiddlewareHandler = async (c, next) => {
    const t0 = performance.now()
    await next()
    const status = c.res.status
    const routes = matchedRoutes(c)
    let route: (typeof routes)[number] | undefined
    for (let i = routes.length - 1; i >= 0 && route === undefined; i--) if (routes[i]!.method !== 'ALL') route = routes[i]
    let byStatus = this.unrouted
    if (route !== undefined) {
      const known = this.byRoute.get(route)
      if (known === undefined) this.byRoute.set(route, (byStatus = new Map()))
      else byStatus = known
    }
    let tally = byStatus.get(status)
    if (tally === undefined) byStatus.set(status, (tally = this.tally(route?.path ?? (status < 400 ? 'static' : 'unmatched'), status)))
    tally.requests++
    tally.durations.observe((performance.now() - t0) / 1000)
  }
}
