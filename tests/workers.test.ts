import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { availableParallelism } from 'node:os'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT, type Server, startServer, type Target } from '../harness/server.ts'
import { until } from '../harness/wait.ts'
import { WsClient } from '../harness/ws.ts'
import { type FeedEvent, publish, request } from './helpers/http.ts'
import { metricSum } from './helpers/metrics.ts'

/** The JSON log lines a server printed so far. */
const logLines = (s: Server): Record<string, unknown>[] =>
  s
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)

/** The pids of the workers that logged "listening", by worker id, once `n` have. */
async function listening(s: Server, n: number): Promise<Map<number, number>> {
  return until(
    `${n} workers listening`,
    () => {
      const m = new Map(
        logLines(s)
          .filter((l) => l.msg === 'listening')
          .map((l) => [Number(l.worker), Number(l.pid)]),
      )
      return m.size >= n ? m : undefined
    },
    15_000,
  )
}

/** The processes with a listening TCP socket on `port` (IPv4 loopback), and how many each has. */
function listeningSocketsOf(port: number): Map<number, number> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  const inodes = new Set(
    readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(hex) && f[3] === '0A')
      .map((f) => f[9]!),
  )
  const owners = new Map<number, number>()
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let target = ''
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {}
      if (inodes.has(target.slice(8, -1)) && target.startsWith('socket:[')) owners.set(Number(pid), (owners.get(Number(pid)) ?? 0) + 1)
    }
  }
  return owners
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const ids = (list: readonly { id: string }[]) => list.map((e) => e.id)

const test = suite('WORKERS: one process per core on one instance, on Redis')

test('WORKERS=auto: one worker per core; sockets spread over them; every client gets every event once, in order; /metrics is the whole instance', async () => {
  const s = await startServer('node+redis', { WORKERS: 'auto' })
  try {
    const cores = availableParallelism()
    // On one core, auto is one process serving alone: no primary.
    assert.is(logLines(s).find((l) => l.msg === 'starting workers')?.workers, cores > 1 ? cores : undefined)
    const workers = await listening(s, cores)
    if (cores > 1) {
      // reusePort: each worker listens on the port with a socket of its own; the primary holds none, so no
      // connect passes through it.
      const owners = listeningSocketsOf(s.port)
      assert.equal([...owners.keys()].sort(), [...workers.values()].sort(), 'one listening socket per worker, none in the primary')
      assert.ok([...owners.values()].every((n) => n === 1))
    }
    const start = (await request(`${s.url}/api/snapshot?topics=x`)).body.cursor as string
    // The kernel spreads connections over the workers' sockets (reusePort) by a hash of their addresses, not in
    // turn: 16 sockets all on one worker of two would be a 1-in-32,768 chance.
    const clients = await Promise.all(Array.from({ length: 16 }, () => WsClient.open(`${s.wsUrl}/ws?topics=w/**&since=${start}`)))
    await Promise.all(clients.map((c) => c.nth('subscribed')))
    // /healthz is one process's view, /metrics the instance's: no process holds all sixteen, together they do.
    const seen = await Promise.all([1, 2, 3, 4].map(async () => (await request(`${s.url}/healthz`)).body.connections as number))
    if (cores > 1) assert.ok(Math.max(...seen) < 16, `each worker holds some of the sockets: ${seen}`)
    assert.is(await metricSum(s.url, 'livefeed_connections', { transport: 'ws' }), 16)

    const published: FeedEvent[] = []
    for (let i = 0; i < 20; i++) published.push(...(await publish(s.url, [{ topic: `w/${i % 3}`, data: i }])).body.events)
    const sentinel = (await publish(s.url, { topic: 'w/end', data: 'sentinel' })).body as FeedEvent
    const want = ids([...published, sentinel].sort((a, b) => (a.id < b.id ? -1 : 1)))
    for (const c of clients) assert.equal(ids(await c.waitId(sentinel.id)), want)
    assert.is(await metricSum(s.url, 'livefeed_events_published_total'), 21, 'published counts summed over the workers')
    clients.forEach((c) => c.close())
  } finally {
    await s.stop()
  }
})

test('a worker that dies is replaced; its clients resume on another from their cursors and miss nothing', async () => {
  const s = await startServer('node+redis', { WORKERS: '2' })
  try {
    const pids = await listening(s, 2)
    const start = (await request(`${s.url}/api/snapshot?topics=x`)).body.cursor as string
    const clients = await Promise.all(Array.from({ length: 16 }, () => WsClient.open(`${s.wsUrl}/ws?topics=k/*&since=${start}`)))
    await Promise.all(clients.map((c) => c.nth('subscribed')))
    const before = (
      await publish(
        s.url,
        [1, 2, 3].map((i) => ({ topic: 'k/a', data: i })),
      )
    ).body.events as FeedEvent[]
    await Promise.all(clients.map((c) => c.waitId(before.at(-1)!.id)))

    process.kill(pids.get(1)!, 'SIGKILL')
    const exited = await until('the primary to report the exit', () => logLines(s).find((l) => l.msg === 'worker exited; starting another'))
    assert.is(exited.worker, 1)
    assert.is(exited.signal, 'SIGKILL')
    const replaced = await listening(s, 3)
    assert.ok(alive(replaced.get(3)!), 'a new worker runs')
    // Which clients were on the killed worker: the ones the surviving workers do not hold. Their closes arrive
    // one by one, so wait for all of them; taking the first few seen (as this once did) left one behind, under load.
    const held = await metricSum(s.url, 'livefeed_connections', { transport: 'ws' })
    assert.ok(held > 0 && held < clients.length, `both workers held sockets: ${held} of ${clients.length} survive`)
    const cut = await until(
      () => `the killed worker's ${clients.length - held} sockets to close`,
      () => {
        const closed = clients.filter((c) => c.closeCode !== undefined)
        return closed.length === clients.length - held ? closed : undefined
      },
    )
    assert.equal(
      cut.map((c) => c.closeCode),
      cut.map(() => 1006),
      'cut, not closed by the server',
    )

    const during = (
      await publish(
        s.url,
        [4, 5].map((i) => ({ topic: 'k/b', data: i })),
      )
    ).body.events as FeedEvent[]
    // Each cut client resumes from the last event it got, wherever the primary sends it.
    const resumed = await Promise.all(cut.map((c) => WsClient.open(`${s.wsUrl}/ws?topics=k/*&since=${c.events().at(-1)!.id}`)))
    const sentinel = (await publish(s.url, { topic: 'k/end', data: 'sentinel' })).body as FeedEvent
    const want = ids([...before, ...during, sentinel])
    for (const c of clients.filter((c) => !cut.includes(c))) assert.equal(ids(await c.waitId(sentinel.id)), want)
    for (const [i, r] of resumed.entries()) assert.equal([...ids(cut[i]!.events()), ...ids(await r.waitId(sentinel.id))], want)
    ;[...clients, ...resumed].forEach((c) => c.close())
  } finally {
    await s.stop()
  }
})

test('SIGTERM to the primary: every worker drains its sockets with 1001, then all exit 0', async () => {
  const s = await startServer('node+redis', { WORKERS: '2', DRAIN_SPREAD: '0.5' })
  const pids = await listening(s, 2)
  const clients = await Promise.all([1, 2, 3, 4].map(() => WsClient.open(`${s.wsUrl}/ws?topics=t`)))
  await Promise.all(clients.map((c) => c.nth('snapshot')))
  s.proc.kill('SIGTERM')
  assert.equal(await Promise.all(clients.map((c) => c.waitClose(5000))), [1001, 1001, 1001, 1001])
  assert.is(await s.exited, 0)
  assert.equal([...pids.values()].filter(alive), [], 'no worker outlives the primary')
  const drained = logLines(s)
    .filter((l) => l.msg === 'draining' && l.worker !== undefined)
    .map((l) => l.worker)
  assert.equal(drained.sort(), [1, 2])
})

test('a worker sent SIGTERM on its own drains (1001) and is not replaced; when the last is gone the primary exits 0', async () => {
  const s = await startServer('node+redis', { WORKERS: '2', DRAIN_SPREAD: '0.2' })
  const pids = await listening(s, 2)
  const clients = await Promise.all([1, 2, 3, 4].map(() => WsClient.open(`${s.wsUrl}/ws?topics=t`)))
  await Promise.all(clients.map((c) => c.nth('snapshot')))
  process.kill(pids.get(1)!, 'SIGTERM')
  await until('the primary to see it go', () => logLines(s).find((l) => l.msg === 'worker drained and exited' && l.worker === 1))
  process.kill(pids.get(2)!, 'SIGTERM')
  assert.is(await s.exited, 0)
  assert.equal(await Promise.all(clients.map((c) => c.waitClose(5000))), [1001, 1001, 1001, 1001])
  assert.equal(
    logLines(s)
      .filter((l) => l.msg === 'listening')
      .map((l) => l.worker)
      .sort(),
    [1, 2],
    'no worker was started in their place',
  )
})

test('a primary that is killed takes its workers with it: no orphan holds sockets it cannot drain', async () => {
  const s = await startServer('node+redis', { WORKERS: '2' })
  const pids = await listening(s, 2)
  const clients = await Promise.all([1, 2].map(() => WsClient.open(`${s.wsUrl}/ws?topics=t`)))
  await Promise.all(clients.map((c) => c.nth('snapshot')))
  s.proc.kill('SIGKILL')
  // Node's cluster ends a worker at once when its primary goes: the sockets are cut (1006) and resume elsewhere.
  assert.equal(await Promise.all(clients.map((c) => c.waitClose(5000))), [1006, 1006])
  await until('the workers to exit', () => ([...pids.values()].some(alive) ? undefined : true))
})

test('WORKER_RESTARTS=1: the second crash within a minute stops the instance with 1', async () => {
  const s = await startServer('node+redis', { WORKERS: '2', WORKER_RESTARTS: '1' })
  const pids = await listening(s, 2)
  process.kill(pids.get(1)!, 'SIGKILL')
  const third = (await listening(s, 3)).get(3)!
  process.kill(third, 'SIGKILL')
  assert.is(await s.exited, 1)
  assert.ok(logLines(s).some((l) => l.msg === 'workers keep crashing (WORKER_RESTARTS); stopping the instance'))
  assert.is(alive(pids.get(2)!), false, 'the healthy worker was stopped too')
})

test('a worker that cannot start (its port is taken) stops the instance with 1', async () => {
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
  const port = (blocker.address() as { port: number }).port
  try {
    const out = await refused('node+redis', { WORKERS: '2', PORT: String(port) })
    assert.match(out, / exited with 1 before listening/)
    assert.ok(out.includes('a worker could not start; stopping the others'), out)
  } finally {
    blocker.close()
  }
})

test('a worker of some other primary (PM2-style cluster mode) serves alone: its /metrics are its own, at once', async () => {
  // A foreign primary: node:cluster forking the bundle, without livefeed's own supervisor.
  const primary = `import cluster from 'node:cluster'; cluster.setupPrimary({ exec: 'dist/server.mjs', execArgv: [] }); cluster.fork(); process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill(); })`
  const p = spawn(process.execPath, ['--input-type=module', '-e', primary], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', NODE_ENV: 'test' },
  })
  let out = ''
  p.stdout.on('data', (d) => (out += d))
  p.stderr.on('data', (d) => (out += d))
  try {
    const port = await until('the worker to listen', () => /"port":(\d+)[^\n]*"msg":"listening"/.exec(out)?.[1], 15_000)
    const r = await request<string>(`http://127.0.0.1:${port}/metrics`)
    assert.is(r.status, 200, r.body)
    assert.match(r.body, /^livefeed_connections\{transport="ws"\} 0$/m)
    assert.not.match(out, /"worker":/, 'it does not log as one of our workers')
  } finally {
    p.kill('SIGTERM')
  }
})

test('WORKERS needs REDIS_URL, and Deno refuses it (either entry): exit 1 with one line', async () => {
  const node = (await refused('node', { WORKERS: '2' })).split('\n')
  assert.match(node[0]!, / exited with 1 before listening/)
  assert.match(node[1]!, /^livefeed: WORKERS="2" is not allowed without REDIS_URL/)
  for (const target of ['deno+redis', 'deno-node+redis'] as const) {
    const deno = (await refused(target, { WORKERS: '2' })).split('\n')
    assert.match(deno[0]!, / exited with 1 before listening/, target)
    assert.match(deno[1]!, /^livefeed: WORKERS="2" is not allowed on Deno/, target)
  }
})

/** The error of a start that must fail: the helper's "exited with N before listening" line and the output. */
async function refused(target: Target, env: Record<string, string>): Promise<string> {
  const err = await startServer(target, env, 15_000).then(
    (s) => (s.stop(), undefined),
    (e: Error) => e,
  )
  assert.ok(err, `the server started with ${JSON.stringify(env)}`)
  return err!.message
}

test.run()
