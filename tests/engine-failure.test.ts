import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import * as v from 'valibot'
import { type RedisServer, startRedis } from '../harness/redis.ts'
import { type RuntimeName, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type ErrorCode, errorBody } from '../src/protocol/errors.ts'
import { publish, request } from './helpers/http.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'

/**
 * One engine failure, every transport: with Redis stopped (SIGSTOP, so its
 * connections stay open and commands time out), each transport gives the same
 * documented answer for the same failure, and the server logs it once per
 * failed request. Never a 500 `internal`. When Redis answers again, all works.
 */
for (const runtime of ['node', 'deno', 'deno-node'] satisfies RuntimeName[]) {
  const test = suite<{ redis: RedisServer; s: Server }>(`engine failure on every transport [${runtime}+redis]`)
  test.before(async (ctx) => {
    ctx.redis = await startRedis() // its own: SIGSTOP must not stall other suites
    ctx.s = await startServer(`${runtime}+redis`, { REDIS_URL: ctx.redis.url, REDIS_PREFIX: 'fail:', LOG_LEVEL: 'debug' })
  })
  test.after(async ({ redis, s }) => {
    redis.resume()
    await s.stop()
    await redis.stop()
  })

  test('503 engine_unavailable on HTTP, an error frame on WebSocket, feed-error on SSE; one log line each, one at error per outage', async ({ redis, s }) => {
    const first = await publish(s.url, { topic: 'f/a', data: 1 })
    assert.is(first.status, 201)
    const cursor: string = first.body.id
    const ws = await WsClient.open(`${s.wsUrl}/ws`)
    await ws.nth('welcome')
    const lines = () =>
      s
        .output()
        .split('\n')
        .filter((l) => l.includes('"code":"engine_unavailable"'))
    const before = lines().length

    redis.pause()
    try {
      const code = (r: { body: unknown }): ErrorCode | undefined => (v.is(errorBody, r.body) ? r.body.error.code : undefined)
      // All at once: each waits for Redis' command timeout. The held poll waits longer than that timeout.
      ws.send({ type: 'subscribe', topics: ['f/**'] })
      const sse = new SseReader(`${s.url}/sse?topics=f/**`)
      const http = await Promise.all([
        publish(s.url, { topic: 'f/a', data: 2 }),
        request(`${s.url}/api/events?topics=f/**&since=${cursor}`),
        request(`${s.url}/api/snapshot?topics=f/**`),
        request(`${s.url}/api/topics`),
        request(`${s.url}/poll?topics=f/**&cursor=${cursor}&wait=5`),
        request(`${s.url}/poll?topics=f/**`),
      ])
      for (const r of http) {
        assert.is(r.status, 503, JSON.stringify(r.body))
        assert.is(code(r), 'engine_unavailable')
        assert.is(r.headers.get('retry-after'), '1', 'a 503 says when to retry, in whole seconds')
      }
      // Readiness is this instance's, not the shared store's: it stays 200 (all instances would fail together).
      assert.is((await request(`${s.url}/readiness_check`)).status, 200)

      const frame = await ws.nth('error', 1, 10_000)
      assert.is(frame.code, 'engine_unavailable')
      assert.is(ws.closeCode, undefined, 'the socket stays open: the client may retry')

      const [err] = await sse.waitFor('feed-error', 1, 10_000)
      assert.is(JSON.parse(err!.data).code, 'engine_unavailable')
      await until('the SSE stream to end', () => (sse.ended ? true : undefined), 5000)

      // One line per failed request or subscribe (6 HTTP, 1 WebSocket, 1 SSE), each with its request id;
      // the outage is at error level once, the rest at debug.
      await until('8 log lines', () => (lines().length - before >= 8 ? true : undefined), 5000)
      const outage = lines().slice(before)
      assert.is(outage.length, 8)
      assert.is(outage.filter((l) => l.includes('"level":50')).length, 1)
      assert.is(outage.filter((l) => l.includes('"level":20')).length, 7)
      assert.ok(
        outage.every((l) => /"requestId":"[^"]+"/.test(l)),
        'every line names its request',
      )
      assert.not.match(s.output(), /"internal"|unexpected error/)
    } finally {
      redis.resume()
    }

    // Back: the same socket subscribes, and a publish reaches it.
    await until('the store back (/healthz)', async () => ((await request(`${s.url}/healthz`)).status === 200 ? true : undefined), 15_000)
    assert.ok(
      Number(/^livefeed_engine_errors_total\{engine="redis"\} (\d+)/m.exec((await request(`${s.url}/metrics`)).body)?.[1]) >= 8,
      'the failures are counted',
    )
    ws.send({ type: 'subscribe', topics: ['f/**'] })
    await ws.nth('snapshot', 1, 10_000)
    const again = await publish(s.url, { topic: 'f/a', data: 3 })
    assert.is(again.status, 201)
    const [e] = await ws.waitEvents(1, 10_000)
    assert.is(e!.id, again.body.id)
    assert.match(s.output(), /the event store answers again/)
    ws.close()
  })

  test('the SDK whose WebSocket subscribe met the outage reconnects, and resumes from its cursor once the store answers', async ({ redis, s }) => {
    const first = (await publish(s.url, { topic: 'g/a', data: 0 })).body.id as string
    redis.pause()
    let feed: ReturnType<typeof sdk> | undefined
    try {
      feed = sdk(s.url, { topics: ['g/**'], transports: ['websocket'], since: first })
      const errors: string[] = []
      feed.feed.on('error', (e) => errors.push(e.code))
      await until('the subscribe to fail', () => (errors.includes('engine_unavailable') ? true : undefined), 10_000)
      await until(
        'the SDK to reconnect rather than sit on a socket that holds nothing',
        () => (feed!.statuses.some((x) => x.state === 'reconnecting') ? true : undefined),
        5000,
      )
    } finally {
      redis.resume()
    }
    await until('the store back (/healthz)', async () => ((await request(`${s.url}/healthz`)).status === 200 ? true : undefined), 15_000)
    const sentinel = (await publish(s.url, { topic: 'g/a', data: 'sentinel' })).body.id as string
    const got = await feed.waitId(sentinel, 15_000)
    assert.equal(
      got.map((e) => e.id),
      [sentinel],
      'nothing lost, nothing twice',
    )
    feed.feed.close()
  })
  test.run()
}
