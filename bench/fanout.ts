/**
 * Fan-out, side by side in one run: livefeed against raw `ws` and socket.io.
 * Each server holds N WebSocket subscribers on one topic; M events are
 * published over HTTP; every subscriber must receive every event. Prints
 * deliveries per second, publish-to-receive latency, and ratios to livefeed.
 *   npm run bench:fanout [-- --clients 500 --events 400]
 */
import { spawn } from 'node:child_process'
import http from 'node:http'
import { parseArgs } from 'node:util'
import { io as ioClient } from 'socket.io-client'
import WebSocket from 'ws'
import { startServer } from '../tests/helpers/server.ts'

const { values } = parseArgs({ options: { clients: { type: 'string', default: '500' }, events: { type: 'string', default: '400' } } })
const N = Number(values.clients)
const M = Number(values.events)
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

interface Peer {
  name: string
  port: number
  path: string
  subscribe(onEvent: (sentAt: number) => void): Promise<() => void>
  stop(): Promise<unknown>
}

function post(port: number, path: string, body: object): Promise<void> {
  const data = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`publish: ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end(data)
  })
}

async function startPeer(file: string): Promise<{ port: number; stop(): Promise<unknown> }> {
  const proc = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve) => proc.stdout!.once('data', (d) => resolve(JSON.parse(String(d)).port)))
  return { port, stop: () => new Promise((r) => (proc.once('exit', r), proc.kill('SIGTERM'))) }
}

const wsSubscribe = (url: string, ready: (f: { type: string }) => boolean) => (onEvent: (sentAt: number) => void) =>
  new Promise<() => void>((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('error', reject)
    let isReady = false
    ws.on('open', () => {
      if (!isReady && ready({ type: 'open' })) {
        isReady = true
        resolve(() => ws.close())
      }
    })
    ws.on('message', (d) => {
      const f = JSON.parse(String(d))
      if (f.type === 'event') return onEvent(f.data.sentAt)
      if (!isReady && ready(f)) {
        isReady = true
        resolve(() => ws.close())
      }
    })
  })

async function run(peer: Peer) {
  const latencies: number[] = []
  let received = 0
  let done!: () => void
  const all = new Promise<void>((r) => (done = r))
  const onEvent = (sentAt: number) => {
    latencies.push(performance.timeOrigin + performance.now() - sentAt)
    if (++received === N * M) done()
  }
  const closers: (() => void)[] = []
  for (let i = 0; i < N; i += 50) closers.push(...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, () => peer.subscribe(onEvent)))))
  const t0 = performance.now()
  for (let i = 0; i < M; i++) await post(peer.port, peer.path, { topic: 'bench/x', data: { i, sentAt: performance.timeOrigin + performance.now() } })
  await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`${peer.name}: ${received}/${N * M} delivered`)), 120_000))])
  const seconds = (performance.now() - t0) / 1000
  closers.forEach((c) => c())
  latencies.sort((a, b) => a - b)
  const q = (p: number) => latencies[Math.floor(p * (latencies.length - 1))]!
  return { rate: (N * M) / seconds, p50: q(0.5), p99: q(0.99) }
}

const lf = await startServer('node')
const rawWs = await startPeer('bench/peers/ws-server.mjs')
const sio = await startPeer('bench/peers/socketio-server.mjs')
const peers: Peer[] = [
  { name: 'livefeed', port: lf.port, path: '/api/events', subscribe: wsSubscribe(`${lf.wsUrl}/ws?topics=bench/x`, (f) => f.type === 'snapshot'), stop: () => lf.stop() },
  { name: 'raw ws', port: rawWs.port, path: '/publish', subscribe: wsSubscribe(`ws://127.0.0.1:${rawWs.port}/`, (f) => f.type === 'open'), stop: rawWs.stop },
  {
    name: 'socket.io',
    port: sio.port,
    path: '/publish',
    subscribe: (onEvent) =>
      new Promise((resolve, reject) => {
        const s = ioClient(`http://127.0.0.1:${sio.port}`, { transports: ['websocket'], query: { topic: 'bench/x' }, forceNew: true })
        s.on('event', (e: { data: { sentAt: number } }) => onEvent(e.data.sentAt))
        s.once('connect', () => resolve(() => s.close()))
        s.once('connect_error', reject)
      }),
    stop: sio.stop,
  },
]
console.log(`fan-out: ${N} WebSocket subscribers on one topic, ${M} events published one by one over HTTP`)
console.log('server     | deliveries/s | p50 latency | p99 latency | livefeed ÷ it')
const results = []
for (const p of peers) results.push({ name: p.name, ...(await run(p)) })
const lfRate = results[0]!.rate
for (const r of results) {
  console.log(`${r.name.padEnd(10)} | ${Math.round(r.rate).toLocaleString('en-US').padStart(12)} | ${r.p50.toFixed(1).padStart(8)} ms | ${r.p99.toFixed(1).padStart(8)} ms | ${(lfRate / r.rate).toFixed(2)}`)
}
await Promise.all(peers.map((p) => p.stop()))
agent.destroy()
