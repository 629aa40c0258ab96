import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { WebSocketServer } from 'ws'
import { until } from '../harness/wait.ts'
import { sseFrames } from '../src/protocol/sse.ts'
import { wsFrames } from '../src/protocol/ws.ts'
import { sdk } from './helpers/sdk.ts'

/**
 * The SDK against a server that breaks the protocol: what it cannot
 * understand is reported as an `error` with the code `bad_frame`; it neither
 * throws nor drops it silently, and what it can understand still arrives.
 * (A stand-in server, since livefeed itself never sends such frames.)
 */
const good = { id: 'e1-0002', topic: 'p/a', data: 1, ts: 1 }

async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  }
}

function errorsOf(client: ReturnType<typeof sdk>) {
  const errors: { code: string; message: string }[] = []
  client.feed.on('error', (e) => errors.push(e))
  return errors
}

test('WebSocket: a frame outside the protocol is a bad_frame error; the next good event arrives', async () => {
  const s = await serve((_req, res) => res.writeHead(404).end())
  const wss = new WebSocketServer({ server: s.server })
  wss.on('connection', (ws) => {
    ws.send(wsFrames.welcome('e1-0001', 25_000))
    ws.send(wsFrames.snapshot([], 'e1-0001'))
    ws.send('{"type":"event","id":"not a cursor","topic":"p/a","data":1,"ts":1}')
    ws.send('not json at all')
    ws.send('{"type":"surprise"}')
    ws.send(wsFrames.event(JSON.stringify(good)))
  })
  const client = sdk(s.url, { topics: ['p/**'], transports: ['websocket'] })
  const errors = errorsOf(client)
  try {
    assert.equal(await client.waitId(good.id), [good])
    await until('3 errors', () => (errors.length >= 3 ? true : undefined))
    assert.equal(
      errors.map((e) => e.code),
      ['bad_frame', 'bad_frame', 'bad_frame'],
    )
    assert.match(errors[0]!.message, /id/)
    assert.is(client.feed.state, 'open')
  } finally {
    client.feed.close()
    wss.close()
    await s.close()
  }
})

test('SSE: an event whose data is outside the protocol is a bad_frame error; the next good event arrives', async () => {
  const s = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(sseFrames.snapshot([], 'e1-0001'))
    res.write('event: snapshot\ndata: {"events":"nope"}\n\n')
    res.write('id: e1-0002\ndata: {"id":"e1-0002"}\n\n')
    res.write(sseFrames.event(good.id, JSON.stringify(good)))
  })
  const client = sdk(s.url, { topics: ['p/**'], transports: ['sse'] })
  const errors = errorsOf(client)
  try {
    assert.equal(await client.waitId(good.id), [good])
    await until('2 errors', () => (errors.length >= 2 ? true : undefined))
    assert.equal(
      errors.map((e) => e.code),
      ['bad_frame', 'bad_frame'],
    )
  } finally {
    client.feed.close()
    await s.close()
  }
})

test('long polling: an answer outside the protocol is a bad_frame error, and the poll starts over', async () => {
  let polls = 0
  const s = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    polls++
    if (polls === 1) return res.end('{"events":"nope","cursor":"e1-0001"}')
    if (polls === 2) return res.end(JSON.stringify({ snapshot: [], cursor: 'e1-0001' }))
    if (polls === 3) return res.end(JSON.stringify({ events: [good], cursor: good.id }))
    setTimeout(() => res.end(JSON.stringify({ events: [], cursor: good.id })), 200)
  })
  const client = sdk(s.url, { topics: ['p/**'], transports: ['poll'], pollWaitS: 1 })
  const errors = errorsOf(client)
  try {
    assert.equal(await client.waitId(good.id), [good])
    assert.equal(
      errors.map((e) => e.code),
      ['bad_frame'],
    )
    assert.match(errors[0]!.message, /poll answer/)
  } finally {
    client.feed.close()
    await s.close()
  }
})

test('a connection cut mid-snapshot: the SDK asks for the snapshot again (no since), shows each topic once, then goes live', async () => {
  const s = await serve((_req, res) => res.writeHead(404).end())
  const wss = new WebSocketServer({ server: s.server })
  const ev = (n: number) => ({ id: `e1-000${n}`, topic: `p/t${n}`, data: n, ts: 1 })
  const urls: string[] = []
  wss.on('connection', (ws, req) => {
    urls.push(req.url ?? '')
    ws.send(wsFrames.welcome('e1-0009', 25_000))
    if (urls.length === 1) {
      // The first page, then the connection is cut, as a deploy would.
      ws.send(wsFrames.snapshot([ev(1), ev(2)], 'e1-0009', true))
      ws.terminate()
      return
    }
    ws.send(wsFrames.snapshot([ev(1), ev(2)], 'e1-0009', true))
    ws.send(wsFrames.snapshot([ev(3)], 'e1-0009'))
    ws.send(wsFrames.event(JSON.stringify({ id: 'e1-000a', topic: 'p/t1', data: 10, ts: 2 })))
  })
  const client = sdk(s.url, { topics: ['p/**'], transports: ['websocket'] })
  try {
    await client.waitId('e1-000a')
    assert.is(urls.length, 2)
    assert.not.match(urls[1]!, /since=/, 'no resume from the cursor of a snapshot it only had part of')
    assert.equal(
      client.snapshots.flatMap((p) => p.events.map((e) => e.id)),
      ['e1-0001', 'e1-0002', 'e1-0003'],
      'each topic once',
    )
    assert.is(client.feed.cursor, 'e1-000a')
  } finally {
    client.feed.close()
    wss.close()
    await s.close()
  }
})

test.run()
