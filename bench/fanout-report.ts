/**
 * The tables of bench/fanout.ts: one cell's runs per system, as median (range), and ratios to a reference
 * system; in markdown, for bench/README.md.
 */

/** CPU per delivery and deliveries/s at saturation, in one publishing regime (requests in flight). */
export interface Saturation {
  user: number
  system: number
  rate: number
}

/** One run of one system at one size. */
export interface Cell {
  /** Per connect under --connect-only; else unused (see `regimes`). */
  user: number
  system: number
  rate: number
  /** At saturation, by requests in flight (`--in-flight`): "1", "4". */
  regimes: Record<string, Saturation>
  rssKB: number
  heapKB: number | undefined
  connectS: number
  p50: number
  p99: number
  max: number
  /** CPU per delivery during the fixed-rate latency phase: the server's, and the load generators' (one core). */
  latencyCpu: { server: number; clients: number }
  faults: number
}

/** p50, p99 and max in ms of the load generators' latency histograms (0.1 ms buckets), merged. */
export function quantiles(hists: [number, number][][]): { p50: number; p99: number; max: number } {
  const merged = new Map<number, number>()
  for (const h of hists) for (const [b, n] of h) merged.set(b, (merged.get(b) ?? 0) + n)
  const sorted = [...merged].sort((a, b) => a[0] - b[0])
  const total = sorted.reduce((n, [, c]) => n + c, 0)
  const at = (q: number) => {
    let want = Math.ceil(total * q)
    for (const [b, c] of sorted) if ((want -= c) <= 0) return b / 10
    return 0
  }
  return { p50: at(0.5), p99: at(0.99), max: (sorted.at(-1)?.[0] ?? 0) / 10 }
}

/** The median of a cell's runs. */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
/** A cell's runs as `median (min–max)`; `—` when none has a value. */
export const cell = (xs: (number | undefined)[], digits: number) => {
  const ys = xs.filter((x): x is number => x !== undefined)
  return ys.length ? `${median(ys).toFixed(digits)} (${Math.min(...ys).toFixed(digits)}–${Math.max(...ys).toFixed(digits)})` : '—'
}

/**
 * Prints one cell's table: per system, its runs' medians and ranges, and the ratios of total CPU per delivery to
 * each of `refs` (the peers) that ran; with `regime`, the saturation figures of that many requests in flight.
 */
export function printTable(results: Map<string, Cell[]>, name: (key: string) => string, refs: string[], connectOnly: boolean, regime?: string): void {
  const ref = refs[0]!
  const base = results.get(ref)
  const ratio = (rs: Cell[], of: (r: Cell) => number) => (base ? (median(rs.map(of)) / median(base.map(of))).toFixed(2) : '—')
  if (connectOnly) {
    console.log('| server | connect+subscribe s | user CPU µs/connect | system CPU µs/connect | RSS KB/socket | heap KB/socket | connect ÷ ws frame-once |')
    console.log('| --- | --- | --- | --- | --- | --- | --- |')
    for (const [key, rs] of results) {
      console.log(
        `| ${name(key)} | ${cell(
          rs.map((r) => r.connectS),
          2,
        )} | ${cell(
          rs.map((r) => r.user),
          0,
        )} | ${cell(
          rs.map((r) => r.system),
          0,
        )} | ${cell(
          rs.map((r) => r.rssKB),
          1,
        )} | ${cell(
          rs.map((r) => r.heapKB),
          1,
        )} | ${ratio(rs, (r) => r.connectS)} |`,
      )
    }
    return
  }
  const totals = (rs: Cell[]) => rs.map((r) => (r.regimes[regime!]?.user ?? 0) + (r.regimes[regime!]?.system ?? 0))
  const peers = refs.filter((k) => results.has(k))
  const ratioTo = (rs: Cell[], k: string) => (median(totals(rs)) / median(totals(results.get(k)!))).toFixed(2)
  console.log(
    `| server | user CPU µs/delivery | system CPU µs/delivery | total | deliveries/s | RSS KB/socket | heap KB/socket | connect+subscribe s | p50 / p99 / max ms | server / clients CPU µs/delivery at that rate | lost+dup+reordered |${peers.map((k) => ` total ÷ ${name(k)} |`).join('')}`,
  )
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |${peers.map(() => ' --- |').join('')}`)
  for (const [key, rs] of results) {
    const sat = rs.map((r) => r.regimes[regime!]!)
    console.log(
      `| ${name(key)} | ${cell(
        sat.map((r) => r.user),
        2,
      )} | ${cell(
        sat.map((r) => r.system),
        2,
      )} | ${cell(totals(rs), 2)} | ${cell(
        sat.map((r) => r.rate),
        0,
      )} | ${cell(
        rs.map((r) => r.rssKB),
        1,
      )} | ${cell(
        rs.map((r) => r.heapKB),
        1,
      )} | ${cell(
        rs.map((r) => r.connectS),
        2,
      )} | ${median(rs.map((r) => r.p50)).toFixed(1)} / ${median(rs.map((r) => r.p99)).toFixed(1)} / ${median(rs.map((r) => r.max)).toFixed(0)} | ${median(rs.map((r) => r.latencyCpu.server)).toFixed(2)} / ${median(rs.map((r) => r.latencyCpu.clients)).toFixed(2)} | ${rs.reduce((s, r) => s + r.faults, 0)} |${peers.map((k) => ` ${ratioTo(rs, k)} |`).join('')}`,
    )
  }
}
