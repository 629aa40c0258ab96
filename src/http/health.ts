import { Hono } from 'hono'
import type { Feed } from '../core/feed.ts'

/** /healthz for people, /liveness_check and /readiness_check for App Engine's split health checks. */
export function healthRoutes(feed: Feed): Hono {
  const app = new Hono()
  const status = () => ({
    status: feed.ready() ? 'ok' : 'unavailable',
    engine: feed.engine.name,
    engineHealthy: feed.engine.healthy(),
    draining: feed.draining,
    connections: feed.clients.size,
    cursor: feed.hub.position,
  })
  app.get('/healthz', (c) => c.json(status(), feed.ready() ? 200 : 503))
  // Liveness: the process answers. Restarting it would not fix a draining instance or an unreachable Redis.
  app.get('/liveness_check', (c) => c.json({ status: 'ok' }))
  app.get('/readiness_check', (c) => c.json(status(), feed.ready() ? 200 : 503))
  return app
}
