import { Hono, type Context, type MiddlewareHandler } from 'hono'
import type * as v from 'valibot'
import type { Feed } from '../core/feed.ts'
import { FeedError } from '../core/errors.ts'
import type { EventInput } from '../core/types.ts'
import { limitBody } from './headers.ts'
import { eventsBody, oneOrMany, quoteSchema, scoreSchema, validate } from './schemas.ts'

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** A publish route: JSON body checked by `schema`, turned into events by `toEvents`, stored as one batch. */
function route<S extends v.GenericSchema>(feed: Feed, schema: S, toEvents: (body: v.InferOutput<S>) => EventInput[]) {
  return async (c: Context) => {
    if (!JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      throw new FeedError('unsupported_media_type', 'send the body as JSON with "Content-Type: application/json"')
    }
    const text = await c.req.text()
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new FeedError('invalid_json', `the body is not valid JSON: ${(err as Error).message}`)
    }
    const body = validate(schema, parsed)
    const key = c.req.header('idempotency-key')
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new FeedError('bad_request', 'Idempotency-Key must be 1-255 printable ASCII characters')
    }
    const idempotency = key === undefined ? undefined : { key: `${c.req.path}\n${key}`, fingerprint: await sha256(text) }
    const result = await feed.publish(toEvents(body), idempotency)
    if (result.replayed) c.header('Idempotent-Replayed', 'true')
    return c.json(Array.isArray(body) ? { events: result.events } : result.events[0], 201)
  }
}

export function publishRoutes(feed: Feed, auth: MiddlewareHandler): Hono {
  const max = feed.limits.maxBatch
  const limit = limitBody(feed.limits.maxBodyBytes)
  // Guards go on each POST, not app.use(): mounted under /api, a use() would also guard the read routes.
  const app = new Hono()
  app.post('/events', auth, limit, route(feed, eventsBody(max), (b) => (Array.isArray(b) ? b : [b])))
  app.post('/scores', auth, limit, route(feed, scoreSchema, (s) => [{ topic: `scores/${s.league}/${s.game}`, data: s }]))
  app.post(
    '/quotes',
    auth,
    limit,
    route(feed, oneOrMany(quoteSchema, max), (b) => (Array.isArray(b) ? b : [b]).map((q) => ({ topic: `stocks/${q.symbol}`, data: q }))),
  )
  return app
}
