/**
 * @module
 * Publishing over HTTP: `POST /api/events`, and the machinery every publish
 * route shares (extensions such as the dashboard's typed publishers use it too).
 */
import type { Context, MiddlewareHandler } from 'hono'
import * as v from 'valibot'
import { Deadlines } from '../core/deadlines.ts'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import { parseClientJson } from '../core/json.ts'
import type { ErrorCode } from '../protocol/errors.ts'
import type { EventInput } from '../protocol/events.ts'
import { IDEMPOTENCY_KEY, publishAnswer, publishBody } from '../protocol/http.ts'
import { addAnswerHeader, jsonAnswer } from './answer.ts'
import type { Api, MountContext } from './api.ts'
import type { Vars } from './auth.ts'
import { publishGrant } from './auth.ts'
import { readBody } from './body.ts'
import { validate } from './validate.ts'

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i

/** The errors any publish route may answer. */
export const PUBLISH_ERRORS: ErrorCode[] = [
  'invalid_json',
  'too_deep',
  'validation_failed',
  'invalid_topic',
  'bad_request',
  'unauthorized',
  'invalid_token',
  'forbidden',
  'payload_too_large',
  'unsupported_media_type',
  'request_timeout',
  'rate_limited',
  'idempotency_conflict',
  'engine_unavailable',
]

const idempotencyHeader = {
  'Idempotency-Key': {
    schema: v.pipe(
      v.string(),
      v.regex(IDEMPOTENCY_KEY),
      v.description('1-255 printable ASCII characters: a retry with the same key and body answers the first result and stores nothing new.'),
    ),
  },
}

/** The fingerprint of an idempotent publish: a retry with the same key and another body is a conflict. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** A publish handler: JSON body checked by `schema`, turned into events by `toEvents`, stored as one batch. */
function handler<S extends v.GenericSchema>(feed: Feed, bodies: Deadlines, schema: S, toEvents: (body: v.InferOutput<S>) => EventInput[]) {
  return async (c: Context<Vars>) => {
    if (!JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      throw new FeedError('unsupported_media_type', 'send the body as JSON with "Content-Type: application/json"')
    }
    const text = await readBody(c, feed.limits.maxBodyBytes, bodies)
    const body = validate(schema, parseClientJson(text, feed.limits.maxJsonDepth))
    const key = c.req.header('idempotency-key')
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new FeedError('bad_request', 'Idempotency-Key must be 1-255 printable ASCII characters')
    }
    const idempotency = key === undefined ? undefined : { key: `${c.req.path}\n${key}`, fingerprint: await sha256(text) }
    const events = toEvents(body)
    feed.access.assertMayPublish(
      publishGrant(c),
      events.map((e) => e.topic),
    )
    const result = await feed.publishing.publish(events, idempotency)
    if (result.replayed) addAnswerHeader(c, 'idempotent-replayed', 'true')
    return jsonAnswer(c, Array.isArray(body) ? { events: result.events } : result.events[0], 201)
  }
}

/** The `publisher` of a MountContext: registers a documented publish route with the shared guards. */
export function publisher(api: Api, feed: Feed, auth: MiddlewareHandler): MountContext['publisher'] {
  // BODY_TIMEOUT for every publish route of this app, on one timer.
  const bodies = new Deadlines(feed.limits.bodyTimeoutMs)
  return (path, doc, toEvents) => {
    api.post(
      path,
      {
        ...doc,
        tags: ['publish'],
        headers: idempotencyHeader,
        responses: {
          201: {
            description: 'Stored. One item answers the stored event; an array answers `{"events":[…]}` in order.',
            schema: publishAnswer,
            headers: { 'Idempotent-Replayed': '"true" when this answers a retry with a known Idempotency-Key' },
          },
        },
        errors: PUBLISH_ERRORS,
      },
      // Guards go on each route, not app.use(): mounted under /api, a use() would also guard the read routes.
      auth,
      handler(feed, bodies, doc.body, toEvents),
    )
  }
}

/** POST /api/events: any JSON on any topic, one event or an atomic batch. */
export function publishRoutes(ctx: MountContext): void {
  ctx.publisher(
    '/api/events',
    {
      summary: 'Publish one event or a batch',
      description: 'A batch is stored atomically and in order; one bad event stores nothing.',
      body: publishBody(ctx.feed.limits.maxBatch),
    },
    (b) => (Array.isArray(b) ? b : [b]),
  )
}
