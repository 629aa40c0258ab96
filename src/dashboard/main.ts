import * as v from 'valibot'
import { connect, type FeedEvent, type FeedState, type TransportName } from '../client/index.ts'
import { byId } from './dom.ts'
import { quoteSchema, scoreSchema } from './schemas.ts'
import { Scoreboard } from './scores.ts'
import { Ticker } from './ticker.ts'

const TRANSPORT_TEXT: Record<TransportName, string> = { websocket: 'WebSocket', sse: 'SSE', poll: 'long polling' }
const STATE_TEXT: Record<FeedState, string> = { connecting: 'Connecting', open: 'Live', reconnecting: 'Reconnecting', closed: 'Disconnected' }

/**
 * Events per topic the snapshot carries: each sparkline is drawn at once, each game card lists its last
 * score changes. A server keeping fewer (TOPIC_HISTORY under it) refuses it; the page then goes on without.
 */
const REWIND = 30
/** Games whose topics the page also subscribes to by name, for their "N watching" (occupancy counts exact topics). */
const MAX_WATCHED_GAMES = 50

const scoreboard = new Scoreboard()
const ticker = new Ticker()
const feed = connect(location.origin, {
  topics: ['scores/**', ...ticker.topics()],
  rewind: Number(new URLSearchParams(location.search).get('rewind') ?? REWIND) || undefined,
  occupancy: true,
})
const named = new Set<string>()
feed.on('error', ({ code }) => {
  // A server keeping fewer events per topic than REWIND refuses the subscribe: start again without rewind.
  if (code === 'validation_failed' && !location.search.includes('rewind=')) location.replace('?rewind=0')
})

/** Each game on the board, by its exact topic too: the server then tells how many watch it. */
function nameGames(): void {
  const fresh = scoreboard
    .keys()
    .map((k) => `scores/${k}`)
    .filter((t) => !named.has(t))
    .slice(0, MAX_WATCHED_GAMES - named.size)
  for (const t of fresh) named.add(t)
  if (fresh.length > 0) feed.subscribe(fresh)
}

/** Events whose data is not a score or a quote (someone published other JSON there) are left off the page. */
function route(e: FeedEvent, live: boolean): void {
  if (e.topic.startsWith('scores/')) {
    const s = v.safeParse(scoreSchema, e.data)
    if (!s.success) return
    if (live) scoreboard.update(s.output, e.id)
    else scoreboard.load(s.output, e.id)
  } else if (e.topic.startsWith('stocks/')) {
    const q = v.safeParse(quoteSchema, e.data)
    if (q.success) ticker.add(q.output, live)
  }
}

feed.on('snapshot', ({ events, more }) => {
  for (const e of events) route(e, false)
  scoreboard.render()
  ticker.render()
  if (!more) nameGames()
})
feed.on('occupancy', ({ topic, subscribers }) => scoreboard.watchers(topic.slice('scores/'.length), subscribers))
feed.on('reset', () => {
  // The server lost our place: what is on screen may be stale, the snapshot that follows replaces it.
  scoreboard.clear()
  ticker.clear()
})
let lastEvent = 0
feed.on('event', (e) => {
  lastEvent = Date.now()
  route(e, true)
  if (e.topic.startsWith('stocks/')) ticker.render()
  else if (!named.has(e.topic)) nameGames()
})
ticker.onChange((added, removed) => {
  if (removed.length) feed.unsubscribe(removed.map((s) => `stocks/${s}`))
  if (added.length) feed.subscribe(added.map((s) => `stocks/${s}`))
})

const badge = byId('badge')
feed.on('status', ({ state, transport }) => {
  badge.dataset.state = state
  badge.dataset.transport = transport ?? ''
  byId('badge-state').textContent = STATE_TEXT[state]
  byId('badge-transport').textContent = transport ? `via ${TRANSPORT_TEXT[transport]}` : ''
})
setInterval(() => {
  byId('badge-age').textContent = lastEvent ? `· last event ${Math.round((Date.now() - lastEvent) / 1000)} s ago` : ''
}, 1000)

ticker.render()
