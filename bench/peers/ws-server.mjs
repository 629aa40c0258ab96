// Peers: the least a broadcast server can do with raw `ws`. POST /publish {topic,data} or an array of them →
// every socket subscribed to that topic (`/?topic=`; `/` alone gets every topic). Two ways to write:
//   buffer: serialise each event once and send the same Buffer to every socket (ws frames it per socket);
//   frame:  build the whole frame once with ws' Sender.frame and write it to every socket (socket.io's way).
import http from 'node:http'
import { Sender, WebSocketServer } from 'ws'

const mode = process.argv[2] ?? 'buffer'
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
const byTopic = new Map()
const everyone = new Set()
wss.on('connection', (ws, req) => {
  const topic = new URL(req.url, 'http://x').searchParams.get('topic')
  const set = topic ? (byTopic.get(topic) ?? byTopic.set(topic, new Set()).get(topic)) : everyone
  set.add(ws)
  ws.on('close', () => set.delete(ws))
})
const frameOptions = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }
function fanOut(msg) {
  const buf = Buffer.from(JSON.stringify({ type: 'event', topic: msg.topic, data: msg.data, ts: Date.now() }))
  const targets = [...(byTopic.get(msg.topic) ?? []), ...everyone]
  if (mode === 'frame') {
    const frame = Sender.frame(buf, frameOptions)
    for (const ws of targets) ws._sender.sendFrame(frame)
  } else for (const ws of targets) ws.send(buf, { binary: false })
}
const server = http.createServer((req, res) => {
  let body = ''
  req.on('data', (d) => (body += d))
  req.on('end', () => {
    const msg = JSON.parse(body)
    for (const m of Array.isArray(msg) ? msg : [msg]) fanOut(m)
    res.writeHead(201, { 'content-type': 'application/json' }).end('{}')
  })
})
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)))
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port, msg: 'listening' })))
// SIGINT too: bench:fanout --profile stops servers with it, and --cpu-prof writes only on a normal exit.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
