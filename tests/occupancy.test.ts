/**
 * Who is watching (occupancy) and who is here (presence), through the production entry: one instance on
 * Node and Deno, memory and Redis; then three instances on one Redis behind the no-affinity proxy, with
 * connects, disconnects, two tabs of one `sub` and a SIGKILLed instance.
 */
import { Redis } from 'ioredis'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type RedisServer, startRedis } from '../harness/redis.ts'
import { type Server, startServer, type Target } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { type FrameOf, WsClient } from '../harness/ws.ts'
import { publish, request } from './helpers/http.ts'
import { assertRewindSeam } from './helpers/load.ts'
import { metricSum } from './helpers/metrics.ts'
import { startProxy } from './helpers/proxy.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'
import { mint, PUBLISH_TOKEN, TOKEN_ENV } from './helpers/tokens.ts'

const INTERVAL = 200
const ENV = { ...TOKEN_ENV, OCCUPANCY_INTERVAL: String(INTERVAL), PRESENCE_TOPICS: 'room/**', PRIVATE_TOPICS: 'private/**' }
/** A change is told within two intervals (one to share it, one to read it); slack for a loaded machine. */
const CONVERGE_MS = 2 * INTERVAL + 3000
const auth = { Authorization: `Bearer ${PUBLISH_TOKEN}` }
const member = (sub: string, topics = ['room/**']) => mint({ sub, subscribe: topics })

/** The count this watcher was last told for a topic; waits until it is `n`. */
const counted = (c: WsClient, topic: string, n: number, timeoutMs = CONVERGE_MS) =>
  until(
    () =>
      `occupancy ${n} of ${topic} (last told: ${
        c
          .of('occupancy')
          .filter((f) => f.topic === topic)
          .at(-1)?.subscribers
      })`,
    () =>
      c
        .of('occupancy')
        .filter((f) => f.topic === topic)
        .at(-1)?.subscribers === n
        ? true
        : undefined,
    timeoutMs,
  )
const presenceOf = (c: WsClient, topic: string) => c.of('presence').filter((f) => f.topic === topic)
/** Waits for the n-th presence frame of a topic. */
const nthPresence = (c: WsClient, topic: string, n: number, timeoutMs = CONVERGE_MS): Promise<FrameOf<'presence'>> =>
  until(`presence frame ${n} of ${topic} (have ${presenceOf(c, topic).length})`, () => presenceOf(c, topic)[n - 1], timeoutMs)

for (const target of ['node', 'deno', 'node+redis', 'deno+redis'] as Target[]) {
  const test = suite<{ s: Server }>(`occupancy and presence [${target}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(target, ENV)
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('occupancy: a count right after the snapshot, then each change, patterns included; /api/topics agrees', async ({ s }) => {
    await publish(s.url, { topic: 'game/1', data: 0 }, auth)
    const a = await WsClient.open(`${s.wsUrl}/ws?topics=game/1&occupancy=1`)
    const first = await a.nth('occupancy')
    assert.equal(first, { type: 'occupancy', topic: 'game/1', subscribers: 1 })
    const order = a.frames.map((f) => f.type)
    assert.ok(order.indexOf('snapshot') < order.indexOf('occupancy'), `the count follows the snapshot: ${order}`)
    // A pattern that matches counts; a topic it does not match does not.
    const b = await WsClient.open(`${s.wsUrl}/ws?topics=game/*`)
    const other = await WsClient.open(`${s.wsUrl}/ws?topics=game/2`)
    await counted(a, 'game/1', 2)
    // SSE asks in its query, and is counted too.
    const sse = new SseReader(`${s.url}/sse?topics=game/1&occupancy=1`)
    const [told] = await sse.waitFor('occupancy', 1)
    assert.equal(JSON.parse(told!.data), { topic: 'game/1', subscribers: 3 })
    await counted(a, 'game/1', 3)
    // A subscribe frame asks with "occupancy": true.
    const c = await WsClient.open(`${s.wsUrl}/ws`)
    c.send({ type: 'subscribe', topics: ['game/1', 'game/*'], occupancy: true })
    await counted(c, 'game/1', 4)
    assert.equal(
      c.of('occupancy').map((f) => f.topic),
      ['game/1'],
      'only topics named exactly are told, not patterns',
    )
    const topics = (await request(`${s.url}/api/topics`)).body.topics
    assert.is(topics.find((t: { topic: string }) => t.topic === 'game/1').subscribers, 4)
    b.ws.close()
    sse.close()
    await counted(a, 'game/1', 2)
    await counted(c, 'game/1', 2)
    // Unsubscribed: no longer told (the next count to a goes without c's frame).
    c.send({ type: 'unsubscribe', topics: ['game/1', 'game/*'] })
    await c.nth('unsubscribed')
    await counted(a, 'game/1', 1)
    assert.is(c.of('occupancy').at(-1)!.subscribers, 2)
    assert.ok((await metricSum(s.url, 'livefeed_occupancy_messages_total', { type: 'occupancy' })) >= 8)
    for (const x of [a, other, c]) x.ws.close()
  })

  test('presence: members with a sub, two tabs join once and leave with the last, anonymous never listed', async ({ s }) => {
    const watcher = await WsClient.open(`${s.wsUrl}/ws?topics=room/1&presence=1&token=${await member('watcher')}`)
    assert.equal(await nthPresence(watcher, 'room/1', 1), { type: 'presence', topic: 'room/1', members: ['watcher'] })
    const alice = await member('alice')
    const tab1 = await WsClient.open(`${s.wsUrl}/ws?topics=room/1&token=${alice}`)
    assert.equal(await nthPresence(watcher, 'room/1', 2), { type: 'presence', topic: 'room/1', joined: ['alice'], left: [] })
    const tab2 = await WsClient.open(`${s.wsUrl}/ws?topics=room/**&token=${alice}`)
    const anon = await WsClient.open(`${s.wsUrl}/ws?topics=room/1`)
    await until('alice with two connections', async () => {
      const r = await request(`${s.url}/api/presence?topic=room/1`, { headers: { Authorization: `Bearer ${alice}` } })
      return r.body.members?.find((m: { sub: string }) => m.sub === 'alice')?.connections === 2 ? r.body : undefined
    })
    const bob = await WsClient.open(`${s.wsUrl}/ws?topics=room/1&token=${await member('bob')}`)
    // The next frame is bob's join alone: alice's second tab joined nobody, the anonymous socket neither.
    assert.equal(await nthPresence(watcher, 'room/1', 3), { type: 'presence', topic: 'room/1', joined: ['bob'], left: [] })
    tab1.ws.close()
    bob.ws.close()
    assert.equal(await nthPresence(watcher, 'room/1', 4), { type: 'presence', topic: 'room/1', joined: [], left: ['bob'] })
    tab2.ws.close()
    assert.equal(await nthPresence(watcher, 'room/1', 5), { type: 'presence', topic: 'room/1', joined: [], left: ['alice'] })
    const answer = await request(`${s.url}/api/presence?topic=room/1`, { headers: { Authorization: `Bearer ${alice}` } })
    assert.equal(answer.body, { members: [{ sub: 'watcher', connections: 1 }] })
    assert.is(await metricSum(s.url, 'livefeed_presence_members'), 1)
    anon.ws.close()
    watcher.ws.close()
  })

  test('presence over SSE and the SDK: the list, then joins and leaves', async ({ s }) => {
    const carol = await member('carol')
    const reader = new SseReader(`${s.url}/sse?topics=room/2&presence=1&token=${carol}`)
    const [list] = await reader.waitFor('presence', 1)
    assert.equal(JSON.parse(list!.data), { topic: 'room/2', members: ['carol'] })
    const c = sdk(s.url, { topics: ['room/2'], presence: true, occupancy: true, getToken: () => member('dave') })
    const shown: { members: string[]; joined: string[]; left: string[] }[] = []
    const counts: number[] = []
    c.feed.on('presence', (p) => shown.push(p))
    c.feed.on('occupancy', (o) => counts.push(o.subscribers))
    await until('the SDK shows carol and dave', () => (shown.at(-1)?.members.sort().join() === 'carol,dave' ? true : undefined), CONVERGE_MS)
    assert.equal(JSON.parse((await reader.waitFor('presence', 2))[1]!.data), { topic: 'room/2', joined: ['dave'], left: [] })
    await until('the SDK counts two', () => (counts.at(-1) === 2 ? true : undefined), CONVERGE_MS)
    reader.close()
    await until('the SDK shows carol leave', () => (shown.at(-1)?.left.join() === 'carol' ? true : undefined), CONVERGE_MS)
    assert.equal(shown.at(-1)!.members, ['dave'])
    c.feed.close()
  })

  test('refusals: a bad flag is 400, presence without a grant is 403 (or an error frame), nothing subscribed', async ({ s }) => {
    for (const path of ['/ws?topics=game/1&occupancy=2', '/sse?topics=game/1&presence=yes']) {
      const r = await request(`${s.url}${path}`)
      assert.is(r.status, 400, path)
      assert.is(r.body.error.code, 'validation_failed', path)
    }
    const other = await mint({ sub: 'eve', subscribe: ['elsewhere/**'] })
    for (const q of ['', `&token=${other}`]) {
      const r = await request(`${s.url}/sse?topics=room/9&presence=1${q}`)
      assert.is(r.status, 403, q)
      assert.is(r.body.error.code, 'forbidden', q)
      const refused = await new WsClient(`${s.wsUrl}/ws?topics=room/9&presence=1${q}`).opened.then(
        () => 'opened',
        (err: Error) => err.message,
      )
      assert.match(refused, /403/)
    }
    const ws = await WsClient.open(`${s.wsUrl}/ws`)
    ws.send({ type: 'subscribe', topics: ['room/9'], presence: true })
    assert.is((await ws.nth('error')).code, 'forbidden')
    ws.send({ type: 'subscribe', topics: ['room/9'], occupancy: 'yes' })
    assert.is((await ws.nth('error', 2)).code, 'validation_failed')
    assert.is(ws.of('subscribed').length, 0)
    ws.ws.close()
    const cases: [string, Record<string, string>, number, string][] = [
      ['topic=room/1', {}, 403, 'forbidden'],
      ['topic=room/1', { Authorization: `Bearer ${other}` }, 403, 'forbidden'],
      ['topic=room/*', { Authorization: `Bearer ${await member('x')}` }, 400, 'invalid_topic'],
      ['', {}, 400, 'invalid_topic'],
      ['topic=game/1', { Authorization: `Bearer ${await member('x', ['**'])}` }, 400, 'bad_request'],
    ]
    for (const [q, headers, status, code] of cases) {
      const r = await request(`${s.url}/api/presence?${q}`, { headers })
      assert.is(r.status, status, q)
      assert.is(r.body.error.code, code, q)
    }
  })
  test.run()
}

// --- three instances on one Redis, no affinity ---

interface Cluster {
  redis: RedisServer
  servers: Server[]
  live: Set<Server>
  proxy: Awaited<ReturnType<typeof startProxy>>
}

const cluster = suite<{ c: Cluster }>('occupancy and presence over three instances on Redis, no affinity', {} as { c: Cluster })
cluster.before(async (ctx) => {
  const redis = await startRedis()
  const servers = await Promise.all([1, 2, 3].map(() => startServer('node', { ...ENV, REDIS_URL: redis.url })))
  const live = new Set(servers)
  ctx.c = { redis, servers, live, proxy: await startProxy(() => [...live].map((s) => s.port)) }
})
cluster.after(async ({ c }) => {
  await c.proxy.close()
  await Promise.all(c.servers.map((s) => s.stop()))
  await c.redis.stop()
})

cluster('rewind at the seam and history paging, each request on another instance', async ({ c }) => {
  const p = c.proxy
  const N = 200
  const sent: string[] = []
  const publisher = (async () => {
    for (let i = 0; i < N; i++) sent.push((await publish(p.url, { topic: 'seam/3', data: i }, auth)).body.id)
  })()
  const clients: WsClient[] = []
  while (sent.length < N - 40 && clients.length < 6) {
    // Each on the next instance in turn (through the proxy, the publishes between would decide where).
    if (sent.length >= 10 + clients.length * 20) clients.push(await WsClient.open(`${c.servers[clients.length % 3]!.wsUrl}/ws?topics=seam/3&rewind=5`))
    else await new Promise((r) => setTimeout(r, 1))
  }
  await publisher
  const sentinel = (await publish(p.url, { topic: 'seam/3', data: N }, auth)).body.id
  for (const ws of clients) {
    await assertRewindSeam(ws, sentinel, 5, N)
    ws.ws.close()
  }
  // History paged backwards through the proxy: each page from another instance, together the last 100 kept.
  const pages: number[][] = []
  let before: string | undefined
  for (;;) {
    const r = await request(`${p.url}/api/history?topic=seam/3&limit=30${before ? `&before=${before}` : ''}`)
    assert.is(r.status, 200)
    pages.unshift(r.body.events.map((e: { data: number }) => e.data))
    if (!r.body.more) break
    before = r.body.events[0].id
  }
  assert.equal(
    pages.flat(),
    Array.from({ length: 100 }, (_, i) => N - 99 + i),
    'TOPIC_HISTORY (100) kept, in order, each once',
  )
})

cluster('counts and members over every instance converge after connects, disconnects and a SIGKILLed instance', async ({ c }) => {
  const p = c.proxy
  await publish(p.url, { topic: 'game/9', data: 0 }, auth)
  const w = await member('w')
  const zed = await member('zed')
  // One at a time, so the proxy's log says where each landed: three watchers, then six subscribers, one sub
  // ("zed") with tabs on every instance, by exact topic and by pattern.
  const sockets: WsClient[] = []
  const before = p.log.length
  for (let i = 0; i < 3; i++) sockets.push(await WsClient.open(`${p.wsUrl}/ws?topics=game/9,room/9&occupancy=1&presence=1&token=${w}`))
  for (let i = 0; i < 6; i++) sockets.push(await WsClient.open(`${p.wsUrl}/ws?topics=${i % 2 ? 'game/9,room/9' : 'game/*,room/*'}&token=${zed}`))
  const portOf = new Map(sockets.map((s, i) => [s, p.log.slice(before).filter((l) => l.path.startsWith('/ws'))[i]!.port]))
  assert.is(new Set(portOf.values()).size, 3, 'the sockets landed on three instances')
  const watchers = sockets.slice(0, 3)
  for (const x of watchers) await counted(x, 'game/9', 9)
  const topics = (await request(`${p.url}/api/topics`)).body.topics
  assert.is(topics.find((t: { topic: string }) => t.topic === 'game/9').subscribers, 9, '/api/topics counts every instance')
  for (const x of watchers) {
    const hasZed = (f: FrameOf<'presence'>) => f.joined?.includes('zed') || f.members?.includes('zed')
    await until('zed joined', () => (presenceOf(x, 'room/9').some(hasZed) ? true : undefined), CONVERGE_MS)
    assert.is(presenceOf(x, 'room/9').filter(hasZed).length, 1, 'tabs on three instances: one join')
  }
  const open = new Set(sockets)
  for (const s of sockets.slice(3, 5)) {
    s.ws.close()
    open.delete(s)
  }
  for (const x of watchers) await counted(x, 'game/9', 7)
  // SIGKILL the first watcher's instance: what it held stops counting within three intervals.
  const victim = c.servers.find((s) => s.port === portOf.get(watchers[0]!))!
  await victim.stop('SIGKILL')
  c.live.delete(victim)
  for (const s of [...open]) if (portOf.get(s) === victim.port) open.delete(s)
  for (const x of watchers.slice(1)) await counted(x, 'game/9', open.size, 3 * INTERVAL + CONVERGE_MS)
  // zed and w still have connections elsewhere: neither left.
  for (const x of watchers.slice(1)) assert.not.ok(presenceOf(x, 'room/9').some((f) => (f.left?.length ?? 0) > 0))
  const members = (await request(`${p.url}/api/presence?topic=room/9`, { headers: { Authorization: `Bearer ${zed}` } })).body.members
  assert.equal(members.map((m: { sub: string }) => m.sub).sort(), ['w', 'zed'])
  for (const s of open) s.ws.close()
})
cluster.run()

const bound = suite('OCCUPANCY_BYTES: the shared list of an instance stays within it, the most subscribed kept')
bound('set small and crossed: the list in Redis is at most the bound, the big group counts whole, the rare ones are left out and logged', async () => {
  const redis = await startRedis()
  const env = { ...ENV, REDIS_URL: redis.url, OCCUPANCY_BYTES: '65536' }
  const [a, b] = await Promise.all([startServer('node', env), startServer('node', env)])
  const raw = new Redis(redis.url)
  const sockets: WsClient[] = []
  try {
    // Five sockets with one small list; forty with ~6 KB lists each (59 long patterns): ~240 KB in all.
    for (let i = 0; i < 5; i++) sockets.push(await WsClient.open(`${a!.wsUrl}/ws?topics=wide/x`))
    for (let i = 0; i < 40; i++) {
      const patterns = ['wide/x', ...Array.from({ length: 58 }, (_, j) => `long/${i}/${j}/${'x'.repeat(90)}`)]
      const ws = await WsClient.open(`${a!.wsUrl}/ws`)
      ws.send({ type: 'subscribe', topics: patterns })
      await ws.nth('subscribed')
      sockets.push(ws)
    }
    const watcher = await WsClient.open(`${b!.wsUrl}/ws?topics=wide/x&occupancy=1`)
    // b sees its own watcher, a's group of five, and as many of the forty as fit: more than five, fewer than forty.
    const seen = await until(
      'a count from a',
      () => {
        const n = watcher.of('occupancy').at(-1)?.subscribers ?? 0
        return n > 6 ? n : undefined
      },
      CONVERGE_MS,
    )
    assert.ok(seen < 46, `the rare groups were left out (counted ${seen} of 46)`)
    const keys = await raw.keys('*roster:*')
    const lengths = await Promise.all(keys.map((k) => raw.strlen(k)))
    assert.is(keys.length, 2)
    assert.ok(Math.max(...lengths) <= 65536, `lists in Redis: ${lengths}`)
    assert.ok(Math.max(...lengths) > 40_000, `the list is filled up to the bound: ${lengths}`)
    assert.match(a!.output(), /left out of the shared list \(OCCUPANCY_BYTES\)/)
    // The instance that stops deletes its list at once (a SIGKILLed one lets it expire).
    await a!.stop()
    await until("a's list gone", async () => ((await raw.keys('*roster:*')).length === 1 ? true : undefined))
    await counted(watcher, 'wide/x', 1)
    watcher.ws.close()
  } finally {
    for (const s of sockets) s.ws.close()
    raw.disconnect()
    await Promise.all([a!.stop(), b!.stop()])
    await redis.stop()
  }
})
bound.run()
