import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { RUNTIMES, type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { publish } from './helpers/http.ts'
import { expected, startPublishing } from './helpers/load.ts'
import { random, randomInt } from './helpers/random.ts'

/**
 * The replay/live seam under load: while two publishers store events as fast
 * as the server takes them, 40 subscribers join at random moments, some from
 * the snapshot, some resuming from a cursor (recent or far back), on all
 * topics or one. Each must receive exactly the events after its starting
 * point that match, every one once, in order.
 */
export async function seamRace(s: Server, subscribers = 40): Promise<void> {
  const topics = ['race/a', 'race/b', 'race/c/x']
  const seed = await publish(s.url, { topic: 'race/a', data: -1 })
  const load = startPublishing(s.url, topics)
  const joined: { c: WsClient; pattern: string; since?: string }[] = []
  for (let i = 0; i < subscribers; i++) {
    await new Promise((r) => setTimeout(r, random() * 40)) // random join moments, not synchronisation
    const pattern = i % 3 === 0 ? 'race/a' : 'race/**'
    const seen = load.stored
    const since = i % 2 === 0 ? undefined : i % 4 === 1 ? seed.body.id : (seen[randomInt(seen.length)]?.id ?? seed.body.id)
    const c = new WsClient(`${s.wsUrl}/ws?topics=${pattern}${since ? `&since=${since}` : ''}`)
    joined.push({ c, pattern, since })
  }
  // Enough traffic after the last join, however fast this machine is today.
  const joinedAt = load.stored.length
  await until('events after the last join', () => (load.stored.length >= Math.max(600, joinedAt + 200) ? true : undefined), 30_000)
  const all = await load.stop()
  for (const { c, pattern, since } of joined) {
    const match = pattern === 'race/a' ? (t: string) => t === 'race/a' : (t: string) => t.startsWith('race/')
    const start = since ?? (await c.nth('snapshot', 1, 10_000)).cursor
    const want = expected(all, start, match)
    // The sentinel (on race/a, which every pattern matches) is last: compared once it is in, a late duplicate fails.
    const got = (await c.waitId(want.at(-1)!.id, 15_000)).map(({ type, ...e }) => e)
    assert.equal(
      got.map((e) => e.id),
      want.map((e) => e.id),
      `${pattern} since ${since ?? 'snapshot'}`,
    )
    assert.equal(got, want)
    assert.is(c.of('reset').length, 0)
    c.close()
  }
}

for (const runtime of RUNTIMES) {
  const test = suite<{ s: Server }>(`replay/live seam [${runtime}]`, {} as { s: Server })
  test.before(async (ctx) => {
    // Small pages: a replay spans many reads, and live events arrive between them into the seam's buffer.
    ctx.s = await startServer(runtime, { HISTORY_SIZE: '200000', READ_LIMIT: '20' })
  })
  test.after(async ({ s }) => void (await s.stop()))
  test('every event exactly once, in order, for subscribers joining mid-stream', async ({ s }) => seamRace(s))
  test.run()
}
