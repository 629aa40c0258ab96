/**
 * Clients that talk back, through the production entry on Node and Deno, memory and Redis: publishing over
 * the WebSocket (grants, `{sub}`, OPEN_PUBLISH_TOPICS, the publish token, the checks of POST /api/events,
 * idempotent retries either way, PUBLISH_RATE per `sub`), ephemeral topics, and the SDK's `feed.publish`.
 */
import { spawnSync } from 'node:child_process'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type RedisServer, startRedis } from '../harness/redis.ts'
import { ROOT, type Server, startServer, type Target } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { FeedRequestError } from '../src/client/index.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { startProxy } from './helpers/proxy.ts'
import { startRelay } from './helpers/relay.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'
import { mint, PUBLISH_TOKEN, TOKEN_ENV } from './helpers/tokens.ts'

const ENV = {
  ...TOKEN_ENV,
  EPHEMERAL_TOPICS: 'typing/**',
  OPEN_PUBLISH_TOPICS: 'lobby/**',
  PUBLISH_RATE: '5',
  MAX_EVENT_BYTES: '1024',
  PRIVATE_TOPICS: 'private/**',
}
const auth = { Authorization: `Bearer ${PUBLISH_TOKEN}` }
const user = (sub: string) => mint({ sub, subscribe: ['chat/**', 'typing/**'], publish: ['chat/{sub}/**', 'chat/rooms/*', 'typing/**'] })
/** The answer (published or error frame) to the publish frame with this ref. */
const answer = (c: WsClient, ref: string) =>
  until(`the answer to ${ref}`, () => c.frames.find((f) => (f.type === 'published' || f.type === 'error') && 'ref' in f && f.ref === ref))
const stored = async (s: Server, topic: string) => (await request(`${s.url}/api/history?topic=${topic}`)).body.events as FeedEvent[]

for (const target of ['node', 'deno', 'node+redis'] as Target[]) {
  const test = suite<{ s: Server }>(`publishing over the socket, ephemeral topics [${target}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(target, ENV)
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('a publish frame is stored once and reaches every subscriber, the publisher too; `published` carries its ref', async ({ s }) => {
    const reader = await WsClient.open(`${s.wsUrl}/ws?topics=chat/rooms/1`)
    const alice = await WsClient.open(`${s.wsUrl}/ws?topics=chat/rooms/1&token=${await user('alice')}`)
    await reader.nth('snapshot')
    await alice.nth('snapshot')
    alice.send({ type: 'publish', ref: 'm1', topic: 'chat/rooms/1', data: { text: 'hi' } })
    const got = await answer(alice, 'm1')
    assert.is(got.type, 'published')
    const event = got.type === 'published' ? got.event : undefined
    assert.ok(event && 'id' in event, 'a stored event has its id')
    assert.equal(event.data, { text: 'hi' })
    const sentinel = (await publish(s.url, { topic: 'chat/rooms/1', data: 'end' }, auth)).body as FeedEvent
    for (const c of [reader, alice]) {
      const seen = await c.waitId(sentinel.id)
      assert.equal(
        seen.map((e) => e.data),
        [{ text: 'hi' }, 'end'],
        'once, in order',
      )
    }
    assert.equal(
      (await stored(s, 'chat/rooms/1')).map((e) => e.id),
      [event.id, sentinel.id],
    )
    reader.close()
    alice.close()
  })

  test("grants: {sub}, another user's topic forbidden, OPEN_PUBLISH_TOPICS without a token, the publish token anywhere; nothing stored when refused", async ({
    s,
  }) => {
    const alice = await WsClient.open(`${s.wsUrl}/ws?token=${await user('alice')}`)
    const anon = await WsClient.open(`${s.wsUrl}/ws`)
    const operator = await WsClient.open(`${s.wsUrl}/ws?token=${PUBLISH_TOKEN}`)
    const cases: [WsClient, string, string][] = [
      [alice, 'chat/alice/notes', 'published'],
      [alice, 'chat/bob/notes', 'forbidden'],
      [alice, 'private/x', 'forbidden'],
      [anon, 'lobby/1', 'published'],
      [anon, 'chat/rooms/2', 'forbidden'],
      [operator, 'private/ops', 'published'],
    ]
    for (const [i, [c, topic, outcome]] of cases.entries()) {
      c.send({ type: 'publish', ref: `g${i}`, topic, data: i })
      const a = await answer(c, `g${i}`)
      assert.is(a.type === 'published' ? 'published' : a.type === 'error' ? a.code : a.type, outcome, topic)
      const kept = await request(`${s.url}/api/history?topic=${topic}`, { headers: auth })
      assert.is(kept.body.events.length, outcome === 'published' ? 1 : 0, `${topic}: stored only when published`)
    }
    for (const c of [alice, anon, operator]) c.close()
  })

  test('the checks of POST /api/events, each answered with the ref; a bad ref keeps the plain error', async ({ s }) => {
    const c = await WsClient.open(`${s.wsUrl}/ws?token=${await user('carol')}`)
    const cases: [object, string][] = [
      [{ type: 'publish', ref: 'v1', topic: 'chat/carol/a' }, 'validation_failed'],
      [{ type: 'publish', ref: 'v2', topic: 'chat/carol/a b', data: 1 }, 'invalid_topic'],
      [{ type: 'publish', ref: 'v3', topic: 'chat/carol/a', data: 'x'.repeat(2000) }, 'payload_too_large'],
      [{ type: 'publish', ref: 'v4', topic: 'chat/carol/a', data: 1, key: 'no spaces allowed' }, 'validation_failed'],
    ]
    for (const [frame, code] of cases) {
      const ref = (frame as { ref: string }).ref
      c.send(frame)
      const a = await answer(c, ref)
      assert.is(a.type === 'error' ? a.code : a.type, code, ref)
    }
    // A frame whose ref is bad, or whose JSON is refused before it is read as a frame (a number past a double), has no ref to answer with.
    c.send({ type: 'publish', ref: 'x'.repeat(65), topic: 'chat/carol/a', data: 1 })
    c.send('{"type":"publish","ref":"v5","topic":"chat/carol/a","data":1e400}')
    const plain = await until('two plain errors', () => {
      const list = c.frames.filter((f) => f.type === 'error' && f.ref === undefined)
      return list.length === 2 ? list : undefined
    })
    assert.equal(
      plain.map((f) => f.type === 'error' && f.code),
      ['validation_failed', 'validation_failed'],
    )
    assert.equal(await stored(s, 'chat/carol/a'), [], 'nothing stored')
    c.close()
  })

  test('a key makes a retry answer the first result, over the socket or POST /api/events; another body with it conflicts', async ({ s }) => {
    const token = await user('dave')
    const c = await WsClient.open(`${s.wsUrl}/ws?token=${token}`)
    const frame = { type: 'publish', topic: 'chat/dave/k', data: { n: 1 }, key: 'dave-1' }
    c.send({ ...frame, ref: 'k1' })
    const first = await answer(c, 'k1')
    c.send({ ...frame, ref: 'k2' })
    const again = await answer(c, 'k2')
    assert.ok(first.type === 'published' && again.type === 'published')
    assert.equal(again.event, first.event)
    assert.is(again.replayed, true)
    // The SDK's HTTP retry sends the same { topic, data } as JSON with the same key.
    const http = await request(`${s.url}/api/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'dave-1', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ topic: 'chat/dave/k', data: { n: 1 } }),
    })
    assert.is(http.status, 201)
    assert.equal(http.body, first.event)
    c.send({ ...frame, data: { n: 2 }, ref: 'k3' })
    const conflict = await answer(c, 'k3')
    assert.is(conflict.type === 'error' && conflict.code, 'idempotency_conflict')
    assert.is((await stored(s, 'chat/dave/k')).length, 1)
    c.close()
  })

  test('PUBLISH_RATE per sub over the socket: a burst past it is refused with rate_limited, what was answered published is stored', async ({ s }) => {
    const token = await user('erin')
    const [a, b] = await Promise.all([WsClient.open(`${s.wsUrl}/ws?token=${token}`), WsClient.open(`${s.wsUrl}/ws?token=${token}`)])
    // PUBLISH_RATE=5: a burst of 10, shared by both sockets of one sub.
    for (let i = 0; i < 16; i++) (i % 2 ? a : b).send({ type: 'publish', ref: `r${i}`, topic: 'chat/erin/r', data: i })
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => answer(i % 2 ? a : b, `r${i}`)))
    const ok = answers.filter((x) => x.type === 'published').length
    const limited = answers.filter((x) => x.type === 'error' && x.code === 'rate_limited').length
    assert.is(ok + limited, 16)
    assert.ok(limited >= 4 && ok <= 12, `${ok} published, ${limited} limited`)
    assert.is((await stored(s, 'chat/erin/r')).length, ok)
    a.close()
    b.close()
  })

  test('ephemeral topics: live to every subscriber, never in replay, snapshot, history, /api/events or a poll; no id anywhere', async ({ s }) => {
    const ws = await WsClient.open(`${s.wsUrl}/ws?topics=typing/**,room/e`)
    const sse = new SseReader(`${s.url}/sse?topics=typing/**,room/e`)
    await ws.nth('snapshot')
    await sse.waitFor('snapshot', 1)
    const poll = request(`${s.url}/poll?topics=typing/**,room/e&cursor=${(await ws.nth('subscribed')).cursor}&wait=10`)
    const frank = await WsClient.open(`${s.wsUrl}/ws?token=${await user('frank')}`)
    frank.send({ type: 'publish', ref: 't1', topic: 'typing/room1', data: { typing: true } })
    const t1 = await answer(frank, 't1')
    assert.ok(t1.type === 'published' && !('id' in t1.event), 'answered without an id')
    const viaHttp = await publish(s.url, { topic: 'typing/room2', data: 'http' }, auth)
    assert.is(viaHttp.status, 201)
    assert.is(viaHttp.body.id, undefined)
    assert.is(viaHttp.body.topic, 'typing/room2')
    const mixed = await publish(
      s.url,
      [
        { topic: 'typing/a', data: 1 },
        { topic: 'room/e', data: 2 },
      ],
      auth,
    )
    assert.is(mixed.status, 400)
    assert.is(mixed.body.error.code, 'bad_request')
    const sentinel = (await publish(s.url, { topic: 'room/e', data: 'end' }, auth)).body as FeedEvent
    await ws.waitId(sentinel.id)
    assert.equal(
      ws.ephemeral().map((e) => [e.topic, e.data]),
      [
        ['typing/room1', { typing: true }],
        ['typing/room2', 'http'],
      ],
    )
    await sse.waitId(sentinel.id)
    const sseEphemeral = sse.of('message').filter((m) => m.id === undefined)
    assert.equal(
      sseEphemeral.map((m) => JSON.parse(m.data).topic),
      ['typing/room1', 'typing/room2'],
      'SSE: messages without id:',
    )
    assert.equal(
      (await poll).body.events.map((e: FeedEvent) => e.data),
      ['end'],
      'a poll answers stored events only',
    )
    const snapshot = await request(`${s.url}/api/events?topics=typing/**`)
    assert.equal(snapshot.body.snapshot, [])
    assert.equal(
      (await request(`${s.url}/api/events?topics=typing/**,room/e&since=${(await ws.nth('subscribed')).cursor}`)).body.events.map((e: FeedEvent) => e.data),
      ['end'],
    )
    assert.equal(await stored(s, 'typing/room1'), [])
    const late = await WsClient.open(`${s.wsUrl}/ws?topics=typing/**`)
    assert.equal((await late.nth('snapshot')).events, [])
    for (const c of [ws, frank, late]) c.close()
    sse.close()
  })

  test('the SDK: feed.publish over the WebSocket, over HTTP on SSE, errors with their code, ephemeral events, a cut mid-publish stored once', async ({ s }) => {
    const getToken = () => user('gina')
    const ws = sdk(s.url, { topics: ['chat/rooms/3', 'typing/**'], getToken })
    const typing: unknown[] = []
    ws.feed.on('ephemeral', (e) => typing.push(e.data))
    await ws.waitOpen()
    const e1 = await ws.feed.publish('chat/rooms/3', 'over ws')
    assert.ok('id' in e1)
    await ws.waitId(e1.id)
    await ws.feed.publish('typing/rooms/3', 'typing…')
    await until('the ephemeral event', () => (typing.length === 1 ? true : undefined))
    const refused = await ws.feed.publish('chat/bob/x', 1).then(
      () => undefined,
      (err: unknown) => err,
    )
    assert.ok(refused instanceof FeedRequestError)
    assert.is(refused.code, 'forbidden')
    const sse = sdk(s.url, { topics: ['chat/rooms/3'], getToken, transports: ['sse'] })
    await sse.waitOpen()
    const e2 = await sse.feed.publish('chat/rooms/3', 'over http', { key: 'gina-http-1' })
    assert.ok('id' in e2)
    assert.equal(
      (await ws.waitId(e2.id)).map((e) => e.data),
      ['over ws', 'over http'],
    )
    // A cut while the publish is under way: it goes again over HTTP with its key, and is stored once.
    const relay = await startRelay(s.port)
    const cut = sdk(`http://127.0.0.1:${relay.port}`, { topics: ['chat/rooms/4'], getToken })
    await cut.waitOpen()
    relay.stall()
    const pending = cut.feed.publish('chat/rooms/4', 'through a cut')
    relay.moveTo(s.port)
    relay.resume()
    const e3 = await pending
    assert.ok('id' in e3)
    assert.equal(
      (await stored(s, 'chat/rooms/4')).map((e) => e.id),
      [e3.id],
    )
    for (const f of [ws, sse, cut]) f.feed.close()
    await relay.close()
  })

  test('npm run token and deno task token mint tokens this server takes; bad arguments exit 1 with one line', async ({ s }) => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TOKEN_SECRET: TOKEN_ENV.TOKEN_SECRET }
    const run = (cmd: string, args: string[], extra: Record<string, string> = env) => spawnSync(cmd, args, { cwd: ROOT, env: extra, encoding: 'utf8' })
    const node = (args: string[], extra?: Record<string, string>) => run(process.execPath, ['--import', 'tsx', 'scripts/token.ts', ...args], extra)
    const viaNode = node(['--sub', 'hana', '--subscribe', 'private/hana/**', '--publish', 'chat/{sub}/**', '--ttl', '10m'])
    const viaDeno = run(`${ROOT}node_modules/deno/deno`, ['task', '-q', 'token', '--sub', 'hana', '--publish', 'chat/{sub}/**'])
    for (const r of [viaNode, viaDeno]) {
      assert.is(r.status, 0, r.stderr)
      const token = r.stdout.trim()
      const c = await WsClient.open(`${s.wsUrl}/ws?token=${token}`)
      c.send({ type: 'publish', ref: 'tok', topic: 'chat/hana/x', data: 1 })
      assert.is((await answer(c, 'tok')).type, 'published')
      c.close()
    }
    const claims = JSON.parse(Buffer.from(viaNode.stdout.split('.')[1]!, 'base64url').toString())
    assert.equal({ ...claims, exp: undefined }, { exp: undefined, sub: 'hana', subscribe: ['private/hana/**'], publish: ['chat/{sub}/**'] })
    assert.ok(Math.abs(claims.exp - (Date.now() / 1000 + 600)) < 60, 'expires in ten minutes')
    const reads = await request(`${s.url}/api/history?topic=private/hana/notes`, { headers: { Authorization: `Bearer ${viaNode.stdout.trim()}` } })
    assert.is(reads.status, 200)
    for (const [args, extra, says] of [
      [['--ttl', 'forever'], env, /--ttl "forever" is not allowed/],
      [['--publish', 'bad pattern'], env, /the claims are not allowed/],
      [['--sub', 'x'], { PATH: env.PATH }, /TOKEN_SECRET is not set/],
      [['--what'], env, /Unknown option/],
    ] as const) {
      const r = node([...args], extra)
      assert.is(r.status, 1, String(args))
      assert.match(r.stderr, says)
    }
    assert.match(node(['--help']).stdout, /--subscribe <list>/)
  })

  test.run()
}

// --- three instances on one Redis, no affinity ---

const cluster = suite<{ redis: RedisServer; servers: Server[]; proxy: Awaited<ReturnType<typeof startProxy>> }>(
  'publishing over the socket and ephemeral topics over three instances on Redis, no affinity',
  {} as { redis: RedisServer; servers: Server[]; proxy: Awaited<ReturnType<typeof startProxy>> },
)
cluster.before(async (ctx) => {
  ctx.redis = await startRedis()
  ctx.servers = await Promise.all([1, 2, 3].map(() => startServer('node', { ...ENV, PUBLISH_RATE: '0', REDIS_URL: ctx.redis.url })))
  ctx.proxy = await startProxy(() => ctx.servers.map((s) => s.port))
})
cluster.after(async ({ redis, servers, proxy }) => {
  await proxy.close()
  await Promise.all(servers.map((s) => s.stop()))
  await redis.stop()
})

cluster(
  'a publish over a socket on one instance reaches subscribers on every instance once; ephemeral events reach them all, stored nowhere',
  async ({ servers, proxy }) => {
    const readers: WsClient[] = []
    for (let i = 0; i < 6; i++) readers.push(await WsClient.open(`${proxy.wsUrl}/ws?topics=chat/rooms/9,typing/**`))
    assert.is(new Set(proxy.log.filter((l) => l.path.startsWith('/ws')).map((l) => l.port)).size, 3, 'on three instances')
    for (const r of readers) await r.nth('snapshot')
    // Publishers on each instance, each publishing in turn over its socket.
    const writers = await Promise.all(servers.map(async (s, i) => WsClient.open(`${s.wsUrl}/ws?token=${await user(`w${i}`)}`)))
    const ids: string[] = []
    for (let n = 0; n < 30; n++) {
      const w = writers[n % 3]!
      w.send({ type: 'publish', ref: `c${n}`, topic: 'chat/rooms/9', data: n })
      const a = await answer(w, `c${n}`)
      assert.ok(a.type === 'published' && 'id' in a.event, JSON.stringify(a))
      ids.push(a.event.id)
      w.send({ type: 'publish', ref: `t${n}`, topic: `typing/${n % 3}`, data: n })
      assert.is((await answer(w, `t${n}`)).type, 'published')
    }
    const sentinel = (await publish(proxy.url, { topic: 'chat/rooms/9', data: 'end' }, auth)).body as FeedEvent
    for (const r of readers) {
      assert.equal(
        (await r.waitId(sentinel.id)).map((e) => e.id),
        [...ids, sentinel.id],
        'every stored event once, in order',
      )
      // Ephemeral events of one publisher arrive in its order; all thirty arrive, each once.
      await until('thirty ephemeral events', () => (r.ephemeral().length >= 30 ? true : undefined))
      assert.equal(
        r
          .ephemeral()
          .map((e) => e.data as number)
          .sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, i) => i),
      )
    }
    assert.equal((await request(`${proxy.url}/api/events?topics=typing/**`)).body.snapshot, [])
    for (const c of [...readers, ...writers]) c.close()
  },
)
cluster.run()
