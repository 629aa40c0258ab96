import { spawn } from 'node:child_process'
import { EventSource } from 'eventsource'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RUNTIMES, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { expected, startPublishing } from './helpers/load.ts'
import { startProxy } from './helpers/proxy.ts'
import { sdk } from './helpers/sdk.ts'
import { SseReader } from './helpers/sse.ts'

const ids = (list: readonly { id?: unknown }[]) => list.map((e) => e.id)
const connections = async (s: Server) => (await request(`${s.url}/healthz`)).body.connections as number

/** Polls like a stateless client, every answer's cursor feeding the next request, until the event `end` arrives. */
async function pollUntil(base: string, topics: string, cursor: string, end: string): Promise<FeedEvent[]> {
  const got: FeedEvent[] = []
  while (!got.some((e) => e.id === end)) {
    const r = await request(`${base}/poll?topics=${topics}&cursor=${cursor}&wait=5`)
    assert.is(r.status, 200, JSON.stringify(r.body))
    got.push(...r.body.events)
    cursor = r.body.cursor
  }
  return got
}

for (const runtime of RUNTIMES) {
  const test = suite<{ s: Server }>(`transports [${runtime}]`, {} as { s: Server })
  test.before(async (ctx) => {
    ctx.s = await startServer(runtime, { READ_LIMIT: '50' })
  })
  test.after(async ({ s }) => void (await s.stop()))

  test('WebSocket, SSE (fetch reader, EventSource, curl -N) and long polling see the same events, ids and order', async ({ s }) => {
    const start = (await request(`${s.url}/api/snapshot?topics=same/**`)).body.cursor as string
    const ws = await WsClient.open(`${s.wsUrl}/ws?topics=same/**&since=${start}`)
    const reader = new SseReader(`${s.url}/sse?topics=same/**&since=${start}`)
    const es = new EventSource(`${s.url}/sse?topics=same/**&since=${start}`)
    const esGot: FeedEvent[] = []
    es.addEventListener('message', (m) => esGot.push(JSON.parse(m.data)))
    await until('EventSource open', () => (es.readyState === 1 ? true : undefined))
    const curl = spawn('curl', ['-sN', `${s.url}/sse?topics=same/**&since=${start}`])
    let curlOut = ''
    curl.stdout.on('data', (d) => (curlOut += d))
    await until('curl to get the retry line', () => (curlOut.includes('retry:') ? true : undefined))
    await until('all 4 subscribed', async () => ((await connections(s)) >= 4 ? true : undefined))

    const published: FeedEvent[] = []
    for (let i = 0; i < 60; i++) {
      const r = await publish(s.url, [
        { topic: `same/${i % 3}`, data: { i } },
        { topic: 'other/x', data: i },
      ])
      published.push(r.body.events[0])
    }
    // A sentinel last: each consumer is compared only once it has it, so a late duplicate fails.
    const sentinel = (await publish(s.url, { topic: 'same/end', data: 'sentinel' })).body as FeedEvent
    const want = ids([...published, sentinel])
    const end = sentinel.id
    assert.equal(ids(await ws.waitId(end)), want)
    const messages = await reader.waitId(end)
    assert.equal(ids(messages.map((m) => JSON.parse(m.data))), want)
    assert.equal(ids(messages.map((m) => ({ id: m.id }))), want, 'SSE id: is the cursor')
    await until('EventSource sentinel', () => (esGot.some((e) => e.id === end) ? true : undefined))
    assert.equal(ids(esGot), want)
    await until('curl sentinel', () => (curlOut.includes(`id: ${end}\n`) ? true : undefined))
    assert.equal(
      curlOut.match(/^id: (.+)$/gm)!.map((l) => l.slice(4)),
      want,
    )
    assert.equal(ids(await pollUntil(s.url, 'same/**', start, end)), want)
    assert.equal(
      published.map((e) => (e.data as { i: number }).i),
      [...Array(60).keys()],
    )
    ws.close()
    reader.close()
    es.close()
    curl.kill()
    await until('every stream released', async () => ((await connections(s)) === 0 ? true : undefined))
  })

  test('SSE: snapshot with the head as id, Last-Event-ID resumes, stale cursor resets, headers say no buffering', async ({ s }) => {
    await publish(s.url, [
      { topic: 'sse/a', data: 1 },
      { topic: 'sse/b', data: 2 },
    ])
    const r = new SseReader(`${s.url}/sse?topics=sse/*`)
    const [snap] = await r.waitFor('snapshot', 1)
    const body = JSON.parse(snap!.data)
    assert.equal(
      body.events.map((e: FeedEvent) => e.data),
      [1, 2],
    )
    assert.is(snap!.id, body.cursor)
    assert.is(r.headers!.get('content-type'), 'text/event-stream')
    assert.match(r.headers!.get('cache-control')!, /no-transform/)
    const later = await publish(s.url, [
      { topic: 'sse/a', data: 3 },
      { topic: 'sse/a', data: 4 },
    ])
    await r.waitFor('message', 2)
    r.close()
    // What an EventSource sends on reconnect: the id of the last message it saw. It wins over ?since.
    const resumed = new SseReader(`${s.url}/sse?topics=sse/*&since=${snap!.id}`, { 'Last-Event-ID': later.body.events[0].id })
    const [ev] = await resumed.waitFor('message', 1)
    assert.is(JSON.parse(ev!.data).data, 4)
    assert.is(resumed.of('snapshot').length, 0)
    resumed.close()
    const stale = new SseReader(`${s.url}/sse?topics=sse/*&since=zz00000000-00000000001`)
    await stale.waitFor('snapshot', 1)
    assert.equal(
      stale.messages.map((m) => m.event),
      ['reset', 'snapshot'],
    )
    stale.close()
    await until('every stream released', async () => ((await connections(s)) === 0 ? true : undefined))
  })

  test('long polling: snapshot without cursor, held until an event, empty after wait, reset when stale', async ({ s }) => {
    await publish(s.url, { topic: 'lp/a', data: 'first' })
    const snap = await request(`${s.url}/poll?topics=lp/*`)
    assert.equal(
      snap.body.snapshot.map((e: FeedEvent) => e.data),
      ['first'],
    )
    const before = await connections(s)
    const held = request(`${s.url}/poll?topics=lp/*&cursor=${snap.body.cursor}&wait=10`)
    await until('the poll to be held', async () => ((await connections(s)) === before + 1 ? true : undefined))
    await publish(s.url, { topic: 'other/topic', data: 'ignored' })
    const pub = await publish(s.url, { topic: 'lp/a', data: 'second' })
    const answer = await held
    assert.equal(answer.body.events, [pub.body])
    assert.is(answer.body.cursor, pub.body.id)
    const t0 = Date.now()
    const empty = await request(`${s.url}/poll?topics=lp/*&cursor=${answer.body.cursor}&wait=0.3`)
    assert.equal(empty.body.events, [])
    assert.ok(Date.now() - t0 >= 250, 'held for about wait seconds')
    const stale = await request(`${s.url}/poll?topics=lp/*&cursor=zz00000000-00000000001`)
    assert.is(stale.body.reset, true)
    assert.equal(
      stale.body.snapshot.map((e: FeedEvent) => e.data),
      ['second'],
    )
  })

  test('a long poll whose client goes away is released at once', async ({ s }) => {
    const cursor = (await request(`${s.url}/api/snapshot?topics=x`)).body.cursor
    const before = await connections(s)
    const abort = new AbortController()
    const gone = fetch(`${s.url}/poll?topics=away/*&cursor=${cursor}&wait=30`, { signal: abort.signal }).catch(() => 'aborted')
    await until('the poll to be held', async () => ((await connections(s)) === before + 1 ? true : undefined))
    abort.abort()
    assert.is(await gone, 'aborted')
    await until('the poll to be released', async () => ((await connections(s)) === before ? true : undefined), 2000)
  })

  test('bad input on /sse and /poll: clear 400s', async ({ s }) => {
    const cases: [string, string][] = [
      ['/sse?topics=a//b', 'invalid_pattern'],
      ['/sse', 'invalid_pattern'],
      ['/sse?topics=a&since=bogus', 'invalid_cursor'],
      ['/poll?topics=a&cursor=bogus', 'invalid_cursor'],
      ['/poll?topics=**/a&cursor=bogus', 'invalid_pattern'],
      ['/poll?topics=a&wait=1e9', 'invalid_wait'],
      ['/poll?topics=a&wait=-1', 'invalid_wait'],
      ['/poll?topics=a&wait=soon', 'invalid_wait'],
    ]
    for (const [path, code] of cases) {
      const r = await request(`${s.url}${path}`)
      assert.is(r.status, 400, path)
      assert.is(r.body.error.code, code, path)
    }
    const head = await fetch(`${s.url}/sse?topics=a`, { headers: { 'Last-Event-ID': 'garbage' } })
    assert.is(head.status, 400)
  })

  test.run()

  const resume = suite(`SDK resume under forced reconnects [${runtime}]`)
  // The three transports at once, on one server and topics of their own: each needs seconds of real time.
  resume('websocket, sse and poll: nothing lost or doubled while the server closes connections every ~0.6 s', async () => {
    const s = await startServer(runtime, { MAX_CONNECTION_AGE: '0.6' })
    try {
      await Promise.all((['websocket', 'sse', 'poll'] as const).map((transport) => resumesThroughCuts(s, transport)))
    } finally {
      await s.stop()
    }
  })
  async function resumesThroughCuts(s: Server, transport: 'websocket' | 'sse' | 'poll'): Promise<void> {
    const client = sdk(s.url, { topics: [`resume/${transport}/**`], transports: [transport], pollWaitS: 5 })
    await client.waitOpen()
    const start = await until(`${transport}: the snapshot`, () => client.snapshots[0]?.cursor)
    const load = startPublishing(s.url, [`resume/${transport}/a`, `resume/${transport}/b/c`], { concurrency: 1 })
    // WebSocket and SSE are cut by MAX_CONNECTION_AGE; a held poll is cut at the same age and simply polls again.
    const reconnects = () => client.statuses.filter((x) => x.state === 'reconnecting').length
    const t0 = Date.now()
    await until('3 s of publishing', () => (Date.now() - t0 > 3000 ? true : undefined), 5000)
    const want = expected(await load.stop(), start, () => true)
    if (transport !== 'poll') assert.ok(reconnects() >= 3, `${transport}: only ${reconnects()} reconnects`)
    assert.equal(ids(await client.waitId(want.at(-1)!.id)), ids(want), transport)
    assert.ok(client.statuses.every((x) => x.state !== 'open' || x.transport === transport))
    client.feed.close()
  }
  resume.run()

  const fallback = suite<{ s: Server }>(`SDK fallback [${runtime}]`, {} as { s: Server })
  fallback.before(async (ctx) => {
    ctx.s = await startServer(runtime)
  })
  fallback.after(async ({ s }) => void (await s.stop()))
  const cases = [
    { name: 'upgrades refused by a proxy: SSE', proxy: { refuseUpgrade: true }, want: 'sse' },
    { name: 'upgrades and /sse refused: long polling', proxy: { refuseUpgrade: true, refusePaths: ['/sse'] }, want: 'poll' },
  ] as const
  for (const c of cases) {
    fallback(`${c.name} delivers every event`, async ({ s }) => {
      const proxy = await startProxy(() => [s.port], c.proxy)
      try {
        const client = sdk(proxy.url, { topics: ['fb/**'] })
        assert.is(await client.waitOpen(), c.want)
        await until('the snapshot', () => client.snapshots[0])
        const r = await publish(
          s.url,
          [1, 2, 3].map((n) => ({ topic: 'fb/x', data: n })),
        )
        assert.equal(ids(await client.waitId(r.body.events[2].id)), ids(r.body.events))
        client.feed.close()
      } finally {
        await proxy.close()
      }
    })
  }
  fallback('a server started with WEBSOCKET=0 refuses /ws with 503; the SDK goes on over SSE', async () => {
    const s = await startServer(runtime, { WEBSOCKET: '0' })
    try {
      const refused = await new WsClient(`${s.wsUrl}/ws`).opened.then(
        () => 'opened',
        (e: Error) => e.message,
      )
      assert.is(refused, 'upgrade refused: 503')
      const client = sdk(s.url, { topics: ['fb/**'] })
      assert.is(await client.waitOpen(), 'sse')
      client.feed.close()
    } finally {
      await s.stop()
    }
  })
  fallback('on a fallback, the SDK tries WebSocket again later and moves back with nothing lost or doubled', async ({ s }) => {
    const opts = { refuseUpgrade: true }
    const proxy = await startProxy(() => [s.port], opts)
    try {
      const client = sdk(proxy.url, { topics: ['back/**'], retryBetterAfterMs: 300 })
      assert.is(await client.waitOpen(), 'sse')
      const start = await until('the snapshot', () => client.snapshots[0]?.cursor)
      opts.refuseUpgrade = false // the proxy is fixed
      const load = startPublishing(s.url, ['back/a'], { concurrency: 1 })
      await until('the move back to WebSocket', () => (client.feed.transport === 'websocket' && client.feed.state === 'open' ? true : undefined), 10_000)
      const want = expected(await load.stop(), start, () => true)
      assert.equal(ids(await client.waitId(want.at(-1)!.id)), ids(want))
      client.feed.close()
    } finally {
      await proxy.close()
    }
  })
  fallback('SSE sends the retry hint and heartbeat comments (seen through curl -N)', async () => {
    const s = await startServer(runtime, { SSE_HEARTBEAT: '0.2', SSE_RETRY: '2' })
    try {
      const curl = spawn('curl', ['-sN', `${s.url}/sse?topics=hb/*`])
      let out = ''
      curl.stdout.on('data', (d) => (out += d))
      await until('two heartbeat comments', () => ((out.match(/^: heartbeat$/gm) ?? []).length >= 2 ? true : undefined))
      assert.match(out, /^retry: 2000$/m)
      curl.kill()
    } finally {
      await s.stop()
    }
  })
  fallback('without WebSocket or EventSource in the runtime, the SDK polls', async ({ s }) => {
    const client = sdk(s.url, { topics: ['fb/**'], transports: ['sse', 'poll'], noEventSource: true })
    assert.is(await client.waitOpen(), 'poll')
    const r = await publish(s.url, { topic: 'fb/y', data: 1 })
    assert.equal(ids(await client.waitEvents(1)), [r.body.id])
    client.feed.close()
  })
  fallback.run()
}
