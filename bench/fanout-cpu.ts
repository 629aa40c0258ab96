/**
 * Server CPU per delivery, with the server and the load generator on
 * different cores: the server is pinned to core 0, the load generator
 * (bench/load-gen.mjs: N WebSocket subscribers on one topic, M events of
 * ~200 bytes published over HTTP) to core 1. The server's own user and
 * system CPU time is read from /proc/<pid>/stat across the publishing, so the
 * clients' cost is not in the figure. Each cell runs --runs times (fresh
 * processes); median and range are printed.
 *   npm run bench:fanout-cpu [-- --clients 1000 --events 300 --runs 3 --baseline /path/to/old/dist/server.mjs]
 * --baseline adds a row for another build of livefeed (before/after a change); several, comma-separated.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ROOT } from '../tests/helpers/server.ts'

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '1000' }, events: { type: 'string', default: '300' }, runs: { type: 'string', default: '3' }, baseline: { type: 'string' } },
})
const N = Number(values.clients)
const M = Number(values.events)
const RUNS = Number(values.runs)
const TICK_US = 1e6 / 100 // USER_HZ: /proc reports CPU time in 10 ms ticks

interface System {
  name: string
  start(): Promise<{ proc: ChildProcess; port: number }>
  wsUrl(port: number): string
  publishPath: string
}

/** Starts a server pinned to core 0 and resolves once it says it listens. */
function pinned(args: string[], env: Record<string, string> = {}): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn('taskset', ['-c', '0', process.execPath, ...args], { cwd: ROOT, env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: 'test', PUBLISH_RATE: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    proc.stdout!.on('data', (d) => {
      out += d
      const m = /"port":(\d+)/.exec(out)
      if (m) resolve({ proc, port: Number(m[1]) })
    })
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)))
  })
}

/** User and system CPU of a process so far, in µs. */
function cpu(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return { user: Number(fields[11]) * TICK_US, system: Number(fields[12]) * TICK_US }
}

const livefeed = (name: string, bundle: string): System => ({
  name,
  // All clients come from one address, and a benchmark measures delivery, not the abuse limits.
  start: () => pinned([bundle], { MAX_BUFFERED_BYTES: String(64 * 1024 * 1024), MAX_CONNECTIONS_PER_IP: '1000000', OUTBOUND_BYTES: String(8 * 1024 ** 3) }),
  wsUrl: (port) => `ws://127.0.0.1:${port}/ws?topics=bench/x`,
  publishPath: '/api/events',
})
const systems: System[] = [
  livefeed('livefeed', 'dist/server.mjs'),
  ...(values.baseline ? values.baseline.split(',').map((path, i) => livefeed(`livefeed (baseline${i ? ` ${i + 1}` : ''})`, path)) : []),
  { name: 'ws, one string per event', start: () => pinned(['bench/peers/ws-server.mjs']), wsUrl: (port) => `ws://127.0.0.1:${port}/`, publishPath: '/publish' },
]

async function once(sys: System) {
  const server = await sys.start()
  const gen = spawn('taskset', ['-c', '1', process.execPath, 'bench/load-gen.mjs', sys.wsUrl(server.port), String(server.port), sys.publishPath, String(N), String(M)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: gen.stdout! })
  const next = () =>
    new Promise<Record<string, number | string>>((resolve, reject) => {
      lines.once('line', (l) => resolve(JSON.parse(l)))
      gen.once('exit', (code) => reject(new Error(`the load generator exited with ${code}`)))
    })
  await next() // ready: every subscriber is subscribed
  const before = cpu(server.proc.pid!)
  gen.stdin!.write('go\n')
  const done = await next()
  const after = cpu(server.proc.pid!)
  server.proc.kill('SIGKILL')
  const deliveries = Number(done.deliveries)
  return {
    user: (after.user - before.user) / deliveries,
    system: (after.system - before.system) / deliveries,
    rate: deliveries / Number(done.seconds),
    p99: Number(done.p99),
    faults: Number(done.lost) + Number(done.duplicated) + Number(done.reordered),
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const cell = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`

console.log(`fan-out CPU: ${N} subscribers on one topic, ${M} events over HTTP; server on core 0, load generator on core 1; ${RUNS} runs each, median (range)`)
const results: { name: string; user: number[]; system: number[]; rate: number[]; p99: number[]; faults: number }[] = []
for (const sys of systems) {
  const r = { name: sys.name, user: [] as number[], system: [] as number[], rate: [] as number[], p99: [] as number[], faults: 0 }
  for (let i = 0; i < RUNS; i++) {
    const x = await once(sys)
    r.user.push(x.user)
    r.system.push(x.system)
    r.rate.push(x.rate)
    r.p99.push(x.p99)
    r.faults += x.faults
  }
  results.push(r)
}
const ref = median(results.at(-1)!.user)
console.log('| server | user CPU µs/delivery | system CPU µs/delivery | deliveries/s | p99 ms | lost+dup+reordered | user ÷ ws |')
console.log('| --- | --- | --- | --- | --- | --- | --- |')
for (const r of results) {
  console.log(`| ${r.name} | ${cell(r.user, 2)} | ${cell(r.system, 2)} | ${cell(r.rate, 0)} | ${cell(r.p99, 0)} | ${r.faults} | ${(median(r.user) / ref).toFixed(2)} |`)
}
