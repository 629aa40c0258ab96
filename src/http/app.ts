import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { secureHeaders } from 'hono/secure-headers'
import type { WSEvents } from 'hono/ws'
import type { Config } from '../config.ts'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import { publishAuth } from './auth.ts'
import { apiHeaders } from './headers.ts'
import { healthRoutes } from './health.ts'
import { publishRoutes } from './publish.ts'
import { readRoutes } from './read.ts'
import { WsSession, type SocketOps } from './ws.ts'

/** What a runtime entry hands the app: the few things Node and Deno do differently. */
export interface Runtime {
  upgradeWebSocket(create: (c: Context) => WSEvents): MiddlewareHandler
  serveStatic(root: string): MiddlewareHandler
  clientAddress(c: Context): string | undefined
  socket: SocketOps
}

/** Extra routes mounted by later layers (SSE, long polling) without this file knowing them. */
export type Mount = (app: Hono, feed: Feed) => void

export function createApp(feed: Feed, config: Config, runtime: Runtime, mounts: Mount[] = []): Hono {
  const app = new Hono()

  app.onError((err, c) => {
    if (err instanceof FeedError) return c.json(err.toJSON(), err.status as 400)
    if (err instanceof HTTPException) {
      return c.json({ error: { code: err.status === 413 ? 'payload_too_large' : 'bad_request', message: err.message } }, err.status)
    }
    feed.log.error({ err, path: c.req.path }, 'unhandled error')
    return c.json(new FeedError('internal', 'internal error').toJSON(), 500)
  })
  app.notFound((c) => c.json(new FeedError('not_found', `no route for ${c.req.method} ${c.req.path}`).toJSON(), 404))

  // The upgrade route comes first and outside any header-writing middleware:
  // headers on a 101 are the runtime's business (Deno's are immutable).
  app.get(
    '/ws',
    (c, next) => {
      if (!config.websocket) throw new FeedError('websocket_disabled', 'WebSocket is disabled here; use /sse or /poll')
      feed.assertAccepting()
      return next()
    },
    runtime.upgradeWebSocket((c) => new WsSession(feed, runtime.socket, new URL(c.req.url)).events()),
    (c) => c.json({ error: { code: 'bad_request', message: 'GET /ws needs a WebSocket upgrade' } }, 426),
  )

  for (const path of ['/api/*', '/sse', '/poll']) app.use(path, apiHeaders)

  app.route('/', healthRoutes(feed))
  app.route('/api', publishRoutes(feed, publishAuth(config.publishToken, runtime.clientAddress)))
  app.route('/api', readRoutes(feed))
  for (const mount of mounts) mount(app, feed)
  // The dashboard's pages get the full set of browser security headers.
  app.use('/*', secureHeaders(), runtime.serveStatic(config.staticDir))
  return app
}
