/**
 * A peer for connects: the least a Hono app does with a WebSocket on `@hono/node-server` (its `upgradeWebSocket`
 * over `ws`, as livefeed runs it, node-server patches included): `GET /?topic=` upgrades, no middleware, no
 * subscribe frame, no snapshot; `POST /publish {topic,data}` sends `{"type":"event",…}` to that topic's sockets
 * through the WSContext. What livefeed's connect costs beyond it is livefeed's own work.
 */
import type { AddressInfo } from 'node:net'
import { createAdaptorServer, upgradeWebSocket } from '@hono/node-server'
import { Hono } from 'hono'
import type { WSContext } from 'hono/ws'
import { WebSocketServer } from 'ws'

const byTopic = new Map<string, Set<WSContext>>()
const app = new Hono()
app.get(
  '/',
  upgradeWebSocket((c) => {
    const topic = c.req.query('topic') ?? ''
    const set = byTopic.get(topic) ?? byTopic.set(topic, new Set()).get(topic)!
    return { onOpen: (_e, ws) => void set.add(ws), onClose: (_e, ws) => void set.delete(ws) }
  }),
)
app.post('/publish', async (c) => {
  const body: unknown = await c.req.json()
  for (const m of Array.isArray(body) ? body : [body]) {
    const topic = String(Reflect.get(Object(m), 'topic'))
    const text = JSON.stringify({ type: 'event', topic, data: Reflect.get(Object(m), 'data'), ts: Date.now() })
    for (const ws of byTopic.get(topic) ?? []) ws.send(text)
  }
  return c.json({}, 201)
})
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false })
const server = createAdaptorServer({ fetch: app.fetch, websocket: { server: wss } })
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port, msg: 'listening' })))
// SIGINT too: bench:fanout --profile stops servers with it, and --cpu-prof writes only on a normal exit.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
