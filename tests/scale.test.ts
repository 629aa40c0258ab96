import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { type RedisServer, startRedis } from '../harness/redis.ts'
import { type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { expected, startPublishing } from './helpers/load.ts'
import { startProxy } from './helpers/proxy.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'

interface Cluster {
  redis: RedisServer
  servers: Server[]
  live: Set<Server>
  proxy: Awaited<ReturnType<typeof startProxy>>
}

/** Three instances on one Redis (AOF on) behind a round-robin proxy with no affinity. */
async function startCluster(env: Record<string, string> = {}): Promise<Cluster> {
  const redis = await startRedis({ aof: true })
  const servers = await Promise.all([1, 2, 3].map(() => startServer('node', { REDIS_URL: redis.url, ...env })))
  const live = new Set(servers)
  const proxy = await startProxy(() => [...live].map((s) => s.port))
  return { redis, servers, live, proxy }
}

async function stopCluster(c: Cluster): Promise<void> {
  await c.proxy.close()
  await Promise.all(c.servers.map((s) => s.stop()))
  await c.redis.stop()
}

const ids = (list: readonly { id?: string }[]) => list.map((e) => e.id)

const test = suite<{ c: Cluster }>('scale-out on Redis, no affinity', {} as { c: Cluster })
test.before(async (ctx) => {
  ctx.c = await startCluster()
})
test.after(async ({ c }) => stopCluster(c))

test('WebSocket, SSE and long-poll clients spread over three instances get every event, same ids, same order', async ({ c }) => {
  const p = c.proxy
  const start = (await request(`${p.url}/api/snapshot?topics=x`)).body.cursor as string
  const ws = await Promise.all([1, 2, 3].map(() => WsClient.open(`${p.wsUrl}/ws?topics=fan/**&since=${start}`)))
  const sse = [1, 2, 3].map(() => new SseReader(`${p.url}/sse?topics=fan/**&since=${start}`))
  await Promise.all(sse.map((r) => until('SSE open', () => (r.status === 200 ? true : undefined))))
  const wsPorts = new Set(p.log.filter((l) => l.path.startsWith('/ws')).map((l) => l.port))
  assert.is(wsPorts.size, 3, 'the sockets landed on three instances')

  const published: FeedEvent[] = []
  for (let i = 0; i < 30; i++)
    published.push(
      ...(
        await publish(p.url, [
          { topic: `fan/${i % 4}`, data: i },
          { topic: 'fan/x', data: -i },
        ])
      ).body.events,
    )
  const publishPorts = new Set(p.log.filter((l) => l.path === '/api/events').map((l) => l.port))
  assert.is(publishPorts.size, 3, 'publishes landed on three instances')
  published.sort((a, b) => (a.id < b.id ? -1 : 1))
  // A sentinel last: each consumer is compared once it has it, so a late duplicate fails.
  const sentinel = (await publish(p.url, { topic: 'fan/end', data: 'sentinel' })).body as FeedEvent
  const want = ids([...published, sentinel])

  for (const w of ws) assert.equal(ids(await w.waitId(sentinel.id)), want)
  for (const r of sse)
    assert.equal(
      (await r.waitId(sentinel.id)).map((m) => m.id),
      want,
    )

  // A stateless poller: each request goes to the next instance in turn.
  const before = p.log.length
  const got: FeedEvent[] = []
  let cursor = start
  while (!got.some((e) => e.id === sentinel.id)) {
    const r = await request(`${p.url}/poll?topics=fan/**&cursor=${cursor}&wait=2&limit=7`)
    assert.is(r.status, 200)
    got.push(...r.body.events)
    cursor = r.body.cursor
  }
  assert.equal(ids(got), want, 'each event exactly once, in order')
  const pollPorts = p.log
    .slice(before)
    .filter((l) => l.path.startsWith('/poll'))
    .map((l) => l.port)
  assert.ok(pollPorts.length >= 5)
  assert.ok(
    pollPorts.every((port, i) => i === 0 || port !== pollPorts[i - 1]),
    'no two polls in a row on the same instance',
  )
  ws.forEach((w) => w.close())
  sse.forEach((r) => r.close())
})

test('SIGTERM one instance while events flow: its clients resume through the others, nothing lost or doubled', async ({ c }) => {
  const p = c.proxy
  const clients = [1, 2, 3, 4, 5, 6].map(() => sdk(p.url, { topics: ['term/**'], transports: ['websocket'] }))
  await Promise.all(clients.map((x) => x.waitOpen()))
  const starts = await Promise.all(clients.map((x) => until('snapshot', () => x.snapshots[0]?.cursor)))
  const load = startPublishing(p.url, ['term/a', 'term/b'], { concurrency: 1 })
  await until('some events', () => (load.stored.length > 200 ? true : undefined), 10_000)
  const victim = c.servers[0]!
  c.live.delete(victim) // as the load balancer does once readiness fails
  assert.is(await victim.stop('SIGTERM'), 0)
  const after = load.stored.length
  await until('events after the shutdown', () => (load.stored.length > after + 200 ? true : undefined), 10_000)
  const all = await load.stop()
  const reconnected = clients.filter((x) => x.statuses.some((s) => s.state === 'reconnecting'))
  assert.ok(reconnected.length >= 1, 'some clients were on the stopped instance')
  for (const [i, x] of clients.entries()) {
    const want = expected(all, starts[i]!, () => true)
    assert.equal(ids(await x.waitId(want.at(-1)!.id)), ids(want))
    x.feed.close()
  }
})

test.run()

const outage = suite('Redis outage: SIGSTOP/SIGCONT and an AOF restart while publishers retry')
outage('every 201 event reaches every subscriber once; failures are 5xx; /healthz shows it, readiness stays; retries store once', async () => {
  const c = await startCluster()
  try {
    const p = c.proxy
    const subs = [1, 2, 3].map(() => sdk(p.url, { topics: ['out/**'], transports: ['websocket'] }))
    await Promise.all(subs.map((x) => x.waitOpen()))
    const start = await until('snapshot', () => subs[0]!.snapshots[0]?.cursor)
    await Promise.all(subs.map((x) => until('snapshot', () => x.snapshots[0])))

    // A publisher that retries each event with the same Idempotency-Key until it gets a 201.
    const accepted = new Map<number, FeedEvent>()
    const failures: number[] = []
    let running = true
    let n = 0
    const publisher = (async () => {
      while (running) {
        const i = n++
        for (let attempt = 0; ; attempt++) {
          const r = await publish(p.url, { topic: 'out/a', data: i }, { 'Idempotency-Key': `out-${i}` }).catch(() => ({ status: 599, body: null }))
          if (r.status === 201) {
            accepted.set(i, r.body)
            break
          }
          failures.push(r.status)
          if (attempt > 200) throw new Error(`event ${i} never stored`)
          await new Promise((res) => setTimeout(res, 50)) // retry pacing, not synchronisation
        }
      }
    })()
    const statuses = async (path: string) => Promise.all(c.servers.map(async (s) => (await request(`${s.url}${path}`)).status))

    await until('some events', () => (accepted.size > 50 ? true : undefined), 10_000)
    c.redis.pause()
    // /healthz tells a person the store is away; readiness stays 200: every instance shares the store, so
    // taking them all out of the load balancer would only turn 503s into nothing at all.
    await until('/healthz 503 on every instance', async () => ((await statuses('/healthz')).every((s) => s === 503) ? true : undefined), 10_000)
    await until('a failed publish', () => (failures.length > 0 ? true : undefined), 10_000)
    assert.equal(
      await statuses('/readiness_check'),
      c.servers.map(() => 200),
      'readiness stays 200 during the outage',
    )
    c.redis.resume()
    await until('/healthz back', async () => ((await statuses('/healthz')).every((s) => s === 200) ? true : undefined), 15_000)
    const mid = accepted.size
    await until('more events', () => (accepted.size > mid + 50 ? true : undefined), 15_000)
    await c.redis.restart()
    const mid2 = accepted.size
    await until('events after the restart', () => (accepted.size > mid2 + 50 ? true : undefined), 20_000)
    running = false
    await publisher
    const sentinel = await publish(p.url, { topic: 'out/a', data: 'sentinel' })
    assert.is(sentinel.status, 201)

    assert.ok(failures.length > 0, 'the outage made some publishes fail')
    assert.ok(
      failures.every((s) => s >= 500),
      `failures: ${[...new Set(failures)]}`,
    )
    const want = [...accepted.values(), sentinel.body as FeedEvent].sort((a, b) => (a.id < b.id ? -1 : 1))
    const stored = (await request(`${p.url}/api/events?topics=out/**&since=${start}&limit=1000`)).body.events as FeedEvent[]
    assert.equal(
      stored.map((e) => e.data),
      [...[...accepted.keys()].sort((a, b) => a - b), 'sentinel'],
      'each event stored once, in publish order',
    )
    for (const x of subs) {
      assert.equal(ids(await x.waitId(sentinel.body.id, 20_000)), ids(want))
      x.feed.close()
    }
    for (const s of c.servers) assert.is(s.proc.exitCode, null, `${s.port} is still running`)
  } finally {
    await stopCluster(c)
  }
})
outage.run()
