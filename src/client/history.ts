/**
 * @module
 * `feed.history()`: one topic's recent events over `GET /api/history`.
 */

import * as v from 'valibot'
import { BAD_FRAME, errorBody } from '../protocol/errors.ts'
import { historyAnswer } from '../protocol/http.ts'
import type { FeedHistory, HistoryOptions } from './types.ts'

/** A failed history request: `code` is the server's error code (`forbidden`, `invalid_topic`, …). */
export class FeedRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'FeedRequestError'
  }
}

/** Reads one page of a topic's history; rejects with a FeedRequestError carrying the server's code. */
export async function fetchHistory(
  base: URL,
  doFetch: typeof fetch,
  token: string | undefined,
  topic: string,
  opts: HistoryOptions = {},
): Promise<FeedHistory> {
  const u = new URL('/api/history', base)
  u.searchParams.set('topic', topic)
  if (opts.limit !== undefined) u.searchParams.set('limit', String(opts.limit))
  if (opts.before !== undefined) u.searchParams.set('before', opts.before)
  const res = await doFetch(u.toString(), token === undefined ? {} : { headers: { Authorization: `Bearer ${token}` } })
  const json: unknown = await res.json().catch(() => undefined)
  if (!res.ok) {
    const e = v.safeParse(errorBody, json)
    throw e.success ? new FeedRequestError(e.output.error.code, e.output.error.message) : new FeedRequestError(BAD_FRAME, `history answered ${res.status}`)
  }
  const d = v.safeParse(historyAnswer, json)
  if (!d.success) throw new FeedRequestError(BAD_FRAME, 'a history answer not understood')
  return { events: d.output.events, cursor: d.output.cursor, more: d.output.more === true }
}
