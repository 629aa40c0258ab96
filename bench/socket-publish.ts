/**
 * One publish over the WebSocket (a `publish` frame, answered `published`) against one over HTTP
 * (`POST /api/events`, keep-alive), on the memory engine, no subscriber: the server's own CPU per publish
 * (user + system from /proc) and publishes/s, with one publish in flight (as `curl` or a chat client does)
 * and with four. The server runs pinned to core 0, the client (bench/publish-client.mjs) to core 1; fresh
 * processes, --runs times: median (range).
 *
 *   npm run bench:socket-publish [-- --count 20000 --runs 3]
 */
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { ROOT, SERVER_ARGV } from '../harness/server.ts'
import { startServer, stat } from './fanout-procs.ts'
import { cell, median } from './fanout-report.ts'

const { values } = parseArgs({ options: { count: { type: 'string', default: '20000' }, runs: { type: 'string', default: '3' } } })
const COUNT = Number(values.count)
const RUNS = Number(values.runs)
const env = { PUBLISH_RATE: '0', LOG_LEVEL: 'info', PUBLISH_TOKEN: 'bench-token', CLIENT_FRAME_RATE: '100000' }

async function once(mode: 'ws' | 'http', inFlight: number): Promise<{ cpuUs: number; rate: number }> {
  const s = await startServer({ name: 'livefeed', argv: [...SERVER_ARGV.node], env, node: false })
  try {
    // Warm-up: the code is compiled before anything is measured.
    await client(s.port, mode, 2000, inFlight)
    const before = stat(s.pids())
    const ms = await client(s.port, mode, COUNT, inFlight)
    const after = stat(s.pids())
    return { cpuUs: (after.user + after.system - before.user - before.system) / COUNT, rate: COUNT / (ms / 1000) }
  } finally {
    s.proc.kill('SIGKILL')
  }
}

function client(port: number, mode: string, count: number, inFlight: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('taskset', ['-c', '1', process.execPath, 'bench/publish-client.mjs', String(port), mode, String(count), String(inFlight)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out).ms) : reject(new Error(`publish client exited with ${code}`))))
  })
}

const summary = cell

console.log(`\nPublish over the socket against HTTP: ${COUNT} publishes of one ~200-byte event, memory engine, ${RUNS} runs: median (range)\n`)
console.log('| in flight | over | server CPU µs per publish | publishes/s | CPU ÷ HTTP |')
console.log('| --- | --- | --- | --- | --- |')
for (const inFlight of [1, 4]) {
  let http = 0
  for (const mode of ['http', 'ws'] as const) {
    const runs = []
    for (let i = 0; i < RUNS; i++) runs.push(await once(mode, inFlight))
    const cpu = runs.map((r) => r.cpuUs)
    if (mode === 'http') http = median(cpu)
    console.log(
      `| ${inFlight} | ${mode === 'ws' ? 'WebSocket `publish` frame' : '`POST /api/events`'} | ${summary(cpu, 1)} | ${summary(
        runs.map((r) => r.rate),
        0,
      )} | ${(median(cpu) / http).toFixed(2)}× |`,
    )
  }
}
