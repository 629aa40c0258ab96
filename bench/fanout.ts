/**
 * Fan-out at the limit of the machine: livefeed (Node and Deno) against a `ws`
 * server that sends one Buffer per event, one that builds the frame once and
 * writes it to every socket, Centrifuge 0.15 (the Go library Centrifugo is built
 * on, history and recovery on, GOMAXPROCS=1: bench/peers/centrifuge/, built from
 * Debian's packages) and socket.io 4. The server runs pinned to core 0;
 * the load generator (bench/load-gen.mjs, minimal frame readers on net.Socket,
 * one process or several, each cell from its own 127.B.0.x addresses) to core 1; the
 * server's own CPU time is read from /proc/<pid>/stat, so the clients' cost is
 * not in the figure. Every cell runs in fresh processes, --runs times: median (range).
 *
 *   npm run bench:fanout [-- --sizes 100,1000,10000 --in-flight 1,4 --runs 3 --deliveries 300000 --systems livefeed,hono-ws-frame,ws-frame,centrifuge
 *                           --spread --baseline /old/dist/server.mjs --sockets 19000 --profile DIR --connect-only --warmup 2000 --workers 3]
 *
 * Per system and size, and per publishing regime (--in-flight: one request at a time, as `curl` or a score
 * feed publishes, and four; each a saturation phase on the same sockets): user and system CPU µs per delivery at saturation, deliveries/s, RSS and heap KB per
 * idle socket (heap after gc, Node only), connect + subscribe seconds, p50/p99/max publish→receive ms at a
 * fixed 20,000 deliveries/s with the server's and the load generators' CPU per delivery during it (where the
 * clients' core is the limit, the latencies are theirs), and lost/duplicated/reordered deliveries; then ratios of total CPU to the frame-once
 * `ws` server and to Centrifuge. The defaults also run hono-ws-frame, the least a Hono app on node-server does to
 * fan out (bench/peers/hono-ws-node.ts, with `npm start`'s V8 flags as livefeed): the floor of livefeed's own stack,
 * so what livefeed costs above it is livefeed's. Other systems: deno, deno-node, ws-buffer, socketio, hono-ws (--systems).
 * The system deno-node (not in the defaults) is the Node bundle run by Deno (`deno task start:bundle`).
 * --spread runs the cells with the subscribers spread over 1,000 topics instead (livefeed: half exact, half wildcard).
 * --sockets N runs only the largest cell: N sockets on livefeed and the frame-once `ws` server (one process
 * each, so at most 19,000 here), and on the --workers server.
 * --workers N adds livefeed with WORKERS=N on a Redis of its own (Redis on core 1, beside the load): one
 * server of N + 1 processes, all on core 0, its figures summed over them. It holds more sockets than one
 * process may open. The system "redis" (--systems livefeed,redis) is one livefeed process on that Redis.
 * --profile DIR writes a V8 CPU profile of each Node server run into DIR/<system> (`--cpu-prof`; the
 * server is stopped with SIGINT so that it writes it). Profiled figures are slower: compare profiles, not rows.
 * --connect-only stops each cell after the connects: connect + subscribe seconds, the server's CPU µs per
 * connect (handshake, subscribe, snapshot) and memory per idle socket, without the delivery phases.
 * --warmup N (default 2000): before the baseline reading, N sockets connect and close, so that the server's
 * code is compiled and V8's young generation has grown (a fixed ~30 MB, the same whatever the socket count):
 * then memory per socket is what each socket adds, not start-up costs spread over the sockets. The full gc of
 * the heap reading shrinks the young generation again, so N more connect and close after it, before the CPU and
 * RSS baseline. 16 sockets stay open from before the warm-up until the connects are measured (closed before the
 * deliveries): a Node server left with no socket drops the optimised code of its socket path.
 * BENCH_MEMORY_DEBUG=1 prints each server's process.memoryUsage() readings and warm-up time on stderr.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import type { Interface } from 'node:readline'
import { parseArgs } from 'node:util'
import { startRedis } from '../harness/redis.ts'
import { NODE_FLAGS, ROOT, SERVER_ARGV } from '../harness/server.ts'
import {
  BENCH_ENV,
  baselineArgv,
  CENTRIFUGE,
  centrifugeReady,
  lines,
  nextJson,
  openFiles,
  type Running,
  type System,
  startServer,
  stat,
} from './fanout-procs.ts'
import { type Cell, printTable, quantiles } from './fanout-report.ts'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,1000,10000' },
    'in-flight': { type: 'string', default: '1,4' },
    runs: { type: 'string', default: '3' },
    deliveries: { type: 'string', default: '300000' },
    events: { type: 'string' },
    systems: { type: 'string', default: 'livefeed,hono-ws-frame,ws-frame,centrifuge' },
    spread: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    sockets: { type: 'string' },
    'latency-rate': { type: 'string', default: '20000' },
    'latency-seconds': { type: 'string', default: '2' },
    profile: { type: 'string' },
    'connect-only': { type: 'boolean', default: false },
    warmup: { type: 'string', default: '2000' },
    workers: { type: 'string' },
  },
})
const CONNECT_ONLY = values['connect-only']
/** The publishing regimes: requests in flight at once, each a saturation phase of its own. */
const IN_FLIGHT = values['in-flight'].split(',').map(Number)
const RUNS = Number(values.runs)
/** Sockets per load-generator process: under its 20,000 open files, and spread over source addresses. */
const PER_GEN = 5000

const LIVEFEED_ENV = BENCH_ENV
// On 1,000 topics, half the clients subscribe with the exact topic and half with a wildcard that matches it.
const livefeedPath = (spread: boolean) => (spread ? ['/ws?topics=bench/t{t}/q', '/ws?topics=bench/t{t}/*'] : ['/ws?topics=bench/t{t}/q'])
const SYSTEMS: Record<string, System> = {
  livefeed: {
    name: 'livefeed (Node)',
    kind: 'livefeed',
    argv: [process.execPath, '--expose-gc', '--import', './harness/gc-hook.mjs', ...NODE_FLAGS, 'dist/server.mjs'],
    env: LIVEFEED_ENV,
    node: true,
    publishPath: '/api/events',
    paths: livefeedPath,
  },
  deno: {
    name: 'livefeed (Deno)',
    kind: 'livefeed',
    argv: [...SERVER_ARGV.deno],
    env: LIVEFEED_ENV,
    node: false,
    publishPath: '/api/events',
    paths: livefeedPath,
  },
  'deno-node': {
    name: 'livefeed (Deno, Node bundle)',
    kind: 'livefeed',
    argv: [...SERVER_ARGV['deno-node']],
    env: LIVEFEED_ENV,
    node: false,
    publishPath: '/api/events',
    paths: livefeedPath,
  },
  'ws-buffer': {
    name: 'ws, one Buffer per event',
    kind: 'ws',
    argv: [process.execPath, '--expose-gc', '--import', './harness/gc-hook.mjs', 'bench/peers/ws-server.mjs', 'buffer'],
    node: true,
    publishPath: '/publish',
    paths: () => ['/?topic=bench/t{t}/q'],
  },
  'ws-frame': {
    name: 'ws, frame built once',
    kind: 'ws',
    argv: [process.execPath, '--expose-gc', '--import', './harness/gc-hook.mjs', 'bench/peers/ws-server.mjs', 'frame'],
    node: true,
    publishPath: '/publish',
    paths: () => ['/?topic=bench/t{t}/q'],
  },
  'hono-ws': {
    name: 'Hono WebSocket on node-server, bare',
    kind: 'ws',
    argv: [process.execPath, '--expose-gc', '--import', './harness/gc-hook.mjs', '--import', 'tsx', 'bench/peers/hono-ws-node.ts'],
    node: true,
    publishPath: '/publish',
    paths: () => ['/?topic=bench/t{t}/q'],
  },
  'hono-ws-frame': {
    name: 'Hono on node-server, frame built once',
    kind: 'ws',
    argv: [process.execPath, '--expose-gc', '--import', './harness/gc-hook.mjs', ...NODE_FLAGS, '--import', 'tsx', 'bench/peers/hono-ws-node.ts', 'frame'],
    node: true,
    publishPath: '/publish',
    paths: () => ['/?topic=bench/t{t}/q'],
  },
  centrifuge: {
    name: 'Centrifuge 0.15 (Go, GOMAXPROCS=1)',
    kind: 'centrifuge',
    argv: [CENTRIFUGE],
    // History and recovery on, as livefeed keeps a history and resumes; one OS thread, as Node runs JavaScript on one.
    env: { GOMAXPROCS: '1', HISTORY_SIZE: '1000', HISTORY_TTL_SEC: '60', RECOVER: '1' },
    node: false,
    publishPath: '/api/events',
    paths: () => ['/connection/websocket'],
    topicName: 'bench/t',
    readyLine: /"ev":"ready"/,
    oneTopicOnly: true,
  },
  socketio: {
    name: 'socket.io 4',
    kind: 'socketio',
    argv: [process.execPath, '--expose-gc', '--import', './harness/gc-hook.mjs', 'bench/peers/socketio-server.mjs'],
    node: true,
    publishPath: '/publish',
    paths: () => ['/socket.io/?EIO=4&transport=websocket&topic=bench/t{t}/q'],
  },
}
if (values.baseline) {
  values.baseline.split(',').forEach((bundle, i) => {
    SYSTEMS[`baseline${i}`] = {
      ...SYSTEMS.livefeed!,
      name: `livefeed (baseline${i ? ` ${i + 1}` : ''})`,
      argv: baselineArgv(bundle, ['--expose-gc', '--import', './harness/gc-hook.mjs']),
    }
  })
}

if (values.workers || values.systems.split(',').includes('redis')) {
  // livefeed on Redis: one process ("redis"), or one instance of several processes (--workers), which share
  // events through Redis. Redis runs on core 1, beside the load generators: the server's figures are its own
  // processes', on core 0.
  const redis = await startRedis()
  spawnSync('taskset', ['-pc', '1', String(redis.pid)], { stdio: 'ignore' })
  const env = { ...LIVEFEED_ENV, REDIS_URL: redis.url }
  SYSTEMS.redis = { ...SYSTEMS.livefeed!, name: 'livefeed (Node) on Redis', env }
  const n = Number(values.workers ?? 2)
  SYSTEMS.workers = { ...SYSTEMS.livefeed!, name: `livefeed (Node), ${n} workers on Redis`, env: { ...env, WORKERS: String(n) }, workers: n }
  // With --baseline too: the same instance from the other build, for before/after of WORKERS itself.
  for (const [i, bundle] of (values.baseline?.split(',') ?? []).entries()) {
    SYSTEMS[`workers-baseline${i}`] = {
      ...SYSTEMS.workers,
      name: `livefeed (baseline${i ? ` ${i + 1}` : ''}), ${n} workers on Redis`,
      argv: [process.execPath, '--expose-gc', '--import', './harness/gc-hook.mjs', bundle],
    }
  }
}

/** Whether this system's runs are profiled (--profile): the Node servers, which write the profile on SIGINT. */
const profiled = (sys: System) => values.profile !== undefined && sys.node

/** Starts a system's server, profiled into DIR/<system> under --profile. */
const start = (sys: System) => startServer(sys, profiled(sys) ? `${values.profile}/${sys.name.replace(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '')}` : undefined)

/**
 * Each cell's clients come from their own block of loopback addresses (127.B.0.x). Clients close first, so
 * their ports sit in TIME_WAIT for a minute; a client bound to an address whose ports are held that way waits
 * in the kernel's port search, which made connect+subscribe up to 5x slower in the cells after the first.
 */
let cells = 0
const addressBlock = () => 1 + (cells++ % 250)

interface LoadGen {
  proc: ChildProcess
  rl: Interface
}

/** One load-generator process on core 1, with clients first..first+count of this cell (see bench/load-gen.mjs). */
function loadGen(
  server: Running,
  sys: System,
  spread: boolean,
  part: { first: number; count: number; maxEvents: number; localAddress: string; publisher: boolean },
): LoadGen {
  const { publisher, ...rest } = part
  const cfg = {
    port: server.port,
    kind: sys.kind,
    topics: spread ? 1000 : 1,
    paths: sys.paths(spread),
    topicName: sys.topicName ?? 'bench/t{t}/q',
    ...rest,
    publish: publisher ? { path: sys.publishPath } : null,
    realWs: publisher,
  }
  const proc = spawn('taskset', ['-c', '1', process.execPath, 'bench/load-gen.mjs', JSON.stringify(cfg)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  return { proc, rl: lines(proc) }
}

/** Sockets held open through the warm-ups and the connects (closed before the deliveries). */
const KEEPERS = 16

/** --warmup: N sockets connect and close (from source address 127.B.1.`host`); resolves once the server has closed them too. */
async function warmUp(server: Running, sys: System, spread: boolean, block: number, n = Number(values.warmup), host = 2): Promise<void> {
  if (n === 0) return
  const before = openFiles(server.pids())
  const t0 = performance.now()
  const { proc, rl } = loadGen(server, sys, spread, { first: 0, count: n, maxEvents: 1, localAddress: `127.${block}.1.${host}`, publisher: false })
  await nextJson(rl, proc, 'ready', 'the warm-up sockets to connect')
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  proc.stdin!.write('{"do":"exit"}\n')
  await exited
  for (let i = 0; openFiles(server.pids()) > before + 8; i++) {
    if (i > 3000) throw new Error(`${sys.name} still holds ${openFiles(server.pids()) - before} warm-up sockets after 30 s`)
    await new Promise((r) => setTimeout(r, 10))
  }
  if (process.env.BENCH_MEMORY_DEBUG) console.error(`${sys.name}: warm-up ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}

async function once(sys: System, n: number, spread: boolean, events: number): Promise<Cell> {
  const topics = spread ? 1000 : 1
  const block = addressBlock()
  const server = await start(sys)
  let keepers: LoadGen | undefined
  try {
    // A few sockets stay open from before the warm-up until the connects are measured, on every server: a feed
    // server always holds some, and one left with none lets its sockets' hidden classes die, and V8 then drops the
    // optimised code of Node's socket path that depended on them (bench/README). Closed before any event is sent.
    keepers = loadGen(server, sys, spread, { first: 0, count: KEEPERS, maxEvents: 1, localAddress: `127.${block}.2.2`, publisher: false })
    await nextJson(keepers.rl, keepers.proc, 'ready', 'the kept sockets to connect')
    await warmUp(server, sys, spread, block)
    await new Promise((r) => setTimeout(r, 300)) // let start-up work settle before the baseline reading
    // RSS and heap are read after a full gc (Node), as the connects' garbage is not what an idle socket costs.
    const heap0 = await server.heapAfterGc()
    // That full gc shrank V8's young generation again, and with the warm-up's sockets collected V8 dropped the
    // optimised code that depended on their hidden classes (Node's socket and stream code, mostly): warm up as long
    // once more (its sockets' garbage is collected by the gc after the connects), so CPU per connect and RSS per
    // socket are the steady server's, not a server regrowing and re-optimising (bench/README).
    await warmUp(server, sys, spread, block, Number(values.warmup), 3)
    await new Promise((r) => setTimeout(r, 300))
    const idle0 = stat(server.pids())
    const latencyEvents = Math.max(3, Math.round((Number(values['latency-rate']) / (n / topics)) * Number(values['latency-seconds'])))
    const gens: LoadGen[] = []
    for (let g = 0; g * PER_GEN < n; g++) {
      const first = g * PER_GEN
      // Process 0 also publishes, and has the one real `ws` client of the check.
      gens.push(
        loadGen(server, sys, spread, {
          first,
          count: Math.min(PER_GEN, n - first),
          maxEvents: events * IN_FLIGHT.length + latencyEvents,
          localAddress: `127.${block}.0.${g + 2}`,
          publisher: g === 0,
        }),
      )
    }
    const ready = await Promise.all(gens.map((g) => nextJson(g.rl, g.proc, 'ready', 'the load generator to connect')))
    const connectS = Math.max(...ready.map((r) => Number(r.connectMs))) / 1000
    const idle1 = stat(server.pids())
    const heap1 = await server.heapAfterGc()
    const rss1 = stat(server.pids()).rss
    const kept = keepers
    const keepersExited = new Promise((resolve) => kept.proc.once('exit', resolve))
    kept.proc.stdin!.write('{"do":"exit"}\n')
    await keepersExited
    const memory = {
      rssKB: (rss1 - idle0.rss) / n / 1024,
      heapKB: heap0 !== undefined && heap1 !== undefined ? (heap1 - heap0) / n / 1024 : undefined,
    }
    if (CONNECT_ONLY) {
      for (const g of gens) g.proc.stdin!.write('{"do":"exit"}\n')
      const cpu = { user: (idle1.user - idle0.user) / n, system: (idle1.system - idle0.system) / n }
      return { ...cpu, rate: 0, regimes: {}, ...memory, connectS, p50: 0, p99: 0, max: 0, latencyCpu: { server: 0, clients: 0 }, faults: 0 }
    }

    const phase = async (lo: number, hi: number, publish: Record<string, unknown>) => {
      const waits = gens.map((g) => nextJson(g.rl, g.proc, 'done', 'deliveries'))
      for (const g of gens) g.proc.stdin!.write(`${JSON.stringify({ do: 'await', lo, hi, timeoutMs: 120_000 })}\n`)
      const before = stat(server.pids())
      const t0 = performance.now()
      const published = nextJson(gens[0]!.rl, gens[0]!.proc, 'published', 'the publisher to finish')
      gens[0]!.proc.stdin!.write(`${JSON.stringify({ do: 'publish', lo, hi, ...publish })}\n`)
      const reports = await Promise.all(waits)
      const seconds = (performance.now() - t0) / 1000
      const after = stat(server.pids())
      await published
      return { reports, seconds, user: after.user - before.user, system: after.system - before.system }
    }
    // Saturation: one event per request (batches of 10 on 1,000 topics), in each regime of requests in flight
    // (one, as `curl` or a score feed publishes; four), on the same sockets, one after the other.
    const regimes: Record<string, { user: number; system: number; rate: number }> = {}
    let lost = 0
    let lo = 0
    for (const inFlight of IN_FLIGHT) {
      const sat = await phase(lo, lo + events, { inFlight, batch: spread ? 10 : 1 })
      lo += events
      const delivered = sat.reports.reduce((s, r) => s + Number(r.expected) - Number(r.lost), 0)
      lost += sat.reports.reduce((s, r) => s + Number(r.lost), 0)
      regimes[inFlight] = { user: sat.user / delivered, system: sat.system / delivered, rate: delivered / sat.seconds }
    }
    // Latency at a fixed rate of deliveries.
    // The load generators' CPU too: reading a burst of N frames costs the clients about what writing them costs the
    // server, so where the clients' core is the limit the latencies measure it (the column beside them says).
    const clients0 = stat(gens.map((g) => g.proc.pid!))
    const lat = await phase(lo, lo + latencyEvents, { inFlight: 1, batch: 1, rate: latencyEvents / Number(values['latency-seconds']) })
    const clients1 = stat(gens.map((g) => g.proc.pid!))
    const latDelivered = Math.max(
      1,
      lat.reports.reduce((s, r) => s + Number(r.expected) - Number(r.lost), 0),
    )
    const latencyCpu = {
      server: (lat.user + lat.system) / latDelivered,
      clients: (clients1.user - clients0.user + clients1.system - clients0.system) / latDelivered,
    }
    const q = quantiles(lat.reports.map((r) => r.hist as [number, number][]))
    const last = lat.reports
    const faults = last.reduce((s, r) => s + Number(r.lost) + Number(r.dup) + Number(r.reordered), 0) + lost
    for (const g of gens) g.proc.stdin!.write('{"do":"exit"}\n')
    return {
      user: regimes[IN_FLIGHT[0]!]!.user,
      system: regimes[IN_FLIGHT[0]!]!.system,
      rate: regimes[IN_FLIGHT[0]!]!.rate,
      regimes,
      ...memory,
      connectS,
      ...q,
      latencyCpu,
      faults,
    }
  } finally {
    keepers?.proc.kill()
    if (profiled(sys)) {
      const exited = new Promise((resolve) => server.proc.once('exit', resolve))
      server.proc.kill('SIGINT')
      await exited
    } else server.proc.kill('SIGKILL')
  }
}

const sizes = values.sockets ? [Number(values.sockets)] : values.sizes.split(',').map(Number)
// One process holds at most ~19,000 sockets here (20,000 open files each): past that, only WORKERS can.
const oneProcess = !values.sockets || Number(values.sockets) <= 19_000
const withWorkers = values.workers ? ['workers', ...Object.keys(SYSTEMS).filter((k) => k.startsWith('workers-baseline'))] : []
const onRedis = values.systems.split(',').includes('redis') ? ['redis'] : []
const chosen = values.sockets
  ? [...(oneProcess ? ['livefeed', 'ws-frame', ...onRedis] : []), ...withWorkers]
  : [...values.systems.split(','), ...Object.keys(SYSTEMS).filter((k) => k.startsWith('baseline')), ...withWorkers]
/** The peers every row is compared with. */
const REFS = ['ws-frame', 'centrifuge']
const startedAt = performance.now()
console.log(
  `fan-out, ${new Date().toISOString()}: server on core 0, load generator on core 1; ~200-byte events over HTTP; ${RUNS} runs per cell, median (range)`,
)
for (const spread of [values.spread]) {
  for (const n of sizes) {
    const results = new Map<string, Cell[]>()
    for (let run = 0; run < RUNS; run++) {
      // Interleaved: a drift of the machine's speed spreads over every system alike.
      for (const key of chosen) {
        const sys = SYSTEMS[key]
        if (!sys) throw new Error(`no system "${key}"; known: ${Object.keys(SYSTEMS).join(', ')}`)
        if (sys.oneTopicOnly && spread) continue
        if (sys.kind === 'centrifuge' && !centrifugeReady()) continue
        // Enough events for about --deliveries at saturation (or exactly --events).
        const events = values.events ? Number(values.events) : Math.max(20, Math.ceil(Number(values.deliveries) / (n / (spread ? 1000 : 1))))
        const r = await once(sys, n, spread, events)
        results.set(key, [...(results.get(key) ?? []), r])
      }
    }
    const where = spread ? '1,000 topics (livefeed: half exact, half wildcard patterns)' : 'one topic'
    if (CONNECT_ONLY) {
      console.log(`\n### ${n} subscribers, ${where}\n`)
      printTable(results, (key) => SYSTEMS[key]!.name, REFS, true)
    }
    for (const regime of CONNECT_ONLY ? [] : IN_FLIGHT) {
      console.log(`\n### ${n} subscribers, ${where}, ${regime === 1 ? 'one publish' : `${regime} publishes`} in flight\n`)
      printTable(results, (key) => SYSTEMS[key]!.name, REFS, false, String(regime))
    }
  }
}
// The default run is meant to stay under ten minutes (bench/README): say how long this one took.
console.log(`\nThe whole run took ${((performance.now() - startedAt) / 60_000).toFixed(1)} minutes.`)
process.exit(0)
