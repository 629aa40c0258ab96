import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import app from './hono-post.ts'

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port, msg: 'listening' }))
})
