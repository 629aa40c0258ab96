// Peer: the least a broadcast server can do with raw `ws`. POST /publish {topic,data} → every socket.
import http from 'node:http'
import { WebSocketServer } from 'ws'

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
const server = http.createServer((req, res) => {
  let body = ''
  req.on('data', (d) => (body += d))
  req.on('end', () => {
    const msg = JSON.parse(body)
    const frame = JSON.stringify({ type: 'event', topic: msg.topic, data: msg.data, ts: Date.now() })
    for (const ws of wss.clients) ws.send(frame)
    res.writeHead(201, { 'content-type': 'application/json' }).end('{}')
  })
})
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)))
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port, msg: 'listening' })))
process.on('SIGTERM', () => process.exit(0))
