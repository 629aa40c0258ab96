/**
 * HTTP publish throughput against the least Hono can do: livefeed's `POST /api/events` (memory engine, one
 * ~200-byte event per request, no subscriber) against a bare Hono POST route that parses the JSON and answers
 * 201, on the same runtime and server, Node and Deno. The server is pinned to core 0, autocannon to core 1;
 * fresh processes, --runs times interleaved, median (range) of requests/s and of the server's own CPU
 * (user + system, from /proc) per request.
 *   npm run bench:publish [-- --seconds 5 --connections 32 --runs 3]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ROOT } from '../tests/helpers/server.ts'
import { stat } from './fanout-procs.ts'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '32' }, runs: { type: 'string', default: '3' } } })
const DENO = `${ROOT}node_modules/deno/deno`
const DENO_RUN = [DENO, 'run', '--allow-net', '--allow-env', '--allow-read', '--allow-sys']
const ENV = { PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'test', PUBLISH_RATE: '0', LOG_LEVEL: 'info' }
const SYSTEMS: { name: string; argv: string[] }[] = [
  { name: 'livefeed (Node)', argv: [process.execPath, 'dist/server.mjs'] },
  { name: 'bare Hono POST (Node)', argv: [process.execPath, '--import', 'tsx', 'bench/peers/hono-post-node.ts'] },
  { name: 'livefeed (Deno)', argv: [...DENO_RUN, 'src/runtime/deno.ts'] },
  { name: 'bare Hono POST (Deno)', argv: [...DENO_RUN, 'bench/peers/hono-post-deno.ts'] },
]
const body = JSON.stringify({ topic: 'bench/p', data: { price: 101.25, symbol: 'AAPL', pad: 'x'.repeat(150) } })

async function start(argv: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn('taskset', ['-c', '0', ...argv], { cwd: ROOT, env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      const m = /"port":(\d+)/.exec(l)
      if (m) resolve(Number(m[1]))
    })
    proc.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited with ${code}`)))
  })
  return { proc, port }
}

/** One run: requests/s, and the server's CPU µs per request (taskset execs the server, so the pid is its own). */
async function once(argv: string[]): Promise<{ rate: number; cpu: number }> {
  const server = await start(argv)
  try {
    const before = stat([server.proc.pid!])
    const args = ['-c', '1', process.execPath, 'node_modules/autocannon/autocannon.js', '-j', '-c', values.connections, '-d', values.seconds, '-m', 'POST', '-H', 'content-type=application/json', '-b', body, `http://127.0.0.1:${server.port}/api/events`]
    const gen = spawn('taskset', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    gen.stdout!.on('data', (d) => (out += d))
    await new Promise((resolve) => gen.once('exit', resolve))
    const after = stat([server.proc.pid!])
    const r = JSON.parse(out) as { requests: { average: number; total: number }; non2xx: number; errors: number }
    if (r.non2xx || r.errors) throw new Error(`${argv.at(-1)}: ${r.non2xx} non-2xx answers, ${r.errors} errors`)
    return { rate: r.requests.average, cpu: (after.user + after.system - before.user - before.system) / r.requests.total }
  } finally {
    server.proc.kill('SIGKILL')
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const cell = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
const results = SYSTEMS.map(() => [] as { rate: number; cpu: number }[])
for (let run = 0; run < Number(values.runs); run++) for (const [i, s] of SYSTEMS.entries()) results[i]!.push(await once(s.argv))
console.log(`publish, ${new Date().toISOString()}: ${values.connections} connections × ${values.seconds} s, server on core 0, autocannon on core 1; median (range) of ${values.runs} runs`)
console.log('| server | requests/s | ÷ bare Hono on the same runtime | server CPU µs per request | bare Hono\'s CPU ÷ this |')
console.log('| --- | --- | --- | --- | --- |')
for (const [i, s] of SYSTEMS.entries()) {
  const rate = results[i]!.map((r) => r.rate)
  const cpu = results[i]!.map((r) => r.cpu)
  // Systems come in pairs, livefeed then the bare route on the same runtime.
  const peer = results[i % 2 === 0 ? i + 1 : i]!
  const ratio = (median(rate) / median(peer.map((r) => r.rate))).toFixed(2)
  const cpuRatio = (median(peer.map((r) => r.cpu)) / median(cpu)).toFixed(2)
  console.log(`| ${s.name} | ${cell(rate, 0)} | ${ratio} | ${cell(cpu, 1)} | ${cpuRatio} |`)
}
process.exit(0)
