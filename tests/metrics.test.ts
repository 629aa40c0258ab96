import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type Server, startServer, type Target } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'

/** Reads /metrics and returns one sample's value (0 when the series does not exist yet). */
async function metric(s: Server, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = (await request(`${s.url}/metrics`)).body as string
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-z_]+)(\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = (m[3] ?? '').split(',').filter((x) => x !== '')
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[4])
  }
  return 0
}

/** The metrics an operator reads agree with what the clients saw, on each runtime and on Redis. */
for (const target of ['node', 'deno', 'deno-node', 'node+redis'] satisfies Target[]) {
  const test = suite<{ s: Server }>(`metrics [${target}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(target, { LOG_LEVEL: 'debug' })
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('GET /metrics: the Prometheus text format, with every documented name and the default process metrics', async ({ s }) => {
    const r = await request(`${s.url}/metrics`)
    assert.is(r.status, 200)
    assert.match(r.headers.get('content-type')!, /^text\/plain/)
    for (const name of [
      'livefeed_connections',
      'livefeed_subscriptions',
      'livefeed_events_published_total',
      'livefeed_deliveries_total',
      'livefeed_delivery_latency_seconds',
      'livefeed_disconnects_total',
      'livefeed_rejections_total',
      'livefeed_resumes_total',
      'livefeed_engine_errors_total',
      'livefeed_engine_lag_seconds',
      'livefeed_http_requests_total',
      'livefeed_http_request_duration_seconds',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.match(r.body, new RegExp(`^# TYPE ${name} `, 'm'), name)
    }
  })

  test('counts agree with what clients saw: published, delivered by transport, connections, resumes, disconnects, rejections', async ({ s }) => {
    const base = {
      published: await metric(s, 'livefeed_events_published_total'),
      ws: await metric(s, 'livefeed_deliveries_total', { transport: 'ws' }),
      sse: await metric(s, 'livefeed_deliveries_total', { transport: 'sse' }),
      replayed: await metric(s, 'livefeed_resumes_total', { result: 'replayed' }),
      reset: await metric(s, 'livefeed_resumes_total', { result: 'reset' }),
      invalid: await metric(s, 'livefeed_rejections_total', { code: 'invalid_json' }),
      created: await metric(s, 'livefeed_http_requests_total', { route: '/api/events', status: '201' }),
    }
    const start = (await request(`${s.url}/api/snapshot?topics=m/**`)).body.cursor as string
    const ws = await Promise.all([1, 2].map(() => WsClient.open(`${s.wsUrl}/ws?topics=m/**`)))
    const sse = new SseReader(`${s.url}/sse?topics=m/**`)
    await Promise.all([...ws.map((c) => c.nth('snapshot')), sse.waitFor('snapshot', 1)])
    assert.is(await metric(s, 'livefeed_connections', { transport: 'ws' }), 2)
    assert.is(await metric(s, 'livefeed_connections', { transport: 'sse' }), 1)
    assert.is(await metric(s, 'livefeed_subscriptions'), 3)

    const sent = (
      await publish(
        s.url,
        Array.from({ length: 10 }, (_, i) => ({ topic: `m/${i % 3}`, data: i })),
      )
    ).body.events as FeedEvent[]
    const end = (await publish(s.url, { topic: 'm/end', data: 'sentinel' })).body as FeedEvent
    for (const c of ws) await c.waitId(end.id)
    await sse.waitId(end.id)
    assert.is((await metric(s, 'livefeed_events_published_total')) - base.published, sent.length + 1)
    assert.is((await metric(s, 'livefeed_deliveries_total', { transport: 'ws' })) - base.ws, 2 * 11)
    assert.is((await metric(s, 'livefeed_deliveries_total', { transport: 'sse' })) - base.sse, 11)
    assert.ok((await metric(s, 'livefeed_delivery_latency_seconds_count')) >= 11)
    assert.is((await metric(s, 'livefeed_http_requests_total', { route: '/api/events', status: '201' })) - base.created, 2)

    // Resumes: one from a kept cursor, one from a cursor of another history.
    const replay = await WsClient.open(`${s.wsUrl}/ws?topics=m/**&since=${start}`)
    await replay.waitId(end.id)
    const stale = await WsClient.open(`${s.wsUrl}/ws?topics=m/**&since=zzzz-0000000000`)
    await stale.nth('snapshot')
    assert.is((await metric(s, 'livefeed_resumes_total', { result: 'replayed' })) - base.replayed, 1)
    assert.is((await metric(s, 'livefeed_resumes_total', { result: 'reset' })) - base.reset, 1)

    // Disconnects by reason, and the deliveries of ended connections still count.
    const before = await metric(s, 'livefeed_disconnects_total', { transport: 'ws', reason: 'client' })
    for (const c of [...ws, replay, stale]) c.close()
    sse.close()
    await until('the sockets to be released', async () => ((await metric(s, 'livefeed_connections', { transport: 'ws' })) === 0 ? true : undefined))
    assert.is((await metric(s, 'livefeed_disconnects_total', { transport: 'ws', reason: 'client' })) - before, 4)
    assert.is((await metric(s, 'livefeed_deliveries_total', { transport: 'ws' })) - base.ws, 2 * 11 + 11)

    await request(`${s.url}/api/events`, { method: 'POST', body: '{"topic":', headers: { 'content-type': 'application/json' } })
    assert.is((await metric(s, 'livefeed_rejections_total', { code: 'invalid_json' })) - base.invalid, 1)
    // Labels are bounded: no topic, token or address in any series.
    assert.not.match((await request(`${s.url}/metrics`)).body, /m\/end|127\.0\.0\.1/)
  })

  test('every request has an id: a valid X-Request-Id is kept and echoed, and the log lines about it carry it', async ({ s }) => {
    const kept = await request(`${s.url}/api/events`, {
      method: 'POST',
      body: '{"topic":',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace:abc.123' },
    })
    assert.is(kept.headers.get('x-request-id'), 'trace:abc.123')
    await until('the log line', () => (s.output().includes('"requestId":"trace:abc.123"') ? true : undefined))
    const line = s
      .output()
      .split('\n')
      .find((l) => l.includes('"requestId":"trace:abc.123"'))!
    assert.match(line, /"level":20/, 'a client mistake logs at debug')
    const made = await request(`${s.url}/healthz`, { headers: { 'x-request-id': 'x'.repeat(129) } })
    assert.match(made.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/, 'too long: a new one is made')
    const refused = await publish(s.url, { topic: 'm/s', data: 'payload-that-must-not-be-logged' }, { Authorization: 'Bearer not-a-real-token' })
    assert.is(refused.status, 401, 'a wrong bearer token is refused')
    const stored = await publish(s.url, { topic: 'm/s', data: 'payload-that-must-not-be-logged' })
    assert.is(stored.status, 201)
    const bad = await publish(s.url, { topic: 'm s', data: 'payload-that-must-not-be-logged' })
    assert.is(bad.status, 400)
    // At debug level too: no token, no Authorization header, no event payload in any line.
    assert.not.match(s.output(), /payload-that-must-not-be-logged|not-a-real-token|"authorization"\s*:/i)
  })

  test.run()
}

const poller = suite('SDK long polling over time')
poller('more than 2,000 polls: no listener piles up on a shared AbortSignal, no warning', async () => {
  const s = await startServer('node')
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`)
  process.on('warning', onWarning)
  let polls = 0
  const counting: typeof fetch = (input, init) => {
    if (String(input).includes('/poll')) polls++
    return fetch(input, init)
  }
  const client = sdk(s.url, { topics: ['p/**'], transports: ['poll'], pollWaitS: 0, fetch: counting })
  try {
    await client.waitOpen()
    await until('2,100 polls', () => (polls >= 2100 ? true : undefined), 60_000)
    const e = (await publish(s.url, { topic: 'p/a', data: 1 })).body as FeedEvent
    await client.waitId(e.id)
    assert.equal(
      warnings.filter((w) => /MaxListeners|listener/i.test(w)),
      [],
    )
  } finally {
    client.feed.close()
    process.off('warning', onWarning)
    await s.stop()
  }
})
poller.run()
