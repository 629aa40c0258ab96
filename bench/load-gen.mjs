// One load-generator process of bench/fanout.ts, pinned by the parent to another core than the server.
// Its clients are minimal WebSocket frame readers on net.Socket (plus one real `ws` client in process 0, as a
// check that nothing differs), so the generator is not the limit. Process 0 also publishes over HTTP.
// Talks JSON lines: stdout to the parent, commands on stdin. argv[2] is its JSON configuration.
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import net from 'node:net'
import { createInterface } from 'node:readline'
import WebSocket from 'ws'

const cfg = JSON.parse(process.argv[2])
// cfg: { port, kind: 'livefeed' | 'ws' | 'socketio' | 'centrifuge', first, count (client indexes), topics (client i is on topic i % topics),
//        paths (taken in turn) and topicName (templates with {t}), maxEvents, localAddress, publish: { path } | null, realWs }
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
const T = cfg.topics
const BUCKET_MS = 0.1
const hist = new Uint32Array(100_000) // latencies in 0.1 ms buckets, up to 10 s

class Client {
  constructor(index) {
    this.topic = index % T
    this.seen = new Uint8Array(Math.ceil(cfg.maxEvents / T) + 1)
    this.received = 0
    this.dup = 0
    this.reordered = 0
    this.lastId = ''
    this.ready = false
    /** Distinct events of the phase being awaited. */
    this.inRange = 0
  }
  text(s) {
    if (cfg.kind === 'centrifuge') {
      // Centrifuge 0.15 JSON: replies and pushes, newline-delimited, up to four in one WebSocket message.
      for (const line of s.split('\n')) {
        if (line.startsWith('{"id":2')) this.markReady()
        else if (line.includes('"i":')) this.event(line)
      }
      return
    }
    if (cfg.kind === 'socketio') {
      if (s === '2') return this.send('3') // engine.io ping
      if (s.startsWith('0{')) return this.send('40') // open: connect the default namespace
      if (s.startsWith('40')) return this.markReady()
      if (!s.startsWith('42')) return
    } else if (!s.includes('"event"')) {
      if (s.startsWith('{"type":"snapshot"')) this.markReady()
      return
    }
    this.event(s)
  }
  /** One delivered event's text: counted once, its latency recorded; livefeed's order checked by cursor. */
  event(s) {
    const at = s.indexOf('"i":')
    if (at < 0) return
    const i = parseInt(s.slice(at + 4, at + 16), 10)
    const sentAt = parseInt(s.slice(s.indexOf('"sentAt":') + 9), 10)
    const q = Math.floor(i / T)
    if (this.seen[q]) this.dup++
    else {
      this.seen[q] = 1
      if (waiting && i >= waiting.lo && i < waiting.hi) this.inRange++
    }
    this.received++
    if (cfg.kind === 'livefeed') {
      const idAt = s.indexOf('"id":"') + 6
      const id = s.slice(idAt, s.indexOf('"', idAt))
      if (id <= this.lastId) this.reordered++
      this.lastId = id
    }
    const b = Math.min(hist.length - 1, Math.round((Date.now() - sentAt) / BUCKET_MS))
    hist[b]++
  }
  markReady() {
    if (this.ready) return
    this.ready = true
    this.resolveReady()
  }
  /** Events of [lo, hi) this client must have: those on its topic. */
  expected(lo, hi) {
    const first = lo + ((this.topic - (lo % T) + T) % T)
    return first >= hi ? 0 : Math.floor((hi - 1 - first) / T) + 1
  }
  missing(lo, hi) {
    let n = 0
    for (let i = lo + ((this.topic - (lo % T) + T) % T); i < hi; i += T) if (!this.seen[Math.floor(i / T)]) n++
    return n
  }
}

/** A raw WebSocket client: an upgrade request, then unmasked server frames parsed from the byte stream. */
class RawClient extends Client {
  open(path) {
    return new Promise((resolve, reject) => {
      this.resolveReady = resolve
      const sock = net.connect({ host: '127.0.0.1', port: cfg.port, localAddress: cfg.localAddress })
      this.sock = sock
      sock.setNoDelay(true)
      sock.on('error', reject)
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${cfg.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      )
      let buf = null
      let upgraded = false
      sock.on('data', (chunk) => {
        buf = buf === null ? chunk : Buffer.concat([buf, chunk])
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n')
          if (end < 0) return
          if (!buf.subarray(0, 16).toString().includes(' 101 ')) return reject(new Error(`upgrade refused: ${buf.subarray(0, 40)}`))
          upgraded = true
          buf = buf.subarray(end + 4)
          if (cfg.kind === 'ws') this.markReady()
          // Centrifuge: connect, then subscribe to its one channel, in one message.
          if (cfg.kind === 'centrifuge') this.send(`{"id":1,"params":{}}\n{"id":2,"method":1,"params":{"channel":"${cfg.topicName}"}}`)
        }
        let off = 0
        while (buf.length - off >= 2) {
          let len = buf[off + 1] & 0x7f
          let h = 2
          if (len === 126) {
            if (buf.length - off < 4) break
            len = buf.readUInt16BE(off + 2)
            h = 4
          } else if (len === 127) {
            if (buf.length - off < 10) break
            len = Number(buf.readBigUInt64BE(off + 2))
            h = 10
          }
          if (buf.length - off < h + len) break
          const op = buf[off] & 0x0f
          if (op === 1) this.text(buf.toString('utf8', off + h, off + h + len))
          else if (op === 9) this.frame(0x8a, buf.subarray(off + h, off + h + len)) // ping → pong
          off += h + len
        }
        buf = off === buf.length ? null : buf.subarray(off)
      })
    })
  }
  /** Client frames must be masked; a zero mask leaves the payload as it is. */
  frame(opcode, payload) {
    this.sock.write(Buffer.concat([Buffer.from([opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]))
  }
  send(text) {
    this.frame(0x81, Buffer.from(text))
  }
  close() {
    this.sock.destroy()
  }
}

/** The same, through the real `ws` client: its counts must agree with the raw clients'. */
class WsClient extends Client {
  open(path) {
    return new Promise((resolve, reject) => {
      this.resolveReady = resolve
      this.ws = new WebSocket(`ws://127.0.0.1:${cfg.port}${path}`, { perMessageDeflate: false, localAddress: cfg.localAddress })
      this.ws.on('error', reject)
      this.ws.on('message', (d) => this.text(String(d)))
      if (cfg.kind === 'ws') this.ws.on('open', () => this.markReady())
      if (cfg.kind === 'centrifuge') this.ws.on('open', () => this.send(`{"id":1,"params":{}}\n{"id":2,"method":1,"params":{"channel":"${cfg.topicName}"}}`))
    })
  }
  send(text) {
    this.ws.send(text)
  }
  close() {
    this.ws.terminate()
  }
}

const clients = []
const pathOf = (index) => cfg.paths[index % cfg.paths.length].replaceAll('{t}', String(index % T))
const t0 = performance.now()
// A window of 64 handshakes in flight per process: more overflows the server's accept queue (its backlog),
// and the kernel's SYN-ACK retries (1 s, then 3 s) would be measured instead of the server.
for (let j = 0; j < cfg.count; j++) clients.push(cfg.realWs && j === 0 ? new WsClient(cfg.first + j) : new RawClient(cfg.first + j))
let nextToOpen = 0
await Promise.all(
  Array.from({ length: 64 }, async () => {
    while (nextToOpen < clients.length) {
      const j = nextToOpen++
      await clients[j].open(pathOf(cfg.first + j))
    }
  }),
)
say({ phase: 'ready', connectMs: performance.now() - t0 })

// --- phases, on the parent's command ---
let waiting // { lo, hi, resolve }
function check() {
  if (!waiting) return
  const { lo, hi } = waiting
  if (clients.every((c) => c.inRange >= c.expected(lo, hi))) {
    const w = waiting
    waiting = undefined
    w.resolve()
  }
}
let checkTimer

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
function post(body) {
  const data = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: cfg.port,
        path: cfg.publish.path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`publish: ${res.statusCode}`))))
      },
    )
    req.on('error', reject)
    req.end(data)
  })
}
const event = (i) => ({ topic: cfg.topicName.replaceAll('{t}', String(i % T)), data: { i, sentAt: Date.now(), pad: 'x'.repeat(120) } })

/** Publishes [lo, hi): `inFlight` requests of `batch` events at a time, or paced to `rate` events/s. */
async function publish({ lo, hi, inFlight, batch, rate }) {
  let next = lo
  const start = Date.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < hi) {
        const first = next
        next = Math.min(hi, next + batch)
        const body = Array.from({ length: next - first }, (_, k) => event(first + k))
        await post(body.length === 1 ? body[0] : body)
        if (rate) {
          const due = start + ((next - lo) / rate) * 1000
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()))
        }
      }
    }),
  )
}

const rl = createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  const cmd = JSON.parse(line)
  if (cmd.do === 'publish') {
    await publish(cmd)
    say({ phase: 'published' })
  } else if (cmd.do === 'await') {
    hist.fill(0)
    const t = performance.now()
    const timeout = setTimeout(() => {
      const missing = clients.reduce((n, c) => n + c.missing(cmd.lo, cmd.hi), 0)
      waiting = undefined
      report(cmd, t, missing)
    }, cmd.timeoutMs)
    // Events of this phase may have arrived before this line was read: count them from the bitset.
    for (const c of clients) c.inRange = c.expected(cmd.lo, cmd.hi) - c.missing(cmd.lo, cmd.hi)
    await new Promise((resolve) => {
      waiting = { lo: cmd.lo, hi: cmd.hi, resolve }
      // Checked a few times a second, not per delivery: that would be O(clients) per delivery.
      clearInterval(checkTimer)
      checkTimer = setInterval(check, 50)
      check()
    })
    clearTimeout(timeout)
    clearInterval(checkTimer)
    report(
      cmd,
      t,
      clients.reduce((n, c) => n + c.missing(cmd.lo, cmd.hi), 0),
    )
  } else if (cmd.do === 'exit') {
    for (const c of clients) c.close()
    agent.destroy()
    process.exit(0)
  }
})

function report(cmd, t, missing) {
  const sparse = []
  for (let b = 0; b < hist.length; b++) if (hist[b]) sparse.push([b, hist[b]])
  const expected = clients.reduce((n, c) => n + c.expected(cmd.lo, cmd.hi), 0)
  const received = clients.reduce((n, c) => n + c.received, 0)
  const dup = clients.reduce((n, c) => n + c.dup, 0)
  const reordered = clients.reduce((n, c) => n + c.reordered, 0)
  say({ phase: 'done', seconds: (performance.now() - t) / 1000, expected, received, lost: missing, dup, reordered, hist: sparse })
}
