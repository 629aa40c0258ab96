/**
 * A peer for connects and fan-out: the least a Hono app does with a WebSocket on `@hono/node-server` (its
 * `upgradeWebSocket` over `ws`, as livefeed runs it, node-server patches included): `GET /?topic=` upgrades, no
 * middleware, no subscribe frame, no snapshot; `POST /publish {topic,data}` (read with `c.req.json()`, answered
 * with `c.json`) sends `{"type":"event",…}` to that topic's sockets. What livefeed costs beyond it is livefeed's
 * own work. Two ways to write, as bench/peers/ws-server.mjs:
 *   send:  through the WSContext (`ws` frames the string again for each socket);
 *   frame: the whole frame built once (livefeed's `textFrame`) and written to every TCP socket under `ws`, as
 *          livefeed writes (without its cork: one frame per socket per publish needs none).
 */
import { type AddressInfo, Socket } from 'node:net'
import { createAdaptorServer, upgradeWebSocket } from '@hono/node-server'
import { Hono } from 'hono'
import type { WSContext } from 'hono/ws'
import { WebSocket, WebSocketServer } from 'ws'
import { textFrame } from '../../src/runtime/node-frames.ts'

const frameMode = process.argv[2] === 'frame'
/** The TCP socket under a `ws` WebSocket (private to `ws`, as livefeed reads it). */
const socketOf = (raw: unknown): Socket | undefined => {
  const s: unknown = raw instanceof WebSocket ? Reflect.get(raw, '_socket') : undefined
  return s instanceof Socket ? s : undefined
}

const byTopic = new Map<string, Set<WSContext>>()
const socketsByTopic = new Map<string, Set<Socket>>()
const app = new Hono()
app.get(
  '/',
  upgradeWebSocket((c) => {
    const topic = c.req.query('topic') ?? ''
    if (!frameMode) {
      const set = byTopic.get(topic) ?? byTopic.set(topic, new Set()).get(topic)!
      return { onOpen: (_e, ws) => void set.add(ws), onClose: (_e, ws) => void set.delete(ws) }
    }
    // The TCP socket is looked up once per connection, as livefeed's writer does, not per frame.
    const sockets = socketsByTopic.get(topic) ?? socketsByTopic.set(topic, new Set()).get(topic)!
    let socket: Socket | undefined
    return {
      onOpen: (_e, ws) => {
        socket = socketOf(ws.raw)
        if (socket) sockets.add(socket)
      },
      onClose: () => {
        if (socket) sockets.delete(socket)
      },
    }
  }),
)
app.post('/publish', async (c) => {
  const body: unknown = await c.req.json()
  for (const m of Array.isArray(body) ? body : [body]) {
    const topic = String(Reflect.get(Object(m), 'topic'))
    const text = JSON.stringify({ type: 'event', topic, data: Reflect.get(Object(m), 'data'), ts: Date.now() })
    if (frameMode) {
      const frame = textFrame(text)
      for (const socket of socketsByTopic.get(topic) ?? []) socket.write(frame)
    } else for (const ws of byTopic.get(topic) ?? []) ws.send(text)
  }
  return c.json({}, 201)
})
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false })
const server = createAdaptorServer({ fetch: app.fetch, websocket: { server: wss } })
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port, msg: 'listening' })))
// SIGINT too: bench:fanout --profile stops servers with it, and --cpu-prof writes only on a normal exit.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
