import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sharedRedis } from './redis.ts'

/** Node; Deno's own server (src/runtime/deno.ts); or the Node bundle run by Deno (`deno task start:bundle`). */
export type RuntimeName = 'node' | 'deno' | 'deno-node'
/** A runtime, alone on the memory engine or "+redis" on a real Redis. */
export type Target = RuntimeName | `${RuntimeName}+redis`
/**
 * Every suite of the core runs on each runtime and each engine, but the bundle on Deno on memory only: on
 * Redis it runs the same ioredis under Deno that "deno+redis" does (engine-failure runs it on Redis too).
 */
export const RUNTIMES: Target[] = ['node', 'deno', 'deno-node', 'node+redis', 'deno+redis']
/** The runtime a target runs on. */
export const runtimeOf = (target: Target): RuntimeName => (['node', 'deno', 'deno-node'] as const).find((r) => target === r || target === `${r}+redis`)!
let prefixes = 0
export const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** `deno run` with the permissions the server needs (deno.json's tasks grant the same). */
export const DENO_RUN: readonly string[] = [`${ROOT}node_modules/deno/deno`, 'run', '--allow-net', '--allow-env', '--allow-read', '--allow-sys']
/**
 * The Node flags of `npm start` (package.json's `start`, what App Engine runs), so tests and benches start the
 * server with them too: one place says how production runs Node.
 */
const PACKAGE = readFileSync(`${ROOT}package.json`, 'utf8')
export const NODE_FLAGS: readonly string[] = startFlags(PACKAGE)
assertPinnedNode(PACKAGE)

/**
 * Servers are started with this process's Node (`process.execPath`): run outside npm, `node` may be the
 * machine's own, and tests or benches would then measure a Node that production never runs (and `npm start`'s V8
 * flags may not exist there). Refuses anything but package.json's `engines.node` major.
 */
function assertPinnedNode(pkg: string): void {
  const engines: unknown = Reflect.get(JSON.parse(pkg) ?? {}, 'engines')
  const wanted: unknown = typeof engines === 'object' && engines !== null ? Reflect.get(engines, 'node') : undefined
  const major = typeof wanted === 'string' ? /^(\d+)\.x$/.exec(wanted)?.[1] : undefined
  if (major === undefined) throw new Error(`package.json's engines.node is not "N.x": ${String(wanted)}`)
  if (process.versions.node.split('.')[0] !== major)
    throw new Error(
      `this is Node ${process.versions.node}, the project runs on ${wanted}: run through npm (\`npm test\`, \`npm run bench:…\`), or put node_modules/.bin first on PATH`,
    )
}

function startFlags(pkg: string): string[] {
  const scripts: unknown = Reflect.get(JSON.parse(pkg) ?? {}, 'scripts')
  const start: unknown = typeof scripts === 'object' && scripts !== null ? Reflect.get(scripts, 'start') : undefined
  const m = typeof start === 'string' ? /^node((?:\s+--\S+)*)\s+dist\/server\.mjs$/.exec(start) : null
  if (!m) throw new Error(`package.json's start script is not "node [--flags] dist/server.mjs": ${String(start)}`)
  return m[1]!
    .trim()
    .split(/\s+/)
    .filter((f) => f !== '')
}
/** The flags of `deno task start` and `start:bundle` (deno.json): the permissions, and V8's young generation bounded as on Node. */
export const DENO_FLAGS: readonly string[] = denoTaskFlags(readFileSync(`${ROOT}deno.json`, 'utf8'))

function denoTaskFlags(config: string): string[] {
  const tasks: unknown = Reflect.get(JSON.parse(config) ?? {}, 'tasks')
  const flags = (name: string, entry: string): string => {
    const task: unknown = typeof tasks === 'object' && tasks !== null ? Reflect.get(tasks, name) : undefined
    const m = typeof task === 'string' ? new RegExp(`^\\./node_modules/deno/deno run((?:\\s+--\\S+)*)\\s+${entry.replace('.', '\\.')}$`).exec(task) : null
    if (!m) throw new Error(`deno.json's ${name} task is not "./node_modules/deno/deno run [--flags] ${entry}": ${String(task)}`)
    return m[1]!.trim()
  }
  const start = flags('start', 'src/runtime/deno.ts')
  if (flags('start:bundle', 'dist/server.mjs') !== start) throw new Error("deno.json's start and start:bundle tasks run Deno with different flags")
  return start.split(/\s+/)
}
/** The command that starts each runtime's server, as `npm start` and the `deno task`s do (the benches too). */
export const SERVER_ARGV: Record<RuntimeName, readonly string[]> = {
  node: [process.execPath, ...NODE_FLAGS, 'dist/server.mjs'],
  deno: [DENO_RUN[0]!, 'run', ...DENO_FLAGS, 'src/runtime/deno.ts'],
  'deno-node': [DENO_RUN[0]!, 'run', ...DENO_FLAGS, 'dist/server.mjs'],
}

export interface Server {
  runtime: RuntimeName
  engine: 'memory' | 'redis'
  url: string
  wsUrl: string
  port: number
  proc: ChildProcess
  /** Everything the process printed so far. */
  output(): string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts the real server (the Node bundle, on Node or Deno, or Deno from src/) on an ephemeral loopback port. */
export async function startServer(target: Target, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Server> {
  const runtime = runtimeOf(target)
  const engine = target.endsWith('+redis') ? 'redis' : 'memory'
  if (engine === 'redis' && !env.REDIS_URL) {
    env = { REDIS_URL: (await sharedRedis()).url, REDIS_PREFIX: `test${process.pid}-${++prefixes}:`, ...env }
  }
  const [cmd, ...args] = SERVER_ARGV[runtime]
  const proc = spawn(cmd!, args, {
    cwd: ROOT,
    // PUBLISH_RATE off: the load tests publish as fast as the server takes it. Tests of the limit set it.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      PORT: '0',
      HOST: '127.0.0.1',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      PUBLISH_RATE: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime} server did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs)
    const check = () => {
      const m = /"runtime":"([a-z-]+)"[^\n]*"port":(\d+)[^\n]*"(?:msg|message)":"listening"/.exec(out)
      if (!m) return
      clearTimeout(timer)
      // The logs say which runtime serves: the bundle knows when Deno runs it.
      if (m[1] === runtime) resolve(Number(m[2]))
      else reject(new Error(`started as ${runtime}, the server logs "runtime":"${m[1]}":\n${out}`))
    }
    proc.stdout!.on('data', check)
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${runtime} server exited with ${code} before listening:\n${out}`))
    })
  })
  const server: Server = {
    runtime,
    engine,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    proc,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return exited
    },
  }
  return server
}
