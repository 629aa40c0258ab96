import { EventSource } from 'eventsource'
import WebSocket from 'ws'
import { until } from '../../harness/wait.ts'
import { type ConnectOptions, connect, type FeedEvent, type FeedEvents, type FeedState, type LiveFeed, type TransportName } from '../../src/client/index.ts'

/** The SDK as a Node 20 application uses it: `ws` for WebSocket (unless a test wraps it), the `eventsource` package for SSE. */
export function sdk(url: string, opts: Omit<ConnectOptions, 'EventSource'> & { noEventSource?: boolean }) {
  const feed = connect(url, {
    WebSocket: WebSocket as unknown as ConnectOptions['WebSocket'],
    EventSource: opts.noEventSource ? undefined : (EventSource as unknown as ConnectOptions['EventSource']),
    backoff: { initialMs: 50, maxMs: 500 },
    ...opts,
  })
  const events: FeedEvent[] = []
  const snapshots: FeedEvents['snapshot'][] = []
  const statuses: { state: FeedState; transport: TransportName | undefined }[] = []
  feed.on('event', (e) => events.push(e))
  feed.on('snapshot', (s) => snapshots.push(s))
  feed.on('status', (s) => statuses.push(s))
  return {
    feed: feed as LiveFeed,
    events,
    snapshots,
    statuses,
    waitOpen: (timeoutMs = 10_000) => until('the feed to open', () => (feed.state === 'open' ? feed.transport : undefined), timeoutMs),
    /** Waits until the event with this id (a sentinel) has arrived; resolves with every event. */
    waitId: (id: string, timeoutMs = 10_000) =>
      until(`event ${id} (have ${events.length})`, () => (events.some((e) => e.id === id) ? events : undefined), timeoutMs),
    waitEvents: (n: number, timeoutMs = 10_000) => until(`${n} events (have ${events.length})`, () => (events.length >= n ? events : undefined), timeoutMs),
  }
}
