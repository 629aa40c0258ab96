import http from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import type { DeliveredEvent } from '../src/protocol/events.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { metricSum } from './helpers/metrics.ts'

/**
 * A client that stops reading once subscribed: its socket fills the kernel's
 * buffers, then the server's. `resume()` reads again; `events` is what it got.
 */
interface Stalled {
  events: DeliveredEvent[]
  closeCode(): number | undefined
  resume(): void
  close(): void
}

async function stalledWs(s: Server, topics: string): Promise<Stalled> {
  const ws = new WebSocket(`${s.wsUrl}/ws?topics=${topics}`, { perMessageDeflate: false })
  const events: DeliveredEvent[] = []
  let code: number | undefined
  let subscribed: () => void
  const ready = new Promise<void>((resolve) => (subscribed = resolve))
  ws.on('message', (d) => {
    const f = JSON.parse(String(d)) as { type: string } & DeliveredEvent
    if (f.type === 'snapshot') {
      ws.pause()
      subscribed()
    } else if (f.type === 'event') {
      const { type: _t, ...e } = f
      events.push(e)
    }
  })
  ws.on('close', (c) => (code = c))
  await ready
  return { events, closeCode: () => code, resume: () => ws.resume(), close: () => ws.terminate() }
}

async function stalledSse(s: Server, topics: string): Promise<Stalled> {
  const events: DeliveredEvent[] = []
  let buf = ''
  let res: http.IncomingMessage | undefined
  let ended = false
  const req = http.get(`${s.url}/sse?topics=${topics}`)
  await new Promise<void>((resolve, reject) => {
    req.on('error', reject)
    req.on('response', (r) => {
      res = r
      r.setEncoding('utf8')
      r.on('end', () => (ended = true))
      r.on('data', (chunk: string) => {
        buf += chunk
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = block
            .split('\n')
            .find((l) => l.startsWith('data: '))
            ?.slice(6)
          if (block.includes('event: snapshot')) {
            r.pause()
            resolve()
          } else if (data && !block.includes('event: ')) events.push(JSON.parse(data) as DeliveredEvent)
        }
      })
    })
  })
  return { events, closeCode: () => (ended ? 0 : undefined), resume: () => res!.resume(), close: () => req.destroy() }
}

const pad = (bytes: number) => 'x'.repeat(bytes)
const ids = (list: readonly { id: string }[]) => list.map((e) => e.id)

for (const runtime of ['node', 'deno', 'deno-node'] as const) {
  const slow = suite(`a client that stops reading [${runtime}]`)

  slow('is closed with 4008 while a healthy client on the same server gets every event', async () => {
    const s = await startServer(runtime, { MAX_BUFFERED_BYTES: String(256 * 1024) })
    try {
      const healthy = await WsClient.open(`${s.wsUrl}/ws?topics=slow/**`)
      await healthy.nth('snapshot')
      const stalled = await stalledWs(s, 'slow/**')
      const sent: FeedEvent[] = []
      // Until the server gives up on it: each round adds 160 KB for every subscriber.
      await until(
        'the stalled client to be closed as slow',
        async () => {
          const r = await publish(
            s.url,
            Array.from({ length: 10 }, (_, i) => ({ topic: 'slow/a', data: { i, pad: pad(16_000) } })),
          )
          assert.is(r.status, 201)
          sent.push(...(r.body.events as FeedEvent[]))
          return (await metricSum(s.url, 'livefeed_disconnects_total', { transport: 'ws', reason: 'slow' })) >= 1 ? true : undefined
        },
        60_000,
      )
      const sentinel = (await publish(s.url, { topic: 'slow/a', data: 'sentinel' })).body as FeedEvent
      assert.equal(ids(await healthy.waitId(sentinel.id, 20_000)), ids([...sent, sentinel]), 'the healthy client missed nothing')
      stalled.resume()
      await until('the stalled client to read its close', () => stalled.closeCode(), 30_000)
      assert.is(stalled.closeCode(), 4008)
      assert.ok(stalled.events.length < sent.length, 'it was cut off before the end')
      assert.equal(ids(stalled.events), ids(sent.slice(0, stalled.events.length)), 'what it got is a prefix, in order: it resumes from its last id')
      healthy.close()
    } finally {
      await s.stop()
    }
  })

  for (const transport of ['ws', 'sse'] as const) {
    slow(`on a busy ticker over ${transport}: it ends with the latest price of every symbol and every score; a fast client gets everything`, async () => {
      const s = await startServer(runtime, { MAX_BUFFERED_BYTES: String(64 * 1024 * 1024) })
      try {
        const fast = await WsClient.open(`${s.wsUrl}/ws?topics=stocks/**,scores/**`)
        await fast.nth('snapshot')
        const stalled = await (transport === 'ws' ? stalledWs : stalledSse)(s, 'stocks/**,scores/**')
        const SYMBOLS = Array.from({ length: 10 }, (_, i) => `S${i}`)
        const sent: FeedEvent[] = []
        let round = 0
        const publishRound = async (last = false) => {
          const quotes = SYMBOLS.map((sym) => ({ topic: `stocks/${sym}`, data: { sym, price: 100 + round, last, pad: pad(last ? 0 : 4000) } }))
          const r = await publish(s.url, [...quotes, { topic: 'scores/g', data: { round: round++, last } }])
          assert.is(r.status, 201)
          sent.push(...(r.body.events as FeedEvent[]))
        }
        // Until the server has conflated for the stalled client: its buffers are full.
        await until(
          'conflation to start',
          async () => {
            await publishRound()
            return (await metricSum(s.url, 'livefeed_conflated_total')) >= 50 ? true : undefined
          },
          60_000,
        )
        for (let i = 0; i < 20; i++) await publishRound()
        await publishRound(true)
        const sentinel = sent.at(-1)!
        assert.equal(ids(await fast.waitId(sentinel.id, 20_000)), ids(sent), 'the fast client got every event, once, in order')
        assert.ok(
          fast.events().every((e) => !('conflated' in e)),
          'nothing was conflated for the fast client',
        )

        stalled.resume()
        await until('the stalled client to catch up', () => (stalled.events.some((e) => e.id === sentinel.id) ? true : undefined), 30_000)
        const got = stalled.events
        assert.equal(ids(got), [...ids(got)].sort(), 'in cursor order')
        assert.is(new Set(ids(got)).size, got.length, 'no event twice')
        assert.equal(ids(got.filter((e) => e.topic === 'scores/g')), ids(sent.filter((e) => e.topic === 'scores/g')), 'every score, none conflated')
        for (const sym of SYMBOLS) {
          const topic = `stocks/${sym}`
          const mine = got.filter((e) => e.topic === topic)
          assert.equal(mine.at(-1)!.id, sent.filter((e) => e.topic === topic).at(-1)!.id, `${sym}: the latest price`)
          const replaced = mine.reduce((n, e) => n + (e.conflated ?? 0), 0)
          assert.is(mine.length + replaced, sent.filter((e) => e.topic === topic).length, `${sym}: received + conflated = published`)
        }
        assert.ok(
          got.some((e) => (e.conflated ?? 0) > 0),
          'some events say they were conflated',
        )
        assert.ok(got.length < sent.length, 'the stalled client got fewer events than were published')
        stalled.close()
        fast.close()
        const snap = (await request(`${s.url}/api/snapshot?topics=stocks/**`)).body.events as FeedEvent[]
        assert.is(snap.length, SYMBOLS.length)
      } finally {
        await s.stop()
      }
    })
  }

  slow.run()
}
