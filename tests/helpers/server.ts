import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { sharedRedis } from './redis.ts'

export type RuntimeName = 'node' | 'deno'
/** A runtime, alone on the memory engine or "+redis" on a real Redis. */
export type Target = RuntimeName | `${RuntimeName}+redis`
/** Every suite of the core runs on each runtime and each engine. */
export const RUNTIMES: Target[] = ['node', 'deno', 'node+redis', 'deno+redis']
let prefixes = 0
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DENO = `${ROOT}node_modules/deno/deno`

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

/** Starts the real server (the Node bundle or Deno from src/) on an ephemeral loopback port. */
export async function startServer(target: Target, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Server> {
  const runtime = target.split('+')[0] as RuntimeName
  const engine = target.endsWith('+redis') ? 'redis' : 'memory'
  if (engine === 'redis' && !env.REDIS_URL) {
    env = { REDIS_URL: (await sharedRedis()).url, REDIS_PREFIX: `test${process.pid}-${++prefixes}:`, ...env }
  }
  const [cmd, args] =
    runtime === 'node'
      ? [process.execPath, ['dist/server.mjs']]
      : [DENO, ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-sys', 'src/runtime/deno.ts']]
  const proc = spawn(cmd, args, {
    cwd: ROOT,
    // PUBLISH_RATE off: the load tests publish as fast as the server takes it. Tests of the limit set it.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'test', LOG_LEVEL: 'info', PUBLISH_RATE: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime} server did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs)
    const check = () => {
      const m = /"port":(\d+)[^\n]*"msg":"listening"/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
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
