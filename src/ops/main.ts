/**
 * @module
 * The operators' page (`/ops.html`): polls this instance's `/metrics` and
 * draws the last five minutes as live charts (uPlot): connections by
 * transport, events and deliveries per second, p99 delivery latency, engine
 * lag and disconnects by reason. When the server wants the metrics token it
 * asks for it, and keeps it in this tab's memory only.
 */
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { byId, el } from '../dashboard/dom.ts'
import { END_REASONS } from '../protocol/errors.ts'
import { TRANSPORTS } from '../protocol/transports.ts'
import { parseMetrics, quantile, rate, Scrape } from './prometheus.ts'

const EVERY_MS = 2000
/** Five minutes of points. */
const KEEP = 150
/** Disconnect reasons worth watching; `done` (a long poll answered) is a poll's normal end, not a disconnect to watch. */
const REASONS = END_REASONS.filter((r) => r !== 'done')
const COLOURS = ['#0b57d0', '#0a6b32', '#b3261e', '#8a6d00', '#6b3fa0', '#00676b', '#a04d00', '#555e69']

interface ChartSpec {
  id: string
  title: string
  unit: string
  series: string[]
  /** This chart's values from two consecutive scrapes. */
  values(prev: Scrape, next: Scrape): (number | null)[]
}

const CHARTS: ChartSpec[] = [
  {
    id: 'connections',
    title: 'Connections by transport',
    unit: '',
    series: [...TRANSPORTS],
    values: (_, s) => TRANSPORTS.map((t) => s.sum('livefeed_connections', { transport: t })),
  },
  { id: 'events', title: 'Events published per second', unit: '/s', series: ['events/s'], values: (p, s) => [rate(p, s, 'livefeed_events_published_total')] },
  {
    id: 'deliveries',
    title: 'Deliveries per second',
    unit: '/s',
    series: [...TRANSPORTS],
    values: (p, s) => TRANSPORTS.map((t) => rate(p, s, 'livefeed_deliveries_total', { transport: t })),
  },
  {
    id: 'latency',
    title: 'p99 delivery latency',
    unit: ' ms',
    series: ['p99'],
    values: (p, s) => {
      const q = quantile(p, s, 'livefeed_delivery_latency_seconds', 0.99)
      return [q === undefined ? null : q * 1000]
    },
  },
  { id: 'lag', title: 'Engine lag', unit: ' s', series: ['lag'], values: (_, s) => [s.sum('livefeed_engine_lag_seconds')] },
  {
    id: 'disconnects',
    title: 'Disconnects per second, by reason',
    unit: '/s',
    series: [...REASONS],
    values: (p, s) => REASONS.map((r) => rate(p, s, 'livefeed_disconnects_total', { reason: r })),
  },
]

class Chart {
  readonly plot: uPlot
  private readonly times: number[] = []
  private readonly columns: (number | null)[][]

  constructor(
    readonly spec: ChartSpec,
    parent: HTMLElement,
  ) {
    const box = el('div', { class: 'chart', id: `chart-${spec.id}` })
    parent.append(el('section', { class: 'panel', 'aria-label': spec.title }, el('h2', {}, spec.title), box))
    this.columns = spec.series.map(() => [])
    this.plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth),
        height: 200,
        scales: { x: { time: true } },
        axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(2)}${spec.unit}`) }],
        series: [{}, ...spec.series.map((label, i) => ({ label, stroke: COLOURS[i % COLOURS.length], width: 2 }))],
      },
      [[]],
      box,
    )
  }

  push(at: number, values: (number | null)[]): void {
    this.times.push(at / 1000)
    values.forEach((v, i) => this.columns[i]!.push(v))
    if (this.times.length > KEEP) for (const column of [this.times, ...this.columns]) column.shift()
    // uPlot takes columns: the times first, then one per series.
    const data: uPlot.AlignedData = [[...this.times], ...this.columns.map((column) => [...column])]
    this.plot.setData(data)
  }

  resize(): void {
    const box = this.plot.root.parentElement
    if (box) this.plot.setSize({ width: Math.max(280, box.clientWidth), height: 200 })
  }
}

/** The latest value of each chart, as text for the tiles (and for screen readers). */
function tiles(prev: Scrape, next: Scrape): void {
  const fmt = (n: number, digits = 0) => n.toLocaleString('en', { maximumFractionDigits: digits })
  byId('tile-connections').textContent = fmt(next.sum('livefeed_connections'))
  byId('tile-events').textContent = fmt(rate(prev, next, 'livefeed_events_published_total'), 1)
  byId('tile-deliveries').textContent = fmt(rate(prev, next, 'livefeed_deliveries_total'), 1)
  const p99 = quantile(prev, next, 'livefeed_delivery_latency_seconds', 0.99)
  byId('tile-p99').textContent = p99 === undefined ? '–' : `${fmt(p99 * 1000, 1)} ms`
  byId('tile-lag').textContent = `${fmt(next.sum('livefeed_engine_lag_seconds'), 2)} s`
  byId('tile-rss').textContent = `${fmt(next.sum('process_resident_memory_bytes') / 2 ** 20)} MiB`
}

function status(state: 'open' | 'connecting' | 'closed', text: string): void {
  byId('status').dataset.state = state
  byId('status-text').textContent = text
}

const charts = CHARTS.map((spec) => new Chart(spec, byId('charts')))
addEventListener('resize', () => charts.forEach((c) => c.resize()))

/** The metrics token, when the server asks for one: in this tab's memory, never stored. */
let token: string | undefined
const form = byId<HTMLFormElement>('token-form')
form.addEventListener('submit', (e) => {
  e.preventDefault()
  token = byId<HTMLInputElement>('token').value
  form.hidden = true
  void poll()
})

let prev: Scrape | undefined
let timer: ReturnType<typeof setTimeout> | undefined
async function poll(): Promise<void> {
  clearTimeout(timer)
  try {
    const res = await fetch('/metrics', { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: 'no-store' })
    if (res.status === 401) {
      token = undefined
      form.hidden = false
      return status('closed', 'The metrics token is needed (or was wrong)')
    }
    if (res.status === 403) return status('closed', 'Metrics are open to loopback only here: set METRICS_TOKEN on the server')
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    const next = new Scrape(parseMetrics(await res.text()), Date.now())
    if (prev) {
      const from = prev
      for (const c of charts) c.push(next.at, c.spec.values(from, next))
      tiles(from, next)
    }
    prev = next
    status('open', `Live · every ${EVERY_MS / 1000} s`)
  } catch (err) {
    status('connecting', `Cannot read /metrics (${err instanceof Error ? err.message : String(err)}); retrying`)
  }
  timer = setTimeout(() => void poll(), EVERY_MS)
}
void poll()
