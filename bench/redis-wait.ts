/**
 * What REDIS_WAIT_REPLICAS=1 costs a publish: a Redis primary with one replica on loopback, the server on
 * core 0 (taskset), publishers in this process on core 1, one ~200-byte event per request, with one request
 * in flight (as curl) and with four; latency median and p99, and requests per second. Each setting in turn,
 * `--runs` times, median (range).
 *
 *   node --import tsx bench/redis-wait.ts [--requests 2000] [--runs 3]
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import http from 'node:http'
import { Redis } from 'ioredis'
import { startRedis } from '../harness/redis.ts'
import { SERVER_ARGV } from '../harness/server.ts'

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : def
}
const REQUESTS = Number(arg('requests', '2000'))
const RUNS = Number(arg('runs', '3'))
const procs: ChildProcess[] = []
process.on('exit', () => procs.forEach((p) => p.kill('SIGKILL')))

/** A Redis of the tests' harness (its data directory removed at exit), moved to core 1 beside the publishers. */
async function redis(args: string[] = []): Promise<number> {
  const r = await startRedis({ args })
  spawnSync('taskset', ['-pc', '1', String(r.pid)], { stdio: 'ignore' })
  return r.port
}
async function server(env: Record<string, string>): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn('taskset', ['-c', '0', ...SERVER_ARGV.node], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PUBLISH_RATE: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  procs.push(proc)
  const port = await new Promise<number>((resolve) => {
    let out = ''
    proc.stdout!.on('data', (d) => {
      out += d
      const m = /"port":(\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
  })
  return { port, proc }
}

const body = JSON.stringify({ topic: 'bench/a', data: { price: 101.25, sym: 'ACME', note: 'x'.repeat(120) } })
async function publishAll(port: number, inFlight: number): Promise<{ rps: number; p50: number; p99: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight })
  const lat: number[] = []
  let next = 0
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const t = performance.now()
      const req = http.request(
        { host: '127.0.0.1', port, path: '/api/events', method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume()
          res.on('end', () => (res.statusCode === 201 ? (lat.push(performance.now() - t), resolve()) : reject(new Error(`status ${res.statusCode}`))))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < REQUESTS) await one()
    }),
  )
  const secs = (performance.now() - t0) / 1000
  agent.destroy()
  lat.sort((a, b) => a - b)
  return { rps: lat.length / secs, p50: lat[Math.floor(lat.length / 2)]!, p99: lat[Math.floor(lat.length * 0.99)]! }
}

const primary = await redis()
const replica = await redis(['--replicaof', '127.0.0.1', String(primary)])
// Wait for the replica to be in sync: before that, WAIT 1 answers 0 and every publish with REDIS_WAIT_REPLICAS=1 is 503.
{
  const r = new Redis(replica)
  while (!/master_link_status:up/.test(await r.info('replication'))) await new Promise((ok) => setTimeout(ok, 50))
  r.disconnect()
}
const rows: Record<string, { rps: number[]; p50: number[]; p99: number[] }> = {}
for (let run = 0; run < RUNS; run++) {
  for (const replicas of ['0', '1']) {
    const s = await server({ REDIS_URL: `redis://127.0.0.1:${primary}`, REDIS_PREFIX: `wait${run}${replicas}:`, REDIS_WAIT_REPLICAS: replicas })
    await publishAll(s.port, 4) // warm-up (and the replica in sync)
    for (const inFlight of [1, 4]) {
      const r = await publishAll(s.port, inFlight)
      const row = (rows[`${replicas} ${inFlight}`] ??= { rps: [], p50: [], p99: [] })
      row.rps.push(r.rps)
      row.p50.push(r.p50)
      row.p99.push(r.p99)
    }
    s.proc.kill('SIGKILL')
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const f = (xs: number[], d = 0) => `${med(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`
console.log(`| REDIS_WAIT_REPLICAS | in flight | requests/s | latency p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |`)
for (const [k, r] of Object.entries(rows)) {
  const [replicas, inFlight] = k.split(' ')
  console.log(`| ${replicas} | ${inFlight} | ${f(r.rps)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} |`)
}
process.exit(0)
