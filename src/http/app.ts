/**
 * @module
 * The Hono app: error answers, the core routes, the extensions, the API
 * document and the static pages. Runtimes hand it the few things they do
 * differently (`Runtime`).
 */
import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { secureHeaders } from 'hono/secure-headers'
import type { WSEvents } from 'hono/ws'
import type { Registry } from 'prom-client'
import type { Config } from '../config.ts'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import type { Wire } from '../core/wire.ts'
import { query } from '../protocol/http.ts'
import { applyAnswerHeaders, errorAnswer, startAnswerHeaders } from './answer.ts'
import { Api, type Mount, type MountContext } from './api.ts'
import { publishAuth, type Vars } from './auth.ts'
import { clientAddress, originAllowed } from './client.ts'
import { apiHeaders } from './headers.ts'
import { healthRoutes } from './health.ts'
import { Metrics, metricsRoute } from './metrics.ts'
import { openApiDocument } from './openapi.ts'
import { publisher, publishRoutes } from './publish.ts'
import { queryWatch, readRoutes } from './read.ts'
import { Tokens } from './tokens.ts'
import { type SocketOps, WsSession } from './ws.ts'

/** What a runtime entry hands the app: the few things Node and Deno do differently. */
export interface Runtime {
  upgradeWebSocket(create: (c: Context) => WSEvents): MiddlewareHandler
  serveStatic(root: string): MiddlewareHandler
  clientAddress(c: Context): string | undefined
  socket: SocketOps
  /** The connection under a response (an SSE stream, a held poll): when it is gone, its progress, a cut. */
  wire?(c: Context): Wire | undefined
  /** One of several processes on an instance (Node's WORKERS): given this process's registry, what `GET /metrics` answers for all of them. */
  instanceMetrics?(own: Registry): () => Promise<string>
}

/**
 * The pages' Content-Security-Policy: nothing inline, nothing from elsewhere;
 * the page may connect only to this feed (its own origin, over http(s) and ws(s)).
 */
const contentSecurityPolicy: MiddlewareHandler = async (c, next) => {
  const host = c.req.header('host')
  const feed = host && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? ` ws://${host} wss://${host}` : ''
  c.header(
    'Content-Security-Policy',
    `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'${feed}; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'; object-src 'none'`,
  )
  await next()
}

/**
 * Every request has an id: an incoming `X-Request-Id` of 1-128 printable
 * characters is kept, else one is made. The response echoes it, and every log
 * line about the request carries it, with the trace id of Google's front end
 * (`X-Cloud-Trace-Context: TRACE/SPAN;o=1`) when there is one.
 */
const requestId: MiddlewareHandler<Vars> = async (c, next) => {
  const given = c.req.header('x-request-id')
  // randomUUID joins its string from ~20 pieces, kept as such (~450 bytes of heap) until something flattens it;
  // toLowerCase (its hex is lower case already) answers it as one flat string (~60): a socket holds its id for life.
  const id = given !== undefined && /^[\x20-\x7e]{1,128}$/.test(given) ? given : crypto.randomUUID().toLowerCase()
  const trace = /^([0-9a-f]{32})(?:\/|$)/i.exec(c.req.header('x-cloud-trace-context') ?? '')?.[1]
  c.set('request', trace === undefined ? { requestId: id } : { requestId: id, trace })
  startAnswerHeaders(c, { 'x-request-id': id })
  await next()
  applyAnswerHeaders(c)
}

/** A framework-level refusal (Hono's HTTPException) as one of our codes. */
function fromHttpException(err: HTTPException): FeedError {
  return new FeedError(err.status === 413 ? 'payload_too_large' : 'bad_request', err.message || 'bad request')
}

const upgradeRequired = () => new FeedError('upgrade_required', 'GET /ws needs a WebSocket upgrade')

/** The WebSocket endpoint: refusals first (a bad token is a 401 before any upgrade), then the upgrade; a plain GET gets 426. */
function wsRoute({ api, feed, config, tokens, checkOrigin, admit, clientAddress }: MountContext, runtime: Runtime): void {
  api.get(
    '/ws',
    {
      summary: 'WebSocket',
      description:
        'Upgrade to a WebSocket of JSON text frames: the client sends `ClientFrame`s, the server `ServerFrame`s (see components). `?topics=` and `?since=` (or `?rewind=`, `?occupancy=1`, `?presence=1`) subscribe on open.',
      tags: ['subscribe'],
      query: {
        token: { schema: query.token },
        rewind: { schema: query.rewind },
        occupancy: { schema: query.occupancy },
        presence: { schema: query.presence },
      },
      responses: { 101: { description: 'Switching protocols' } },
      errors: [
        'validation_failed',
        'forbidden',
        'upgrade_required',
        'invalid_token',
        'forbidden_origin',
        'too_many_connections',
        'draining',
        'websocket_disabled',
      ],
    },
    async (c: Context<Vars>, next) => {
      if (!config.websocket) throw new FeedError('websocket_disabled', 'WebSocket is disabled here; use /sse or /poll')
      checkOrigin(c)
      feed.parseRewind(c.req.query('rewind')) // a 400 before the upgrade
      const watch = queryWatch(c)
      const grant = await tokens.fromRequest(c)
      // A presence the token may not see is a 403 now; bad topics are told in an error frame once open, as always.
      const topics = c.req.query('topics')
      if (watch.presence && topics !== undefined) feed.occupancy.assertPresence(topics.split(','), grant)
      c.set('grant', grant)
      // Last of the checks, before the slot is taken: a plain GET holds none and makes no session.
      if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw upgradeRequired()
      c.set('slot', admit(c))
      return next()
    },
    runtime.upgradeWebSocket((c: Context<Vars>) => {
      // The 101 is the runtime's to write: the headers every answer carries are not added to it.
      c.set('headers', undefined)
      const slot = c.get('slot')
      const session = new WsSession(
        feed,
        runtime.socket,
        tokens,
        {
          topics: c.req.query('topics'),
          since: c.req.query('since') || undefined,
          rewind: feed.parseRewind(c.req.query('rewind')),
          watch: queryWatch(c),
        },
        c.get('grant'),
        slot?.address ?? clientAddress(c),
      )
      if (slot) session.hold(slot)
      session.request = c.get('request')
      return session
    }),
    () => {
      throw upgradeRequired()
    },
  )
}

export function createApp(feed: Feed, config: Config, runtime: Runtime, mounts: Mount[] = []): Hono<Vars> {
  const app = new Hono<Vars>()
  const api = new Api(app)
  const metrics = new Metrics(feed)
  app.use('*', requestId, metrics.http)

  app.onError((err, c) => {
    const error = err instanceof HTTPException ? fromHttpException(err) : feed.failure(err, { path: c.req.path, ...c.get('request') })
    return errorAnswer(c, error)
  })
  app.notFound((c) => {
    const allowed = api.methodsOf(c.req.path)
    if (allowed.length === 0) return c.json(new FeedError('not_found', `no route for ${c.req.method} ${c.req.path}`).toJSON(), 404)
    c.header('Allow', allowed.join(', '))
    return c.json(new FeedError('method_not_allowed', `${c.req.path} answers ${allowed.join(', ')}, not ${c.req.method}`).toJSON(), 405)
  })

  const tokens = new Tokens(config.tokenSecrets, config.publishToken, config.limits.tokenCacheBytes)
  metrics.gauge('livefeed_token_cache_bytes', 'Verified tokens remembered until they expire (TOKEN_CACHE_BYTES), in bytes.', () => tokens.verified.bytes)
  metrics.gauge(
    'livefeed_publish_rate_bytes',
    'The PUBLISH_RATE buckets remembered, one per publisher (PUBLISH_RATE_BYTES), in bytes.',
    () => feed.publishing.rate.bytes,
  )
  const addressOf = (c: Context) => clientAddress(c, runtime.clientAddress, config.limits.trustProxy)
  const ctx: MountContext = {
    api,
    feed,
    config,
    tokens,
    publisher: publisher(api, feed, publishAuth(tokens, config.publishToken, addressOf, feed.publishing.rate)),
    checkOrigin: (c) => {
      if (!originAllowed(c.req.header('origin'), config.allowedOrigins))
        throw new FeedError('forbidden_origin', 'pages on this origin may not use this feed (ALLOWED_ORIGINS)')
    },
    admit: (c) => {
      feed.assertAccepting()
      return feed.perAddress.acquire(addressOf(c))
    },
    clientAddress: addressOf,
    wire: (c) => runtime.wire?.(c),
  }
  // The upgrade route comes before the CORS middleware, which has nothing to say on a 101. The request id and
  // metrics middleware above run for it too; the 101 itself is written by the runtime, without X-Request-Id.
  wsRoute(ctx, runtime)
  const headers = apiHeaders({
    allowedOrigins: config.allowedOrigins,
    tokenScheme: config.publishToken !== undefined || config.tokenSecrets.length > 0,
    isPublish: (method, path) => api.routes.some((r) => r.method === method && r.path === path && r.tags.includes('publish')),
  })
  for (const path of ['/api/*', '/sse', '/poll', '/openapi.json']) app.use(path, headers)

  for (const mount of [healthRoutes, publishRoutes, readRoutes, ...mounts]) mount(ctx)
  metricsRoute(ctx, metrics, runtime.instanceMetrics?.(metrics.registry))

  let doc: string | undefined
  api.get(
    '/openapi.json',
    { summary: 'This document', tags: ['meta'], responses: { 200: { description: 'OpenAPI 3.1', mediaType: 'application/json' } } },
    (c) => c.body((doc ??= JSON.stringify(openApiDocument(api.routes, feed.limits))), 200, { 'Content-Type': 'application/json' }),
  )
  // The dashboard's pages get the full set of browser security headers and a strict CSP.
  app.use('/*', secureHeaders(), contentSecurityPolicy, runtime.serveStatic(config.staticDir))
  return app
}
