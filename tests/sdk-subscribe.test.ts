import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import type { ConnectOptions, FeedEvent } from '../src/client/index.ts'
import { compareCursors } from '../src/protocol/cursor.ts'
import { publish } from './helpers/http.ts'
import { sdk } from './helpers/sdk.ts'

/**
 * `feed.subscribe()` on a transport that reconnects to add topics (SSE, long polling): the added topics'
 * snapshot comes over HTTP beside the new stream. Its answer is held back here (a slow network) until the
 * stream has shown newer events, against a real server: what the page shows must not go back in time, and
 * nothing may be shown twice.
 */
const test = suite('SDK subscribe on a reconnecting transport')

/** Publishes one event; its id. */
const publishedId = async (url: string, topic: string, data: unknown) => ((await publish(url, { topic, data })).body as FeedEvent).id

/** A fetch whose `/api/snapshot` answers, once armed, wait (already read from the server) until released. */
function gatedFetch() {
  let armed = false
  let release: () => void = () => {}
  const released = new Promise<void>((r) => (release = r))
  let answered: () => void = () => {}
  const held = new Promise<void>((r) => (answered = r))
  const f: typeof fetch = async (input, init) => {
    const res = await fetch(input, init)
    if (!armed || !String(input).includes('/api/snapshot')) return res
    const text = await res.text()
    answered()
    await released
    return new Response(text, { status: res.status, headers: res.headers })
  }
  return { fetch: f, arm: () => (armed = true), answered: held, release }
}

for (const transport of ['sse', 'poll'] as const) {
  test(`${transport}: a late snapshot of added topics shows neither an older event after a newer one nor one twice`, async () => {
    const s = await startServer('node')
    const gate = gatedFetch()
    const client = sdk(s.url, { topics: ['g/**'], transports: [transport], fetch: gate.fetch, pollWaitS: 1 })
    // In the order the application saw them: live events and every snapshot's events.
    const shown: FeedEvent[] = []
    client.feed.on('event', (e) => shown.push(e))
    client.feed.on('snapshot', ({ events }) => shown.push(...events))
    const id = (topic: string, data: unknown) => publishedId(s.url, topic, data)
    try {
      const a1 = await id('g/a', 1)
      const x1 = await id('n/x', 1) // of a topic not held yet, superseded live before the late answer
      const y1 = await id('n/y', 1) // of a topic not held yet, with nothing newer: the snapshot must show it
      const z1 = await id('n/z', 1) // of a topic added, then dropped before the answer came
      await client.waitOpen()
      const a2 = await id('g/a', 2)
      await client.waitId(a2)
      gate.arm()
      // g/a is held already (g/**): its snapshot event was shown; n/x and n/y are new.
      client.feed.subscribe(['g/a', 'n/x', 'n/y', 'n/z'])
      await gate.answered
      client.feed.unsubscribe(['n/z'])
      const a3 = await id('g/a', 3)
      const x2 = await id('n/x', 2)
      await client.waitId(x2)
      await client.waitId(a3)
      gate.release()
      const sentinel = await id('g/a', 4)
      await client.waitId(sentinel)
      await until(`n/y's snapshot event ${y1}`, () => (shown.some((e) => e.id === y1) ? true : undefined))
      assert.ok(!shown.some((e) => e.id === z1), 'n/z was dropped before the answer came')
      const ids = shown.map((e) => e.id)
      assert.is(new Set(ids).size, ids.length, `nothing twice: ${ids}`)
      for (const topic of ['g/a', 'n/x', 'n/y']) {
        const seq = shown.filter((e) => e.topic === topic).map((e) => e.id)
        for (let i = 1; i < seq.length; i++) assert.ok((compareCursors(seq[i - 1]!, seq[i]!) ?? 0) < 0, `${topic} in order: ${seq}`)
      }
      assert.equal(
        shown.filter((e) => e.topic === 'g/a').map((e) => e.id),
        [a1, a2, a3, sentinel],
      )
      assert.equal(
        shown.filter((e) => e.topic === 'n/x').map((e) => e.id),
        [x2],
        `n/x's snapshot (${x1}) is older than what was shown`,
      )
    } finally {
      client.feed.close()
      await s.stop()
    }
  })
}

for (const transport of ['websocket', 'sse', 'poll'] as const) {
  test(`${transport}: topics added and dropped while a connection is opening hold once it opens`, async () => {
    const s = await startServer('node')
    const id = (topic: string, data: unknown) => publishedId(s.url, topic, data)
    const before = await id('n/x', 0) // the latest of n/x before it is added: the snapshot shows it
    const client = sdk(s.url, { topics: ['g/**', 'd/x'], transports: [transport], pollWaitS: 1 })
    try {
      // The first attempt is made in a microtask: after this one, it is opening with g/** and d/x.
      await Promise.resolve()
      assert.ok(client.feed.transport === transport && client.feed.state === 'connecting', `opening: ${client.feed.state}`)
      client.feed.subscribe(['n/x'])
      client.feed.unsubscribe(['d/x'])
      await client.waitOpen()
      const x = await id('n/x', 1)
      const dropped = await id('d/x', 1)
      const sentinel = await id('g/a', 1)
      await client.waitId(sentinel)
      await client.waitId(x)
      assert.ok(!client.events.some((e) => e.id === dropped), 'd/x was dropped before the connection opened')
      assert.ok(
        client.snapshots.some((p) => p.events.some((e) => e.id === before)),
        `n/x's latest (${before}) in a snapshot`,
      )
      const ids = [...client.events.map((e) => e.id), ...client.snapshots.flatMap((p) => p.events.map((e) => e.id))]
      assert.is(new Set(ids).size, ids.length, `nothing twice: ${ids}`)
    } finally {
      client.feed.close()
      await s.stop()
    }
  })
}

for (const transport of ['websocket', 'sse'] as const) {
  test(`${transport}: a topic added while there is no connection gets its snapshot, and its events once reconnected`, async () => {
    // The server ends every connection after about a second: the feed is then without one until it reconnects.
    const s = await startServer('node', { MAX_CONNECTION_AGE: '1' })
    const client = sdk(s.url, { topics: ['g/**'], transports: [transport] })
    const id = (topic: string, data: unknown) => publishedId(s.url, topic, data)
    try {
      await client.waitOpen()
      // n/y's latest is before the cursor the feed resumes from: only a snapshot can show it.
      const before = await id('n/y', 0)
      const g0 = await id('g/a', 0)
      await client.waitId(g0)
      let added = false
      // Called as the feed loses its connection, before it makes the next one.
      client.feed.on('status', ({ state }) => {
        if (state !== 'reconnecting' || added) return
        added = true
        assert.is(client.feed.transport, undefined)
        client.feed.subscribe(['n/y'])
      })
      await until('the connection to end', () => (added ? true : undefined), 5000)
      await client.waitOpen()
      const y1 = await id('n/y', 1)
      await client.waitId(y1)
      const sentinel = await id('g/a', 1)
      await client.waitId(sentinel)
      await until(`n/y's latest before it was added (${before}) in a snapshot`, () =>
        client.snapshots.some((p) => p.events.some((e) => e.id === before)) ? true : undefined,
      )
      const ids = [...client.events.map((e) => e.id), ...client.snapshots.flatMap((p) => p.events.map((e) => e.id))]
      assert.is(new Set(ids).size, ids.length, `nothing twice: ${ids}`)
    } finally {
      client.feed.close()
      await s.stop()
    }
  })
}

for (const transport of ['websocket', 'sse', 'poll'] as const) {
  test(`${transport}: a topic added while the feed is behind the head shows what docs/sdk.md says for this transport`, async () => {
    const s = await startServer('node')
    const id = (topic: string, data: unknown) => publishedId(s.url, topic, data)
    const x0 = await id('n/x', 0)
    const since = await id('g/a', 0) // where the feed starts: before x1 and x2
    const x1 = await id('n/x', 1)
    const x2 = await id('n/x', 2)
    const client = sdk(s.url, { topics: ['g/**'], since, transports: [transport], pollWaitS: 1 })
    // n/x's events and snapshot events, in the order the application saw them.
    const shown: string[] = []
    client.feed.on('event', (e) => e.topic === 'n/x' && shown.push(e.id))
    client.feed.on('snapshot', ({ events }) => shown.push(...events.filter((e) => e.topic === 'n/x').map((e) => e.id)))
    try {
      await Promise.resolve() // the first attempt is made in a microtask: now it is opening, from `since`
      client.feed.subscribe(['n/x'])
      await client.waitOpen()
      const sentinel = await id('g/a', 1)
      await client.waitId(sentinel)
      await until(`n/x's ${x2}`, () => (shown.includes(x2) ? true : undefined))
      if (transport === 'websocket') {
        // Added on the open socket: the server's snapshot once the replay from `since` is done, its latest.
        assert.equal(shown, [x2])
      } else {
        // Added by reconnecting from the cursor: its latest up to the cursor (unless the replay showed a newer
        // one first), then every event after the cursor.
        assert.ok(shown.join() === [x0, x1, x2].join() || shown.join() === [x1, x2].join(), `n/x: ${shown}, not ${[x0, x1, x2]} (or without ${x0})`)
      }
    } finally {
      client.feed.close()
      await s.stop()
    }
  })
}

test('websocket: an event of a topic dropped while the unsubscribe is on its way is not shown, and the cursor moves past it', async () => {
  const s = await startServer('node')
  // The socket's frames to the server wait while `holding`: the server delivers what it still has subscribed.
  const gate = { holding: false, held: [] as (() => void)[] }
  const received: string[] = []
  class HeldSocket extends WebSocket {
    constructor(url: string) {
      super(url)
      this.on('message', (d) => received.push(String(d))) // before the SDK's own listener, in the same emit
      const send = this.send.bind(this)
      this.send = (data: Parameters<WebSocket['send']>[0]) => {
        if (gate.holding) gate.held.push(() => send(data))
        else send(data)
      }
    }
  }
  const client = sdk(s.url, { topics: ['d/x', 'd/y'], transports: ['websocket'], WebSocket: HeldSocket as unknown as ConnectOptions['WebSocket'] })
  const id = (topic: string, data: unknown) => publishedId(s.url, topic, data)
  try {
    await client.waitOpen()
    await client.waitId(await id('d/y', 0))
    gate.holding = true
    client.feed.unsubscribe(['d/x'])
    assert.is(gate.held.length, 1, 'the unsubscribe frame is on its way')
    const x = await id('d/x', 1)
    await until('the d/x event at the socket', () => (received.some((f) => f.includes(x)) ? true : undefined), 5000)
    assert.is(client.feed.cursor, x, 'the cursor moved past it')
    gate.holding = false
    for (const send of gate.held.splice(0)) send()
    const sentinel = await id('d/y', 1)
    await client.waitId(sentinel)
    assert.equal(
      client.events.filter((e) => e.topic === 'd/x').map((e) => e.id),
      [],
      'no event of d/x is shown after unsubscribe',
    )
  } finally {
    client.feed.close()
    await s.stop()
  }
})

test.run()
