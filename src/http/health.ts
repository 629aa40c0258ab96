/**
 * @module
 * `/healthz` for people, `/liveness_check` and `/readiness_check` for App Engine's split health checks.
 */
import type { HealthAnswer } from '../protocol/http.ts'
import { healthAnswer, livenessAnswer } from '../protocol/http.ts'
import type { MountContext } from './api.ts'

export function healthRoutes({ api, feed }: MountContext): void {
  const status = (): HealthAnswer => ({
    status: feed.healthy() ? 'ok' : 'unavailable',
    engine: feed.engine.name,
    engineHealthy: feed.engine.healthy(),
    draining: feed.draining,
    connections: feed.clients.size,
    cursor: feed.hub.position,
  })
  const health = { 200: { description: 'Ready', schema: healthAnswer }, 503: { description: 'Draining, or the engine is unreachable', schema: healthAnswer } }
  api.get('/healthz', { summary: 'Status of this instance', tags: ['health'], responses: health }, (c) => c.json(status(), feed.healthy() ? 200 : 503))
  // Liveness: the process answers. Restarting it would not fix a draining instance or an unreachable Redis.
  api.get(
    '/liveness_check',
    { summary: 'Liveness: the process answers', tags: ['health'], responses: { 200: { description: 'Alive', schema: livenessAnswer } } },
    (c) => c.json({ status: 'ok' as const }),
  )
  // Readiness: this instance, not the shared engine (see Feed.ready); 503 while draining or before the engine first answered.
  const readiness = {
    200: { description: 'Ready (also during a later engine outage)', schema: healthAnswer },
    503: { description: 'Draining, or the engine has not answered yet', schema: healthAnswer },
  }
  api.get('/readiness_check', { summary: 'Readiness: 503 while draining or before the engine first answered', tags: ['health'], responses: readiness }, (c) =>
    c.json(status(), feed.ready() ? 200 : 503),
  )
}
