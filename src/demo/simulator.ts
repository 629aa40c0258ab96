/**
 * A simulated publisher: realistic game updates and random-walk quotes, posted
 * over the public HTTP API exactly as any publisher would (with a token and
 * Idempotency-Key retries). Run alone against any server:
 *   npm run simulate -- --url https://feed.example.com --token $PUBLISH_TOKEN
 */
import { parseArgs } from 'node:util'

interface Game {
  league: string
  game: string
  home: { team: string; score: number }
  away: { team: string; score: number }
  period: number
  clock: string
  status: 'scheduled' | 'live' | 'final'
  secondsLeft: number
}

const GAMES: [string, string, string, string, number][] = [
  // league, game id, home, away, points per score
  ['nba', 'lal-bos', 'Lakers', 'Celtics', 2],
  ['nba', 'gsw-nyk', 'Warriors', 'Knicks', 3],
  ['nfl', 'kc-buf', 'Chiefs', 'Bills', 7],
  ['epl', 'ars-che', 'Arsenal', 'Chelsea', 1],
  ['nhl', 'tor-mtl', 'Maple Leafs', 'Canadiens', 1],
]
const STOCKS: Record<string, number> = { AAPL: 228, MSFT: 415, GOOG: 172, AMZN: 186, TSLA: 242, NVDA: 121 }

export interface SimOptions {
  url: string
  token?: string
  /** Milliseconds between ticks. */
  tickMs?: number
  signal?: AbortSignal
  log?: (msg: string) => void
}

export async function simulate(o: SimOptions): Promise<void> {
  const tick = o.tickMs ?? 700
  const log = o.log ?? (() => {})
  const games: Game[] = GAMES.map(([league, game, home, away], i) => ({
    league,
    game,
    home: { team: home, score: 0 },
    away: { team: away, score: 0 },
    period: 1,
    clock: '12:00',
    status: i === GAMES.length - 1 ? 'scheduled' : 'live',
    secondsLeft: 720,
  }))
  const prices = { ...STOCKS }
  let seq = 0
  const post = async (path: string, body: unknown) => {
    const key = `sim-${Date.now()}-${seq++}`
    for (let attempt = 0; attempt < 5 && !o.signal?.aborted; attempt++) {
      try {
        const res = await fetch(new URL(path, o.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key, ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
          body: JSON.stringify(body),
          signal: o.signal,
        })
        if (res.ok) return
        if (res.status < 500) return log(`${path}: ${res.status} ${await res.text()}`)
      } catch (err) {
        if (o.signal?.aborted) return
        log(`${path}: ${(err as Error).message}; retrying`)
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt))
    }
  }
  for (const g of games) await post('/api/scores', publicScore(g))
  while (!o.signal?.aborted) {
    const g = games[Math.floor(Math.random() * games.length)]!
    advance(g, GAMES.find(([, id]) => id === g.game)![4])
    await post('/api/scores', publicScore(g))
    const quotes = Object.keys(prices).map((symbol) => {
      const before = prices[symbol]!
      prices[symbol] = Math.max(1, before * (1 + (Math.random() - 0.5) * 0.004))
      return {
        symbol,
        price: round(prices[symbol]!),
        change: round(prices[symbol]! - STOCKS[symbol]!),
        volume: Math.floor(Math.random() * 5000),
        currency: 'USD',
      }
    })
    await post('/api/quotes', quotes)
    await new Promise((r) => setTimeout(r, tick))
  }
}

const round = (n: number) => Math.round(n * 100) / 100
const publicScore = ({ secondsLeft: _s, ...g }: Game) => g

function advance(g: Game, points: number): void {
  if (g.status === 'final') {
    // A finished game makes room for a rematch, so the demo never runs dry.
    Object.assign(g, { home: { ...g.home, score: 0 }, away: { ...g.away, score: 0 }, period: 1, secondsLeft: 720, status: 'scheduled' })
  } else if (g.status === 'scheduled') g.status = 'live'
  else {
    const side = Math.random() < 0.5 ? 'home' : 'away'
    if (Math.random() < 0.6) g[side] = { ...g[side], score: g[side].score + points }
    g.secondsLeft -= 45 + Math.floor(Math.random() * 60)
    if (g.secondsLeft <= 0) {
      if (g.period >= 4) g.status = 'final'
      else Object.assign(g, { period: g.period + 1, secondsLeft: 720 })
    }
  }
  const s = Math.max(0, g.secondsLeft)
  g.clock = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

// Run as a program (not when imported).
if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { url: { type: 'string', default: 'http://127.0.0.1:8080' }, token: { type: 'string' }, tick: { type: 'string' } } })
  const abort = new AbortController()
  process.on('SIGINT', () => abort.abort())
  process.on('SIGTERM', () => abort.abort())
  console.log(`simulating scores and quotes against ${values.url} (Ctrl-C to stop)`)
  await simulate({
    url: values.url!,
    token: values.token ?? process.env.PUBLISH_TOKEN,
    tickMs: values.tick ? Number(values.tick) : undefined,
    signal: abort.signal,
    log: console.error,
  })
}
