// The load generator of bench/fanout-cpu.ts, in its own process (pinned by the parent to another core than
// the server): N WebSocket subscribers, then M events published over HTTP; it counts every delivery and
// says when all arrived. Lines on stdout are JSON; a line on stdin starts the publishing.
import http from 'node:http'
import { createInterface } from 'node:readline'
import WebSocket from 'ws'

const [wsUrl, port, path, n, m] = process.argv.slice(2)
const N = Number(n)
const M = Number(m)
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n')

function post(body) {
  const data = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`publish: ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end(data)
  })
}

let received = 0
// Per client: every event index seen, and the last id (livefeed ids must only grow): lost, doubled, reordered.
const seen = Array.from({ length: N }, () => new Set())
const lastId = Array.from({ length: N }, () => '')
let reordered = 0
const latencies = []
let allIn
const done = new Promise((r) => (allIn = r))
const sockets = []
async function open(i) {
  const ws = new WebSocket(wsUrl, { perMessageDeflate: false })
  sockets.push(ws)
  await new Promise((resolve, reject) => {
    ws.on('error', reject)
    ws.on('message', (d) => {
      const text = String(d)
      // Subscribed once the server says so (livefeed's snapshot), or at open (the bare peer).
      if (!text.includes('"event"')) return text.includes('"snapshot"') && resolve()
      const f = JSON.parse(text)
      seen[i].add(f.data.i)
      if (f.id !== undefined) {
        if (f.id <= lastId[i]) reordered++
        lastId[i] = f.id
      }
      latencies.push(Date.now() - f.data.sentAt)
      if (++received === N * M) allIn()
    })
    if (!wsUrl.includes('/ws?')) ws.on('open', resolve)
  })
}
for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: Math.min(100, N - i) }, (_, j) => open(i + j)))
say({ phase: 'ready' })
const rl = createInterface({ input: process.stdin })
await new Promise((r) => rl.once('line', r))
const t0 = performance.now()
// Four publishes in flight: enough to keep the server busy, few enough that events stay in order per topic.
let next = 0
await Promise.all(Array.from({ length: 4 }, async () => {
  while (next < M) {
    const i = next++
    await post({ topic: 'bench/x', data: { i, sentAt: Date.now(), pad: 'x'.repeat(120) } })
  }
}))
await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`${received}/${N * M} delivered`)), 120_000))])
const seconds = (performance.now() - t0) / 1000
latencies.sort((a, b) => a - b)
const lost = seen.reduce((sum, s) => sum + (M - s.size), 0)
say({ phase: 'done', deliveries: received, seconds, lost, duplicated: received - (N * M - lost), reordered, p50: latencies[latencies.length >> 1], p99: latencies[Math.floor(latencies.length * 0.99)] })
for (const ws of sockets) ws.terminate()
agent.destroy()
process.exit(0)
