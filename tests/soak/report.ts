/**
 * @module
 * The soak's checks of what the instances hold and say, and its summary
 * tables: every answered event read back from Redis,
 * error-level log lines, and the report.
 */
import { readFileSync } from 'node:fs'
import type { Server } from '../../harness/server.ts'
import { request } from '../helpers/http.ts'
import { MIX, type Subscriber } from './clients.ts'
import type { Histogram, Tally } from './tally.ts'

/**
 * Once the clients have gone and a full gc has run: the heap in use may exceed the instance's start by at most
 * HEAP_BOUND_BYTES (a leak of the soak's ~10^5 connections would be far over it). RSS may exceed the start
 * by at most RSS_BOUND_BYTES at its peak: on Node 20 it came back to +80 MiB after gc (from a peak of +132 in
 * the 10-minute run in bench/README.md), on Node 24 it does not come back at all (+128 at the peak and after
 * gc in a 30-second run, with the heap back to +3 MiB), so what RSS keeps after gc is the allocator's, and
 * the peak is what is bounded.
 */
export const HEAP_BOUND_BYTES = 16 * 1024 * 1024
export const RSS_BOUND_BYTES = 192 * 1024 * 1024
/** The only error-level lines a soak may log: the Redis outage it injects, once per instance. */
const DOCUMENTED_ERRORS = new Set(['the event store failed'])

export interface Incarnation {
  slot: number
  server: Server
  ended: 'running' | 'SIGTERM' | 'SIGKILL'
  rss: { before: number; peak: number; after: number }
  heap: { before: number; after: number }
}

export const rssOf = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** Redis holds every event answered 201 exactly once, in publish order: n = 0, 1, 2, … read back through the API. */
export async function readBack(base: string, start: string, published: number): Promise<string[]> {
  let cursor = start
  let expect = 0
  for (;;) {
    const r = await request(`${base}/api/events?topics=soak/**&since=${cursor}&limit=1000`)
    const events = r.body.events as { data: { n: number } }[]
    for (const e of events) {
      if (e.data.n !== expect) return [`stored: event n=${e.data.n} where n=${expect} was due`]
      expect++
    }
    cursor = r.body.cursor
    if (events.length === 0) break
  }
  return expect === published ? [] : [`stored: ${expect} events read back, ${published} were answered 201`]
}

/** Error-level log lines other than the documented ones of the faults the soak injects. */
export function errorLines(incarnations: Incarnation[]): string[] {
  const out: string[] = []
  for (const inc of incarnations) {
    for (const line of inc.server.output().split('\n')) {
      if (!line.startsWith('{')) continue
      const entry = JSON.parse(line) as { level?: number; msg?: string }
      if ((entry.level ?? 0) >= 50 && !DOCUMENTED_ERRORS.has(entry.msg ?? '')) out.push(`instance ${inc.slot} logged at error: ${line.slice(0, 300)}`)
    }
  }
  return out
}

export interface SummaryInput {
  n: number
  seconds: number
  rate: number
  counts: { events: number; deliveries: number; lost: number; duplicated: number; reordered: number; resets: number }
  latency: Histogram
  publishing: { retries: number; statuses: Map<number, number> }
  subscribers: Subscriber[]
  incarnations: Incarnation[]
}

/** The tables `npm run soak` prints. */
export function summary({ n, seconds, rate, counts, latency, publishing, subscribers, incarnations }: SummaryInput): string {
  const sum = (f: (t: Tally) => number, list: Tally[]) => list.reduce((s, t) => s + f(t), 0)
  const mib = (b: number) => (b / 2 ** 20).toFixed(0)
  const lines = [
    `${n} events in ${seconds} s: ${(n / seconds).toFixed(1)} events/s published (asked: ${rate})`,
    '',
    `| events | deliveries | lost | duplicated | reordered | resets | p50 ms | p99 ms | max ms | publish retries |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    `| ${counts.events} | ${counts.deliveries} | ${counts.lost} | ${counts.duplicated} | ${counts.reordered} | ${counts.resets} | ${latency.quantile(0.5).toFixed(1)} | ${latency.quantile(0.99).toFixed(1)} | ${latency.max.toFixed(0)} | ${publishing.retries} (${[...publishing.statuses].map(([s, c]) => `${c}× ${s}`).join(', ') || 'none'}) |`,
    '',
    `| transport | subscribers | deliveries | reconnects | lost | duplicated | reordered |`,
    `| --- | --- | --- | --- | --- | --- | --- |`,
    ...MIX.map(([kind]) => {
      const of = subscribers.filter((s) => s.kind === kind).map((s) => s.tally)
      return `| ${kind} | ${of.length} | ${sum((t) => t.received, of)} | ${sum((t) => t.reconnects, of)} | ${sum((t) => t.lost, of)} | ${sum((t) => t.duplicated, of)} | ${sum((t) => t.reordered, of)} |`
    }),
    '',
    `| instance | ended | RSS before MiB | peak | after (gc) | heap before MiB | after (gc) |`,
    `| --- | --- | --- | --- | --- | --- | --- |`,
    ...incarnations.map((i) => {
      const ran = i.ended === 'running'
      return `| ${i.slot} (pid ${i.server.proc.pid}) | ${i.ended} | ${mib(i.rss.before)} | ${mib(i.rss.peak)} | ${ran ? mib(i.rss.after) : '—'} | ${(i.heap.before / 2 ** 20).toFixed(1)} | ${ran ? (i.heap.after / 2 ** 20).toFixed(1) : '—'} |`
    }),
  ]
  return lines.join('\n')
}
