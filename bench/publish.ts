/**
 * HTTP publish throughput against the least Hono can do: livefeed's `POST /api/events` (memory engine, one
 * ~200-byte event per request, no subscriber, with PUBLISH_TOKEN) against a bare Hono POST route that parses the JSON and answers
 * 201, on the same runtime and server: Node, Deno, and Deno running the Node bundle. The server is pinned to core 0, autocannon to core 1;
 * fresh processes, --runs times interleaved, median (range) of requests/s and of the server's own CPU
 * (user + system, from /proc) per request.
 *   npm run bench:publish [-- --seconds 5 --connections 32 --runs 3 --warmup 2 --only 'Node),Centrifuge' --baseline /old/dist/server.mjs]
 */
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { DENO_RUN, ROOT, SERVER_ARGV } from '../harness/server.ts'
import { baselineArgv, CENTRIFUGE, centrifugeReady, type ServerCommand, startServer, stat } from './fanout-procs.ts'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    runs: { type: 'string', default: '3' },
    // Seconds of the same load before each measured run, not counted.
    warmup: { type: 'string', default: '2' },
    // Comma-separated substrings of system names: run only those (a quick before/after on Node, say).
    only: { type: 'string' },
    // Other builds of livefeed on Node, comma-separated, for before/after: `--baseline /old/dist/server.mjs`.
    baseline: { type: 'string' },
  },
})
const env = { PUBLISH_RATE: '0', LOG_LEVEL: 'info' }
// livefeed publishes with PUBLISH_TOKEN, as in production (App Engine refuses to start without it); every request
// carries it (the bare routes and the Centrifuge peer ignore the header).
const TOKEN = 'bench-publish-token'
const lf = { ...env, PUBLISH_TOKEN: TOKEN }
// livefeed and the bare route on the same runtime and server: livefeed first, the bare route last (any --baseline builds between, on Node).
const PAIRS: ServerCommand[][] = [
  [
    { name: 'livefeed (Node)', argv: [...SERVER_ARGV.node], env: lf, node: false },
    { name: 'bare Hono POST (Node)', argv: [process.execPath, '--import', 'tsx', 'bench/peers/hono-post-node.ts'], env, node: false },
  ],
  [
    { name: 'livefeed (Deno)', argv: [...SERVER_ARGV.deno], env: lf, node: false },
    { name: 'bare Hono POST (Deno)', argv: [...DENO_RUN, 'bench/peers/hono-post-deno.ts'], env, node: false },
  ],
  // The Node bundle and the node-server route, both run by Deno (`deno task start:bundle`).
  [
    { name: 'livefeed (Deno, Node bundle)', argv: [...SERVER_ARGV['deno-node']], env: lf, node: false },
    { name: 'bare Hono POST (Deno, node-server)', argv: [...DENO_RUN, 'bench/peers/hono-post-node.ts'], env, node: false },
  ],
]
for (const [i, bundle] of (values.baseline?.split(',') ?? []).entries()) {
  PAIRS[0]!.splice(1, 0, {
    name: `livefeed baseline${i ? ` ${i + 1}` : ''} (Node)`,
    argv: baselineArgv(bundle),
    env: lf,
    node: false,
  })
}
const bareOf = new Map(PAIRS.flatMap((pair) => pair.map((s) => [s, pair.at(-1)!] as const)))
const SYSTEMS: ServerCommand[] = PAIRS.flat()
// The Centrifuge peer (Go, one thread): its POST /api/events publishes into its history, as livefeed stores.
const CENTRIFUGE_SYSTEM: ServerCommand = {
  name: 'Centrifuge 0.15 (Go, GOMAXPROCS=1)',
  argv: [CENTRIFUGE],
  env: { GOMAXPROCS: '1', HISTORY_SIZE: '1000', HISTORY_TTL_SEC: '60' },
  node: false,
  readyLine: /"ev":"ready"/,
}
if (centrifugeReady()) SYSTEMS.push(CENTRIFUGE_SYSTEM)
if (values.only !== undefined) {
  const wanted = values.only.split(',')
  SYSTEMS.splice(0, SYSTEMS.length, ...SYSTEMS.filter((s) => wanted.some((w) => s.name.includes(w))))
}
const body = JSON.stringify({ topic: 'bench/p', data: { price: 101.25, symbol: 'AAPL', pad: 'x'.repeat(150) } })

/** autocannon on core 1 for `seconds` against the server: its JSON report. */
async function load(port: number, seconds: string): Promise<{ requests: { average: number; total: number }; non2xx: number; errors: number }> {
  const args = ['-c', '1', process.execPath, 'node_modules/autocannon/autocannon.js', '-j', '-c', values.connections, '-d', seconds]
  args.push('-m', 'POST', '-H', 'content-type=application/json', '-H', `authorization=Bearer ${TOKEN}`, '-b', body)
  const gen = spawn('taskset', [...args, `http://127.0.0.1:${port}/api/events`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  gen.stdout!.on('data', (d) => (out += d))
  await new Promise((resolve) => gen.once('exit', resolve))
  return JSON.parse(out)
}

/**
 * One run: requests/s, and the server's own CPU µs per request, after `--warmup` seconds of the same load (a
 * server's steady state: in its first second a fresh Node or Deno server answers a third as fast, compiling).
 */
async function once(sys: ServerCommand): Promise<{ rate: number; cpu: number }> {
  const server = await startServer(sys)
  try {
    if (Number(values.warmup) > 0) await load(server.port, values.warmup)
    const before = stat(server.pids())
    const r = await load(server.port, values.seconds)
    const after = stat(server.pids())
    if (r.non2xx || r.errors) throw new Error(`${sys.name}: ${r.non2xx} non-2xx answers, ${r.errors} errors`)
    return { rate: r.requests.average, cpu: (after.user + after.system - before.user - before.system) / r.requests.total }
  } finally {
    server.proc.kill('SIGKILL')
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
const cell = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
const results = SYSTEMS.map(() => [] as { rate: number; cpu: number }[])
for (let run = 0; run < Number(values.runs); run++) for (const [i, s] of SYSTEMS.entries()) results[i]!.push(await once(s))
console.log(
  `publish, ${new Date().toISOString()}: ${values.connections} connections × ${values.seconds} s after ${values.warmup} s of warm-up, server on core 0, autocannon on core 1; median (range) of ${values.runs} runs`,
)
const centrifuge = results[SYSTEMS.indexOf(CENTRIFUGE_SYSTEM)]
console.log(
  "| server | requests/s | ÷ bare Hono on the same runtime | server CPU µs per request | bare Hono's CPU ÷ this | ÷ Centrifuge (requests/s) | Centrifuge's CPU ÷ this |",
)
console.log('| --- | --- | --- | --- | --- | --- | --- |')
for (const [i, s] of SYSTEMS.entries()) {
  const rate = results[i]!.map((r) => r.rate)
  const cpu = results[i]!.map((r) => r.cpu)
  // Against the bare route on the same runtime, when it ran; the Centrifuge peer has none.
  const bare = bareOf.get(s)
  const hono = bare === undefined || !SYSTEMS.includes(bare) ? undefined : results[SYSTEMS.indexOf(bare)]
  const vs = (peer: { rate: number; cpu: number }[] | undefined) =>
    peer === undefined
      ? '— | —'
      : `${(median(rate) / median(peer.map((r) => r.rate))).toFixed(2)} | ${(median(peer.map((r) => r.cpu)) / median(cpu)).toFixed(2)}`
  console.log(`| ${s.name} | ${cell(rate, 0)} | ${vs(hono).split(' | ')[0]} | ${cell(cpu, 1)} | ${vs(hono).split(' | ')[1]} | ${vs(centrifuge)} |`)
}
process.exit(0)
