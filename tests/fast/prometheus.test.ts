import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseMetrics, quantile, rate, Scrape } from '../../src/ops/prometheus.ts'

// What the operators' page derives from /metrics, on text in the format prom-client writes.
const scrape = (text: string, at: number) => new Scrape(parseMetrics(text), at)
const first = scrape(
  `# HELP livefeed_connections Open connections
# TYPE livefeed_connections gauge
livefeed_connections{transport="ws"} 3
livefeed_connections{transport="sse"} 1
livefeed_deliveries_total{transport="ws"} 100
livefeed_disconnects_total{transport="ws",reason="client"} 2
livefeed_delivery_latency_seconds_bucket{le="0.01"} 10
livefeed_delivery_latency_seconds_bucket{le="0.1"} 10
livefeed_delivery_latency_seconds_bucket{le="+Inf"} 10
weird{path="a\\"b"} 1.5e3
not a sample line
`,
  1000,
)

test('samples, labels (escaped quotes included) and sums over labels', () => {
  assert.is(first.sum('livefeed_connections'), 4)
  assert.is(first.sum('livefeed_connections', { transport: 'sse' }), 1)
  assert.is(first.sum('weird', { path: 'a"b' }), 1500)
  assert.is(first.sum('absent'), 0)
  assert.equal(first.labelValues('livefeed_connections', 'transport'), ['sse', 'ws'])
  assert.is(parseMetrics('x{le="+Inf"} +Inf')[0]!.value, Infinity)
})

test('a rate between two scrapes; a counter that restarted counts from zero', () => {
  const next = scrape('livefeed_deliveries_total{transport="ws"} 300\nlivefeed_disconnects_total{transport="ws",reason="client"} 1', 3000)
  assert.is(rate(first, next, 'livefeed_deliveries_total'), 100)
  assert.is(rate(first, next, 'livefeed_disconnects_total', { reason: 'client' }), 0.5, 'restarted: 1 since the restart, over 2 s')
  assert.is(rate(first, first, 'livefeed_deliveries_total'), 0)
})

test('a quantile over the interval, linear within its bucket, as histogram_quantile does', () => {
  const next = scrape(
    `livefeed_delivery_latency_seconds_bucket{le="0.01"} 10
livefeed_delivery_latency_seconds_bucket{le="0.1"} 110
livefeed_delivery_latency_seconds_bucket{le="+Inf"} 110`,
    3000,
  )
  // 100 observations in the interval, all in (0.01, 0.1]: the 99th is at 0.01 + 0.09 * 0.99.
  assert.ok(Math.abs(quantile(first, next, 'livefeed_delivery_latency_seconds', 0.99)! - 0.0991) < 1e-9)
  assert.is(quantile(first, first, 'livefeed_delivery_latency_seconds', 0.99), undefined, 'nothing observed')
})

test.run()
