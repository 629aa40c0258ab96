/**
 * @module
 * Reads the Prometheus text format (what `GET /metrics` answers) into samples,
 * and the few figures the operators' page derives from two scrapes: rates of
 * counters and quantiles of histograms. Pure functions, tested in the fast tier.
 */

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Every sample of a scrape; comment and blank lines are skipped, as are lines that are not samples. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1')
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3])
    out.push({ name: m[1]!, labels, value })
  }
  return out
}

/** One scrape, with the time it was taken, to look samples up in. */
export class Scrape {
  constructor(
    readonly samples: Sample[],
    readonly at: number,
  ) {}

  /** The sum of a metric's samples whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    let n = 0
    for (const s of this.samples) if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) n += s.value
    return n
  }

  /** The values a label takes on a metric (e.g. the reasons of disconnects). */
  labelValues(name: string, label: string): string[] {
    const seen = new Set<string>()
    for (const s of this.samples) if (s.name === name && s.labels[label] !== undefined) seen.add(s.labels[label])
    return [...seen].sort()
  }
}

/** Per second between two scrapes; a counter that went down (the process restarted) counts from zero. */
export function rate(prev: Scrape, next: Scrape, name: string, match: Record<string, string> = {}): number {
  const seconds = (next.at - prev.at) / 1000
  if (seconds <= 0) return 0
  const a = prev.sum(name, match)
  const b = next.sum(name, match)
  return (b >= a ? b - a : b) / seconds
}

/**
 * A quantile of a histogram over the interval between two scrapes, from its
 * cumulative `_bucket{le}` counts (as Prometheus' histogram_quantile does:
 * linear within the bucket). Undefined when nothing was observed.
 */
export function quantile(prev: Scrape, next: Scrape, name: string, q: number): number | undefined {
  const buckets = new Map<number, number>()
  for (const s of next.samples) {
    if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
    buckets.set(le, (buckets.get(le) ?? 0) + s.value - prev.sum(`${name}_bucket`, { le: s.labels.le }))
  }
  const sorted = [...buckets].sort((x, y) => x[0] - y[0])
  const total = sorted.at(-1)?.[1] ?? 0
  if (total <= 0) return undefined
  const want = q * total
  let lower = 0
  let below = 0
  for (const [le, count] of sorted) {
    if (count >= want) {
      if (le === Infinity) return lower
      return lower + ((le - lower) * (want - below)) / Math.max(count - below, 1e-9)
    }
    lower = le
    below = count
  }
  return lower
}
