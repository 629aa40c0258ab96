import net from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RUNTIMES, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { publish, request } from './helpers/http.ts'

for (const runtime of RUNTIMES) {
  const test = suite<{ s: Server }>(`WebSocket [${runtime}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(runtime, { MAX_FRAME_BYTES: '4096', MAX_BAD_FRAMES: '5', MAX_PATTERNS: '10' })
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('welcome, then the snapshot of the subscribed topics, then live events that match', async ({ s }) => {
    await publish(s.url, [
      { topic: 'live/a', data: 'old-a' },
      { topic: 'live/a', data: 'new-a' },
      { topic: 'live/b', data: 'b' },
      { topic: 'elsewhere', data: 'x' },
    ])
    const c = await WsClient.open(`${s.wsUrl}/ws`)
    const welcome = await c.nth('welcome')
    assert.type(welcome.cursor, 'string')
    assert.is(welcome.heartbeatMs, 25_000)
    c.send({ type: 'subscribe', topics: ['live/*'] })
    const subscribed = await c.nth('subscribed')
    assert.equal(subscribed.topics, ['live/*'])
    const snap = await c.nth('snapshot')
    assert.equal(
      snap.events.map((e) => e.data),
      ['new-a', 'b'],
    )
    const pub = await publish(s.url, [
      { topic: 'elsewhere', data: 'no' },
      { topic: 'live/c', data: 'yes' },
    ])
    const [ev] = await c.waitEvents(1)
    assert.equal({ ...ev }, { type: 'event', ...pub.body.events[1] })
    assert.ok(c.frames.indexOf(snap) < c.frames.indexOf(ev!), 'snapshot before any event')
    const topics = await request(`${s.url}/api/topics`)
    assert.is(topics.body.topics.find((t: { topic: string }) => t.topic === 'live/c').subscribers, 1)
    c.close()
  })

  test('?topics=&since= subscribes on open and replays what came after the cursor', async ({ s }) => {
    const first = await publish(s.url, { topic: 'q/1', data: 0 })
    const later = await publish(
      s.url,
      [1, 2, 3].map((n) => ({ topic: n === 2 ? 'skip/1' : 'q/1', data: n })),
    )
    const c = await WsClient.open(`${s.wsUrl}/ws?topics=q/**&since=${first.body.id}`)
    const replayed = await c.waitEvents(2)
    assert.equal(
      replayed.map((e) => e.data),
      [1, 3],
    )
    assert.is(replayed[1]!.id, later.body.events[2].id)
    assert.is(c.of('snapshot').length, 0)
    await publish(s.url, { topic: 'q/1', data: 4 })
    assert.equal(
      (await c.waitEvents(3)).map((e) => e.data),
      [1, 3, 4],
    )
    c.close()
  })

  test('a stale cursor gets reset, then the snapshot, then live events', async ({ s }) => {
    await publish(s.url, { topic: 'stale/a', data: 'latest' })
    const c = await WsClient.open(`${s.wsUrl}/ws`)
    c.send({ type: 'subscribe', topics: ['stale/a'], since: 'zz0000000000-00000000001' })
    const reset = await c.nth('reset')
    assert.is(reset.reason, 'stale_cursor')
    const snap = await c.nth('snapshot')
    assert.equal(
      snap.events.map((e) => e.data),
      ['latest'],
    )
    assert.ok(c.frames.indexOf(reset) < c.frames.indexOf(snap))
    await publish(s.url, { topic: 'stale/a', data: 'next' })
    assert.equal(
      (await c.waitEvents(1)).map((e) => e.data),
      ['next'],
    )
    c.close()
  })

  test('unsubscribe stops delivery; one event matching two patterns arrives once', async ({ s }) => {
    const c = await WsClient.open(`${s.wsUrl}/ws?topics=u/*,u/**`)
    await c.nth('snapshot')
    await publish(s.url, { topic: 'u/x', data: 1 })
    await c.waitEvents(1)
    c.send({ type: 'unsubscribe', topics: ['u/*', 'u/**'] })
    await c.nth('unsubscribed')
    const marker = await WsClient.open(`${s.wsUrl}/ws?topics=u/x`)
    await marker.nth('snapshot')
    await publish(s.url, { topic: 'u/x', data: 2 })
    await marker.waitEvents(1)
    // The marker saw event 2, published after the unsubscribe was acknowledged; the first client must not.
    await c.send({ type: 'ping' })
    await c.nth('pong')
    assert.equal(
      c.events().map((e) => e.data),
      [1],
    )
    c.close()
    marker.close()
  })

  test('bad frames get error frames and the socket stays open', async ({ s }) => {
    const c = await WsClient.open(`${s.wsUrl}/ws`)
    const cases: [string, string][] = [
      ['not json', 'invalid_json'],
      ['{"type":"dance"}', 'unknown_type'],
      ['{"type":"subscribe","topics":"a"}', 'validation_failed'],
      ['{"type":"subscribe","topics":["a b"]}', 'invalid_pattern'],
      ['{"type":"subscribe","topics":["a"],"since":"garbage"}', 'invalid_cursor'],
    ]
    for (const [i, [frame, code]] of cases.entries()) {
      c.send(frame)
      const err = await c.nth('error', i + 1)
      assert.is(err.code, code, frame)
      assert.type(err.message, 'string')
    }
    c.send({ type: 'ping' })
    await c.nth('pong')
    assert.is(c.closeCode, undefined)
    c.close()
  })

  test('too many patterns: error frame, nothing subscribed', async ({ s }) => {
    const c = await WsClient.open(`${s.wsUrl}/ws`)
    c.send({ type: 'subscribe', topics: Array.from({ length: 11 }, (_, i) => `p/${i}`) })
    assert.is((await c.nth('error')).code, 'too_many_patterns')
    c.send({ type: 'subscribe', topics: Array.from({ length: 6 }, (_, i) => `p/${i}`) })
    await c.nth('snapshot')
    c.send({ type: 'subscribe', topics: Array.from({ length: 6 }, (_, i) => `p/x${i}`) })
    assert.is((await c.nth('error', 2)).code, 'too_many_patterns')
    c.send({ type: 'subscribe', topics: ['p/other'], since: (await c.nth('welcome')).cursor })
    assert.is((await c.nth('error', 3)).code, 'since_not_first')
    c.close()
    // Sent back to back, before the first is done: the second still finds the first subscribed.
    const d = await WsClient.open(`${s.wsUrl}/ws`)
    const head = (await d.nth('welcome')).cursor
    d.send({ type: 'subscribe', topics: ['race/a'] })
    d.send({ type: 'subscribe', topics: ['race/b'], since: head })
    assert.is((await d.nth('error')).code, 'since_not_first')
    d.close()
  })

  test("a later subscribe's snapshot has the latest of each new topic, not again one the socket's patterns already had", async ({ s }) => {
    const a1 = (await publish(s.url, { topic: 'dup/a', data: 1 })).body
    const x1 = (await publish(s.url, { topic: 'fresh/x', data: 1 })).body
    const c = await WsClient.open(`${s.wsUrl}/ws?topics=dup/*`)
    const ids = (f: { events: { id: string }[] }) => f.events.map((e) => e.id)
    assert.equal(ids(await c.nth('snapshot')), [a1.id])
    const a2 = (await publish(s.url, { topic: 'dup/a', data: 2 })).body
    await c.waitEvents(1)
    c.send({ type: 'subscribe', topics: ['dup/a', 'fresh/x'] })
    assert.equal(ids(await c.nth('snapshot', 2)), [x1.id], 'dup/a was sent already (its snapshot, then live)')
    // With rewind the subscribe asks for the history again, and gets it.
    c.send({ type: 'subscribe', topics: ['dup/**'], rewind: 2 })
    assert.equal(ids(await c.nth('snapshot', 3)), [a1.id, a2.id])
    const sentinel = (await publish(s.url, { topic: 'dup/a', data: 3 })).body
    const events = await c.waitId(sentinel.id)
    assert.equal(
      events.map((e) => e.id),
      [a2.id, sentinel.id],
      'each live event once',
    )
    c.close()
  })

  test('a frame over MAX_FRAME_BYTES closes with 1009; stored events stay', async ({ s }) => {
    const kept = await publish(s.url, { topic: 'big/kept', data: 1 })
    const c = await WsClient.open(`${s.wsUrl}/ws`)
    c.send(JSON.stringify({ type: 'subscribe', topics: ['a'], pad: 'x'.repeat(5000) }))
    assert.is(await c.waitClose(), 1009)
    const snap = await request(`${s.url}/api/snapshot?topics=big/kept`)
    assert.equal(snap.body.events, [kept.body])
  })

  test('more than MAX_BAD_FRAMES bad frames close with 1008', async ({ s }) => {
    const c = await WsClient.open(`${s.wsUrl}/ws`)
    for (let i = 0; i < 6; i++) c.send('garbage')
    assert.is(await c.waitClose(), 1008)
    assert.is(c.of('error').length, 6)
  })

  test.run()
}

/** The text frames in one chunk read from the socket (server frames are unmasked; only short ones here). */
function textFrames(chunk: Buffer): string[] {
  const out: string[] = []
  for (let off = 0; off + 2 <= chunk.length; ) {
    let len = chunk[off + 1]! & 0x7f
    let h = 2
    if (len === 126) [len, h] = [chunk.readUInt16BE(off + 2), 4]
    if (off + h + len > chunk.length) break
    if ((chunk[off]! & 0x0f) === 1) out.push(chunk.toString('utf8', off + h, off + h + len))
    off += h + len
  }
  return out
}

const node = suite<{ s: Server }>('WebSocket writes [node]', {} as { s: Server })
node.before(async (ctx) => {
  ctx.s = await startServer('node')
})
node.after(async ({ s }) => void (await s.stop()))

node('the 101, welcome, subscribed and the snapshot leave in one write (one read for the client)', async ({ s }) => {
  await publish(s.url, { topic: 'one/write', data: 1 })
  const sock = net.connect(s.port, '127.0.0.1')
  const chunks: Buffer[] = []
  sock.on('data', (d: Buffer) => chunks.push(d))
  sock.write(
    `GET /ws?topics=one/write HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  )
  const all = () => Buffer.concat(chunks).toString('latin1')
  await until('the snapshot frame', () => (all().includes('"type":"snapshot"') ? true : undefined))
  // ws writes the 101 before the session exists; the socket is corked from then to the end of the turn.
  assert.is(chunks.length, 1, `the 101 and the open's frames came in ${chunks.length} reads`)
  const first = chunks[0]!
  assert.ok(first.subarray(0, 16).toString().includes(' 101 '))
  assert.equal(
    textFrames(first.subarray(first.indexOf('\r\n\r\n') + 4)).map((f) => (JSON.parse(f) as { type: string }).type),
    ['welcome', 'subscribed', 'snapshot'],
  )
  sock.destroy()
})

/** The status line the server answers a raw upgrade request with. */
function statusOf(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    let got = ''
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1')
      if (got.includes('\r\n')) {
        sock.destroy()
        resolve(got.slice(0, got.indexOf('\r\n')))
      }
    })
    sock.on('error', reject)
    sock.on('close', () => resolve(got || '(closed without an answer)'))
    sock.write(`${head}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  })
}

// Upgrades reach the app as node-server's lazy request (patches/, docs/patches.md): the same answers as a full one.
node('an upgrade without Host is served; a Host that makes no URL is a 400, not a 500', async ({ s }) => {
  assert.is(await statusOf(s.port, 'GET /ws?topics=a HTTP/1.1\r\n'), 'HTTP/1.1 101 Switching Protocols')
  assert.is(await statusOf(s.port, 'GET http://example.com/ws?topics=a HTTP/1.1\r\nHost: example.com\r\n'), 'HTTP/1.1 101 Switching Protocols')
  assert.is(await statusOf(s.port, 'GET /ws?topics=a HTTP/1.1\r\nHost: a b\r\n'), 'HTTP/1.1 400 Bad Request')
  assert.is(await statusOf(s.port, 'GET http://exa mple.com/ws HTTP/1.1\r\nHost: x\r\n'), 'HTTP/1.1 400 Bad Request')
  assert.is(await statusOf(s.port, 'GET /nowhere HTTP/1.1\r\nHost: x\r\n'), 'HTTP/1.1 404 Not Found')
})

node.run()
