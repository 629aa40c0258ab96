import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket from 'ws'
import { GC_HOOK, memoryAfterGc } from '../harness/memory.ts'
import { type Server, startServer } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { metricSum } from './helpers/metrics.ts'

const SOCKETS = 1000
/**
 * Heap per idle, subscribed WebSocket on Node, after a full gc: ~4.0 KB here (issue 11's target is 4; bare
 * `ws` is 2.7 KB). 5.5 KB is the bound a regression would cross, a third more than today: before
 * patches/@hono+node-server+2.1.11.patch (docs/patches.md), @hono/node-server's upgradeWebSocket kept each request's Context, Request and
 * IncomingMessage for the socket's life, 11.8 KB; with the first two edits only, and closures where the
 * session now has objects, it was 6.0-6.6.
 * Deno is not measured here: it has no gc to call before reading its heap.
 */
const BOUND_BYTES = 5.5 * 1024

async function openIdle(s: Server, n: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = []
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, () => new WebSocket(`${s.wsUrl}/ws?topics=idle/x`, { perMessageDeflate: false }))
    sockets.push(...batch)
    // Subscribed once the snapshot frame came: the session and its subscription exist.
    await Promise.all(
      batch.map(
        (ws) =>
          new Promise<void>((resolve, reject) => {
            ws.on('message', (d) => String(d).startsWith('{"type":"snapshot"') && resolve())
            ws.once('error', reject)
          }),
      ),
    )
  }
  return sockets
}

const test = suite<{ s: Server }>('memory per idle WebSocket [node]', {} as { s: Server })
test.before(async (ctx) => {
  ctx.s = await startServer('node', { NODE_OPTIONS: GC_HOOK, MAX_CONNECTIONS_PER_IP: String(SOCKETS + 10) })
})
test.after(async ({ s }) => void (await s.stop()))

/** Closes the sockets and waits until the server has let go of every one of them (its connections gauge says 0). */
async function closeAll(s: Server, sockets: WebSocket[]): Promise<void> {
  for (const ws of sockets) ws.close()
  await until('the server to count no connection', async () => ((await metricSum(s.url, 'livefeed_connections')) === 0 ? true : undefined), 10_000)
}

test(`${SOCKETS} idle subscribed WebSockets hold under ${BOUND_BYTES / 1024} KB of heap each; closed, they leave nothing that grows`, async ({ s }) => {
  // One round first, so the code compiled for the path and the tables grown to this size are in every reading.
  await closeAll(s, await openIdle(s, SOCKETS))
  const before = await memoryAfterGc(s)
  const sockets = await openIdle(s, SOCKETS)
  const held = await memoryAfterGc(s)
  const perSocket = (held.heapUsed - before.heapUsed) / SOCKETS
  assert.ok(perSocket < BOUND_BYTES, `${(perSocket / 1024).toFixed(2)} KB of heap per idle WebSocket, over ${BOUND_BYTES / 1024} KB`)
  await closeAll(s, sockets)
  const after = await memoryAfterGc(s)
  // A second round of the same sockets ends where the first did: a leak of a tenth of each socket's bound fails.
  const left = after.heapUsed - before.heapUsed
  assert.ok(left < (BOUND_BYTES / 10) * SOCKETS, `${(left / 1024).toFixed(0)} KB more heap after a second round of ${SOCKETS} sockets than after the first`)
})

test.run()
