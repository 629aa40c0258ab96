/**
 * How long one fan-out of large events stalls the server's event loop, SSE against WebSocket: N reading
 * subscribers of one topic, then batches of 12 events of ~63 KB. The server (pinned to core 0 with taskset)
 * reports its own event-loop delay (prom-client's `nodejs_eventloop_lag_max_seconds`, from
 * monitorEventLoopDelay, reset at each scrape); the clients run in this process on core 1.
 *
 *   node --import tsx bench/sse-stall.ts [--server dist/server.mjs[,other/server.mjs]] [--subscribers 1000] [--runs 3]
 *
 * Several servers (before and after a change) run interleaved, run by run.
 */
import { spawn } from 'node:child_process'
import http from 'node:http'
import WebSocket from 'ws'
import { NODE_FLAGS } from '../harness/server.ts'

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : def
}
const SERVERS = arg('server', 'dist/server.mjs').split(',')
const N = Number(arg('subscribers', '1000'))
const RUNS = Number(arg('runs', '3'))
const PAD = 'x'.repeat(63 * 1024)

async function start(server: string): Promise<{ url: string; stop(): void }> {
  const proc = spawn('taskset', ['-c', '0', process.execPath, ...NODE_FLAGS, server], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      PUBLISH_RATE: '0',
      MAX_CONNECTIONS_PER_IP: '100000',
      OUTBOUND_BYTES: String(8 * 2 ** 30),
      MAX_BUFFERED_BYTES: String(64 * 2 ** 20),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise<number>((resolve) => {
    let out = ''
    proc.stdout!.on('data', (d) => {
      out += d
      const m = /"port":(\d+)[^\n]*"msg":"listening"/.exec(out)
      if (m) resolve(Number(m[1]))
    })
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => proc.kill('SIGKILL') }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
function post(url: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let t = ''
      res.on('data', (d) => (t += d))
      res.on('end', () => resolve(t))
    })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}
const lagMax = async (url: string) => Number(/^nodejs_eventloop_lag_max_seconds (\S+)/m.exec(await (await fetch(`${url}/metrics`)).text())![1])

/** Subscribers that count the events they got (sentinels by their `n`). */
async function subscribe(url: string, transport: 'ws' | 'sse', seen: number[]): Promise<() => void> {
  const closers: (() => void)[] = []
  for (let i = 0; i < N; i++) {
    await new Promise<void>((resolve) => {
      if (transport === 'ws') {
        const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?topics=stall/a`, { perMessageDeflate: false })
        ws.on('message', (d) => {
          const s = d.toString()
          if (s.startsWith('{"type":"snapshot"')) resolve()
          else if (s.startsWith('{"type":"event"')) seen[i] = (seen[i] ?? 0) + 1
        })
        closers.push(() => ws.terminate())
      } else {
        http.get(`${url}/sse?topics=stall/a`, { agent: false }, (res) => {
          let buf = ''
          res.setEncoding('utf8')
          res.on('data', (d: string) => {
            buf += d
            let j: number
            while ((j = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, j)
              buf = buf.slice(j + 2)
              if (block.startsWith('event: snapshot')) resolve()
              else if (block.startsWith('id: ')) seen[i] = (seen[i] ?? 0) + 1
            }
          })
          closers.push(() => res.destroy())
        })
      }
    })
  }
  return () => closers.forEach((c) => c())
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const results = new Map(SERVERS.map((server) => [server, { ws: [] as number[], sse: [] as number[] }]))
for (let run = 0; run < RUNS; run++) {
  for (const server of SERVERS) {
    for (const transport of ['ws', 'sse'] as const) {
      const s = await start(server)
      const seen: number[] = []
      const close = await subscribe(s.url, transport, seen)
      await lagMax(s.url) // resets the histogram
      let want = 0
      let worst = 0
      for (let b = 0; b < 3; b++) {
        await post(
          `${s.url}/api/events`,
          Array.from({ length: 12 }, (_, i) => ({ topic: 'stall/a', data: { i, pad: PAD } })),
        )
        want += 12
        const t0 = Date.now()
        while (seen.length < N || seen.some((c) => (c ?? 0) < want)) {
          if (Date.now() - t0 > 60_000) throw new Error(`${transport}: not every subscriber got batch ${b}`)
          await new Promise((r) => setTimeout(r, 5))
        }
        worst = Math.max(worst, await lagMax(s.url))
      }
      results.get(server)![transport].push(worst * 1000)
      close()
      s.stop()
    }
  }
}
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`
console.log(`${N} subscribers, 3 batches of 12 x 63 KB, ${RUNS} runs: worst event-loop stall, median (range)`)
for (const [server, r] of results)
  console.log(`  ${server}: WebSocket ${fmt(r.ws)}   SSE ${fmt(r.sse)}   SSE / WebSocket ${(median(r.sse) / median(r.ws)).toFixed(2)}`)
process.exit(0)
