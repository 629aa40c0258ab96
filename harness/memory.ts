import { readFileSync } from 'node:fs'
import { ROOT, type Server } from './server.ts'
import { until } from './wait.ts'

/** NODE_OPTIONS for a Node server whose memory a test reads: on SIGUSR2, a full gc and process.memoryUsage() on stderr. */
export const GC_HOOK = `--expose-gc --import ${ROOT}harness/gc-hook.mjs`

/** A process and its children: a server's processes, with its workers (WORKERS) if it has any. */
export function processesOf(pid: number): number[] {
  try {
    return [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)]
  } catch {
    return [pid]
  }
}

/** What a test reads of process.memoryUsage(): external counts the Buffers and ArrayBuffers outside V8's heap. */
export type GcMemory = { rss: number; heapUsed: number; external: number }

/**
 * The Node server's process.memoryUsage() after a full gc, summed over its processes (a WORKERS primary
 * and its workers); the server must have been started with NODE_OPTIONS=GC_HOOK.
 */
export async function memoryAfterGc(server: Server): Promise<GcMemory> {
  const seen = server.output().length
  const pids = processesOf(server.proc.pid!)
  for (const pid of pids) process.kill(pid, 'SIGUSR2')
  const lines = await until(
    'the gc hook to answer',
    () => {
      const found =
        server
          .output()
          .slice(seen)
          .match(/\{"rss":\d+[^\n]*\}/g) ?? []
      return found.length >= pids.length ? found : undefined
    },
    10_000,
  )
  return lines
    .map((l) => JSON.parse(l) as GcMemory)
    .reduce((a, b) => ({ rss: a.rss + b.rss, heapUsed: a.heapUsed + b.heapUsed, external: a.external + b.external }))
}
