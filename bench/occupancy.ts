/**
 * What occupancy and rewind cost the server. The server runs pinned to core 0, the clients (bench/load-gen.mjs,
 * raw WebSocket readers) to core 1; the server's own CPU time is read from /proc. Every cell runs in fresh
 * processes, --runs times: median (range).
 *
 *   npm run bench:occupancy [-- --sockets 10000 --runs 3 --idle 10 --subscribes 2000 --engines memory,redis]
 *
 * Occupancy: --sockets subscribers of one topic, plain or every one asking `occupancy=1` (each then told the
 * count after its snapshot, and again at each OCCUPANCY_INTERVAL tick at which it changed: during the connects,
 * up to every socket once a second). Per cell: the server's CPU µs per connect (handshake, subscribe, snapshot,
 * and what the ticks during and right after the connects sent), and its CPU ms per second of idle afterwards
 * (ticks of a count that no longer changes; on Redis, writing and reading the roster).
 * Rewind: ten topics of 30 events each; --subscribes sockets subscribe to all ten, with a plain snapshot (ten
 * events) or `rewind=30` (300): the server's CPU µs per subscribe.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { startRedis } from '../harness/redis.ts'
import { ROOT, SERVER_ARGV } from '../harness/server.ts'
import { BENCH_ENV, lines, nextJson, type Running, startServer, stat } from './fanout-procs.ts'
import { cell, median } from './fanout-report.ts'

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    idle: { type: 'string', default: '10' },
    subscribes: { type: 'string', default: '2000' },
    engines: { type: 'string', default: 'memory,redis' },
  },
})
const SOCKETS = Number(values.sockets)
const RUNS = Number(values.runs)
const IDLE_S = Number(values.idle)
const SUBSCRIBES = Number(values.subscribes)
const PER_GEN = 5000

const ENV = { ...BENCH_ENV, OCCUPANCY_INTERVAL: '1000' }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const cpu = (s: Running) => {
  const t = stat(s.pids())
  return t.user + t.system
}

/** Opens `count` sockets on `path` from core 1, in processes of at most PER_GEN; resolves once each had its snapshot. */
async function connect(s: Running, path: string, count: number): Promise<ChildProcess[]> {
  const gens: ChildProcess[] = []
  const ready: Promise<unknown>[] = []
  for (let first = 0, g = 0; first < count; first += PER_GEN, g++) {
    const cfg = {
      port: s.port,
      kind: 'livefeed',
      first,
      count: Math.min(PER_GEN, count - first),
      topics: 1,
      paths: [path],
      topicName: 'bench/o',
      maxEvents: 1,
      localAddress: `127.9.${g}.2`,
      publish: null,
      realWs: false,
    }
    const proc = spawn('taskset', ['-c', '1', process.execPath, 'bench/load-gen.mjs', JSON.stringify(cfg)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
    gens.push(proc)
    ready.push(nextJson(lines(proc), proc, 'ready', 'the load generator'))
  }
  await Promise.all(ready)
  return gens
}

const stop = (gens: ChildProcess[]) =>
  Promise.all(
    gens.map(
      (p) =>
        new Promise((r) => {
          if (p.exitCode !== null || p.signalCode !== null) return r(undefined)
          p.once('exit', r)
          p.kill('SIGKILL')
        }),
    ),
  )

async function server(engine: string, redisUrl: string | undefined): Promise<Running> {
  const env = { ...ENV, ...(engine === 'redis' ? { REDIS_URL: redisUrl!, REDIS_PREFIX: `bench${Date.now()}:` } : {}) }
  const s = await startServer({ name: `livefeed (${engine})`, argv: [...SERVER_ARGV.node], env, node: true })
  // Warm-up: the code is compiled and the heap has grown before anything is measured.
  await stop(await connect(s, '/ws?topics=bench/warm&occupancy=1', 1000))
  return s
}

async function occupancyCell(engine: string, redisUrl: string | undefined, watch: boolean) {
  const s = await server(engine, redisUrl)
  try {
    const c0 = cpu(s)
    const gens = await connect(s, `/ws?topics=bench/o${watch ? '&occupancy=1' : ''}`, SOCKETS)
    // The last changes are told at the next tick or two: part of what the connects cost.
    await sleep(2500)
    const c1 = cpu(s)
    await sleep(IDLE_S * 1000)
    const c2 = cpu(s)
    await stop(gens)
    return { perConnectUs: (c1 - c0) / SOCKETS, idleMsPerS: (c2 - c1) / 1000 / IDLE_S }
  } finally {
    s.proc.kill('SIGKILL')
  }
}

async function rewindCell(engine: string, redisUrl: string | undefined, rewind: boolean) {
  const s = await server(engine, redisUrl)
  try {
    const batch = Array.from({ length: 300 }, (_, i) => ({ topic: `bench/r/${i % 10}`, data: { i, price: 100 + i / 10, text: 'x'.repeat(60) } }))
    const r = await fetch(`http://127.0.0.1:${s.port}/api/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    })
    if (r.status !== 201) throw new Error(`publish: ${r.status}`)
    const c0 = cpu(s)
    const gens = await connect(s, `/ws?topics=bench/r/*${rewind ? '&rewind=30' : ''}`, SUBSCRIBES)
    const c1 = cpu(s)
    await stop(gens)
    return { perSubscribeUs: (c1 - c0) / SUBSCRIBES }
  } finally {
    s.proc.kill('SIGKILL')
  }
}

const summary = (xs: number[], digits = 1) => cell(xs, digits)

const engines = values.engines.split(',')
const redis = engines.includes('redis') ? await startRedis() : undefined
try {
  console.log(`\nOccupancy: ${SOCKETS} sockets on one topic, OCCUPANCY_INTERVAL=1000, ${RUNS} runs: median (range)\n`)
  console.log('| engine | sockets ask | server CPU µs per connect | server CPU ms per s, idle |')
  console.log('| --- | --- | --- | --- |')
  const base: Record<string, number> = {}
  for (const engine of engines) {
    for (const watch of [false, true]) {
      const runs = []
      for (let i = 0; i < RUNS; i++) runs.push(await occupancyCell(engine, redis?.url, watch))
      const connect = runs.map((r) => r.perConnectUs)
      if (!watch) base[engine] = median(connect)
      const ratio = watch ? ` (${(median(connect) / base[engine]!).toFixed(2)}×)` : ''
      console.log(
        `| ${engine} | ${watch ? '`occupancy=1`' : 'nothing'} | ${summary(connect)}${ratio} | ${summary(
          runs.map((r) => r.idleMsPerS),
          2,
        )} |`,
      )
    }
  }
  console.log(`\nRewind: ${SUBSCRIBES} subscribes to ten topics of 30 events, ${RUNS} runs: median (range)\n`)
  console.log('| engine | snapshot | server CPU µs per subscribe |')
  console.log('| --- | --- | --- |')
  for (const engine of engines) {
    let plain = 0
    for (const rewind of [false, true]) {
      const runs = []
      for (let i = 0; i < RUNS; i++) runs.push((await rewindCell(engine, redis?.url, rewind)).perSubscribeUs)
      if (!rewind) plain = median(runs)
      console.log(
        `| ${engine} | ${rewind ? '`rewind=30` (300 events)' : 'plain (10 events)'} | ${summary(runs)}${rewind ? ` (${(median(runs) / plain).toFixed(2)}×)` : ''} |`,
      )
    }
  }
} finally {
  await redis?.stop()
}
