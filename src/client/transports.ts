import type { EventSourceCtor, FeedEvent, TransportName, WebSocketCtor } from './types.ts'

/** What a transport reports back to the feed. */
export interface TransportHandlers {
  opened(): void
  event(e: FeedEvent): void
  /** `cursor` is where to continue from. */
  snapshot(events: FeedEvent[], cursor: string): void
  reset(reason: string): void
  /** Poll answers move the cursor past events that did not match. */
  advance(cursor: string): void
  error(code: string, message: string): void
  closed(code?: number): void
}

export interface TransportContext {
  base: URL
  topics: string[]
  cursor: string | undefined
  on: TransportHandlers
  WebSocket?: WebSocketCtor
  EventSource?: EventSourceCtor
  fetch: typeof fetch
  pollWaitS: number
}

export interface Transport {
  readonly name: TransportName
  /** Live topic changes; a transport without them is restarted by the feed. */
  subscribe?(topics: string[]): void
  unsubscribe?(topics: string[]): void
  close(): void
}

function url(ctx: TransportContext, path: string, params: Record<string, string | undefined>): string {
  const u = new URL(path, ctx.base)
  u.searchParams.set('topics', ctx.topics.join(','))
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v)
  return u.toString()
}

type ServerFrame = { type: string; [k: string]: unknown }

export function websocket(ctx: TransportContext): Transport {
  const Ctor = ctx.WebSocket!
  const wsUrl = new URL('/ws', ctx.base)
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:'
  const ws = new Ctor(wsUrl.toString())
  let done = false
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let lastHeard = Date.now()
  const send = (frame: object) => ws.readyState === 1 && ws.send(JSON.stringify(frame))
  const finish = (code?: number) => {
    if (done) return
    done = true
    clearInterval(heartbeat)
    ctx.on.closed(code)
  }
  ws.onopen = () => send({ type: 'subscribe', topics: ctx.topics, ...(ctx.cursor ? { since: ctx.cursor } : {}) })
  ws.onmessage = (m) => {
    lastHeard = Date.now()
    const f = JSON.parse(String(m.data)) as ServerFrame
    if (f.type === 'event') {
      const { type: _t, ...e } = f
      ctx.on.event(e as unknown as FeedEvent)
    } else if (f.type === 'snapshot') ctx.on.snapshot(f.events as FeedEvent[], f.cursor as string)
    else if (f.type === 'reset') ctx.on.reset(f.reason as string)
    else if (f.type === 'error') ctx.on.error(f.code as string, f.message as string)
    else if (f.type === 'welcome') {
      ctx.on.opened()
      // Browsers cannot see protocol pings: an application ping tells a dead link from a quiet feed.
      const every = Math.max(1000, Number(f.heartbeatMs) || 25_000)
      heartbeat = setInterval(() => {
        if (Date.now() - lastHeard > 2 * every) return ws.close(4001, 'no answer to ping')
        send({ type: 'ping' })
      }, every)
    }
  }
  ws.onclose = (e) => finish(e.code)
  ws.onerror = () => {}
  return {
    name: 'websocket',
    subscribe: (topics) => send({ type: 'subscribe', topics }),
    unsubscribe: (topics) => send({ type: 'unsubscribe', topics }),
    close() {
      done = true
      clearInterval(heartbeat)
      ws.onclose = null
      ws.close(1000)
    },
  }
}

export function sse(ctx: TransportContext): Transport {
  const es = new ctx.EventSource!(url(ctx, '/sse', { since: ctx.cursor }))
  let done = false
  const parse = <T>(data: string) => JSON.parse(data) as T
  es.onopen = () => ctx.on.opened()
  es.addEventListener('message', (m) => ctx.on.event(parse<FeedEvent>(m.data)))
  es.addEventListener('snapshot', (m) => {
    const s = parse<{ events: FeedEvent[]; cursor: string }>(m.data)
    ctx.on.snapshot(s.events, s.cursor)
  })
  es.addEventListener('reset', (m) => ctx.on.reset(parse<{ reason: string }>(m.data).reason))
  es.addEventListener('feed-error', (m) => {
    const e = parse<{ code: string; message: string }>(m.data)
    ctx.on.error(e.code, e.message)
  })
  // EventSource would reconnect by itself; the feed does it instead, with its cursor, backoff and fallback.
  es.onerror = () => {
    es.close()
    if (!done) {
      done = true
      ctx.on.closed()
    }
  }
  return {
    name: 'sse',
    close() {
      done = true
      es.close()
    },
  }
}

type PollAnswer = { events?: FeedEvent[]; snapshot?: FeedEvent[]; reset?: boolean; cursor: string }

export function poll(ctx: TransportContext): Transport {
  const abort = new AbortController()
  let cursor = ctx.cursor
  const run = async () => {
    let opened = false
    for (;;) {
      const res = await ctx.fetch(url(ctx, '/poll', { cursor, wait: String(opened ? ctx.pollWaitS : 0) }), { signal: abort.signal })
      const body = (await res.json()) as PollAnswer & { error?: { code: string; message: string } }
      if (!res.ok) {
        if (body.error) ctx.on.error(body.error.code, body.error.message)
        throw new Error(`poll answered ${res.status}`)
      }
      if (!opened) {
        opened = true
        ctx.on.opened()
      }
      if (body.reset) ctx.on.reset('stale_cursor')
      if (body.snapshot) ctx.on.snapshot(body.snapshot, body.cursor)
      for (const e of body.events ?? []) ctx.on.event(e)
      ctx.on.advance(body.cursor)
      cursor = body.cursor
    }
  }
  run().catch(() => {
    if (!abort.signal.aborted) ctx.on.closed()
  })
  return { name: 'poll', close: () => abort.abort() }
}

export const TRANSPORTS: Record<TransportName, (ctx: TransportContext) => Transport> = { websocket, sse, poll }
