/**
 * @module
 * The SDK's three transports. Everything received is checked against the
 * protocol's schemas; what does not fit is reported as a `bad_frame` error,
 * never thrown and never dropped silently.
 */
import * as v from 'valibot'
import { BAD_FRAME, type ErrorCode } from '../protocol/errors.ts'
import type { ResetReason } from '../protocol/events.ts'
import { describeIssues } from '../protocol/issues.ts'
import type { Presence } from '../protocol/presence.ts'
import { SSE_EVENTS, type SseEventName } from '../protocol/sse.ts'
import { type ClientFrame, serverFrame } from '../protocol/ws.ts'
import type { PublishingTransport } from './publish.ts'
import type { DeliveredEvent, EphemeralEvent, EventSourceCtor, FeedEvent, PublishedEvent, TransportName, WebSocketCtor } from './types.ts'

/** What a transport reports back to the feed. */
export interface TransportHandlers {
  opened(): void
  event(e: DeliveredEvent): void
  ephemeral(e: EphemeralEvent): void
  /** A `publish` frame's answer, by its ref. */
  published(ref: string, event: PublishedEvent): void
  refused(ref: string, code: ErrorCode | typeof BAD_FRAME, message: string): void
  /** `cursor` is where to continue from. */
  /** One page of a snapshot; `more` says another page follows (all share `cursor`). */
  snapshot(events: FeedEvent[], cursor: string, more: boolean): void
  reset(reason: ResetReason): void
  /** Poll answers move the cursor past events that did not match. */
  advance(cursor: string): void
  error(code: ErrorCode | typeof BAD_FRAME, message: string): void
  closed(code?: number): void
  occupancy(topic: string, subscribers: number): void
  presence(message: Presence): void
}

export interface TransportContext {
  base: URL
  topics: string[]
  cursor: string | undefined
  /** Events per topic in the snapshot (`rewind`), when the feed asked for more than the latest. */
  rewind?: number | undefined
  /** `occupancy` and `presence` messages asked for. */
  watch: { occupancy: boolean; presence: boolean }
  on: TransportHandlers
  WebSocket?: WebSocketCtor
  EventSource?: EventSourceCtor
  fetch: typeof fetch
  pollWaitS: number
  /** The current access token, if the feed has one; read at each request, so a refresh takes effect on the next. */
  token(): string | undefined
}

export interface Transport extends PublishingTransport {
  readonly name: TransportName
  /** Live topic changes; a transport without them is restarted by the feed. */
  subscribe?(topics: string[]): void
  unsubscribe?(topics: string[]): void
  /** A refreshed token on the live connection; a transport without it is restarted (SSE) or reads `ctx.token()` (poll). */
  auth?(token: string): void
  close(): void
}

export function rewindParam(ctx: TransportContext): string | undefined {
  return ctx.rewind === undefined ? undefined : String(ctx.rewind)
}

/** `occupancy=1&presence=1` as the feed asked. */
function watchParams(ctx: TransportContext): Record<string, string | undefined> {
  return { occupancy: ctx.watch.occupancy ? '1' : undefined, presence: ctx.watch.presence ? '1' : undefined }
}

/** The subscribe frame's `occupancy` and `presence` fields, as the feed asked. */
function watchFields(ctx: TransportContext): { occupancy?: true; presence?: true } {
  return { ...(ctx.watch.occupancy ? { occupancy: true as const } : {}), ...(ctx.watch.presence ? { presence: true as const } : {}) }
}

export function url(ctx: TransportContext, path: string, params: Record<string, string | undefined>): string {
  const u = new URL(path, ctx.base)
  u.searchParams.set('topics', ctx.topics.join(','))
  // Browsers' WebSocket and EventSource cannot send an Authorization header: the token goes in the query.
  const token = ctx.token()
  if (token !== undefined) u.searchParams.set('token', token)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v)
  return u.toString()
}

/** Parses JSON text and checks it against a schema; on failure says why, for a `bad_frame` error. */
export function decode<S extends v.GenericSchema>(
  schema: S,
  text: unknown,
  what: string,
): { ok: true; value: v.InferOutput<S> } | { ok: false; problem: string } {
  let json: unknown
  try {
    json = JSON.parse(String(text))
  } catch {
    return { ok: false, problem: `${what} is not JSON` }
  }
  const r = v.safeParse(schema, json)
  return r.success ? { ok: true, value: r.output } : { ok: false, problem: `${what} does not fit the protocol: ${describeIssues(r.issues)}` }
}

/** An event as received: a stored one (with its id), or one of an ephemeral topic (without). */
function wireEvent(ctx: TransportContext, f: { id?: string | undefined; topic: string; data: unknown; ts: number; conflated?: number | undefined }): void {
  if (f.id === undefined) return ctx.on.ephemeral({ topic: f.topic, data: f.data, ts: f.ts })
  ctx.on.event({ id: f.id, topic: f.topic, data: f.data, ts: f.ts, ...(f.conflated !== undefined ? { conflated: f.conflated } : {}) })
}

export function websocket(ctx: TransportContext): Transport {
  const Ctor = ctx.WebSocket!
  const wsUrl = new URL('/ws', ctx.base)
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:'
  const token = ctx.token()
  if (token !== undefined) wsUrl.searchParams.set('token', token)
  const ws = new Ctor(wsUrl.toString())
  let done = false
  let heartbeat: ReturnType<typeof setInterval> | undefined
  let lastHeard = Date.now()
  const send = (frame: ClientFrame) => ws.readyState === 1 && ws.send(JSON.stringify(frame))
  const finish = (code?: number) => {
    if (done) return
    done = true
    clearInterval(heartbeat)
    ctx.on.closed(code)
  }
  ws.onopen = () =>
    send({
      type: 'subscribe',
      topics: ctx.topics,
      ...(ctx.cursor ? { since: ctx.cursor } : {}),
      ...(ctx.rewind ? { rewind: ctx.rewind } : {}),
      ...watchFields(ctx),
    })
  ws.onmessage = (m) => {
    lastHeard = Date.now()
    const d = decode(serverFrame, m.data, 'a WebSocket frame')
    if (!d.ok) return ctx.on.error(BAD_FRAME, d.problem)
    const f = d.value
    switch (f.type) {
      case 'event':
        return wireEvent(ctx, f)
      case 'published':
        return ctx.on.published(f.ref, f.event)
      case 'snapshot':
        return ctx.on.snapshot(f.events, f.cursor, f.more === true)
      case 'reset':
        return ctx.on.reset(f.reason)
      case 'occupancy':
        return ctx.on.occupancy(f.topic, f.subscribers)
      case 'presence':
        if (f.members !== undefined) return ctx.on.presence({ topic: f.topic, members: f.members })
        return ctx.on.presence({ topic: f.topic, joined: f.joined ?? [], left: f.left ?? [] })
      case 'error':
        if (f.ref !== undefined) return ctx.on.refused(f.ref, f.code, f.message)
        ctx.on.error(f.code, f.message)
        // The server could not serve the subscribe (its event store failed): this socket holds nothing.
        // Reconnect, with backoff, and resume from the cursor, rather than sit open and silent.
        if (f.code === 'engine_unavailable') ws.close(1000, 'subscribe failed; reconnecting')
        return
      case 'welcome': {
        ctx.on.opened()
        // Browsers cannot see protocol pings: an application ping tells a dead link from a quiet feed.
        const every = Math.max(1000, f.heartbeatMs || 25_000)
        heartbeat = setInterval(() => {
          if (Date.now() - lastHeard > 2 * every) return ws.close(4001, 'no answer to ping')
          send({ type: 'ping' })
        }, every)
        return
      }
      // subscribed, unsubscribed, pong: nothing to do beyond hearing from the server.
    }
  }
  ws.onclose = (e) => finish(e.code)
  ws.onerror = () => {}
  return {
    name: 'websocket',
    subscribe: (topics) => send({ type: 'subscribe', topics, ...watchFields(ctx) }),
    unsubscribe: (topics) => send({ type: 'unsubscribe', topics }),
    auth: (token) => send({ type: 'auth', token }),
    publish: (ref, topic, data, key) => send({ type: 'publish', ref, topic, data, key }),
    close() {
      done = true
      clearInterval(heartbeat)
      ws.onclose = null
      ws.close(1000)
    },
  }
}

export function sse(ctx: TransportContext): Transport {
  const es = new ctx.EventSource!(url(ctx, '/sse', { since: ctx.cursor, rewind: rewindParam(ctx), ...watchParams(ctx) }))
  let done = false
  /** Listens for one SSE event name, its data checked against the protocol's schema for it. */
  const on = <K extends SseEventName>(name: K, fn: (data: v.InferOutput<(typeof SSE_EVENTS)[K]>) => void) =>
    es.addEventListener(name, (m) => {
      const d = decode(SSE_EVENTS[name], m.data, `an SSE "${name}" event`)
      if (d.ok) fn(d.value)
      else ctx.on.error(BAD_FRAME, d.problem)
    })
  es.onopen = () => ctx.on.opened()
  on('message', (e) => wireEvent(ctx, e))
  on('snapshot', (s) => ctx.on.snapshot(s.events, s.cursor, s.more === true))
  on('reset', (r) => ctx.on.reset(r.reason))
  on('feed-error', (e) => ctx.on.error(e.code, e.message))
  on('occupancy', (o) => ctx.on.occupancy(o.topic, o.subscribers))
  on('presence', (p) => ctx.on.presence(p))
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
