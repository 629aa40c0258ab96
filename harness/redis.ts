import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { until } from './wait.ts'

/** What `npm test` runs first; a single suite run by hand skips it. */
const SETUP_HINT =
  'Run `node scripts/test-setup.mjs` (it installs the system packages the tests drive with apt-get when root on Debian, else prints the command).'

export async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise((resolve) => srv.close(resolve))
  return port
}

const accepts = (port: number) =>
  new Promise<true | undefined>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.end()
      resolve(true)
    })
    s.on('error', () => resolve(undefined))
  })

export interface RedisServer {
  url: string
  port: number
  /** The running redis-server's process id. */
  readonly pid: number
  /** SIGKILL: gone at once, as a crashed machine. */
  kill(): Promise<void>
  /** SIGSTOP: the process stops answering, its connections stay open. */
  pause(): void
  resume(): void
  /** Stops the process (SIGTERM) and starts it again on the same port and data directory. */
  restart(): Promise<void>
  stop(): Promise<void>
}

/** A real redis-server from Debian's package, on a free loopback port, with its own data directory; `args` add to its command line. */
export async function startRedis(opts: { aof?: boolean; args?: string[] } = {}): Promise<RedisServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'livefeed-redis-'))
  let proc: ChildProcess
  const launch = async () => {
    proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        opts.aof ? 'yes' : 'no',
        '--appendfsync',
        'always',
        '--dir',
        dir,
        ...(opts.args ?? []),
      ],
      { stdio: 'ignore' },
    )
    // Not holding the runner open: the exit hook below ends it.
    proc.unref()
    // A missing binary is a ChildProcess 'error': say what to run instead of crashing the runner with ENOENT.
    const failed = new Promise<never>((_, reject) =>
      proc.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(`redis-server is not installed. ${SETUP_HINT}`) : err)),
    )
    failed.catch(() => {})
    await Promise.race([until(`redis-server on ${port}`, () => accepts(port), 10_000), failed])
  }
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    proc.ref() // waiting on an unref'd child would let the runner's event loop run dry
    proc.kill('SIGCONT')
    proc.kill('SIGTERM')
    await exited
  }
  await launch()
  // Its data directory goes with it: a test run starts a score of these, and /tmp is shared.
  process.once('exit', () => {
    proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return proc.pid ?? 0
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.ref()
      proc.kill('SIGKILL')
      await exited
    },
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
    async restart() {
      await stop()
      await launch()
    },
    stop,
  }
}

let shared: Promise<RedisServer> | undefined
/** One Redis for the whole test run; each server gets its own key prefix on it. */
export const sharedRedis = () => (shared ??= startRedis())
