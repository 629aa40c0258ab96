/**
 * What one idle WebSocket costs livefeed's heap, by constructor: a heap
 * snapshot of a fresh server, then another with N idle subscribed sockets; the
 * difference of self sizes per constructor, divided by N, largest first.
 *   npm run bench:heap [-- --sockets 2000 --bundle dist/server.mjs --top 25]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { NODE_FLAGS, ROOT } from '../harness/server.ts'

const { values } = parseArgs({
  options: { sockets: { type: 'string', default: '2000' }, bundle: { type: 'string', default: 'dist/server.mjs' }, top: { type: 'string', default: '25' } },
})
const N = Number(values.sockets)
const dir = mkdtempSync(join(tmpdir(), 'livefeed-heap-'))

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }
  nodes: number[]
  strings: string[]
}

/** Self size and count per "type:name" of every node in a snapshot. */
function bySize(file: string): Map<string, { size: number; count: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const f = s.snapshot.meta.node_fields
  const width = f.length
  const [iType, iName, iSize] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')]
  const types = s.snapshot.meta.node_types[0]
  const out = new Map<string, { size: number; count: number }>()
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!
    const name = type === 'object' || type === 'closure' ? s.strings[s.nodes[i + iName]!]! : `(${type})`
    const key = `${type}:${name}`
    const e = out.get(key) ?? { size: 0, count: 0 }
    e.size += s.nodes[i + iSize]!
    e.count++
    out.set(key, e)
  }
  return out
}

const proc = spawn(process.execPath, ['--heapsnapshot-signal=SIGUSR2', ...NODE_FLAGS, isAbsolute(values.bundle) ? values.bundle : join(ROOT, values.bundle)], {
  cwd: dir,
  env: {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    MAX_CONNECTIONS_PER_IP: '1000000',
    STATIC_DIR: join(ROOT, 'static'),
  },
  stdio: ['ignore', 'pipe', 'inherit'],
})
const port = await new Promise<number>((resolve) =>
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    const m = /"port":(\d+)/.exec(l)
    if (m) resolve(Number(m[1]))
  }),
)
async function snap(): Promise<string> {
  const before = new Set(readdirSync(dir))
  proc.kill('SIGUSR2')
  for (;;) {
    await new Promise((r) => setTimeout(r, 200)) // the snapshot is written by the server; poll for the finished file
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))
    if (file) {
      const path = join(dir, file)
      try {
        JSON.parse(readFileSync(path, 'utf8'))
        return path
      } catch {
        // still being written
      }
    }
  }
}
// Warm up the code paths with one socket, so compiled code and caches are in both snapshots.
const warm = new WebSocket(`ws://127.0.0.1:${port}/ws?topics=warm/x`)
await new Promise((r) => warm.once('message', r))
const a = bySize(await snap())
const sockets: WebSocket[] = []
for (let i = 0; i < N; i += 200) {
  await Promise.all(
    Array.from({ length: Math.min(200, N - i) }, () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?topics=bench/x`, { perMessageDeflate: false })
      sockets.push(ws)
      // Subscribed once the snapshot frame came.
      return new Promise<void>((resolve) => ws.on('message', (d) => String(d).startsWith('{"type":"snapshot"') && resolve()))
    }),
  )
}
const b = bySize(await snap())
const rows = [...b].map(([key, e]) => ({ key, bytes: (e.size - (a.get(key)?.size ?? 0)) / N, count: (e.count - (a.get(key)?.count ?? 0)) / N }))
rows.sort((x, y) => y.bytes - x.bytes)
const total = rows.reduce((s, r) => s + r.bytes, 0)
console.log(`${values.bundle}: ${N} idle sockets, ${(total / 1024).toFixed(2)} KB of heap per socket (self sizes)\n`)
console.log('| what | bytes per socket | objects per socket |')
console.log('| --- | --- | --- |')
for (const r of rows.slice(0, Number(values.top))) console.log(`| ${r.key} | ${r.bytes.toFixed(0)} | ${r.count.toFixed(2)} |`)
for (const ws of sockets) ws.terminate()
warm.terminate()
proc.kill('SIGKILL')
rmSync(dir, { recursive: true, force: true }) // two heap snapshots, ~30 MB
process.exit(0)
