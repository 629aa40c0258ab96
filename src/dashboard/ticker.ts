import { byId, el } from './dom.ts'
import { isSymbol, type Quote } from './schemas.ts'

const STORE_KEY = 'livefeed.watchlist'
const DEFAULT_WATCH = ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'TSLA']
const SPARK_POINTS = 40

interface Row {
  prices: number[]
  last?: Quote
  /** Live quotes received (snapshot ones excluded): one per event, so a duplicate or a loss shows. */
  updates: number
}

/** The ticker: one row per watched symbol with price, signed change and a sparkline; the watch list lives in localStorage. */
export class Ticker {
  readonly watch: string[]
  private readonly rows = new Map<string, Row>()
  private readonly body = byId<HTMLTableSectionElement>('ticker-body')
  private listener: (added: string[], removed: string[]) => void = () => {}

  constructor() {
    this.watch = loadWatch()
    const form = byId<HTMLFormElement>('watch-form')
    const input = byId<HTMLInputElement>('watch-input')
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      const sym = input.value.trim().toUpperCase()
      if (!isSymbol(sym) || this.watch.includes(sym)) return
      this.watch.push(sym)
      input.value = ''
      this.changed([sym], [])
    })
    this.body.addEventListener('click', (e) => {
      const sym = (e.target as HTMLElement).closest<HTMLElement>('[data-remove]')?.dataset.remove
      if (!sym) return
      this.watch.splice(this.watch.indexOf(sym), 1)
      this.rows.delete(sym)
      this.changed([], [sym])
    })
  }

  onChange(fn: (added: string[], removed: string[]) => void): void {
    this.listener = fn
  }

  topics(): string[] {
    return this.watch.map((s) => `stocks/${s}`)
  }

  clear(): void {
    this.rows.clear()
    this.render()
  }

  add(q: Quote, live: boolean): void {
    if (!this.watch.includes(q.symbol)) return
    const row = this.rows.get(q.symbol) ?? { prices: [], updates: 0 }
    row.prices = [...row.prices, q.price].slice(-SPARK_POINTS)
    row.last = q
    if (live) row.updates++
    this.rows.set(q.symbol, row)
  }

  render(): void {
    this.body.replaceChildren(...this.watch.map((sym) => this.row(sym, this.rows.get(sym))))
  }

  private row(sym: string, r: Row | undefined): HTMLTableRowElement {
    const q = r?.last
    const change = q?.change ?? 0
    const dir = change > 0 ? 'up' : change < 0 ? 'down' : ''
    // Sign and arrow as well as colour, so direction does not rest on colour alone.
    const changeText = q?.change === undefined ? '—' : `${change > 0 ? '▲ +' : change < 0 ? '▼ −' : ''}${Math.abs(change).toFixed(2)}`
    return el(
      'tr',
      { 'data-symbol': sym, 'data-updates': String(r?.updates ?? 0) },
      el('th', { scope: 'row' }, sym),
      el('td', { class: 'price' }, q ? q.price.toFixed(2) : 'waiting…'),
      el('td', { class: `change ${dir}` }, changeText),
      el('td', {}, sparkline(r?.prices ?? [])),
      el('td', {}, el('button', { class: 'remove', 'data-remove': sym, 'aria-label': `Stop watching ${sym}` }, '×')),
    )
  }

  private changed(added: string[], removed: string[]): void {
    localStorage.setItem(STORE_KEY, JSON.stringify(this.watch))
    this.render()
    this.listener(added, removed)
  }
}

function loadWatch(): string[] {
  try {
    const saved: unknown = JSON.parse(localStorage.getItem(STORE_KEY) ?? 'null')
    if (Array.isArray(saved) && saved.every((s) => typeof s === 'string' && isSymbol(s))) return saved
  } catch {
    // A damaged entry falls back to the default list.
  }
  return [...DEFAULT_WATCH]
}

function sparkline(prices: number[]): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('class', 'spark')
  svg.setAttribute('viewBox', '0 0 100 24')
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', prices.length > 1 ? `Trend of the last ${prices.length} prices` : 'Not enough prices for a trend yet')
  svg.dataset.points = String(prices.length)
  if (prices.length > 1) {
    const lo = Math.min(...prices)
    const span = Math.max(...prices) - lo || 1
    const line = document.createElementNS(ns, 'polyline')
    line.setAttribute('points', prices.map((p, i) => `${((i / (prices.length - 1)) * 100).toFixed(1)},${(22 - ((p - lo) / span) * 20).toFixed(1)}`).join(' '))
    svg.append(line)
  }
  return svg
}
