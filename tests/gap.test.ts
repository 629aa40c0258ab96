import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startRedis } from '../harness/redis.ts'
import { startServer } from '../harness/server.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish } from './helpers/http.ts'
import { SseReader } from './helpers/sse.ts'

/**
 * An instance that falls behind by more than the history (paused here with
 * SIGSTOP while another instance publishes) cannot read what Redis trimmed.
 * Its subscribers are told: `reset`, then a snapshot, then live events again.
 * Never silence, never a gap passed off as continuity.
 */
test('Redis trimmed past a paused instance: its WebSocket and SSE subscribers get reset, a snapshot, then live events', async () => {
  const redis = await startRedis()
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: 'gap:', HISTORY_SIZE: '20' }
  const [a, b] = await Promise.all([startServer('node', env), startServer('node', env)])
  try {
    const ws = await WsClient.open(`${a.wsUrl}/ws?topics=gap/**`)
    const sse = new SseReader(`${a.url}/sse?topics=gap/**`)
    await Promise.all([ws.nth('snapshot'), sse.waitFor('snapshot', 1)])
    const before = (await publish(b.url, { topic: 'gap/a', data: 'before' })).body as FeedEvent
    await ws.waitId(before.id)

    a.proc.kill('SIGSTOP')
    let last: FeedEvent | undefined
    for (let i = 0; i < 80; i++) last = (await publish(b.url, { topic: `gap/t${i % 4}`, data: i })).body
    a.proc.kill('SIGCONT')

    const reset = await ws.nth('reset', 1, 10_000)
    assert.is(reset.reason, 'stale_cursor')
    const snap = await ws.nth('snapshot', 2, 10_000)
    assert.ok(ws.frames.indexOf(reset) < ws.frames.indexOf(snap), 'reset, then the snapshot')
    assert.equal(snap.events.map((e) => e.topic).sort(), ['gap/a', 'gap/t0', 'gap/t1', 'gap/t2', 'gap/t3'])
    assert.ok(
      snap.events.some((e) => e.id === last!.id),
      'the snapshot holds the latest of each topic',
    )
    await sse.waitFor('reset', 1, 10_000)
    await sse.waitFor('snapshot', 2, 10_000)

    // Live again: a sentinel arrives, once, on both.
    const end = (await publish(b.url, { topic: 'gap/end', data: 'sentinel' })).body as FeedEvent
    const wsEvents = await ws.waitId(end.id)
    assert.is(wsEvents.filter((e) => e.id === end.id).length, 1)
    await sse.waitId(end.id)
    assert.match(a.output(), /Redis trimmed past this instance/)
    ws.close()
    sse.close()
  } finally {
    a.proc.kill('SIGCONT')
    await Promise.all([a.stop(), b.stop()])
    await redis.stop()
  }
})

test.run()
