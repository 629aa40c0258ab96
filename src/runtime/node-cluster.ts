/**
 * @module
 * `WORKERS` on Node: one process per core on one instance. JavaScript runs on
 * one core, so an instance with several serves each from its own process. The
 * primary serves nothing itself: it forks the workers (`node:cluster`),
 * replaces a worker that crashes, passes SIGTERM on so each
 * drains its own clients, and gathers `GET /metrics` from all of them.
 * Workers share events through Redis exactly as instances do, so a client
 * resumes from its cursor on whichever worker it reaches.
 *
 * Where the kernel can (Linux), each worker has a listening socket of its own
 * on the port (`reusePort`) and the kernel spreads new connections over them;
 * elsewhere the primary holds the one socket and hands each connection to the
 * next worker in turn, which costs it CPU on every connect.
 */
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import type { Logger } from 'pino'
import client from 'prom-client'
import * as v from 'valibot'
import type { Config } from '../config.ts'

/** WORKERS as a count: `auto` is one per core this process may use. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting
}

/** Set in the environment of the workers this primary forks: only they may ask it for the instance's metrics. */
export const WORKER_MARK = 'LIVEFEED_CLUSTER_WORKER'

/**
 * Set in a worker's environment when workers listen with `reusePort`: the port to listen on. The first
 * worker gets the configured one (0 picks a free port); the others, the port the first one listened on.
 */
export const LISTEN_PORT = 'LIVEFEED_LISTEN_PORT'
/** Where `reusePort` spreads connections over the sockets of several processes (Node's `net` documentation). */
export const REUSE_PORT_PLATFORMS: ReadonlySet<string> = new Set(['linux', 'freebsd', 'aix', 'sunos'])

const LISTENING = 'livefeed:listening'
/** A worker's word that it listens, and on which port: cluster says nothing of a socket a worker made itself. */
const listeningMessage = v.object({ type: v.literal(LISTENING), port: v.number() })
const isListeningMessage = (m: unknown): m is v.InferOutput<typeof listeningMessage> => v.is(listeningMessage, m)

/** In a worker: tells the primary it listens, on `port`. */
export function reportListening(port: number): void {
  process.send?.({ type: LISTENING, port } satisfies v.InferOutput<typeof listeningMessage>)
}

const METRICS = 'livefeed:metrics'
/** A worker's request for the instance's metrics (id alone), and the primary's answer (text or error). */
const metricsMessage = v.object({ type: v.literal(METRICS), id: v.number(), text: v.optional(v.string()), error: v.optional(v.string()) })
type MetricsMessage = v.InferOutput<typeof metricsMessage>
const isMetricsMessage = (m: unknown): m is MetricsMessage => v.is(metricsMessage, m)

/** How long a worker waits for the primary's metrics (prom-client's own gather times out at 5 s). */
const METRICS_WAIT_MS = 6000
const MINUTE = 60_000

/** Runs the primary: forks `count` workers and supervises them until SIGTERM or SIGINT. */
export function supervise(count: number, config: Pick<Config, 'limits' | 'port'>, log: Logger, opts: { reusePort: boolean }): void {
  const limits = config.limits
  /** With reusePort: the port every worker listens on, once the first one has. */
  let port: number | undefined
  // Answers the workers' requests for the instance's metrics: each worker's registry, merged by prom-client.
  const aggregator = new client.AggregatorRegistry()
  const live = new Set<Worker>()
  const listened = new WeakSet<Worker>()
  const restarts: number[] = []
  let stopping = false
  let exitCode = 0

  const fork = (): void => {
    const env: Record<string, string> = { [WORKER_MARK]: '1' }
    if (opts.reusePort) env[LISTEN_PORT] = String(port ?? config.port)
    const worker = cluster.fork(env)
    live.add(worker)
    worker.on('message', (m: unknown) => {
      // Every worker says so itself (cluster's own 'listening' is not emitted for a socket a worker made).
      if (isListeningMessage(m)) {
        listened.add(worker)
        // The first worker has the port: the others share it (with reusePort, a port 0 of their own would differ).
        if (opts.reusePort && port === undefined && !stopping) {
          port = m.port
          for (let i = 1; i < count; i++) fork()
        }
        return
      }
      if (!isMetricsMessage(m) || m.text !== undefined || m.error !== undefined) return
      aggregator.clusterMetrics().then(
        (text) => worker.isConnected() && worker.send({ type: METRICS, id: m.id, text } satisfies MetricsMessage),
        (err: unknown) => worker.isConnected() && worker.send({ type: METRICS, id: m.id, error: String(err) } satisfies MetricsMessage),
      )
    })
  }

  /** Stops every worker (each drains its clients), then exits with `code`. */
  const stop = (code: number): void => {
    exitCode = Math.max(exitCode, code)
    if (stopping) return
    stopping = true
    for (const w of live) w.process.kill('SIGTERM')
    // Each worker exits by SHUTDOWN_GRACE; past that and a margin, nothing is left to wait for.
    setTimeout(() => {
      for (const w of live) w.process.kill('SIGKILL')
      process.exit(exitCode)
    }, limits.shutdownGraceMs + 2000).unref()
    if (live.size === 0) process.exit(exitCode)
  }

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker)
    if (stopping) {
      if (live.size === 0) {
        log.info({ exitCode }, 'stopped')
        process.exit(exitCode)
      }
      return
    }
    const detail = { worker: worker.id, pid: worker.process.pid, code, signal }
    if (code === 0 && signal === null && listened.has(worker)) {
      // It drained and exited on a signal of its own (a terminal's Ctrl-C reaches the whole process group,
      // sometimes before the primary hears it): not a crash, so not replaced.
      log.info(detail, 'worker drained and exited')
      if (live.size === 0) process.exit(0)
      return
    }
    if (!listened.has(worker)) {
      // The same rule as one process: a start that fails ends the instance, and the platform starts another.
      log.fatal(detail, 'a worker could not start; stopping the others')
      return stop(1)
    }
    const now = Date.now()
    while (restarts.length > 0 && restarts[0]! <= now - MINUTE) restarts.shift()
    if (restarts.length >= limits.workerRestarts) {
      log.fatal({ ...detail, restarts: restarts.length }, 'workers keep crashing (WORKER_RESTARTS); stopping the instance')
      return stop(1)
    }
    restarts.push(now)
    log.error(detail, 'worker exited; starting another')
    fork()
  })

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      log.info({ signal, workers: live.size }, 'draining')
      stop(0)
    })
  }
  log.info({ workers: count, reusePort: opts.reusePort }, 'starting workers')
  // With reusePort the first worker goes alone: the rest follow on the port it listened on.
  for (let i = 0; i < (opts.reusePort ? 1 : count); i++) fork()
}

/**
 * In a worker: lets the primary read this worker's registry, and returns what
 * `GET /metrics` answers, the instance's metrics (every worker's, merged).
 */
export function instanceMetrics(own: client.Registry): () => Promise<string> {
  client.AggregatorRegistry.setRegistries([own])
  // Constructing one makes prom-client answer the primary's requests for this worker's metrics.
  new client.AggregatorRegistry()
  const pending = new Map<number, { resolve(text: string): void; reject(err: Error): void }>()
  let next = 0
  process.on('message', (m: unknown) => {
    if (!isMetricsMessage(m)) return
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    if (m.text !== undefined) p.resolve(m.text)
    else p.reject(new Error(`metrics of the other workers: ${m.error ?? 'no answer'}`))
  })
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error('metrics of the other workers: no answer from the primary'))
      }, METRICS_WAIT_MS)
      pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      })
      process.send?.({ type: METRICS, id } satisfies MetricsMessage)
    })
}
