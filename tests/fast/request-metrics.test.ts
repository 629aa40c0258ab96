import client from 'prom-client'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RouteDurations } from '../../src/http/request-metrics.ts'

// The request duration histogram is tallied in plain numbers and handed to prom-client when scraped: what a
// scrape reads (text, and the JSON that WORKERS' aggregation sums) must be what prom-client's own Histogram
// gives for the same observations.
const observations: [string, number][] = [
  ['/api/events', 0.0004],
  ['/api/events', 0.005], // on a bound: counted in it
  ['/ws', 0.07],
  ['/api/events', 0.3],
  ['/ws', 12], // past the last bound: only +Inf
  ['static', 0.02],
  ['/api/events', 1e-9],
]

async function both(): Promise<{ ours: client.Registry; theirs: client.Registry }> {
  const ours = new client.Registry()
  const theirs = new client.Registry()
  const fast = new RouteDurations([ours])
  const reference = new client.Histogram({
    name: 'livefeed_http_request_duration_seconds',
    help: 'HTTP request duration, by route.',
    labelNames: ['route'],
    registers: [theirs],
  })
  for (const [route, seconds] of observations) {
    fast.of(route).observe(seconds)
    reference.observe({ route }, seconds)
  }
  return { ours, theirs }
}

test("the text and the JSON of a scrape are prom-client's own for the same observations", async () => {
  const { ours, theirs } = await both()
  const text = await ours.metrics()
  assert.is(text, await theirs.metrics())
  assert.match(text, /^livefeed_http_request_duration_seconds_bucket\{le="0\.005",route="\/api\/events"\} 3$/m)
  assert.match(text, /^livefeed_http_request_duration_seconds_bucket\{le="\+Inf",route="\/ws"\} 2$/m)
  // As WORKERS send it to the primary: over IPC, as JSON. Exemplars are off: prom-client's empty ones carry nothing.
  const wire = async (r: client.Registry): Promise<unknown> =>
    JSON.parse(JSON.stringify(await r.getMetricsAsJSON()), (key, value: unknown) => (key === 'exemplar' ? undefined : value))
  assert.equal(await wire(ours), await wire(theirs))
})

test("WORKERS: two processes' histograms sum as prom-client's do", async () => {
  const a = await both()
  const b = await both()
  const ours = client.AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()])
  const theirs = client.AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()])
  assert.is(await ours.metrics(), await theirs.metrics())
  assert.match(await ours.metrics(), /^livefeed_http_request_duration_seconds_count\{route="\/api\/events"\} 8$/m)
})

test.run()
