import { ROOT, type Server } from './server.ts'
import { until } from './wait.ts'

/** NODE_OPTIONS for a Node server whose memory a test reads: on SIGUSR2, a full gc and process.memoryUsage() on stderr. */
export const GC_HOOK = `--expose-gc --import ${ROOT}bench/gc-hook.mjs`

/** The Node server's process.memoryUsage() after a full gc; the server must have been started with NODE_OPTIONS=GC_HOOK. */
export async function memoryAfterGc(server: Server): Promise<{ rss: number; heapUsed: number }> {
  const seen = server.output().length
  server.proc.kill('SIGUSR2')
  const line = await until('the gc hook to answer', () => /\{"rss":\d+[^\n]*\}/.exec(server.output().slice(seen))?.[0], 10_000)
  return JSON.parse(line) as { rss: number; heapUsed: number }
}
