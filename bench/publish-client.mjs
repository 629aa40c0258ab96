// The client of bench/socket-publish.ts, pinned by the parent to another core than the server: `count`
// publishes of one ~200-byte event, `inFlight` at a time, over one WebSocket (publish frames) or over HTTP
// keep-alive connections (POST /api/events). Prints one JSON line when done.
import http from 'node:http'
import WebSocket from 'ws'

const [port, mode, count, inFlight] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4]), Number(process.argv[5])]
const data = { price: 101.25, symbol: 'AAPL', pad: 'x'.repeat(150) }
const t0 = performance.now()
let next = 0

if (mode === 'ws') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=bench-token`, { perMessageDeflate: false })
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))
  const waiting = new Map()
  ws.on('message', (d) => {
    const f = JSON.parse(String(d))
    if (f.ref === undefined) return
    if (f.type !== 'published') throw new Error(JSON.stringify(f))
    waiting.get(f.ref)()
    waiting.delete(f.ref)
  })
  const one = () =>
    new Promise((resolve) => {
      const ref = String(next++)
      waiting.set(ref, resolve)
      ws.send(JSON.stringify({ type: 'publish', ref, topic: 'bench/p', data }))
    })
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await one()
    }),
  )
  ws.close()
} else {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight })
  const body = JSON.stringify({ topic: 'bench/p', data })
  const one = () =>
    new Promise((resolve, reject) => {
      next++
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/api/events',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: 'Bearer bench-token' },
        },
        (res) => {
          res.resume()
          res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`status ${res.statusCode}`))))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await one()
    }),
  )
  agent.destroy()
}
process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0 })}\n`)
