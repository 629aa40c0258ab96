/**
 * @module
 * The soak: three instances on one real Redis behind a proxy with no
 * affinity; subscribers over WebSocket, SSE, long polling and the SDK; one
 * sequential publisher over HTTP that retries with `Idempotency-Key`; random
 * client cuts; and, during the run, one instance SIGTERMed and restarted, one
 * SIGKILLed and restarted, and Redis stopped for 5 s (SIGSTOP/SIGCONT).
 * Then it checks the promise: every subscriber got every event once and in
 * order, Redis holds every 201 event once, no error log but the documented
 * ones, RSS back near its start, and `/metrics` agreeing with what it counted.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { GC_HOOK, memoryAfterGc, processesOf } from '../../harness/memory.ts'
import { startRedis } from '../../harness/redis.ts'
import { ROOT, startServer } from '../../harness/server.ts'
import { until } from '../../harness/wait.ts'
import { TRANSPORTS } from '../../src/protocol/transports.ts'
import { request } from '../helpers/http.ts'
import { metricSum, scrape as scrapeOne } from '../helpers/metrics.ts'
import { random, randomInt } from '../helpers/random.ts'
import { MIX, PollSubscriber, SdkSubscriber, SseSubscriber, type Subscriber, WsSubscriber } from './clients.ts'
import { errorLines, HEAP_BOUND_BYTES, type Incarnation, RSS_BOUND_BYTES, readBack, rssOf, summary } from './report.ts'
import { Histogram, type Interest, Tally, TOPICS, topicOf } from './tally.ts'

export interface SoakOptions {
  seconds: number
  subscribers: number
  /** Events per second, published in requests of 1-4. */
  rate: number
  /** WORKERS of each instance (absent: one process each). */
  workers?: number
  say?: (line: string) => void
}

/** Resolves with `p`, or rejects once `ms` have passed first. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

export async function soak(opts: SoakOptions) {
  const say = opts.say ?? (() => {})
  const failures: string[] = []
  const redis = await startRedis()
  const env = {
    REDIS_URL: redis.url,
    REDIS_PREFIX: `soak${process.pid}:`,
    // Enough history for the final check to read every event back.
    HISTORY_SIZE: '5000000',
    HISTORY_BYTES: String(4 * 1024 ** 3),
    // Every client comes through the proxy, from one address.
    MAX_CONNECTIONS_PER_IP: '1000000',
    DRAIN_SPREAD: '1',
    SHUTDOWN_GRACE: '5',
    // Test-only: on SIGUSR2, a full gc and process.memoryUsage() on stderr (the memory checks at the end).
    NODE_OPTIONS: GC_HOOK,
    ...(opts.workers ? { WORKERS: String(opts.workers) } : {}),
  }
  const listeners = opts.workers ?? 1
  /** Processes per instance: with WORKERS, the primary and its workers, each with its own memory slack. */
  const processes = opts.workers ? opts.workers + 1 : 1
  const incarnations: Incarnation[] = []
  let rotate: (() => void) | undefined
  const live = new Map<number, Incarnation>()
  const launch = async (slot: number) => {
    const server = await startServer('node', env)
    // Every worker listening before the instance joins the rotation (and before its memory is read).
    await until('every worker to listen', () => ((server.output().match(/"msg":"listening"/g)?.length ?? 0) >= listeners ? true : undefined), 30_000)
    const m = await memoryAfterGc(server)
    const inc: Incarnation = { slot, server, ended: 'running', rss: { before: m.rss, peak: 0, after: 0 }, heap: { before: m.heapUsed, after: 0 } }
    incarnations.push(inc)
    live.set(slot, inc)
    rotate?.()
    return inc
  }
  await Promise.all([0, 1, 2].map(launch))
  const sampler = setInterval(() => {
    for (const inc of live.values())
      inc.rss.peak = Math.max(
        inc.rss.peak,
        processesOf(inc.server.proc.pid!).reduce((sum, pid) => sum + rssOf(pid), 0),
      )
  }, 250)
  const ports = () => JSON.stringify([...live.values()].map((i) => i.server.port))
  const proxy = spawn(process.execPath, ['--import', 'tsx', 'tests/soak/proxy-main.ts', ports()], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
  const proxyPort = await new Promise<number>((resolve, reject) => {
    createInterface({ input: proxy.stdout! }).once('line', (l) => resolve((JSON.parse(l) as { port: number }).port))
    proxy.once('exit', (code) => reject(new Error(`the proxy exited with ${code}`)))
  })
  /** Tells the load balancer which instances are in rotation, after each change. */
  rotate = () => proxy.stdin!.write(`${ports()}\n`)
  const base = `http://127.0.0.1:${proxyPort}`

  const latency = new Histogram()
  const subscribers: Subscriber[] = []
  try {
    const start = (await request(`${base}/api/snapshot?topics=soak/**`)).body.cursor as string
    for (let i = 0; i < opts.subscribers; i++) {
      let r = random()
      const kind = MIX.find(([, share]) => (r -= share) < 0)?.[0] ?? 'ws'
      const interest: Interest = random() < 0.5 ? { all: true } : { all: false, k: randomInt(TOPICS) }
      const tally = new Tally(interest, latency)
      const Type = { ws: WsSubscriber, sse: SseSubscriber, poll: PollSubscriber, sdk: SdkSubscriber }[kind]
      subscribers.push(new Type(kind, base, tally, start))
    }
    for (let i = 0; i < subscribers.length; i += 100) {
      const batch = subscribers.slice(i, i + 100)
      batch.forEach((s) => s.begin())
      await within(Promise.all(batch.map((s) => (s instanceof WsSubscriber ? s.subscribed : undefined))), 30_000, 'a batch of WebSockets to subscribe')
    }
    say(`${subscribers.length} subscribers connected; publishing ${opts.rate} events/s for ${opts.seconds} s`)

    // One sequential publisher: event n is stored before n + 1, on topic soak/t(n % 8).
    let n = 0
    const publishing = { requests: 0, retries: 0, statuses: new Map<number, number>() }
    const publishBatch = async (size: number) => {
      const first = n
      const batch = Array.from({ length: size }, (_, j) => ({ topic: topicOf(first + j), data: { n: first + j } }))
      for (let attempt = 0; ; attempt++) {
        publishing.requests++
        const status = await request(`${base}/api/events`, { method: 'POST', json: batch, headers: { 'Idempotency-Key': `soak-${process.pid}-${first}` } })
          .then((r) => r.status)
          .catch(() => 599)
        if (status === 201) break
        publishing.statuses.set(status, (publishing.statuses.get(status) ?? 0) + 1)
        publishing.retries++
        if (attempt > 600) throw new Error(`events ${first}.. were never stored (last status ${status})`)
        await new Promise((r) => setTimeout(r, 50)) // retry pacing
      }
      n += size
    }
    const t0 = Date.now()
    const end = t0 + opts.seconds * 1000
    const publisher = (async () => {
      while (Date.now() < end) {
        await publishBatch(1 + randomInt(4))
        const due = t0 + (n / opts.rate) * 1000
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now())) // rate pacing
      }
    })()

    // Random cuts: a flaky network drops about 1% of the clients every second; each resumes.
    const chaos = setInterval(() => {
      for (let i = 0; i < Math.max(1, subscribers.length / 100); i++) subscribers[randomInt(subscribers.length)]!.cut()
    }, 1000)

    const at = (share: number) => new Promise((r) => setTimeout(r, Math.max(0, t0 + opts.seconds * 1000 * share - Date.now())))
    const faults = (async () => {
      await at(0.25)
      const term = live.get(0)!
      live.delete(0) // as the load balancer does once readiness fails
      rotate()
      say('SIGTERM instance 0')
      const code = await term.server.stop('SIGTERM')
      term.ended = 'SIGTERM'
      if (code !== 0) failures.push(`the SIGTERMed instance exited with ${code}, not 0`)
      await launch(0)
      await at(0.5)
      const kill = live.get(1)!
      say('SIGKILL instance 1')
      kill.server.proc.kill('SIGKILL')
      live.delete(1)
      rotate()
      kill.ended = 'SIGKILL'
      await kill.server.exited
      await launch(1)
      await at(0.7)
      say('Redis stopped (SIGSTOP) for 5 s')
      redis.pause()
      await new Promise((r) => setTimeout(r, 5000)) // the outage's length is the fault itself
      redis.resume()
      say('Redis continues (SIGCONT)')
    })()
    await Promise.all([publisher, faults])
    clearInterval(chaos)
    // A sentinel on every topic, last: a subscriber has all it will get once it has its sentinel.
    await publishBatch(TOPICS)
    const final = n - 1
    const tallies = subscribers.map((s) => s.tally)
    await until('every subscriber to reach the sentinel', () => (tallies.every((t) => t.done(final)) ? true : undefined), 60_000).catch((err: Error) => {
      const behind = subscribers.filter((s) => !s.tally.done(final))
      failures.push(
        `${err.message}: ${behind.length} behind, e.g. ${behind
          .slice(0, 5)
          .map((s) => `${s.kind} at n=${s.tally.last} of ${final} (${s.tally.reconnects} reconnects${s.describe()})`)
          .join(', ')}`,
      )
    })

    // /metrics against what the soak counts, over a quiet window on the instances as they now are.
    const scrape = async () => {
      const all = await Promise.all([...live.values()].map((i) => scrapeOne(i.server.url)))
      return {
        published: all.reduce((s, m) => s + m.sum('livefeed_events_published_total'), 0),
        deliveries: all.reduce((s, m) => s + m.sum('livefeed_deliveries_total'), 0),
      }
    }
    const received = () => tallies.reduce((s, t) => s + t.received, 0)
    const m0 = await scrape()
    const r0 = received()
    const WINDOW = 3 * TOPICS
    for (let i = 0; i < WINDOW; i++) await publishBatch(1)
    const last = n - 1
    await until('every subscriber to get the metrics window', () => (tallies.every((t) => t.done(last)) ? true : undefined), 30_000).catch((err: Error) =>
      failures.push(err.message),
    )
    const m1 = await scrape()
    const windowDeliveries = received() - r0
    if (m1.published - m0.published !== WINDOW)
      failures.push(`metrics: ${m1.published - m0.published} events published in the window, the soak published ${WINDOW}`)
    if (m1.deliveries - m0.deliveries !== windowDeliveries)
      failures.push(`metrics: ${m1.deliveries - m0.deliveries} deliveries in the window, the soak's clients received ${windowDeliveries}`)

    for (const s of subscribers) s.stop()
    for (const t of tallies) t.settle(last)
    const lingering = subscribers.filter((s) => s.connected())
    if (lingering.length)
      failures.push(`${lingering.length} subscribers still connected after stop(): ${[...new Set(lingering.map((s) => s.kind))].join(', ')}`)

    failures.push(...(await readBack(base, start, n)))

    // Once the clients have gone: no connection left, and heap and RSS back within bounds of each instance's start.
    for (const inc of live.values()) {
      const open = () => metricSum(inc.server.url, 'livefeed_connections')
      await until(`instance ${inc.slot}'s connections to close`, async () => ((await open()) === 0 ? true : undefined), 15_000).catch(async (err: Error) => {
        const m = await scrapeOne(inc.server.url)
        failures.push(`${err.message}: ${TRANSPORTS.map((t) => `${m.sum('livefeed_connections', { transport: t })} ${t}`).join(', ')} open`)
      })
      const m = await memoryAfterGc(inc.server)
      inc.rss.after = m.rss
      inc.heap.after = m.heapUsed
      const mb = (b: number) => (b / 2 ** 20).toFixed(1)
      // Each process of an instance has its own slack.
      if (m.heapUsed > inc.heap.before + HEAP_BOUND_BYTES * processes)
        failures.push(`instance ${inc.slot}: heap ${mb(m.heapUsed)} MiB after gc, over ${mb(inc.heap.before)} + ${mb(HEAP_BOUND_BYTES * processes)} MiB`)
      const peak = Math.max(inc.rss.peak, m.rss)
      if (peak > inc.rss.before + RSS_BOUND_BYTES * processes)
        failures.push(`instance ${inc.slot}: RSS peaked at ${mb(peak)} MiB, over ${mb(inc.rss.before)} + ${mb(RSS_BOUND_BYTES * processes)} MiB`)
    }

    failures.push(...errorLines(incarnations))

    const sum = (f: (t: Tally) => number, list = tallies) => list.reduce((s, t) => s + f(t), 0)
    const counts = {
      events: n,
      deliveries: received(),
      lost: sum((t) => t.lost),
      duplicated: sum((t) => t.duplicated),
      reordered: sum((t) => t.reordered),
      resets: sum((t) => t.resets),
    }
    if (counts.lost || counts.duplicated || counts.reordered || counts.resets)
      failures.push(`deliveries: ${counts.lost} lost, ${counts.duplicated} duplicated, ${counts.reordered} reordered, ${counts.resets} resets`)
    for (const s of subscribers) for (const p of s.problems) failures.push(`${s.kind} subscriber: ${p}`)
    const doubled = subscribers.filter((s) => s.tally.firstDouble)
    if (doubled.length)
      failures.push(
        `${doubled.length} subscribers got an event twice or out of order, e.g. ${doubled
          .slice(0, 5)
          .map((s) => `${s.kind} ${s.tally.firstDouble}`)
          .join('; ')}`,
      )
    const gapped = subscribers.filter((s) => s.tally.firstGap)
    if (gapped.length)
      failures.push(
        `${gapped.length} subscribers missed events mid-stream, e.g. ${gapped
          .slice(0, 5)
          .map((s) => `${s.kind} (${s.tally.interest.all ? 'all' : 'one topic'}) ${s.tally.firstGap}`)
          .join('; ')}`,
      )

    const table = summary({ n, seconds: opts.seconds, rate: opts.rate, counts, latency, publishing, subscribers, incarnations })
    return { failures, counts, rate: n / opts.seconds, table }
  } finally {
    clearInterval(sampler)
    for (const s of subscribers) s.stop()
    proxy.kill()
    await Promise.all([...live.values()].map((i) => i.server.stop()))
    await redis.stop()
  }
}
