// Peer for bench/publish.ts: the least Hono can do for a publish, a POST route that parses JSON and answers
// 201, on the same runtime and server as livefeed (@hono/node-server on Node, Deno.serve on Deno).
import { Hono } from 'hono'

const app = new Hono()
let n = 0
app.post('/api/events', async (c) => {
  const body: unknown = await c.req.json()
  return c.json({ id: String(++n), body }, 201)
})
export default app
