import * as v from 'valibot'
import { connect, type FeedEvent, type FeedState, type TransportName } from '../client/index.ts'
import { byId } from './dom.ts'
import { quoteSchema, scoreSchema } from './schemas.ts'
import { Scoreboard } from './scores.ts'
import { Ticker } from './ticker.ts'

const TRANSPORT_TEXT: Record<TransportName, string> = { websocket: 'WebSocket', sse: 'SSE', poll: 'long polling' }
const STATE_TEXT: Record<FeedState, string> = { connecting: 'Connecting', open: 'Live', reconnecting: 'Reconnecting', closed: 'Disconnected' }

const scoreboard = new Scoreboard()
const ticker = new Ticker()
const feed = connect(location.origin, { topics: ['scores/**', ...ticker.topics()] })

/** Events whose data is not a score or a quote (someone published other JSON there) are left off the page. */
function route(e: FeedEvent, live: boolean): void {
  if (e.topic.startsWith('scores/')) {
    const s = v.safeParse(scoreSchema, e.data)
    if (!s.success) return
    if (live) scoreboard.update(s.output)
    else scoreboard.load(s.output)
  } else if (e.topic.startsWith('stocks/')) {
    const q = v.safeParse(quoteSchema, e.data)
    if (q.success) ticker.add(q.output, live)
  }
}

feed.on('snapshot', ({ events }) => {
  for (const e of events) route(e, false)
  scoreboard.render()
  ticker.render()
})
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
