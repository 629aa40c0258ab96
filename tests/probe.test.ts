import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { GC_HOOK, type GcMemory, memoryAfterGc } from '../harness/memory.ts'
import { startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { stalledSse } from './helpers/sse.ts'

/**
 * The probe that found the server could be made to hold gigabytes, replayed
 * at a size this machine runs in seconds: huge snapshots asked for in
 * parallel, hundreds of SSE streams that never read while megabytes are
 * published, and bad bodies. Each gets its documented answer; the process
 * lives; its RSS stays within a documented bound (450 MiB over its start while
 * the probe runs, against gigabytes before the bounds: measured 250-290 on
 * Node 20, 346 on Node 24, whose V8 lets more garbage build up before it
 * collects; most of it the first snapshot page each of the 300 streams is
 * encoded, see docs/security.md's memory bounds); once the clients have
 * gone, what it holds after a full gc (V8's heap and the Buffers outside it) is
 * back within 64 MiB of its start, the 30 MB it stored included; and a healthy
 * subscriber on the same server receives every event.
 *
 * The RSS after the probe is not asserted: the allocator keeps pages it grew
 * into (measured at 90 MiB over the start on one machine, 250 on another, with
 * no growth in what is held), which is the allocator's choice, not a leak.
 */
const MiB = 1024 * 1024
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024

test('the probe list: documented answers, a bounded RSS, and a healthy subscriber that misses nothing', async () => {
  const s = await startServer('node', { NODE_OPTIONS: GC_HOOK, MAX_CONNECTIONS_PER_IP: '1000', OUTBOUND_BYTES: String(64 * MiB) })
  const pid = s.proc.pid!
  let peak = 0
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50)
  try {
    const healthy = await WsClient.open(`${s.wsUrl}/ws?topics=probe/**`)
    await healthy.nth('snapshot')
    const held = (m: GcMemory) => m.heapUsed + m.external
    const before = held(await memoryAfterGc(s))
    const start = rssOf(pid)
    const sent: FeedEvent[] = []
    const pad = 'p'.repeat(60 * 1024)
    // 300 topics of ~60 KB: an 18 MB snapshot, in batches under MAX_BODY_BYTES.
    for (let b = 0; b < 20; b++) {
      const r = await publish(
        s.url,
        Array.from({ length: 15 }, (_, i) => ({ topic: `probe/t${b * 15 + i}`, data: { pad } })),
      )
      assert.is(r.status, 201)
      sent.push(...r.body.events)
    }

    // Three walks of the whole snapshot at once: each answer a page of about READ_BYTES (4 MiB), never 18 MB.
    const walk = async () => {
      let next: string | undefined
      let topics = 0
      do {
        const res = await fetch(`${s.url}/api/snapshot?topics=**${next ? `&next=${next}` : ''}`)
        const text = await res.text()
        assert.ok(text.length < 4.5 * MiB, `a page of ${text.length} bytes`)
        const page = JSON.parse(text) as { events: FeedEvent[]; next?: string }
        topics += page.events.length
        next = page.next
      } while (next)
      return topics
    }
    assert.equal(await Promise.all([walk(), walk(), walk()]), [300, 300, 300])

    // 300 SSE streams that never read, while 12 MB more is published: each is closed at MAX_BUFFERED_BYTES
    // (or by the OUTBOUND_BYTES budget) instead of growing the server's memory.
    const stalled = await Promise.all(Array.from({ length: 300 }, () => stalledSse(s.port, 'probe/**')))
    for (let i = 0; i < 200; i++) sent.push((await publish(s.url, { topic: 'probe/live', data: { i, pad } })).body)
    await until('the stalled streams released', async () => ((await request(`${s.url}/healthz`)).body.connections === 1 ? true : undefined), 20_000)

    // Bad bodies get their answers on the same server meanwhile.
    const bad = async (body: string) =>
      (await request(`${s.url}/api/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).body.error.code
    assert.is(await bad(`{"topic":"probe/x","data":${'['.repeat(5000)}${']'.repeat(5000)}}`), 'too_deep')
    assert.is(await bad('{"topic":"probe/x","data":1e999999}'), 'validation_failed')
    assert.is((await publish(s.url, { topic: 'probe/x', data: 1 }, { origin: 'https://evil.example' })).status, 403)

    const end = (await publish(s.url, { topic: 'probe/end', data: 'sentinel' })).body as FeedEvent
    assert.equal(
      (await healthy.waitId(end.id, 20_000)).map((e) => e.id),
      [...sent, end].map((e) => e.id),
      'the healthy subscriber missed nothing',
    )
    for (const sock of stalled) sock.destroy()
    healthy.close()
    await until('every client gone', async () => ((await request(`${s.url}/healthz`)).body.connections === 0 ? true : undefined))

    assert.ok(peak - start < 450 * MiB, `peak RSS ${Math.round(peak / MiB)} MiB, ${Math.round((peak - start) / MiB)} MiB over the start`)
    const after = held(await memoryAfterGc(s))
    assert.ok(after - before < 64 * MiB, `held after gc: ${Math.round(before / MiB)} MiB at the start, ${Math.round(after / MiB)} MiB after`)
    assert.is(s.proc.exitCode, null, 'the process lives')
    assert.not.match(s.output(), /"level":(50|60)/, 'no error-level log line')
    console.log(
      `  probe: RSS ${Math.round(start / MiB)} MiB at the start, peak ${Math.round(peak / MiB)} MiB, ${Math.round(rssOf(pid) / MiB)} MiB after;` +
        ` held after gc ${Math.round(before / MiB)} -> ${Math.round(after / MiB)} MiB`,
    )
  } finally {
    clearInterval(sampler)
    await s.stop()
  }
})

test.run()
