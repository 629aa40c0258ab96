import net from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RUNTIMES, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader, stalledSse } from './helpers/sse.ts'

const KIB = 1024
/** 60 topics of ~4 KiB each: about 240 KiB, four pages or more at READ_BYTES=64 KiB. */
const TOPICS = Array.from({ length: 60 }, (_, i) => `big/t${String(i).padStart(2, '0')}`)
const blob = (i: number) => ({ i, pad: 'x'.repeat(4 * KIB) })

/** Memory bounded in bytes: answers are paged at READ_BYTES on every transport, with nothing lost or doubled. */
for (const runtime of RUNTIMES) {
  const test = suite<{ s: Server; stored: FeedEvent[]; start: string }>(
    `bounded in bytes [${runtime}]`,
    {} as { s: Server; stored: FeedEvent[]; start: string },
  )
  test.before(async (ctx) => {
    ctx.s = await startServer(runtime, { READ_BYTES: String(64 * KIB) })
    ctx.start = (await request(`${ctx.s.url}/api/snapshot?topics=big/**`)).body.cursor
    const r = await publish(
      ctx.s.url,
      TOPICS.map((topic, i) => ({ topic, data: blob(i) })),
    )
    assert.is(r.status, 201)
    ctx.stored = r.body.events
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('GET /api/snapshot comes in pages of about READ_BYTES; `next` walks them; together they hold every topic once', async ({ s, stored }) => {
    const pages: { events: FeedEvent[]; cursor: string; more?: true; next?: string }[] = []
    let next: string | undefined
    do {
      const r = await request(`${s.url}/api/snapshot?topics=big/**${next ? `&next=${next}` : ''}`)
      assert.is(r.status, 200)
      pages.push(r.body)
      next = r.body.next
    } while (next)
    assert.ok(pages.length >= 4, `${pages.length} pages`)
    for (const p of pages) assert.ok(JSON.stringify(p).length < 64 * KIB + 8 * KIB, 'each page is about READ_BYTES')
    assert.ok(pages.slice(0, -1).every((p) => p.more === true) && pages.at(-1)!.more === undefined)
    assert.equal(new Set(pages.map((p) => p.cursor)).size, 1, 'one snapshot: every page has the same head')
    assert.equal(
      pages.flatMap((p) => p.events.map((e) => e.id)),
      stored.map((e) => e.id),
    )
    assert.is((await request(`${s.url}/api/snapshot?topics=big/**&next=garbage`)).body.error.code, 'invalid_cursor')
  })

  test('GET /api/events and /poll are cut at READ_BYTES with `more`, and continue from their cursor', async ({ s, stored, start }) => {
    for (const path of ['/api/events?topics=big/**&since=', '/poll?topics=big/**&wait=0&cursor=']) {
      const got: FeedEvent[] = []
      let cursor = start
      let answers = 0
      for (;;) {
        const r = await request(`${s.url}${path}${cursor}`)
        answers++
        got.push(...r.body.events)
        cursor = r.body.cursor
        if (!r.body.more) break
      }
      assert.ok(answers >= 4, `${path}: ${answers} answers`)
      assert.equal(
        got.map((e) => e.id),
        stored.map((e) => e.id),
        path,
      )
    }
  })

  test('WebSocket and SSE send a large snapshot as several frames (`more` on all but the last), then live events', async ({ s, stored }) => {
    const ws = await WsClient.open(`${s.wsUrl}/ws?topics=big/**`)
    const sse = new SseReader(`${s.url}/sse?topics=big/**`)
    const wsSnap = await until('the last snapshot frame', () => (ws.of('snapshot').some((f) => !f.more) ? ws.of('snapshot') : undefined))
    const sseSnap = await until('the last SSE snapshot', () => {
      const all = sse.of('snapshot').map((m) => JSON.parse(m.data) as { events: FeedEvent[]; more?: true })
      return all.some((p) => !p.more) ? all : undefined
    })
    for (const pages of [wsSnap, sseSnap]) {
      assert.ok(pages.length >= 4, `${pages.length} snapshot frames`)
      assert.equal(
        pages.flatMap((p) => p.events.map((e) => e.id)),
        stored.map((e) => e.id),
      )
    }
    const live = (await publish(s.url, { topic: 'big/t00', data: 'after' })).body as FeedEvent
    assert.equal(
      (await ws.waitId(live.id)).map((e) => e.id),
      [live.id],
    )
    assert.equal(
      (await sse.waitId(live.id)).map((m) => m.id),
      [live.id],
    )
    ws.close()
    sse.close()
  })

  test('the SDK pages the snapshot over long polling too, then goes live', async ({ s }) => {
    const client = sdk(s.url, { topics: ['big/**'], transports: ['poll'], pollWaitS: 1 })
    try {
      await until('every snapshot page', () => (client.snapshots.some((p) => !p.more) ? true : undefined), 10_000)
      assert.ok(client.snapshots.length >= 4)
      // Every topic once (an earlier test moved big/t00 on, so its latest is a newer event than the one stored first).
      assert.equal(client.snapshots.flatMap((p) => p.events.map((e) => e.topic)).sort(), [...TOPICS].sort())
      const live = (await publish(s.url, { topic: 'big/t01', data: 'after' })).body as FeedEvent
      assert.equal(
        (await client.waitId(live.id)).map((e) => e.id).filter((id) => id === live.id),
        [live.id],
      )
    } finally {
      client.feed.close()
    }
  })

  test.run()
}

/** Reads a raw WebSocket handshake, then never reads again: the server's queue for it grows. */
function stalledWebSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(
        'GET /ws?topics=flood/** HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      )
    })
    sock.once('data', (d) => {
      if (!String(d).startsWith('HTTP/1.1 101')) return reject(new Error(String(d)))
      sock.pause()
      resolve(sock)
    })
    sock.on('error', () => {})
  })
}

for (const runtime of ['node', 'deno'] as const) {
  const test = suite(`slow consumers and the outbound budget [${runtime}]`)

  test('OUTBOUND_BYTES: clients that stop reading are closed (4008, SSE ends) while a healthy client gets every event', async () => {
    // A big per-client cap, so it is the global budget that acts.
    const s = await startServer(runtime, { OUTBOUND_BYTES: String(1024 * KIB), MAX_BUFFERED_BYTES: String(64 * 1024 * KIB), MAX_EVENT_BYTES: String(64 * KIB) })
    try {
      const healthy = await WsClient.open(`${s.wsUrl}/ws?topics=flood/**`)
      await healthy.nth('snapshot')
      const stalled = await Promise.all([1, 2, 3].map(() => stalledWebSocket(s.port)))
      const sse = await Promise.all([1, 2].map(() => stalledSse(s.port, 'flood/**')))
      await until('6 connections', async () => ((await request(`${s.url}/healthz`)).body.connections === 6 ? true : undefined))
      const sent: FeedEvent[] = []
      const chunk = 'y'.repeat(60 * KIB)
      // ~30 MiB in all: far past what the kernel's socket buffers of the stalled clients absorb.
      for (let i = 0; i < 500 && (await request(`${s.url}/healthz`)).body.connections > 1; i++) {
        sent.push((await publish(s.url, { topic: 'flood/a', data: { i, chunk } })).body)
      }
      await until('the stalled clients closed', async () => ((await request(`${s.url}/healthz`)).body.connections === 1 ? true : undefined), 15_000)
      const end = (await publish(s.url, { topic: 'flood/a', data: 'sentinel' })).body as FeedEvent
      assert.equal(
        (await healthy.waitId(end.id, 20_000)).map((e) => e.id),
        [...sent, end].map((e) => e.id),
        'the healthy client lost nothing',
      )
      assert.match(s.output(), /outbound budget exceeded/)
      healthy.close()
      for (const x of [...stalled, ...sse]) x.destroy()
    } finally {
      await s.stop()
    }
  })

  test('MAX_BUFFERED_BYTES: a WebSocket that stops reading is closed with 4008; a healthy one gets every event', async () => {
    const s = await startServer(runtime, { MAX_BUFFERED_BYTES: String(64 * KIB), MAX_EVENT_BYTES: String(64 * KIB) })
    try {
      const healthy = await WsClient.open(`${s.wsUrl}/ws?topics=flood/**`)
      await healthy.nth('snapshot')
      const stalled = await stalledWebSocket(s.port)
      let closeCode: number | undefined
      const frames: Buffer[] = []
      stalled.on('data', (d) => frames.push(d))
      stalled.on('close', () => (closeCode = -1))
      const sent: FeedEvent[] = []
      for (let i = 0; i < 500 && closeCode === undefined; i++) {
        sent.push((await publish(s.url, { topic: 'flood/b', data: { i, chunk: 'z'.repeat(60 * KIB) } })).body)
        if ((await request(`${s.url}/healthz`)).body.connections === 1) break
      }
      await until('the slow client released', async () => ((await request(`${s.url}/healthz`)).body.connections === 1 ? true : undefined), 15_000)
      // Read what the stalled socket was sent: its last frame is a close frame with 4008.
      stalled.resume()
      // A close frame: 0x88, a short length, then the code (4008 = 0x0fa8).
      const closeFrame = () => {
        const all = Buffer.concat(frames)
        for (let i = all.indexOf(0x88); i >= 0; i = all.indexOf(0x88, i + 1)) if (all[i + 1]! < 126 && all.readUInt16BE(i + 2) === 4008) return true
        return undefined
      }
      await until('a close frame with 4008', closeFrame, 10_000)
      const end = (await publish(s.url, { topic: 'flood/b', data: 'sentinel' })).body as FeedEvent
      assert.equal(
        (await healthy.waitId(end.id, 20_000)).map((e) => e.id),
        [...sent, end].map((e) => e.id),
      )
      healthy.close()
      stalled.destroy()
    } finally {
      await s.stop()
    }
  })

  test.run()
}
