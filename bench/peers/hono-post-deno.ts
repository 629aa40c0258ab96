import app from './hono-post.ts'

Deno.serve({ port: 0, hostname: '127.0.0.1', onListen: ({ port }) => console.log(JSON.stringify({ port, msg: 'listening' })) }, app.fetch)
