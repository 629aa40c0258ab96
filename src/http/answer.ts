/**
 * @module
 * Answers, the same from every route. An error: the status its code maps to (`src/protocol/errors.ts`), the
 * `{"error":{"code","message"}}` body, and the headers some codes carry. The headers every answer carries
 * (X-Request-Id; CORS and nosniff on the API) are gathered per request as a plain record, not through
 * `c.header`: @hono/node-server writes a plain record as it is, where every `c.header` builds, validates and
 * later sorts an undici `Headers` (bench/README.md, "HTTP publish": ~10% of a publish with few in flight).
 * The hot routes (publish, the reads, the long poll) answer with `jsonAnswer`, which takes them; any other
 * answer gets them when it leaves the app (`applyAnswerHeaders`).
 */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { FeedError } from '../core/errors.ts'
import type { Vars } from './auth.ts'

/** Header names in lower case, as HTTP/2 and node-server's plain records want them. */
export type AnswerHeaders = Record<string, string>

export function errorAnswer(c: Context, error: FeedError): Response {
  if (error.code === 'upgrade_required') c.header('Upgrade', 'websocket')
  const wait = error.retryAfterS
  if (wait !== undefined) c.header('Retry-After', String(wait))
  return c.json(error.toJSON(), error.status)
}

/** Starts the request's record of the headers every answer carries (the outermost middleware calls it). */
export function startAnswerHeaders(c: Context<Vars>, headers: AnswerHeaders): void {
  c.set('headers', headers)
}

/** Adds a header every answer to this request carries (a middleware before the handler, or the handler itself). */
export function addAnswerHeader(c: Context<Vars>, name: Lowercase<string>, value: string): void {
  const headers = c.get('headers')
  if (headers !== undefined) headers[name] = value
  else c.header(name, value)
}

/** A JSON answer carrying the gathered headers as they are: for the hot routes. */
export function jsonAnswer(c: Context<Vars>, body: unknown, status: ContentfulStatusCode): Response {
  const headers = c.get('headers') ?? {}
  c.set('headers', undefined) // taken: not added again as the answer leaves
  headers['content-type'] = 'application/json'
  return new Response(JSON.stringify(body), { status, headers })
}

/**
 * As an answer leaves the app: the gathered headers onto one that did not take them (any route but the hot
 * ones, errors included), where the answer has not set its own (as `c.header` before the handler let a route's
 * own headers win). The WebSocket upgrade takes them too: its 101 is the runtime's to write.
 */
export function applyAnswerHeaders(c: Context<Vars>): void {
  const headers = c.get('headers')
  if (headers === undefined) return
  c.set('headers', undefined)
  const target = c.res.headers
  for (const name in headers) if (!target.has(name)) target.set(name, headers[name]!)
}
