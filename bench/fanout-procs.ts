/**
 * The processes of bench/fanout.ts: starting a server pinned to core 0, and reading its CPU time, memory and
 * open files from /proc. A server with WORKERS is a family (the primary and its workers): every reading is
 * the sum over the family, since they are one server together.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createInterface, type Interface } from 'node:readline'
import { processesOf } from '../harness/memory.ts'
import { freePort } from '../harness/redis.ts'
import { NODE_FLAGS, ROOT } from '../harness/server.ts'

/**
 * The command line of another build of livefeed on Node (a bench's `--baseline`): `npm start`'s flags, then any
 * given before the bundle, which win (`--baseline='--max-semi-space-size=0 dist/server.mjs'`).
 */
export function baselineArgv(bundle: string, before: string[] = []): string[] {
  return [process.execPath, ...before, ...NODE_FLAGS, ...bundle.trim().split(/\s+/)]
}

/** livefeed's environment in every bench: all clients come from loopback, and a bench measures delivery, not the abuse limits. */
export const BENCH_ENV = {
  MAX_BUFFERED_BYTES: String(64 * 1024 * 1024),
  MAX_CONNECTIONS_PER_IP: '1000000',
  OUTBOUND_BYTES: String(8 * 1024 ** 3),
  PUBLISH_RATE: '0',
  LOG_LEVEL: 'info',
}

const TICK_US = 1e6 / 100 // USER_HZ: /proc counts CPU time in 10 ms ticks

export type Kind = 'livefeed' | 'ws' | 'socketio' | 'centrifuge'
export interface System {
  name: string
  kind: Kind
  /** The command, run under `taskset -c 0`. */
  argv: string[]
  env?: Record<string, string>
  /** Node processes are started with a gc hook: heap per socket after gc. */
  node: boolean
  /** WORKERS: how many worker processes log "listening" before the server is up. */
  workers?: number
  publishPath: string
  /** Client paths for topic {t}, taken in turn by the clients; `spread`: clients on 1,000 topics. */
  paths(spread: boolean): string[]
  /** The topic of client i's events ({t}: i % topics); default `bench/t{t}/q`. */
  topicName?: string
  /** A server that cannot say which port it took: given a free one, and up once a line matches this. */
  readyLine?: RegExp
  /** Only on one topic (the Centrifuge peer serves one channel). */
  oneTopicOnly?: boolean
}

export const lines = (proc: ChildProcess): Interface => createInterface({ input: proc.stdout! })

/** The next JSON line of a load generator that says it reached `phase`. */
export function nextJson(rl: Interface, proc: ChildProcess, phase: string, what: string, timeoutMs = 300_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)
    const onLine = (l: string) => {
      if (!l.startsWith('{')) return
      const msg = JSON.parse(l) as Record<string, unknown>
      if (msg.phase !== phase) return
      clearTimeout(timer)
      rl.off('line', onLine)
      resolve(msg)
    }
    rl.on('line', onLine)
    proc.once('exit', (code) => reject(new Error(`${what}: the process exited with ${code}`)))
  })
}

export interface Running {
  proc: ChildProcess
  port: number
  /** The server's processes: itself, and its workers if it has any. */
  pids(): number[]
  /** Resolves with the heap used after two gc() calls, summed over the processes (Node systems only). */
  heapAfterGc(): Promise<number | undefined>
}

/** What starting a server needs of a system (bench/publish.ts starts its servers with it too). */
export type ServerCommand = Pick<System, 'name' | 'argv' | 'env' | 'node' | 'workers' | 'readyLine'>

/** Starts a server on core 0; `profileDir`: with a V8 CPU profile written there on SIGINT. */
export async function startServer(sys: ServerCommand, profileDir?: string): Promise<Running> {
  const argv = profileDir !== undefined ? [sys.argv[0]!, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...sys.argv.slice(1)] : sys.argv
  const fixed = sys.readyLine !== undefined ? await freePort() : 0
  // stdin stays open: the Centrifuge peer exits when it closes (its orchestrator is gone).
  const proc = spawn('taskset', ['-c', '0', ...argv], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(fixed), HOST: '127.0.0.1', NODE_ENV: 'test', ...sys.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let err = ''
  proc.stderr!.on('data', (d) => (err += d))
  const out = lines(proc)
  const port = await new Promise<number>((resolve, reject) => {
    let listening = 0
    out.on('line', (l) => {
      if (sys.readyLine !== undefined) return void (sys.readyLine.test(l) && resolve(fixed))
      const m = /"port":(\d+)/.exec(l)
      if (m && ++listening >= (sys.workers ?? 1)) resolve(Number(m[1]))
    })
    proc.once('exit', (code) => reject(new Error(`${sys.name} exited with ${code}: ${err}`)))
  })
  const pids = () => processesOf(proc.pid!)
  return {
    proc,
    port,
    pids,
    async heapAfterGc() {
      if (!sys.node) return undefined
      const before = err.length
      const family = pids()
      for (const pid of family) process.kill(pid, 'SIGUSR2')
      // The hook answers on stderr, one line per process.
      const answers = () => [...err.slice(before).matchAll(/"heapUsed":(\d+)/g)].map((m) => Number(m[1]))
      for (let i = 0; i < 500 && answers().length < family.length; i++) await new Promise((r) => setTimeout(r, 10))
      if (process.env.BENCH_MEMORY_DEBUG) console.error(sys.name, err.slice(before).trim())
      const heaps = answers()
      return heaps.length === family.length ? heaps.reduce((a, b) => a + b, 0) : undefined
    },
  }
}

/** CPU time (µs) and RSS (bytes), summed over the processes. */
export function stat(pids: number[]): { user: number; system: number; rss: number } {
  const sum = { user: 0, system: 0, rss: 0 }
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      sum.user += Number(fields[11]) * TICK_US
      sum.system += Number(fields[12]) * TICK_US
      sum.rss += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096
    } catch {
      // A process that is gone counts nothing.
    }
  }
  return sum
}

/** Open files of the processes: the sockets they still hold. */
export const openFiles = (pids: number[]) => pids.reduce((n, pid) => n + readdirSync(`/proc/${pid}/fd`).length, 0)

/** The Centrifuge peer (bench/peers/centrifuge/), built by `centrifugeReady`. */
export const CENTRIFUGE = `${ROOT}bench/peers/centrifuge/centrifuge-peer`

/**
 * The Centrifuge peer's binary, built from bench/peers/centrifuge/ with Debian's Go and Centrifuge packages
 * (installed here when root on Debian, as the tests' set-up does); false, and why, when it cannot be.
 */
let centrifugeBuilt: boolean | undefined
export function centrifugeReady(): boolean {
  if (centrifugeBuilt !== undefined) return centrifugeBuilt
  const pkgs = [
    'golang-go',
    'golang-github-centrifugal-centrifuge-dev',
    'golang-github-centrifugal-protocol-dev',
    'golang-github-igm-sockjs-go-dev',
    'golang-github-fzambia-eagle-dev',
    'golang-github-mna-redisc-dev',
  ]
  if (!existsSync(CENTRIFUGE)) {
    const missing = spawnSync('dpkg-query', ['-W', ...pkgs], { stdio: 'ignore' }).status !== 0
    if (missing && process.getuid?.() === 0 && existsSync('/etc/debian_version')) {
      console.error(`bench: installing ${pkgs.join(' ')} for the Centrifuge peer`)
      spawnSync('apt-get', ['install', '-y', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    }
    const built = spawnSync(`${ROOT}bench/peers/centrifuge/build.sh`, [], { stdio: 'inherit' })
    if (built.status !== 0) {
      console.error(`bench: the Centrifuge peer could not be built (run: apt-get install -y ${pkgs.join(' ')}); its rows are absent`)
    }
  }
  centrifugeBuilt = existsSync(CENTRIFUGE)
  return centrifugeBuilt
}
