/**
 * @module
 * Long polling, the last fallback, and the paging of a snapshot over `GET /api/snapshot` that it (and a feed
 * adding topics on a transport that cannot add them live) reads.
 */
import { BAD_FRAME, errorBody } from '../protocol/errors.ts'
import { snapshotSchema } from '../protocol/events.ts'
import { readAnswer } from '../protocol/http.ts'
import { decode, rewindParam, type Transport, type TransportContext, type TransportHandlers, url } from './transports.ts'

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
