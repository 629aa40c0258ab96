import { connect, type FeedEvent, type FeedState, type TransportName } from '../client/index.ts'
import { byId } from './dom.ts'
import { Scoreboard, type Score } from './scores.ts'
import { Ticker, type Quote } from './ticker.ts'

const TRANSPORT_TEXT: Record<TransportName, string> = { websocket: 'WebSocket', sse: 'SSE', poll: 'long polling' }
const STATE_TEXT: Record<FeedState, string> = { connecting: 'Connecting', open: 'Live', reconnecting: 'Reconnecting', closed: 'Disconnected' }

const scoreboard = new Scoreboard()
const ticker = new Ticker()
const feed = connect(location.origin, { topics: ['scores/**', ...ticker.topics()] })

function route(e: FeedEvent, live: boolean): void {
  if (e.topic.startsWith('scores/')) {
    if (live) scoreboard.update(e.data as Score)
    else scoreboard.load(e.data as Score)
  } else if (e.topic.startsWith('stocks/')) ticker.add(e.data as Quote, live)
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
