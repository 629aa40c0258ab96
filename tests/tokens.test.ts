import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RUNTIMES, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { metricSum } from './helpers/metrics.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'
import { badTokens, mint, PUBLISH_TOKEN, SECRETS, TOKEN_ENV } from './helpers/tokens.ts'

const ids = (list: readonly { id?: string }[]) => list.map((e) => e.id)
const asPublisher = { Authorization: `Bearer ${PUBLISH_TOKEN}` }
const topicsOf = (list: readonly { topic: string }[]) => list.map((e) => e.topic)
const q = (token: string) => `token=${encodeURIComponent(token)}`

/** Private topics and scoped tokens, on every transport, runtime and engine. */
for (const runtime of RUNTIMES) {
  const test = suite<{ s: Server }>(`private topics and tokens [${runtime}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(runtime, TOKEN_ENV)
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('private events reach only connections whose token grants them: live, snapshot, replay and reads', async ({ s }) => {
    const pub = (topic: string, data: unknown) => publish(s.url, { topic, data }, asPublisher).then((r) => r.body as FeedEvent)
    const start = (await request(`${s.url}/api/snapshot?topics=nothing`)).body.cursor as string
    await pub('private/users/alice/inbox', 'a0')
    await pub('private/users/bob/inbox', 'b0')
    await pub('open/news', 'n0')
    // Signed with the first secret: the server verifies against each (rotation).
    const alice = await mint({ sub: 'alice', subscribe: ['private/users/{sub}/**'] }, { secret: SECRETS[0] })

    const anonWs = await WsClient.open(`${s.wsUrl}/ws?topics=**`)
    const aliceWs = await WsClient.open(`${s.wsUrl}/ws?topics=**&${q(alice)}`)
    const replayWs = await WsClient.open(`${s.wsUrl}/ws?topics=**&since=${start}&${q(alice)}`)
    const anonSse = new SseReader(`${s.url}/sse?topics=**`)
    const aliceSse = new SseReader(`${s.url}/sse?topics=**`, { Authorization: `Bearer ${alice}` })
    assert.equal(topicsOf((await anonWs.nth('snapshot')).events).sort(), ['open/news'])
    assert.equal(topicsOf((await aliceWs.nth('snapshot')).events).sort(), ['open/news', 'private/users/alice/inbox'])
    const [anonSnap] = await anonSse.waitFor('snapshot', 1)
    const [aliceSnap] = await aliceSse.waitFor('snapshot', 1)
    assert.equal(topicsOf(JSON.parse(anonSnap!.data).events), ['open/news'])
    assert.equal(topicsOf(JSON.parse(aliceSnap!.data).events).sort(), ['open/news', 'private/users/alice/inbox'])

    const a1 = await pub('private/users/alice/inbox', 'a1')
    await pub('private/users/bob/inbox', 'b1')
    const n1 = await pub('open/news', 'n1')
    const end = await pub('open/end', 'sentinel')
    assert.equal(ids(await anonWs.waitId(end.id)), [n1.id, end.id])
    assert.equal(ids(await aliceWs.waitId(end.id)), [a1.id, n1.id, end.id])
    assert.equal(
      (await anonSse.waitId(end.id)).map((m) => m.id),
      [n1.id, end.id],
    )
    assert.equal(
      (await aliceSse.waitId(end.id)).map((m) => m.id),
      [a1.id, n1.id, end.id],
    )
    // The replay from before everything: alice's and public events, never bob's.
    assert.equal(
      (await replayWs.waitId(end.id)).map((e) => e.data),
      ['a0', 'n0', 'a1', 'n1', 'sentinel'],
    )

    // Plain reads and polls, anonymous and with the token (as a query parameter or a header).
    const read = async (path: string, headers: Record<string, string> = {}) => (await request(`${s.url}${path}`, { headers })).body
    assert.equal(
      (await read(`/api/events?topics=**&since=${start}`)).events.map((e: FeedEvent) => e.data),
      ['n0', 'n1', 'sentinel'],
    )
    assert.equal(
      (await read(`/api/events?topics=**&since=${start}&${q(alice)}`)).events.map((e: FeedEvent) => e.data),
      ['a0', 'n0', 'a1', 'n1', 'sentinel'],
    )
    assert.equal(
      (await read(`/poll?topics=**&cursor=${start}&wait=0`, { Authorization: `Bearer ${alice}` })).events.map((e: FeedEvent) => e.data),
      ['a0', 'n0', 'a1', 'n1', 'sentinel'],
    )
    assert.equal(
      (await read(`/poll?topics=**&cursor=${start}&wait=0`)).events.map((e: FeedEvent) => e.data),
      ['n0', 'n1', 'sentinel'],
    )
    assert.equal(topicsOf((await read('/api/snapshot?topics=**')).events).sort(), ['open/end', 'open/news'])
    assert.equal(topicsOf((await read(`/api/snapshot?topics=**&${q(alice)}`)).events).sort(), ['open/end', 'open/news', 'private/users/alice/inbox'])
    // Private topic names are private too.
    assert.equal(topicsOf((await read('/api/topics')).topics).sort(), ['open/end', 'open/news'])
    assert.equal(topicsOf((await read('/api/topics', asPublisher)).topics).sort(), [
      'open/end',
      'open/news',
      'private/users/alice/inbox',
      'private/users/bob/inbox',
    ])
    for (const c of [anonWs, aliceWs, replayWs]) c.close()
    anonSse.close()
    aliceSse.close()
  })

  test('a pattern holding only private topics the token does not grant is refused before anything is sent', async ({ s }) => {
    const alice = await mint({ sub: 'alice', subscribe: ['private/users/{sub}/**'] })
    const cases: [string, string | undefined][] = [
      ['private/**', undefined],
      ['private/users/bob/**', alice],
      ['private/users/*/inbox', undefined],
    ]
    for (const [pattern, token] of cases) {
      const auth = token ? `&${q(token)}` : ''
      for (const path of [
        `/api/events?topics=${pattern}`,
        `/api/snapshot?topics=${pattern}`,
        `/sse?topics=${pattern}`,
        `/poll?topics=${pattern}&cursor=${(await request(`${s.url}/api/snapshot?topics=x`)).body.cursor}&wait=0`,
      ]) {
        const r = await request(`${s.url}${path}${auth}`)
        assert.is(r.status, 403, `${path} ${token ? 'with' : 'without'} a token`)
        assert.is(r.body.error.code, 'forbidden')
      }
      const ws = await WsClient.open(`${s.wsUrl}/ws${token ? `?${q(token)}` : ''}`)
      await ws.nth('welcome')
      ws.send({ type: 'subscribe', topics: [pattern] })
      ws.send({ type: 'ping' })
      await ws.nth('pong')
      assert.equal(
        ws.frames.map((f) => f.type),
        ['welcome', 'error', 'pong'],
        'an error, and nothing subscribed',
      )
      assert.is(ws.of('error')[0]!.code, 'forbidden')
      ws.close()
    }
    // A pattern that overlaps the grant is accepted (and filtered per event).
    assert.is((await request(`${s.url}/api/snapshot?topics=private/users/*/inbox&${q(alice)}`)).status, 200)
  })

  test('an invalid token is 401 invalid_token on every route, the WebSocket upgrade included', async ({ s }) => {
    for (const [why, token] of Object.entries(await badTokens())) {
      for (const path of ['/api/events?topics=open/**', '/api/snapshot?topics=open/**', '/api/topics', '/sse?topics=open/**', '/poll?topics=open/**']) {
        const r = await request(`${s.url}${path}&${q(token)}`.replace('/api/topics&', '/api/topics?'))
        assert.is(r.status, 401, `${why} on ${path}`)
        assert.is(r.body.error.code, 'invalid_token', `${why} on ${path}`)
        assert.not.match(JSON.stringify(r.body), token, 'the token is never echoed')
      }
      const refused = await new WsClient(`${s.wsUrl}/ws?${q(token)}`).opened.then(
        () => 'opened',
        (e: Error) => e.message,
      )
      assert.is(refused, 'upgrade refused: 401', why)
      const r = await publish(s.url, { topic: 'open/x', data: 1 }, { Authorization: `Bearer ${token}` })
      assert.is(r.status, 401, `${why} on publish`)
    }
    assert.not.match(s.output(), /eyJ/, 'no token in any log line')
  })

  test('a token publishes only to what its publish claim grants; a batch with one other topic stores nothing', async ({ s }) => {
    const token = await mint({ sub: 'carol', publish: ['open/{sub}/**'] })
    const bearer = { Authorization: `Bearer ${token}` }
    const ok = await publish(s.url, { topic: 'open/carol/status', data: 1 }, bearer)
    assert.is(ok.status, 201)
    const refused = await publish(
      s.url,
      [
        { topic: 'open/carol/status', data: 2 },
        { topic: 'open/dave/status', data: 3 },
      ],
      bearer,
    )
    assert.is(refused.status, 403)
    assert.is(refused.body.error.code, 'forbidden')
    const stored = await request(`${s.url}/api/events?topics=open/*/status&since=${ok.body.id}`)
    assert.equal(stored.body.events, [], 'nothing of the refused batch was stored')
    const noClaim = await publish(s.url, { topic: 'open/carol/status', data: 4 }, { Authorization: `Bearer ${await mint({ sub: 'carol' })}` })
    assert.is(noClaim.status, 403)
  })

  test('expiry ends the connection: WebSocket 4401, SSE feed-error token_expired; an auth frame refreshes a live socket', async ({ s }) => {
    const grant = { sub: 'alice', subscribe: ['private/users/{sub}/**'] }
    // exp is in whole seconds: a ttl of 1 could end 10 ms after the mint, before the sockets opened.
    const short = await mint(grant, { ttlS: 3 })
    const expiring = await WsClient.open(`${s.wsUrl}/ws?topics=private/users/alice/**&${q(short)}`)
    const refreshed = await WsClient.open(`${s.wsUrl}/ws?topics=private/users/alice/**&${q(short)}`)
    const sse = new SseReader(`${s.url}/sse?topics=private/users/alice/**&${q(short)}`)
    await Promise.all([expiring.nth('snapshot'), refreshed.nth('snapshot'), sse.waitFor('snapshot', 1)])
    refreshed.send({ type: 'auth', token: await mint(grant, { ttlS: 60 }) })
    const ok = await refreshed.nth('authenticated')
    assert.ok(ok.exp > Date.now() / 1000 + 30)

    assert.is(await expiring.waitClose(8000), 4401)
    assert.match(expiring.closeReason, /token expired/)
    const [err] = await sse.waitFor('feed-error', 1, 8000)
    assert.is(JSON.parse(err!.data).code, 'token_expired')
    await until('the SSE stream to end', () => (sse.ended ? true : undefined))
    // It verified three times and is remembered (TOKEN_CACHE_BYTES): presented again past its exp, it is refused.
    const late = await request(`${s.url}/api/snapshot?topics=private/users/alice/**&${q(short)}`)
    assert.is(late.status, 401)
    assert.match(JSON.stringify(late.body), /invalid_token.*expired/)
    // The refreshed socket lives on and still gets alice's events.
    const e = (await publish(s.url, { topic: 'private/users/alice/inbox', data: 'after' }, asPublisher)).body as FeedEvent
    assert.equal(ids(await refreshed.waitId(e.id)), [e.id])
    assert.is(refreshed.closeCode, undefined)
    refreshed.send({ type: 'auth', token: 'not-a-jwt' })
    assert.is((await refreshed.nth('error')).code, 'invalid_token')
    refreshed.close()
  })

  test("a private topic a new token grants: a later subscribe's snapshot has its latest, held back before", async ({ s }) => {
    const inbox = (await publish(s.url, { topic: 'private/users/erin/inbox', data: 'kept' }, asPublisher)).body as FeedEvent
    const news = (await publish(s.url, { topic: 'open/erin-news', data: 1 }, asPublisher)).body as FeedEvent
    // Anonymous on `**`: the private inbox is held back.
    const ws = await WsClient.open(`${s.wsUrl}/ws?topics=**`)
    assert.ok(!ids((await ws.nth('snapshot')).events).includes(inbox.id))
    ws.send({ type: 'auth', token: await mint({ sub: 'erin', subscribe: ['private/users/{sub}/**'] }) })
    await ws.nth('authenticated')
    // `**` matched both before: the public topic was sent, the inbox was not (it is now granted).
    ws.send({ type: 'subscribe', topics: ['private/users/erin/inbox', 'open/erin-news'] })
    assert.equal(ids((await ws.nth('snapshot', 2)).events), [inbox.id])
    assert.ok(!ids(ws.events()).includes(news.id))
    // A refresh with the same claims changes nothing: the inbox, sent now, is not sent again.
    ws.send({ type: 'auth', token: await mint({ sub: 'erin', subscribe: ['private/users/{sub}/**'] }, { ttlS: 120 }) })
    await ws.nth('authenticated', 2)
    ws.send({ type: 'subscribe', topics: ['private/users/erin/*'] })
    assert.equal(ids((await ws.nth('snapshot', 3)).events), [])
    ws.close()
  })

  test.run()

  if (runtime === 'node') {
    // TOKEN_CACHE_BYTES by its effect: what /metrics says is held stays within it, and a token it let go of is
    // simply verified again. The suite's own server (4 MiB) keeps every one of the same tokens.
    const cache = suite<{ s: Server; small: Server }>('verified tokens remembered within TOKEN_CACHE_BYTES', {} as { s: Server; small: Server })
    cache.before(async (ctx) => {
      ;[ctx.s, ctx.small] = await Promise.all([startServer(runtime, TOKEN_ENV), startServer(runtime, { ...TOKEN_ENV, TOKEN_CACHE_BYTES: '4096' })])
    })
    cache.after(async ({ s, small }) => void (await Promise.all([s.stop(), small.stop()])))
    cache('each server holds what its bound allows, and every token still reads its own private topic', async ({ s, small }) => {
      const tokens = await Promise.all(Array.from({ length: 30 }, (_, i) => mint({ sub: `user${i}`, subscribe: ['private/users/{sub}/**'] })))
      for (const server of [s, small])
        for (const [i, token] of tokens.entries()) {
          const r = await request(`${server.url}/api/snapshot?topics=private/users/user${i}/**&${q(token)}`)
          assert.is(r.status, 200, `token ${i}`)
        }
      const held = await metricSum(small.url, 'livefeed_token_cache_bytes')
      assert.ok(held > 0 && held <= 4096, `TOKEN_CACHE_BYTES=4096 holds ${held} bytes`)
      assert.ok((await metricSum(s.url, 'livefeed_token_cache_bytes')) > 4 * held, 'the default keeps all 30')
      // The first token was let go of by the small one: verified again, it reads as before.
      assert.is((await request(`${small.url}/api/snapshot?topics=private/users/user0/**&${q(tokens[0]!)}`)).status, 200)
    })
    cache.run()
  }

  const sdkSuite = suite<{ s: Server }>(`SDK getToken [${runtime}]`, {} as { s: Server })
  sdkSuite.before(async (ctx) => {
    ctx.s = await startServer(runtime, TOKEN_ENV)
  })
  sdkSuite.after(async ({ s }) => void (await s.stop()))
  // The three transports at once: each needs a few seconds of real time for its tokens to expire (exp is in seconds).
  sdkSuite('websocket, sse and poll: tokens that expire every 2 s are refreshed; every private event arrives once', async ({ s }) => {
    await Promise.all((['websocket', 'sse', 'poll'] as const).map((transport) => refreshedThroughout(s, transport)))
  })
  async function refreshedThroughout(s: Server, transport: 'websocket' | 'sse' | 'poll'): Promise<void> {
    let calls = 0
    const client = sdk(s.url, {
      topics: [`private/users/erin/${transport}/**`],
      transports: [transport],
      pollWaitS: 1,
      getToken: () => (calls++, mint({ sub: 'erin', subscribe: ['private/users/{sub}/**'] }, { ttlS: 2 })),
    })
    try {
      await client.waitOpen()
      await until(`${transport}: the snapshot`, () => client.snapshots[0])
      const sent: FeedEvent[] = []
      const t0 = Date.now()
      while (Date.now() - t0 < 4500) {
        sent.push((await publish(s.url, { topic: `private/users/erin/${transport}/a`, data: sent.length }, asPublisher)).body)
        await new Promise((r) => setTimeout(r, 50)) // publishing pace, not synchronisation
      }
      const end = (await publish(s.url, { topic: `private/users/erin/${transport}/a`, data: 'sentinel' }, asPublisher)).body as FeedEvent
      assert.equal(ids(await client.waitId(end.id, 10_000)), ids([...sent, end]), transport)
      assert.ok(calls >= 3, `${transport}: getToken called ${calls} times`)
    } finally {
      client.feed.close()
    }
  }
  sdkSuite.run()
}
