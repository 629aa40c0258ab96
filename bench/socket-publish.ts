/**
 * One publish over the WebSocket (a `publish` frame, answered `published`) against one over HTTP
 * (`POST /api/events`, keep-alive), on the memory engine, no subscriber: the server's own CPU per publish
 * (user + system from /proc) and publishes/s, with one publish in flight (as `curl` or a chat client does)
 * and with four. The server runs pinned to core 0, the client (bench/publish-client.mjs) to core 1; fresh
 * processes, --runs times: median (range).
 *
 *   npm run bench:socket-publish [-- --count 20000 --runs 3 --in-flight 1,4 --over http,ws --baseline OLD/dist/server.mjs]
 *
 * `--baseline` adds other builds (comma-separated), run interleaved with this one: each row then also gives
 * the median of the per-run ratios to this build's run beside it (pairs taken in the same minute move together
 * on this machine, where separate medians can be ±10-20% apart).
 */
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { ROOT, SERVER_ARGV } from '../harness/server.ts'
import { baselineArgv, startServer, stat } from './fanout-procs.ts'
import { cell, median } from './fanout-report.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '1,4' },
    over: { type: 'string', default: 'http,ws' },
    baseline: { type: 'string' },
  },
})
const COUNT = Number(values.count)
const RUNS = Number(values.runs)
const IN_FLIGHT = values['in-flight'].split(',').map(Number)
const OVER = values.over.split(',').map((m) => {
  if (m !== 'http' && m !== 'ws') throw new Error(`--over takes http and ws, not ${m}`)
  return m
})
/** This build first, then the baselines. */
const BUILDS: { name: string; argv: string[] }[] = [
  { name: 'this build', argv: [...SERVER_ARGV.node] },
  ...(values.baseline?.split(',') ?? []).map((bundle, i) => ({ name: `baseline${i ? ` ${i + 1}` : ''}`, argv: baselineArgv(bundle) })),
]
const env = { PUBLISH_RATE: '0', LOG_LEVEL: 'info', PUBLISH_TOKEN: 'bench-token', CLIENT_FRAME_RATE: '100000' }

async function once(argv: string[], mode: 'ws' | 'http', inFlight: number): Promise<{ cpuUs: number; rate: number }> {
  const s = await startServer({ name: 'livefeed', argv, env, node: false })
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

console.log(`\nPublish over the socket against HTTP: ${COUNT} publishes of one ~200-byte event, memory engine, ${RUNS} runs: median (range)\n`)
const paired = BUILDS.length > 1
/** Each run's CPU over this build's run beside it: median (range). */
const pairedRatio = (ratios: number[]) => `${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`
console.log(
  `| in flight | over |${paired ? ' build |' : ''} server CPU µs per publish | publishes/s | CPU ÷ HTTP |${paired ? ' CPU ÷ this build, paired |' : ''}`,
)
console.log(`| --- | --- |${paired ? ' --- |' : ''} --- | --- | --- |${paired ? ' --- |' : ''}`)
for (const inFlight of IN_FLIGHT) {
  let http = 0
  for (const mode of OVER) {
    // Interleaved: run i of every build, then run i + 1.
    const runs = BUILDS.map(() => [] as { cpuUs: number; rate: number }[])
    for (let i = 0; i < RUNS; i++) for (const [b, build] of BUILDS.entries()) runs[b]!.push(await once(build.argv, mode, inFlight))
    for (const [b, build] of BUILDS.entries()) {
      const cpu = runs[b]!.map((r) => r.cpuUs)
      if (mode === 'http' && b === 0) http = median(cpu)
      console.log(
        `| ${inFlight} | ${mode === 'ws' ? 'WebSocket `publish` frame' : '`POST /api/events`'} |${paired ? ` ${build.name} |` : ''} ${cell(cpu, 1)} | ${cell(
          runs[b]!.map((r) => r.rate),
          0,
        )} | ${http ? `${(median(cpu) / http).toFixed(2)}×` : '—'} |${paired ? ` ${b === 0 ? '1.00' : pairedRatio(runs[0]!.map((r, i) => cpu[i]! / r.cpuUs))} |` : ''}`,
      )
    }
  }
}
