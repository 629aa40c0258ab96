import http from 'node:http'
import net from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RUNTIMES, runtimeOf, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { publish, request } from './helpers/http.ts'
import { metricSum } from './helpers/metrics.ts'
import { SseReader } from './helpers/sse.ts'

/** Sends raw bytes on a fresh TCP connection; resolves with what the server answered (and when it began) once it closed, or after `timeoutMs`. */
function raw(port: number, send: (s: net.Socket) => void, timeoutMs = 3000): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const s = net.connect(port, '127.0.0.1', () => send(s))
    let text = ''
    let ms = -1
    s.on('data', (d) => {
      if (ms < 0) ms = Date.now() - t0
      text += d
    })
    const timer = setTimeout(() => (s.destroy(), resolve({ text, closed: false, ms })), timeoutMs)
    s.on('close', () => (clearTimeout(timer), resolve({ text, closed: true, ms })))
    s.on('error', () => {})
  })
}
/** Opens `GET path` from `localAddress` and resolves with the answer's status once it begins; the socket stays open (a held slot). */
function openFrom(port: number, localAddress: string, path: string): Promise<{ status: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`))
    socket.once('data', (d) => resolve({ status: statusOf(String(d)), socket }))
    socket.once('error', reject)
  })
}
const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1])
/** Publishes one event from `localAddress` (a publisher of its own, to PUBLISH_RATE); resolves with the status. */
function publishFrom(port: number, localAddress: string, topic: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ topic, data: localAddress })
    const req = http.request(
      { host: '127.0.0.1', port, localAddress, method: 'POST', path: '/api/events', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}
const refusal = (c: WsClient) =>
  c.opened.then(
    () => 'opened',
    (e: Error) => e.message,
  )

/** Abuse limits, over real sockets, on each runtime and engine. */
for (const target of RUNTIMES) {
  const runtime = runtimeOf(target)
  const test = suite(`abuse limits [${target}]`)

  test('MAX_CONNECTIONS_PER_IP: WebSockets, SSE streams and held polls count together; 429 before the upgrade or stream', async () => {
    const s = await startServer(target, { MAX_CONNECTIONS_PER_IP: '3' })
    try {
      // A GET of /ws without the upgrade is answered 426 and takes no slot (else these three would hold them all).
      for (let i = 0; i < 3; i++) assert.is((await request(`${s.url}/ws?topics=c/x`)).body.error.code, 'upgrade_required')
      const cursor = (await request(`${s.url}/api/snapshot?topics=c/x`)).body.cursor
      const ws = await WsClient.open(`${s.wsUrl}/ws?topics=c/x`)
      const sse = new SseReader(`${s.url}/sse?topics=c/x`)
      await sse.waitFor('snapshot', 1)
      const held = request(`${s.url}/poll?topics=c/x&cursor=${cursor}&wait=20`)
      await until('3 connections', async () => ((await request(`${s.url}/healthz`)).body.connections === 3 ? true : undefined))
      assert.is(await refusal(new WsClient(`${s.wsUrl}/ws?topics=c/x`)), 'upgrade refused: 429')
      assert.is((await request(`${s.url}/ws?topics=c/x`)).status, 426, 'the missing upgrade is told first, slots full or not')
      for (const path of [`/sse?topics=c/x`, `/poll?topics=c/x&cursor=${cursor}&wait=1`]) {
        const r = await request(`${s.url}${path}`)
        assert.is(r.status, 429, path)
        assert.is(r.body.error.code, 'too_many_connections')
      }
      // A snapshot poll holds nothing, so it is not counted.
      assert.is((await request(`${s.url}/poll?topics=c/x`)).status, 200)
      // A client-sent X-Forwarded-For is ignored without TRUST_PROXY.
      assert.is((await request(`${s.url}/sse?topics=c/x`, { headers: { 'x-forwarded-for': '198.51.100.9' } })).status, 429)
      // An event answers the held poll, which frees its slot.
      await publish(s.url, { topic: 'c/x', data: 1 })
      assert.is((await held).status, 200)
      const again = await WsClient.open(`${s.wsUrl}/ws?topics=c/x`)
      await again.nth('snapshot')
      ws.close()
      again.close()
      sse.close()
    } finally {
      await s.stop()
    }
  })

  test('TRUST_PROXY=1: the address is the X-Forwarded-For entry the proxy appended', async () => {
    const s = await startServer(target, { MAX_CONNECTIONS_PER_IP: '1', TRUST_PROXY: '1' })
    try {
      const as = (ip: string) => ({ 'x-forwarded-for': `203.0.113.66, ${ip}` })
      const first = new SseReader(`${s.url}/sse?topics=c/x`, as('198.51.100.1'))
      await first.waitFor('snapshot', 1)
      assert.is((await request(`${s.url}/sse?topics=c/x`, { headers: as('198.51.100.1') })).status, 429, 'the same client')
      const other = new SseReader(`${s.url}/sse?topics=c/x`, as('198.51.100.2'))
      await other.waitFor('snapshot', 1)
      // No X-Forwarded-For (a request that did not come through the proxy): the socket's address, each its own.
      const direct = await openFrom(s.port, '127.0.0.2', '/sse?topics=c/x')
      const again = await openFrom(s.port, '127.0.0.2', '/sse?topics=c/x')
      const another = await openFrom(s.port, '127.0.0.3', '/sse?topics=c/x')
      assert.equal([direct.status, again.status, another.status], [200, 429, 200])
      first.close()
      other.close()
      for (const c of [direct, again, another]) c.socket.destroy()
    } finally {
      await s.stop()
    }
  })

  test('PUBLISH_RATE: a burst of twice the rate, then 429 rate_limited with Retry-After; each publisher on its own', async () => {
    const s = await startServer(target, { PUBLISH_RATE: '5' })
    try {
      const before = (await request(`${s.url}/api/snapshot?topics=rate/a`)).body.cursor as string
      const statuses: number[] = []
      let limited: Awaited<ReturnType<typeof publish>> | undefined
      for (let i = 0; i < 14; i++) {
        const r = await publish(s.url, { topic: 'rate/a', data: i })
        statuses.push(r.status)
        if (r.status === 429) limited ??= r
      }
      assert.ok(
        statuses.slice(0, 10).every((x) => x === 201),
        `${statuses}`,
      )
      assert.ok(
        statuses.slice(11).every((x) => x === 429),
        `${statuses}`,
      )
      assert.is(limited!.body.error.code, 'rate_limited')
      assert.ok(Number(limited!.headers.get('retry-after')) >= 1)
      // Exactly the accepted ones were stored.
      const stored = (await request(`${s.url}/api/events?topics=rate/a&since=${before}`)).body.events as unknown[]
      assert.is(stored.length, statuses.filter((x) => x === 201).length)
    } finally {
      await s.stop()
    }
  })

  test('PUBLISH_RATE_BYTES: the buckets held stay within it; a publisher it forgot starts again with a full burst', async () => {
    // PUBLISH_RATE=1: a burst of 2, then one a second. Each loopback address is a publisher of its own.
    const [small, roomy] = await Promise.all([
      startServer(target, { PUBLISH_RATE: '1', PUBLISH_RATE_BYTES: '4096' }),
      startServer(target, { PUBLISH_RATE: '1' }),
    ])
    try {
      const others = Array.from({ length: 40 }, (_, i) => `127.0.1.${i + 1}`)
      let spentAt = 0 // when 127.0.0.2 spent its burst on the last server, the small one
      for (const s of [roomy, small]) {
        const burst = [await publishFrom(s.port, '127.0.0.2', 'rate/b'), await publishFrom(s.port, '127.0.0.2', 'rate/b')]
        assert.equal([...burst, await publishFrom(s.port, '127.0.0.2', 'rate/b')], [201, 201, 429], 'the burst, then refused')
        spentAt = Date.now()
        for (const address of others) assert.is(await publishFrom(s.port, address, 'rate/b'), 201, address)
      }
      const held = await metricSum(small.url, 'livefeed_publish_rate_bytes')
      assert.ok(held > 0 && held <= 4096, `PUBLISH_RATE_BYTES=4096 holds ${held} bytes`)
      assert.ok((await metricSum(roomy.url, 'livefeed_publish_rate_bytes')) >= 41 * 160, 'the default keeps all 41 publishers')
      // Kept, 127.0.0.2's bucket could hold two tokens again only two seconds after it was spent.
      const since = Date.now() - spentAt
      assert.ok(since < 2000, `the 40 other publishers took ${since} ms: too long to tell a forgotten bucket from a refilled one`)
      const again = [await publishFrom(small.port, '127.0.0.2', 'rate/b'), await publishFrom(small.port, '127.0.0.2', 'rate/b')]
      assert.equal(again, [201, 201], 'forgotten, it has its full burst')
    } finally {
      await Promise.all([small.stop(), roomy.stop()])
    }
  })

  test('CLIENT_FRAME_RATE: frames over the rate get rate_limited error frames; sustained abuse closes with 1008', async () => {
    const s = await startServer(target, { CLIENT_FRAME_RATE: '5', MAX_BAD_FRAMES: '5' })
    try {
      const c = await WsClient.open(`${s.wsUrl}/ws`)
      await c.nth('welcome')
      for (let i = 0; i < 30; i++) c.send({ type: 'ping' })
      // Deno drops a socket that keeps sending after the server's close frame before that frame goes out: 1006.
      const code = await c.waitClose()
      const allowed = runtime === 'deno' ? [1008, 1006] : [1008]
      assert.ok(allowed.includes(code), `closed with ${code}, expected ${allowed.join(' or ')}`)
      assert.ok(c.of('pong').length < 30, `${c.of('pong').length} pongs`)
      assert.ok(c.of('error').every((e) => e.code === 'rate_limited'))
      // A socket Deno dropped (1006) lost what it had queued too, pongs and error frames alike.
      if (code !== 1006) assert.ok(c.of('pong').length >= 10 && c.of('error').length > 0, `${c.of('pong').length} pongs`)
    } finally {
      await s.stop()
    }
  })

  test('ALLOWED_ORIGINS: pages on other origins get 403 forbidden_origin on /ws, /sse and /poll; clients without Origin pass', async () => {
    const s = await startServer(target, { ALLOWED_ORIGINS: 'https://good.example' })
    try {
      const evil = { origin: 'https://evil.example' }
      for (const path of ['/sse?topics=o/x', '/poll?topics=o/x', '/ws?topics=o/x']) {
        const r = await request(`${s.url}${path}`, { headers: evil })
        assert.is(r.status, 403, path)
        assert.is(r.body.error.code, 'forbidden_origin')
      }
      const ws = new (await import('ws')).default(`${s.wsUrl}/ws`, { origin: 'https://evil.example' })
      const status = await new Promise((resolve) => ws.once('unexpected-response', (_q, res) => resolve(res.statusCode)).once('open', () => resolve('opened')))
      assert.is(status, 403)
      assert.is((await request(`${s.url}/poll?topics=o/x`, { headers: { origin: 'https://good.example' } })).status, 200)
      const read = await request(`${s.url}/api/snapshot?topics=o/x`, { headers: { origin: 'https://good.example' } })
      assert.is(read.headers.get('access-control-allow-origin'), 'https://good.example')
      // An SSE stream's head carries every middleware's headers, also on Node, where the body skips node-server's reader.
      const stream = await fetch(`${s.url}/sse?topics=o/x`, { headers: { origin: 'https://good.example', 'x-request-id': 'sse-head-1' } })
      assert.is(stream.status, 200)
      assert.is(stream.headers.get('access-control-allow-origin'), 'https://good.example')
      assert.is(stream.headers.get('x-request-id'), 'sse-head-1')
      assert.is(stream.headers.get('content-type'), 'text/event-stream')
      const reader = stream.body!.getReader()
      assert.match(new TextDecoder().decode((await reader.read()).value), /^retry: \d+\n/)
      await reader.cancel()
      assert.is((await request(`${s.url}/poll?topics=o/x`)).status, 200)
      const noOrigin = await WsClient.open(`${s.wsUrl}/ws?topics=o/x`)
      await noOrigin.nth('snapshot')
      noOrigin.close()
    } finally {
      await s.stop()
    }
  })

  test('with a token scheme, other origins may publish with a token and get their preflight approved', async () => {
    const s = await startServer(target, { PUBLISH_TOKEN: 'token-for-origin-test' })
    try {
      const pre = await fetch(`${s.url}/api/events`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://dash.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization,idempotency-key',
        },
      })
      assert.is(pre.status, 204)
      assert.match(pre.headers.get('access-control-allow-headers')!, /Idempotency-Key/)
      const r = await publish(s.url, { topic: 'o/x', data: 1 }, { origin: 'https://dash.example', authorization: 'Bearer token-for-origin-test' })
      assert.is(r.status, 201)
    } finally {
      await s.stop()
    }
  })

  test('BODY_TIMEOUT: a body that does not arrive in time gets 408 and the connection is closed; an aborted body logs at debug only', async () => {
    const s = await startServer(target, { BODY_TIMEOUT: '0.5' })
    try {
      const head = (extra: string) => `POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}\r\n`
      const slow = await raw(s.port, (sock) => sock.write(`${head('Content-Length: 100\r\n')}{"topic":"t/a",`))
      assert.is(statusOf(slow.text), 408, slow.text)
      assert.match(slow.text, /"request_timeout"/)
      assert.ok(slow.ms >= 0 && slow.ms < 2000, `answered after ${slow.ms} ms`)
      // node-server closes the connection (on Node and on Deno); Deno's own server keeps it open (a handler
      // cannot close it), the body abandoned.
      if (runtime !== 'deno') assert.ok(slow.closed, 'the connection was closed')
      const chunked = await raw(s.port, (sock) => sock.write(`${head('Transfer-Encoding: chunked\r\n')}5\r\n{"top\r\n`))
      assert.is(statusOf(chunked.text), 408, chunked.text)
      if (runtime !== 'deno') assert.ok(chunked.closed)
      // All bodies' deadlines share one timer (src/core/deadlines.ts): each still gets its whole BODY_TIMEOUT from
      // its own start, and the later one is not ended with the earlier. The 300 ms between them is the case
      // under test (two deadlines apart), not a wait standing in for an event.
      const early = raw(s.port, (sock) => sock.write(`${head('Content-Length: 100\r\n')}{"topic":"t/a",`))
      await new Promise((resolve) => setTimeout(resolve, 300))
      const late = raw(s.port, (sock) => sock.write(`${head('Content-Length: 100\r\n')}{"topic":"t/b",`))
      for (const r of await Promise.all([early, late])) {
        assert.is(statusOf(r.text), 408, r.text)
        assert.ok(r.ms >= 450 && r.ms < 2000, `answered after ${r.ms} ms, BODY_TIMEOUT 500 ms`)
      }
      // A client that goes away mid-body: no error-level line, no stack.
      await raw(s.port, (sock) => sock.end(`${head('Content-Length: 100\r\n')}{"topic":`), 2000)
      await publish(s.url, { topic: 't/ok', data: 1 }) // the server goes on
      assert.not.match(s.output(), /"level":(50|60)/, 'no error-level log line')
    } finally {
      await s.stop()
    }
  })

  test('MAX_JSON_DEPTH and numbers JSON cannot carry: 400, never a 500 or a changed value', async () => {
    const s = await startServer(target, { MAX_JSON_DEPTH: '64' })
    try {
      const deep = (n: number) => '['.repeat(n) + ']'.repeat(n)
      const send = (body: string) => request(`${s.url}/api/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
      const cases: [string, string][] = [
        [`{"topic":"j/a","data":${deep(5000)}}`, 'too_deep'],
        [`{"topic":"j/a","data":${deep(64)}}`, 'too_deep'],
        ['{"topic":"j/a","data":1e999999}', 'validation_failed'],
        [`{"topic":"j/a","data":{"n":${'9'.repeat(50_000)}}}`, 'validation_failed'],
        ['{"topic":"j/a","data":[1,-1e400]}', 'validation_failed'],
      ]
      for (const [body, code] of cases) {
        const r = await send(body)
        assert.is(r.status, 400, `${code}: ${body.slice(0, 40)}`)
        assert.is(r.body.error.code, code)
      }
      const ok = await send(`{"topic":"j/a","data":${deep(63)}}`)
      assert.is(ok.status, 201, 'exactly at the limit is fine')
      const big = await send('{"topic":"j/a","data":12345678901234567890}')
      assert.is(big.status, 201, 'a finite number is stored as it parses')
      const c = await WsClient.open(`${s.wsUrl}/ws`)
      c.send(`{"type":"subscribe","topics":["j/a"],"x":${deep(100)}}`)
      assert.is((await c.nth('error')).code, 'too_deep')
      c.close()
      assert.not.match(s.output(), /"level":(50|60)/)
    } finally {
      await s.stop()
    }
  })

  test.run()
}
