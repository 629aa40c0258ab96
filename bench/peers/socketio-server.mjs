// Peer: socket.io with a room per topic (`?topic=`). POST /publish {topic,data} or an array of them → io.to(topic).emit.
import http from 'node:http'
import { Server } from 'socket.io'

const server = http.createServer()
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false })
io.on('connection', (socket) => socket.join(String(socket.handshake.query.topic)))
server.on('request', (req, res) => {
  if (req.url?.startsWith('/socket.io')) return
  let body = ''
  req.on('data', (d) => (body += d))
  req.on('end', () => {
    const msg = JSON.parse(body)
    for (const m of Array.isArray(msg) ? msg : [msg]) io.to(m.topic).emit('event', { topic: m.topic, data: m.data, ts: Date.now() })
    res.writeHead(201, { 'content-type': 'application/json' }).end('{}')
  })
})
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port, msg: 'listening' })))
// SIGINT too: bench:fanout --profile stops servers with it, and --cpu-prof writes only on a normal exit.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
