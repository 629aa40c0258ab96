import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { sharedRedis } from '../harness/redis.ts'
import { until } from '../harness/wait.ts'
import { DEFAULT_LIMITS } from '../src/config.ts'
import { parseCursor } from '../src/core/cursor.ts'
import type { Engine } from '../src/core/engine.ts'
import { silentLog } from '../src/core/log.ts'
import { PatternSet } from '../src/core/topic-index.ts'
import { MemoryEngine } from '../src/engines/memory.ts'
import { RedisEngine } from '../src/engines/redis.ts'
import type { FeedEvent } from '../src/protocol/events.ts'

/** One contract, every engine: what the hub and the transports rely on. */
type Bounds = { historySize?: number; maxTopics?: number; topicHistory?: number; latestBytes?: number }
type Make = (opts: Bounds & { prefix?: string }) => Promise<Engine>
let n = 0
const limits = (o: Bounds) => ({
  ...DEFAULT_LIMITS,
  historySize: o.historySize ?? 1000,
  maxTopics: o.maxTopics ?? 1000,
  topicHistory: o.topicHistory ?? DEFAULT_LIMITS.topicHistory,
  latestBytes: o.latestBytes ?? DEFAULT_LIMITS.latestBytes,
})
const engines: Record<string, Make> = {
  memory: async (o) => new MemoryEngine(limits(o)),
  redis: async (o) =>
    new RedisEngine({ url: (await sharedRedis()).url, prefix: o.prefix ?? `contract${process.pid}-${++n}:`, limits: limits(o), log: silentLog }),
}

const all = new PatternSet(['**'])
const idem = (key: string, fingerprint = 'f1') => ({ key, fingerprint, windowMs: 60_000 })

for (const [name, make] of Object.entries(engines)) {
  const test = suite(`engine contract [${name}]`)
  const open: Engine[] = []
  const start = async (o: Parameters<Make>[0] = {}) => {
    const e = await make(o)
    const head = await e.start()
    open.push(e)
    return { e, head }
  }
  test.after(async () => void (await Promise.all(open.map((e) => e.close()))))

  test('append stores a batch in order with increasing cursors; read returns it after a cursor', async () => {
    const { e, head } = await start()
    const r = await e.append([1, 2, 3].map((i) => ({ topic: `t/${i}`, data: { i } })))
    assert.is(r.replayed, false)
    const ids = r.events.map((x) => x.id)
    assert.equal([...ids].sort(), ids)
    assert.ok(ids[0]! > head)
    const read = await e.read(parseCursor(head)!, all, 10)
    assert.equal(read, { stale: false, events: r.events, cursor: ids[2], more: false })
    assert.is(await e.head(), ids[2])
  })

  test('read filters by pattern, honours the limit, and its cursor is how far it scanned', async () => {
    const { e, head } = await start()
    await e.append(['a/1', 'b/1', 'a/2', 'b/2', 'b/3'].map((topic) => ({ topic, data: topic })))
    const first = await e.read(parseCursor(head)!, new PatternSet(['a/*']), 1)
    assert.ok(!first.stale)
    if (first.stale) return
    assert.equal(
      first.events.map((x) => x.topic),
      ['a/1'],
    )
    const rest = await e.read(parseCursor(first.cursor)!, new PatternSet(['a/*']), 10)
    if (rest.stale) return assert.unreachable()
    assert.equal(
      rest.events.map((x) => x.topic),
      ['a/2'],
    )
    assert.is(rest.cursor, await e.head(), 'scanned past the non-matching tail')
  })

  test('stale: another epoch, ahead of the head, or trimmed out of the history', async () => {
    const { e, head } = await start({ historySize: 10 })
    const c = parseCursor(head)!
    assert.equal(await e.read({ epoch: 'zz', pos: c.pos }, all, 10), { stale: true })
    assert.equal(await e.read({ epoch: c.epoch, pos: 'z'.repeat(c.pos.length) }, all, 10), { stale: true })
    const early = (await e.append([{ topic: 'h/a', data: 0 }])).events[0]!
    for (let i = 0; i < 5; i++) await e.append(Array.from({ length: 100 }, (_, j) => ({ topic: 'h/a', data: i * 100 + j })))
    assert.equal(await e.read(parseCursor(early.id)!, all, 10), { stale: true })
    const latest = await e.head()
    const fresh = await e.read(parseCursor(latest)!, all, 10)
    assert.equal(fresh, { stale: false, events: [], cursor: latest, more: false })
  })

  test('read and snapshot are cut at about maxBytes, at an event boundary, and say there is more', async () => {
    const { e, head } = await start()
    const body = Array.from({ length: 10 }, (_, i) => ({ topic: `b/${i}`, data: 'z'.repeat(1000) }))
    const stored = (await e.append(body)).events
    const first = await e.read(parseCursor(head)!, all, 100, 2500)
    if (first.stale) return assert.unreachable()
    assert.is(first.events.length, 2, 'two ~1 KiB events fit in 2500 bytes')
    assert.is(first.more, true)
    assert.is(first.cursor, stored[1]!.id, 'the cursor is the last event included')
    const rest = await e.read(parseCursor(first.cursor)!, all, 100, 1)
    if (rest.stale) return assert.unreachable()
    assert.equal(
      rest.events.map((x) => x.id),
      [stored[2]!.id],
      'at least one event, however small maxBytes',
    )
    const pages: string[][] = []
    let page = await e.snapshot(new PatternSet(['b/*']), { maxBytes: 3500 })
    const upTo = page.cursor
    pages.push(page.events.map((x) => x.topic))
    while (page.more) {
      page = await e.snapshot(new PatternSet(['b/*']), { after: page.events.at(-1)!.id, upTo, maxBytes: 3500 })
      assert.is(page.cursor, upTo)
      pages.push(page.events.map((x) => x.topic))
    }
    assert.equal(
      pages.map((p) => p.length),
      [3, 3, 3, 1],
    )
    assert.equal(
      pages.flat(),
      body.map((x) => x.topic),
    )
    // Pages hold only events up to the first page's head: a later update waits for the live stream.
    await e.append([{ topic: 'b/0', data: 'newer' }])
    const again = await e.snapshot(new PatternSet(['b/*']), { after: stored[0]!.id, upTo })
    assert.equal(
      again.events.map((x) => x.id),
      stored.slice(1).map((x) => x.id),
    )
  })

  test('snapshot: latest event of each matching topic, oldest first, with the head', async () => {
    const { e } = await start()
    await e.append([
      { topic: 's/a', data: 1 },
      { topic: 's/b', data: 1 },
      { topic: 's/a', data: 2 },
      { topic: 'x/y', data: 0 },
    ])
    const snap = await e.snapshot(new PatternSet(['s/*']))
    assert.equal(
      snap.events.map((x) => [x.topic, x.data]),
      [
        ['s/b', 1],
        ['s/a', 2],
      ],
    )
    assert.is(snap.cursor, await e.head())
    const exact = await e.snapshot(new PatternSet(['s/a', 'nope']))
    assert.equal(
      exact.events.map((x) => x.data),
      [2],
    )
    const topics = await e.topics()
    assert.equal(topics.map((t) => t.topic).sort(), ['s/a', 's/b', 'x/y'])
  })

  test('the latest-per-topic bound drops the least recently updated topic', async () => {
    const { e } = await start({ maxTopics: 2 })
    for (const topic of ['m/a', 'm/b', 'm/c']) await e.append([{ topic, data: topic }])
    await e.append([
      { topic: 'm/b', data: 'again' },
      { topic: 'm/d', data: 'd' },
    ])
    assert.equal((await e.topics()).map((t) => t.topic).sort(), ['m/b', 'm/d'])
  })

  test("each topic keeps its last TOPIC_HISTORY events: a busy topic evicts no other topic's", async () => {
    const { e } = await start({ historySize: 10, topicHistory: 5 })
    const quiet = (await e.append([1, 2, 3].map((i) => ({ topic: 'q/a', data: i })))).events
    for (let i = 0; i < 4; i++) await e.append(Array.from({ length: 10 }, (_, j) => ({ topic: 'q/busy', data: i * 10 + j })))
    // The global replay history (10) lost the quiet topic long ago; its own history did not.
    const q = await e.history('q/a', 100)
    assert.equal(q.events, quiet)
    assert.is(q.more, false)
    assert.is(q.cursor, await e.head())
    const busy = await e.history('q/busy', 100)
    assert.equal(
      busy.events.map((x) => x.data),
      [35, 36, 37, 38, 39],
    )
    assert.equal((await e.history('q/none', 10)).events, [])
  })

  test("a topic's kept events roll over one write at a time, read between writes (the memory engine drops the oldest lazily)", async () => {
    const { e } = await start({ topicHistory: 5 })
    const all: FeedEvent[] = []
    for (let i = 0; i < 60; i++) {
      all.push(...(await e.append([{ topic: 'roll/a', data: i }])).events)
      // Read every third write, so some reads come between the compactions and some right after.
      if (i % 3 !== 0) continue
      assert.equal((await e.history('roll/a', 100)).events, all.slice(-5), `history after ${i + 1}`)
      assert.equal((await e.snapshot(new PatternSet(['roll/a']), { rewind: 5 })).events, all.slice(-5), `rewind after ${i + 1}`)
      assert.is((await e.topics()).find((t) => t.topic === 'roll/a')?.lastId, all.at(-1)!.id)
    }
  })

  test('history pages backwards: the newest `limit` before `before`, oldest first, and `more`', async () => {
    const { e } = await start({ topicHistory: 10 })
    const ev = (await e.append(Array.from({ length: 8 }, (_, i) => ({ topic: 'p/a', data: i })))).events
    await e.append([{ topic: 'p/other', data: 'x' }])
    const last3 = await e.history('p/a', 3)
    assert.equal(last3.events, ev.slice(5))
    assert.is(last3.more, true)
    const before = await e.history('p/a', 3, last3.events[0]!.id)
    assert.equal(before.events, ev.slice(2, 5))
    const first = await e.history('p/a', 3, before.events[0]!.id)
    assert.equal(first.events, ev.slice(0, 2))
    assert.is(first.more, false)
    // Cut by bytes to the newest that fit, at least one.
    const one = await e.history('p/a', 10, undefined, 1)
    assert.equal(one.events, ev.slice(7))
    assert.is(one.more, true)
    assert.equal((await e.history('p/a', 10, 'zz-0001')).events, [], 'another epoch: nothing')
  })

  test('snapshot with rewind: the last n events of each matching topic, in cursor order, paged', async () => {
    const { e } = await start({ topicHistory: 10 })
    const a = (await e.append(Array.from({ length: 5 }, (_, i) => ({ topic: 'r/a', data: i })))).events
    const b = (await e.append(Array.from({ length: 2 }, (_, i) => ({ topic: 'r/b', data: i })))).events
    const a2 = (await e.append([{ topic: 'r/a', data: 5 }])).events
    for (const set of [new PatternSet(['r/a', 'r/b']), new PatternSet(['r/*'])]) {
      const snap = await e.snapshot(set, { rewind: 3 })
      assert.equal(snap.events, [...a.slice(3), ...b, ...a2])
      assert.is(snap.cursor, await e.head())
      const plain = await e.snapshot(set)
      assert.equal(plain.events, [b[1], a2[0]])
      // Pages of one event each add up to the same.
      const got: FeedEvent[] = []
      let page = await e.snapshot(set, { rewind: 3, maxBytes: 1 })
      for (;;) {
        got.push(...page.events)
        if (!page.more) break
        page = await e.snapshot(set, { rewind: 3, maxBytes: 1, after: page.events.at(-1)!.id, upTo: snap.cursor })
      }
      assert.equal(got, snap.events)
    }
  })

  test("LATEST_BYTES bounds every topic's kept events together: the stalest topic goes whole, then the oldest of the one written", async () => {
    const big = 'x'.repeat(20_000)
    const { e } = await start({ topicHistory: 10, latestBytes: 100_000 })
    await e.append([1, 2].map((i) => ({ topic: 'b/old', data: `${i}${big}` })))
    assert.is((await e.history('b/old', 10)).events.length, 2)
    for (let i = 0; i < 10; i++) await e.append([{ topic: 'b/new', data: `${i}${big}` }])
    assert.equal((await e.history('b/old', 10)).events, [], 'the stalest topic went, history and all')
    assert.equal((await e.snapshot(new PatternSet(['b/old']))).events, [])
    // 200 KB written to one topic under a 100 KB bound: its newest that fit stay (memory counts each once,
    // Redis its latest twice, in the hash and in the list).
    const kept = (await e.history('b/new', 10)).events.map((x) => String(x.data)[0])
    assert.ok(kept.length >= 2 && kept.length <= 5, `kept ${kept.length}`)
    assert.equal(kept, [...'0123456789'].slice(-kept.length))
    assert.equal(
      (await e.snapshot(new PatternSet(['b/new']))).events.map((x) => String(x.data)[0]),
      ['9'],
    )
  })

  test('TOPIC_HISTORY=0 keeps only the latest: history answers nothing', async () => {
    const { e } = await start({ topicHistory: 0 })
    await e.append([1, 2, 3].map((i) => ({ topic: 'z/a', data: i })))
    assert.equal((await e.history('z/a', 10)).events, [])
    const snap = await e.snapshot(new PatternSet(['z/a']))
    assert.equal(
      snap.events.map((x) => x.data),
      [3],
    )
  })

  test('idempotency: a repeat returns the first result and stores nothing; another body conflicts', async () => {
    const { e, head } = await start()
    const body = [
      { topic: 'i/a', data: 1 },
      { topic: 'i/a', data: 2 },
    ]
    const first = await e.append(body, idem('k1'))
    const again = await e.append(body, idem('k1'))
    assert.is(again.replayed, true)
    assert.equal(again.events, first.events)
    const k2 = await e.append(body, idem('k2'))
    assert.is(k2.replayed, false)
    const err = await e.append(body, idem('k1', 'other')).catch((x: Error & { code?: string }) => x)
    assert.is((err as { code?: string }).code, 'idempotency_conflict')
    const read = await e.read(parseCursor(head)!, all, 100)
    if (read.stale) return assert.unreachable()
    assert.is(read.events.length, 4, 'k1 stored once, k2 once')
  })

  test('onEvents: every stored event once, in cursor order, also from concurrent appends', async () => {
    const prefix = `shared${process.pid}-${++n}:`
    const { e } = await start({ prefix })
    const other = name === 'redis' ? (await start({ prefix })).e : e
    const seen: FeedEvent[] = []
    e.onEvents((list) => seen.push(...list))
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? e : other).append([
          { topic: 'o/a', data: i },
          { topic: 'o/b', data: i },
        ]),
      ),
    )
    const stored = results.flatMap((r) => r.events).sort((a, b) => (a.id < b.id ? -1 : 1))
    await until('all events on the live stream', () => (seen.length >= stored.length ? true : undefined))
    assert.equal(
      seen.map((x) => x.id),
      stored.map((x) => x.id),
    )
  })

  test.run()
}

const redisOnly = suite('engine [redis]: a lost stream starts a new epoch')
redisOnly('after the keys are flushed, old cursors read as stale and new events get a new epoch', async () => {
  const prefix = `lost${process.pid}:`
  const e = await engines.redis!({ prefix })
  const head = await e.start()
  try {
    const before = (await e.append([{ topic: 'l/a', data: 1 }])).events[0]!
    const { Redis } = await import('ioredis')
    const raw = new Redis((await sharedRedis()).url)
    await raw.del(`${prefix}stream`, `${prefix}epoch`)
    raw.disconnect()
    const after = (await e.append([{ topic: 'l/a', data: 2 }])).events[0]!
    assert.is.not(parseCursor(after.id)!.epoch, parseCursor(before.id)!.epoch)
    assert.equal(await e.read(parseCursor(before.id)!, all, 10), { stale: true })
    assert.equal(await e.read(parseCursor(head)!, all, 10), { stale: true })
  } finally {
    await e.close()
  }
})
redisOnly.run()
