import * as assert from 'uvu/assert'
import type { WsClient } from '../../harness/ws.ts'
import { isAfter } from '../../src/protocol/cursor.ts'
import { type FeedEvent, publish } from './http.ts'
import { randomInt } from './random.ts'

/**
 * Publishes batches of 1-8 events on the given topics, from `concurrency`
 * loops, until stop() is called or `max` events are stored. Every stored
 * event is recorded, so a test can say exactly what each subscriber should see.
 */
export function startPublishing(base: string, topics: string[], opts: { concurrency?: number; max?: number } = {}) {
  const stored: FeedEvent[] = []
  let running = true
  let n = 0
  const loop = async () => {
    while (running && n < (opts.max ?? 50_000)) {
      const size = 1 + randomInt(8)
      const batch = Array.from({ length: size }, () => ({ topic: topics[randomInt(topics.length)]!, data: n++ }))
      const r = await publish(base, batch)
      if (r.status !== 201) throw new Error(`publish failed: ${r.status} ${JSON.stringify(r.body)}`)
      stored.push(...(r.body.events as FeedEvent[]))
    }
  }
  // A failed publish is reported by stop(), not as an unhandled rejection that kills the runner.
  let failure: unknown
  const loops = Promise.all(Array.from({ length: opts.concurrency ?? 2 }, loop)).catch((err) => {
    failure = err
    running = false
  })
  return {
    stored,
    /**
     * Stops, then publishes a sentinel on the first topic, last of all; resolves
     * with every stored event in cursor order, the sentinel at the end. A
     * subscriber has all it will get once it has the sentinel, so comparing
     * then catches a late duplicate too.
     */
    async stop(): Promise<FeedEvent[]> {
      running = false
      await loops
      if (failure) throw failure
      const sentinel = await publish(base, { topic: topics[0]!, data: 'sentinel' })
      if (sentinel.status !== 201) throw new Error(`sentinel publish failed: ${sentinel.status}`)
      return [...stored, sentinel.body as FeedEvent].sort((a, b) => (a.id < b.id ? -1 : 1))
    },
  }
}

/** What a subscriber to `match` starting after `after` must see: exactly these, in this order. */
export function expected(all: FeedEvent[], after: string, match: (topic: string) => boolean): FeedEvent[] {
  return all.filter((e) => isAfter(e.id, after) && match(e.topic))
}

/**
 * A subscriber that joined with `rewind` (at most `rewind` events in its snapshot) while events numbered 0..last
 * were published in order: its snapshot and live events together are one unbroken run ending at `last` (the
 * sentinel), none lost or doubled at the seam.
 */
export async function assertRewindSeam(ws: WsClient, sentinel: string, rewind: number, last: number): Promise<void> {
  const snap = (await ws.nth('snapshot')).events.map((e) => e.data as number)
  const live = (await ws.waitId(sentinel, 10_000)).map((e) => e.data as number)
  const seen = [...snap, ...live]
  assert.ok(snap.length >= 1 && snap.length <= rewind, `snapshot of ${snap.length}`)
  assert.equal(
    seen,
    Array.from({ length: seen.length }, (_, i) => seen[0]! + i),
    'consecutive, none lost or doubled',
  )
  assert.is(seen.at(-1), last)
}
