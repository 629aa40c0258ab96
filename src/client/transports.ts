/**
 * @module
 * The SDK's three transports. Everything received is checked against the
 * protocol's schemas; what does not fit is reported as a `bad_frame` error,
 * never thrown and never dropped silently.
 */
import * as v from 'valibot'
import { BAD_FRAME, type ErrorCode, errorBody } from '../protocol/errors.ts'
import type { ResetReason } from '../protocol/events.ts'
import { snapshotSchema } from '../protocol/events.ts'
import { readAnswer } from '../protocol/http.ts'
import { describeIssues } from '../protocol/issues.ts'
import type { Presence } from '../protocol/presence.ts'
import { SSE_EVENTS, type SseEventName } from '../protocol/sse.ts'
import { type ClientFrame, serverFrame } from '../protocol/ws.ts'
import type { DeliveredEvent, EventSourceCtor, FeedEvent, TransportName, WebSocketCtor } from './types.ts'

/** What a transport reports back to the feed. */
export interface TransportHandlers {
  opened(): void
  event(e: DeliveredEvent): void
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

export interface Transport {
  readonly name: TransportName
  /** Live topic changes; a transport without them is restarted by the feed. */
  subscribe?(topics: string[]): void
  unsubscribe?(topics: string[]): void
  /** A refreshed token on the live connection; a transport without it is restarted (SSE) or reads `ctx.token()` (poll). */
  auth?(token: string): void
  close(): void
}

function rewindParam(ctx: TransportContext): string | undefined {
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

function url(ctx: TransportContext, path: string, params: Record<string, string | undefined>): string {
  const u = new URL(path, ctx.base)
  u.searchParams.set('topics', ctx.topics.join(','))
  // Browsers' WebSocket and EventSource cannot send an Authorization header: the token goes in the query.
  const token = ctx.token()
  if (token !== undefined) u.searchParams.set('token', token)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v)
  return u.toString()
}

/** Parses JSON text and checks it against a schema; on failure says why, for a `bad_frame` error. */
function decode<S extends v.GenericSchema>(schema: S, text: unknown, what: string): { ok: true; value: v.InferOutput<S> } | { ok: false; problem: string } {
  let json: unknown
  try {
    json = JSON.parse(String(text))
  } catch {
    return { ok: false, problem: `${what} is not JSON` }
  }
  const r = v.safeParse(schema, json)
  return r.success ? { ok: true, value: r.output } : { ok: false, problem: `${what} does not fit the protocol: ${describeIssues(r.issues)}` }
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
      case 'event': {
        const { type: _t, ...e } = f
        return ctx.on.event(e)
      }
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
  on('message', (e) => ctx.on.event(e))
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

export function poll(ctx: TransportContext): Transport {
  // One controller per request, never one signal for all: Node's fetch adds a listener to the signal it
  // is given and a long-running poller would pile them up (MaxListenersExceededWarning, a leak).
  let closed = false
  let inFlight: AbortController | undefined
  const signal = () => (inFlight = new AbortController()).signal
  let cursor = ctx.cursor
  const run = async () => {
    let opened = false
    for (;;) {
      if (closed) return
      const res = await ctx.fetch(url(ctx, '/poll', { cursor, wait: String(opened ? ctx.pollWaitS : 0), rewind: rewindParam(ctx) }), { signal: signal() })
      const text = await res.text()
      if (!res.ok) {
        const e = decode(errorBody, text, `a ${res.status} answer`)
        if (e.ok) ctx.on.error(e.value.error.code, e.value.error.message)
        throw new Error(`poll answered ${res.status}`)
      }
      const d = decode(readAnswer, text, 'a poll answer')
      if (!d.ok) {
        ctx.on.error(BAD_FRAME, d.problem)
        throw new Error('poll answer not understood')
      }
      const body = d.value
      if (!opened) {
        opened = true
        ctx.on.opened()
      }
      if ('reset' in body) ctx.on.reset('stale_cursor')
      if ('snapshot' in body) {
        ctx.on.snapshot(body.snapshot, body.cursor, body.next !== undefined)
        // A large snapshot comes in pages: fetch the rest before polling on from its head.
        if (body.next !== undefined) await snapshotPages(ctx, ctx.topics, body.next, signal)
      } else for (const e of body.events) ctx.on.event(e)
      ctx.on.advance(body.cursor)
      cursor = body.cursor
    }
  }
  run().catch(() => {
    if (!closed) ctx.on.closed()
  })
  return {
    name: 'poll',
    close() {
      closed = true
      inFlight?.abort()
    },
  }
}

/**
 * GET /api/snapshot of these topics, page after page from `next` (or from the
 * start), each page reported as it comes. An answer outside the protocol is a
 * `bad_frame` error and ends the paging.
 */
export async function snapshotPages(
  ctx: Pick<TransportContext, 'base' | 'fetch' | 'token' | 'rewind'> & { on: Pick<TransportHandlers, 'snapshot' | 'error'> },
  topics: string[],
  next: string | undefined,
  /** A fresh signal per request (see the poll transport). */
  signal?: () => AbortSignal,
): Promise<void> {
  for (;;) {
    const u = new URL('/api/snapshot', ctx.base)
    u.searchParams.set('topics', topics.join(','))
    if (next !== undefined) u.searchParams.set('next', next)
    if (ctx.rewind !== undefined) u.searchParams.set('rewind', String(ctx.rewind))
    const token = ctx.token()
    if (token !== undefined) u.searchParams.set('token', token)
    const res = await ctx.fetch(u.toString(), { signal: signal?.() })
    const text = await res.text()
    if (!res.ok) throw new Error(`snapshot answered ${res.status}`)
    const d = decode(snapshotSchema, text, 'a snapshot answer')
    if (!d.ok) return ctx.on.error(BAD_FRAME, d.problem)
    ctx.on.snapshot(d.value.events, d.value.cursor, d.value.next !== undefined)
    if (d.value.next === undefined) return
    next = d.value.next
  }
}

export const OPENERS: Record<TransportName, (ctx: TransportContext) => Transport> = { websocket, sse, poll }
