import { readdirSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { EventSource } from 'eventsource'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type RuntimeName, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import type { FeedEvent } from '../src/protocol/events.ts'
import { publish, request } from './helpers/http.ts'
import { metricSum } from './helpers/metrics.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader, stalledSse } from './helpers/sse.ts'

/**
 * The bounds issue 19 found missing in the running server, replayed through the production entries
 * (`dist/server.mjs` on Node, and Deno): a 12 MB snapshot reaches every reader whole, non-WebSocket
 * upgrades are answered, SSE streams that never read give their sockets back, and on Node the process keeps
 * descriptors for its own work under a connection flood.
 */
const KiB = 1024
const PAD = 'p'.repeat(60 * KiB)
/** 200 topics of ~60 KB: a 12 MB snapshot, published in batches under MAX_BODY_BYTES. */
async function bigSnapshot(s: Server): Promise<FeedEvent[]> {
  const sent: FeedEvent[] = []
  for (let b = 0; b < 20; b++) {
    const r = await publish(
      s.url,
      Array.from({ length: 10 }, (_, i) => ({ topic: `big/t${b * 10 + i}`, data: { pad: PAD } })),
    )
    assert.is(r.status, 201)
    sent.push(...(r.body.events as FeedEvent[]))
  }
  return sent
}
const topicsOf = (events: readonly { topic: string }[]) => events.map((e) => e.topic).sort()

for (const runtime of ['node', 'deno'] satisfies RuntimeName[]) {
  const test = suite(`bounds in the running server [${runtime}]`)

  test('a 12 MB snapshot reaches a reader whole, each topic once, on every transport and the SDK; no 4008', async () => {
    const s = await startServer(runtime)
    try {
      const sent = await bigSnapshot(s)
      const want = topicsOf(sent)
      const ws = await WsClient.open(`${s.wsUrl}/ws?topics=big/**`)
      const sse = new SseReader(`${s.url}/sse?topics=big/**`)
      const es = new EventSource(`${s.url}/sse?topics=big/**`)
      const esPages: { events: FeedEvent[]; more?: boolean }[] = []
      es.addEventListener('snapshot', (m) => esPages.push(JSON.parse(m.data)))
      const last = <T extends { more?: boolean }>(pages: T[]) => (pages.some((p) => !p.more) ? true : undefined)
      await until('the WebSocket snapshot', () => last(ws.of('snapshot')), 30_000)
      await until('the SSE snapshot', () => last(sse.of('snapshot').map((m) => JSON.parse(m.data) as { more?: boolean })), 30_000)
      await until('the EventSource snapshot', () => last(esPages), 30_000)
      assert.equal(topicsOf(ws.of('snapshot').flatMap((p) => p.events)), want, 'WebSocket')
      assert.ok(ws.of('snapshot').length > 1, 'in pages')
      assert.is(ws.closeCode, undefined, 'no 4008')
      assert.equal(topicsOf(sse.of('snapshot').flatMap((m) => (JSON.parse(m.data) as { events: FeedEvent[] }).events)), want, 'SSE')
      assert.not.ok(sse.ended, 'the stream goes on')
      assert.equal(topicsOf(esPages.flatMap((p) => p.events)), want, 'EventSource')
      // Polling: the first poll is the first page; the rest through /api/snapshot's next.
      let page = (await request(`${s.url}/poll?topics=big/**`)).body as { snapshot: FeedEvent[]; next?: string }
      const polled = [...page.snapshot]
      for (let next = page.next; next !== undefined; next = (page as { next?: string }).next) {
        const r = (await request(`${s.url}/api/snapshot?topics=big/**&next=${next}`)).body as { events: FeedEvent[]; next?: string }
        polled.push(...r.events)
        page = { snapshot: r.events, next: r.next }
      }
      assert.equal(topicsOf(polled), want, 'polling')
      // Each SDK ends with a sentinel on big/end: from the second on, it is in the snapshot too.
      const withEnd = [...want, 'big/end'].sort()
      for (const transport of ['websocket', 'sse', 'poll'] as const) {
        const f = sdk(s.url, { topics: ['big/**'], transports: [transport] })
        await until(`the SDK's snapshot over ${transport}`, () => last(f.snapshots), 30_000)
        assert.equal(topicsOf(f.snapshots.flatMap((p) => p.events)), transport === 'websocket' ? want : withEnd, `SDK over ${transport}`)
        const end = (await publish(s.url, { topic: 'big/end', data: transport })).body as FeedEvent
        assert.equal(
          (await f.waitId(end.id, 15_000)).map((e) => e.id),
          [end.id],
          'then live, nothing twice',
        )
        f.feed.close()
      }
      ws.close()
      sse.close()
      es.close()
    } finally {
      await s.stop()
    }
  })

  test('SSE streams that never read are cut and stop counting; a healthy subscriber misses nothing', async () => {
    const s = await startServer(runtime, { MAX_CONNECTIONS_PER_IP: '40', MAX_BUFFERED_BYTES: String(256 * KiB), END_GRACE: '1' })
    try {
      const healthy = await WsClient.open(`${s.wsUrl}/ws?topics=slow/**`)
      await healthy.nth('snapshot')
      const stalled = await Promise.all(Array.from({ length: 39 }, () => stalledSse(s.port, 'slow/**')))
      await until('40 connections', async () => ((await request(`${s.url}/healthz`)).body.connections === 40 ? true : undefined))
      const fds = runtime === 'node' ? readdirSync(`/proc/${s.proc.pid}/fd`).length : 0
      const sent: FeedEvent[] = []
      for (let i = 0; i < 200 && (await request(`${s.url}/healthz`)).body.connections > 1; i++) {
        sent.push((await publish(s.url, { topic: 'slow/a', data: { i, pad: PAD } })).body)
      }
      let open = -1
      await until(
        () => `the stalled streams gone from /healthz (${open} open)`,
        async () => ((open = (await request(`${s.url}/healthz`)).body.connections) === 1 ? true : undefined),
        15_000,
      )
      // Their slots are free: the address opens as many streams again.
      const again = Array.from({ length: 39 }, () => new SseReader(`${s.url}/sse?topics=slow/**`))
      await until('39 new streams', () => (again.every((r) => r.of('snapshot').length > 0) ? true : undefined), 10_000)
      if (runtime === 'node') {
        const now = readdirSync(`/proc/${s.proc.pid}/fd`).length
        assert.ok(now <= fds, `the cut streams' sockets are closed: ${now} descriptors, ${fds} with them open`)
      }
      const end = (await publish(s.url, { topic: 'slow/a', data: 'sentinel' })).body as FeedEvent
      assert.equal(
        (await healthy.waitId(end.id, 20_000)).map((e) => e.id),
        [...sent, end].map((e) => e.id),
        'the healthy subscriber missed nothing',
      )
      assert.ok((await metricSum(s.url, 'livefeed_disconnects_total', { transport: 'sse', reason: 'slow' })) >= 39)
      for (const x of stalled) x.destroy()
      for (const r of again) r.close()
      healthy.close()
    } finally {
      await s.stop()
    }
  })

  test('an upgrade to anything but websocket is answered within a second, on /ws and elsewhere', async () => {
    const s = await startServer(runtime)
    try {
      for (const path of ['/ws', '/api/events', '/']) {
        const started = Date.now()
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.get({
            host: '127.0.0.1',
            port: s.port,
            path,
            headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA' },
          })
          req.setTimeout(1000, () => req.destroy(new Error(`no answer to Upgrade: h2c on ${path} within 1 s`)))
          req.on('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)))
          req.on('upgrade', (res, socket) => (socket.destroy(), resolve(res.statusCode ?? 0)))
          req.on('error', reject)
        })
        assert.ok(status >= 200 && status < 500 && status !== 101, `${path}: ${status}`)
        assert.ok(Date.now() - started < 1000)
      }
    } finally {
      await s.stop()
    }
  })

  test.run()
}

const node = suite('the process keeps its descriptors [node]')
node(
  'MAX_CONNECTIONS and HEADERS_TIMEOUT: a flood from many loopback addresses is closed as it comes; a subscriber, a publisher and /healthz keep working',
  async () => {
    const s = await startServer('node', { MAX_CONNECTIONS: '60', HEADERS_TIMEOUT: '1', MAX_CONNECTIONS_PER_IP: '1000' })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: s.port, path, method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
          (res) => {
            let text = ''
            res.setEncoding('utf8')
            res.on('data', (d: string) => (text += d))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
          },
        )
        req.on('error', reject)
        req.end(body === undefined ? undefined : JSON.stringify(body))
      })
    const flood: net.Socket[] = []
    try {
      const sub = await WsClient.open(`${s.wsUrl}/ws?topics=flood/**`)
      await sub.nth('snapshot')
      assert.is((await call('GET', '/healthz')).status, 200) // the publisher's connection, opened before the flood
      // 300 connections from 127.0.0.2-31 that send nothing, or half a request head.
      let closedByServer = 0
      for (let i = 0; i < 300; i++) {
        const sock = net.connect({ host: '127.0.0.1', port: s.port, localAddress: `127.0.0.${2 + (i % 30)}` })
        sock.on('error', () => {})
        sock.on('close', () => closedByServer++)
        if (i % 2 === 0) sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')
        flood.push(sock)
      }
      const sent: FeedEvent[] = []
      for (let i = 0; i < 20; i++) {
        const r = await call('POST', '/api/events', { topic: 'flood/a', data: i })
        assert.is(r.status, 201, 'the publisher keeps working')
        sent.push(JSON.parse(r.body) as FeedEvent)
      }
      assert.equal(
        (await sub.waitId(sent.at(-1)!.id)).map((e) => e.id),
        sent.map((e) => e.id),
        'the subscriber keeps receiving',
      )
      await until(
        () => `every flood connection closed by the server (${closedByServer} of 300)`,
        () => (closedByServer === 300 ? true : undefined),
        10_000,
      )
      assert.ok(Number(/^livefeed_connections_dropped_total (\d+)/m.exec((await call('GET', '/metrics')).body)?.[1]) > 0, 'drops counted')
      assert.is(
        s
          .output()
          .split('\n')
          .filter((l) => l.includes('MAX_CONNECTIONS reached')).length,
        1,
        'logged once for the burst',
      )
      assert.is((await call('GET', '/healthz')).status, 200)
      // The subscriber, open for longer than HEADERS_TIMEOUT by now, was heard from: it is not cut.
      const late = JSON.parse((await call('POST', '/api/events', { topic: 'flood/a', data: 'sentinel' })).body) as FeedEvent
      assert.equal((await sub.waitId(late.id)).at(-1)?.id, late.id)
      sub.close()
    } finally {
      for (const sock of flood) sock.destroy()
      agent.destroy()
      await s.stop()
    }
  },
)
node.run()
