/**
 * Publish throughput, side by side in one run: livefeed on the memory engine,
 * livefeed on Redis, and raw XADD to the same Redis (the ceiling a Redis
 * engine could reach). Each livefeed run publishes over HTTP from several
 * keep-alive connections while one WebSocket subscriber must receive every
 * event: the figure is events stored and delivered per second.
 *   npm run bench:engine [-- --seconds 5 --batch 1,100]
 */
import http from 'node:http'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { startRedis } from '../harness/redis.ts'
import { type Server, startServer } from '../harness/server.ts'
import { WsClient } from '../harness/ws.ts'

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, batch: { type: 'string', default: '1,100' }, connections: { type: 'string', default: '8' } },
})
const SECONDS = Number(values.seconds)
const BATCHES = values.batch!.split(',').map(Number)
const CONNECTIONS = Number(values.connections)
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })

function post(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/events',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function livefeed(s: Server, batch: number): Promise<number> {
  const sub = await WsClient.open(`${s.wsUrl}/ws?topics=bench/**`)
  await sub.nth('snapshot')
  const body = JSON.stringify(Array.from({ length: batch }, (_, i) => ({ topic: `bench/${i % 10}`, data: { price: 100 + i, volume: 1000 } })))
  let stored = 0
  const end = Date.now() + SECONDS * 1000
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < end) {
        const status = await post(s.port, batch === 1 ? JSON.stringify({ topic: 'bench/1', data: { price: 100, volume: 1000 } }) : body)
        if (status !== 201) throw new Error(`publish answered ${status}`)
        stored += batch
      }
    }),
  )
  await sub.waitEvents(stored, 60_000)
  const rate = stored / ((performance.now() - t0) / 1000)
  sub.close()
  return rate
}

async function rawXadd(url: string, batch: number): Promise<number> {
  const clients = Array.from({ length: CONNECTIONS }, () => new Redis(url))
  let stored = 0
  const end = Date.now() + SECONDS * 1000
  const t0 = performance.now()
  await Promise.all(
    clients.map(async (r) => {
      while (Date.now() < end) {
        const p = r.pipeline()
        for (let i = 0; i < batch; i++) p.xadd('raw:stream', 'MAXLEN', '~', '10000', '*', 't', `bench/${i % 10}`, 'd', '{"price":100,"volume":1000}')
        await p.exec()
        stored += batch
      }
    }),
  )
  const rate = stored / ((performance.now() - t0) / 1000)
  clients.forEach((r) => r.disconnect())
  return rate
}

const redis = await startRedis()
const memory = await startServer('node')
const onRedis = await startServer('node', { REDIS_URL: redis.url })
const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9)
console.log(`publish throughput, ${CONNECTIONS} HTTP connections, ${SECONDS} s per run, one WebSocket subscriber receiving everything`)
console.log('batch | livefeed memory | livefeed redis | raw XADD (pipelined) | redis/memory | redis/raw')
for (const batch of BATCHES) {
  const m = await livefeed(memory, batch)
  const r = await livefeed(onRedis, batch)
  const x = await rawXadd(redis.url, batch)
  console.log(
    `${String(batch).padStart(5)} | ${fmt(m)} ev/s   | ${fmt(r)} ev/s  | ${fmt(x)} ev/s        | ${(r / m).toFixed(2)}         | ${(r / x).toFixed(2)}`,
  )
}
await Promise.all([memory.stop(), onRedis.stop()])
await redis.stop()
agent.destroy()
