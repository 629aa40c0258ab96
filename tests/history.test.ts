/**
 * Per-topic history (TOPIC_HISTORY): `GET /api/history` and `rewind` on every transport, through the
 * production entry on Node and Deno, memory and Redis (two instances sharing one history).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { sharedRedis } from '../harness/redis.ts'
import { type Server, startServer, type Target } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { assertRewindSeam } from './helpers/load.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'
import { mint, PUBLISH_TOKEN, TOKEN_ENV } from './helpers/tokens.ts'

const ENV = { ...TOKEN_ENV, TOPIC_HISTORY: '6', PRIVATE_TOPICS: 'private/**' }

async function post(s: Server, topic: string, data: unknown): Promise<FeedEvent> {
  const r = await publish(s.url, { topic, data }, { Authorization: `Bearer ${PUBLISH_TOKEN}` })
  assert.is(r.status, 201, JSON.stringify(r.body))
  return r.body as FeedEvent
}

for (const target of ['node', 'deno', 'node+redis'] as Target[]) {
  const test = suite<{ s: Server }>(`history and rewind [${target}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(target, ENV)
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('GET /api/history: the newest events of one topic, oldest first, paged backwards with before', async ({ s }) => {
    const ev: FeedEvent[] = []
    for (let i = 0; i < 9; i++) {
      ev.push(await post(s, 'hist/a', i))
      await post(s, 'hist/busy', i) // another topic's events never count against this one's history
    }
    const all = await request(`${s.url}/api/history?topic=hist/a`)
    assert.is(all.status, 200)
    // TOPIC_HISTORY=6: the last six are kept, and a limit above it is cut to it.
    assert.equal(all.body.events, ev.slice(3))
    assert.is(all.body.more, undefined)
    const cut = await request(`${s.url}/api/history?topic=hist/a&limit=100`)
    assert.equal(cut.body.events, ev.slice(3))
    const head = (await request(`${s.url}/healthz`)).body.cursor
    assert.is(all.body.cursor, head, 'cursor is the head: subscribe with it as since to go on live')
    const last2 = await request(`${s.url}/api/history?topic=hist/a&limit=2`)
    assert.equal(last2.body.events, ev.slice(7))
    assert.is(last2.body.more, true)
    const before = await request(`${s.url}/api/history?topic=hist/a&limit=3&before=${last2.body.events[0].id}`)
    assert.equal(before.body.events, ev.slice(4, 7))
    assert.is(before.body.more, true)
    const first = await request(`${s.url}/api/history?topic=hist/a&limit=3&before=${before.body.events[0].id}`)
    assert.equal(first.body.events, ev.slice(3, 4))
    assert.is(first.body.more, undefined)
    assert.equal((await request(`${s.url}/api/history?topic=hist/never`)).body.events, [])
  })

  test('GET /api/history refuses what it cannot answer, each with its code', async ({ s }) => {
    await post(s, 'private/x', 1)
    const cases: [string, number, string][] = [
      ['topic=hist/*', 400, 'invalid_topic'],
      ['topic=hist/**', 400, 'invalid_topic'],
      ['', 400, 'invalid_topic'],
      ['topic=hist/a&before=nope', 400, 'invalid_cursor'],
      ['topic=hist/a&before=zz-0001', 400, 'invalid_cursor'],
      ['topic=hist/a&limit=0', 400, 'bad_request'],
      ['topic=private/x', 403, 'forbidden'],
    ]
    for (const [q, status, code] of cases) {
      const r = await request(`${s.url}/api/history?${q}`)
      assert.is(r.status, status, q)
      assert.is(r.body.error.code, code, q)
    }
    const token = await mint({ sub: 'u', subscribe: ['private/**'] })
    const granted = await request(`${s.url}/api/history?topic=private/x`, { headers: { Authorization: `Bearer ${token}` } })
    assert.is(granted.status, 200)
    assert.equal(
      granted.body.events.map((e: FeedEvent) => e.data),
      [1],
    )
  })

  test('rewind: the snapshot carries the last n events of each topic on WebSocket, SSE, long polling and /api/snapshot', async ({ s }) => {
    const a: FeedEvent[] = []
    const b: FeedEvent[] = []
    for (let i = 0; i < 5; i++) {
      a.push(await post(s, 'rw/a', i))
      if (i < 2) b.push(await post(s, 'rw/b', i))
    }
    const expected = [...a, ...b].sort((x, y) => (x.id < y.id ? -1 : 1)).filter((e) => e.topic === 'rw/b' || a.indexOf(e) >= 2)
    const viaQuery = await WsClient.open(`${s.wsUrl}/ws?topics=rw/*&rewind=3`)
    const viaFrame = await WsClient.open(`${s.wsUrl}/ws`)
    viaFrame.send({ type: 'subscribe', topics: ['rw/*'], rewind: 3 })
    const sse = new SseReader(`${s.url}/sse?topics=rw/*&rewind=3`)
    try {
      for (const ws of [viaQuery, viaFrame]) assert.equal((await ws.nth('snapshot')).events, expected)
      const [snap] = await sse.waitFor('snapshot', 1)
      assert.equal(JSON.parse(snap!.data).events, expected)
      assert.equal((await request(`${s.url}/poll?topics=rw/*&rewind=3`)).body.snapshot, expected)
      assert.equal((await request(`${s.url}/api/snapshot?topics=rw/*&rewind=3`)).body.events, expected)
      const stale = await request(`${s.url}/api/events?topics=rw/*&since=zz-0001&rewind=3`)
      assert.is(stale.body.reset, true)
      assert.equal(stale.body.snapshot, expected, 'a stale cursor: the reset snapshot is rewound too')
      // Live events follow once each, up to a sentinel.
      const sentinel = await post(s, 'rw/a', 'end')
      for (const ws of [viaQuery, viaFrame])
        assert.equal(
          (await ws.waitId(sentinel.id)).map((e) => e.id),
          [sentinel.id],
        )
      assert.equal(
        (await sse.waitId(sentinel.id)).map((m) => m.id),
        [sentinel.id],
      )
    } finally {
      viaQuery.close()
      viaFrame.close()
      sse.close()
    }
  })

  test("a subscribe frame's rewind is its own: a later subscribe on the same socket gets the latest, or the n it asks for", async ({ s }) => {
    const by: Record<string, FeedEvent[]> = { 'rs/a': [], 'rs/b': [], 'rs/c': [] }
    for (let i = 0; i < 4; i++) for (const topic of Object.keys(by)) by[topic]!.push(await post(s, topic, i))
    const ws = await WsClient.open(`${s.wsUrl}/ws`)
    try {
      ws.send({ type: 'subscribe', topics: ['rs/a'], rewind: 3 })
      assert.equal((await ws.nth('snapshot', 1)).events, by['rs/a']!.slice(-3))
      ws.send({ type: 'subscribe', topics: ['rs/b'] })
      assert.equal((await ws.nth('snapshot', 2)).events, by['rs/b']!.slice(-1), 'no rewind asked: the latest only')
      ws.send({ type: 'subscribe', topics: ['rs/c'], rewind: 2 })
      assert.equal((await ws.nth('snapshot', 3)).events, by['rs/c']!.slice(-2))
      // Live events of all three follow once each, up to a sentinel.
      const live = [await post(s, 'rs/b', 'live'), await post(s, 'rs/a', 'end')]
      assert.equal(
        (await ws.waitId(live[1]!.id)).map((e) => e.id),
        live.map((e) => e.id),
      )
    } finally {
      ws.close()
    }
  })

  test('the SDK: rewind on each transport, and feed.history()', async ({ s }) => {
    const ev: FeedEvent[] = []
    for (let i = 0; i < 4; i++) ev.push(await post(s, 'sdk/h', i))
    for (const transport of ['websocket', 'sse', 'poll'] as const) {
      const c = sdk(s.url, { topics: ['sdk/h'], rewind: 3, transports: [transport] })
      try {
        await c.waitOpen()
        await until(`the ${transport} snapshot`, () => (c.snapshots.length > 0 ? true : undefined))
        assert.equal(c.snapshots[0]!.events, ev.slice(-3), transport)
        const sentinel = await post(s, 'sdk/h', `end-${transport}`)
        ev.push(sentinel)
        assert.equal(
          (await c.waitId(sentinel.id)).map((e) => e.id),
          [sentinel.id],
          transport,
        )
        const page = await c.feed.history('sdk/h', { limit: 2 })
        assert.equal(page.events, ev.slice(-2))
        assert.is(page.more, true)
        const older = await c.feed.history('sdk/h', { limit: 2, before: page.events[0]!.id })
        assert.equal(older.events, ev.slice(-4, -2))
        const refused = await c.feed.history('sdk/*').then(
          () => undefined,
          (err: { code?: string }) => err.code,
        )
        assert.is(refused, 'invalid_topic')
      } finally {
        c.feed.close()
      }
    }
  })

  test('rewind outside 1..TOPIC_HISTORY is 400 validation_failed, or an error frame', async ({ s }) => {
    for (const path of ['/sse?topics=rw/a&rewind=7', '/poll?topics=rw/a&rewind=0', '/api/events?topics=rw/a&rewind=x', '/ws?topics=rw/a&rewind=7']) {
      const r = await request(`${s.url}${path}`)
      assert.is(r.status, 400, path)
      assert.is(r.body.error.code, 'validation_failed', path)
    }
    const ws = await WsClient.open(`${s.wsUrl}/ws`)
    try {
      ws.send({ type: 'subscribe', topics: ['rw/a'], rewind: 7 })
      assert.is((await ws.nth('error')).code, 'validation_failed')
      assert.equal(ws.of('subscribed'), [])
    } finally {
      ws.close()
    }
  })

  test('rewind at the seam: subscribers joining while a publisher runs see one unbroken run, nothing twice', async ({ s }) => {
    const N = 300
    let sent = 0
    const publisher = (async () => {
      for (; sent < N; sent++) await post(s, 'seam/r', sent)
    })()
    const clients: WsClient[] = []
    try {
      while (sent < N - 50 && clients.length < 8) {
        if (sent >= 10 + clients.length * 25) clients.push(await WsClient.open(`${s.wsUrl}/ws?topics=seam/r&rewind=5`))
        else await new Promise((r) => setImmediate(r))
      }
      await publisher
      const sentinel = await post(s, 'seam/r', N)
      for (const ws of clients) await assertRewindSeam(ws, sentinel.id, 5, N)
    } finally {
      for (const ws of clients) ws.close()
    }
  })

  test.run()
}

const shared = suite('history [two instances on one Redis]')
shared('an instance answers the history another stored, after that one is gone', async () => {
  const env = { ...ENV, REDIS_URL: (await sharedRedis()).url, REDIS_PREFIX: `hist${process.pid}:` }
  const [a, b] = await Promise.all([startServer('node+redis', env), startServer('node+redis', env)])
  try {
    const ev: FeedEvent[] = []
    for (let i = 0; i < 4; i++) ev.push(await post(a, 'two/a', i))
    await a.stop()
    const r = await request(`${b.url}/api/history?topic=two/a&limit=3`)
    assert.equal(r.body.events, ev.slice(1))
    assert.is(r.body.more, true)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})
shared.run()
