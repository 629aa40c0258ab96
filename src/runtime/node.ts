import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { type IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import { createAdaptorServer, upgradeWebSocket } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { serveStatic } from '@hono/node-server/serve-static'
import type { Logger } from 'pino'
import { type WebSocket, WebSocketServer } from 'ws'
import { boot } from '../boot.ts'
import { type Config, ConfigError, loadConfig, refuseWorkersOnDeno } from '../config.ts'
import type { Feed } from '../core/feed.ts'
import { extensions } from '../extensions.ts'
import { createLogger } from './logger.ts'
import { instanceMetrics, LISTEN_PORT, REUSE_PORT_PLATFORMS, reportListening, supervise, WORKER_MARK, workerCount } from './node-cluster.ts'
import { FrameWriter } from './node-frames.ts'
import { ResponseSinks } from './node-response.ts'

/**
 * Deno runs this bundle too, through its Node compatibility (`deno task start:bundle`): there `ws` corks a
 * socket's frames into one write, where Deno's own WebSocket makes a syscall per frame. Logs say which ran.
 */
const RUNTIME = process.versions.deno === undefined ? 'node' : 'deno-node'

function configOrExit(): Config {
  try {
    const config = loadConfig(process.env)
    if (RUNTIME === 'deno-node') refuseWorkersOnDeno(config)
    return config
  } catch (err) {
    // One line naming the variable, the value and what is allowed; no stack for a user's typo.
    if (!(err instanceof ConfigError)) throw err
    console.error(`livefeed: ${err.message}`)
    return process.exit(1)
  }
}
const config = configOrExit()
const workers = workerCount(config.workers)
if (cluster.isPrimary && workers > 1)
  supervise(workers, config, createLogger(config, { runtime: RUNTIME, role: 'primary', pid: process.pid }), {
    reusePort: REUSE_PORT_PLATFORMS.has(process.platform),
  })
else await serve(config)

/** One process serving the port: the whole instance, or one of its WORKERS. */
async function serve(config: Config): Promise<void> {
  // One of our own WORKERS; a worker of some other primary (PM2's cluster mode, say) serves as a lone process.
  const worker = process.env[WORKER_MARK] === '1' ? cluster.worker?.id : undefined
  const log = createLogger(config, worker === undefined ? { runtime: RUNTIME } : { runtime: RUNTIME, worker, pid: process.pid })
  const sock = (raw: unknown) => raw as WebSocket
  const frames = new FrameWriter()
  const sinks = new ResponseSinks(frames)

  // Our own ws server: our frame limit, and no per-message deflate (it costs CPU per subscriber and is a known memory sink).
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.maxFrameBytes, perMessageDeflate: false })
  // The 101 and the open's frames (welcome, subscribed, snapshot) in one write instead of two.
  wss.on('headers', (_headers, req) => {
    req.socket.setTimeout(0) // HEADERS_TIMEOUT is over: the WebSocket has its own heartbeat
    frames.cork(req.socket)
  })

  const { feed, app } = await boot(
    config,
    log,
    {
      upgradeWebSocket: (create) => upgradeWebSocket(create),
      serveStatic: (root) => serveStatic({ root }),
      clientAddress: (c) => getConnInfo(c).remote.address,
      socket: {
        ping: (raw, onPong) => {
          sock(raw).once('pong', onPong)
          sock(raw).ping()
        },
        terminate: (raw) => sock(raw).terminate(),
        bufferedAmount: (raw) => sock(raw).bufferedAmount,
        eventWriter: (raw) => frames.writerFor(sock(raw)),
      },
      instanceMetrics: worker === undefined ? undefined : instanceMetrics,
      wire: (c) => {
        const res: unknown = Reflect.get(c.env ?? {}, 'outgoing')
        if (!(res instanceof ServerResponse)) return undefined
        return {
          // 'close' comes once the response was wholly handed to the socket, or the socket went.
          closed: res.closed ? Promise.resolve() : new Promise<void>((resolve) => res.once('close', () => resolve())),
          // Counts what waits in the socket's own buffer too: it moves only while the kernel takes bytes.
          written: () => res.socket?.bytesWritten ?? 0,
          destroy: () => void res.destroy(),
          sink: () => sinks.sinkFor(res),
        }
      },
    },
    extensions,
  ).catch((err: unknown) => {
    log.fatal({ err }, 'could not start')
    return process.exit(1)
  })

  const l = config.limits
  const server = createAdaptorServer({
    fetch: sinks.takeOver(app.fetch),
    websocket: { server: wss },
    // HEADERS_TIMEOUT: a connection that has not sent a whole request head (idle or partial) is closed; looked at twice as often.
    serverOptions: { headersTimeout: l.headersTimeoutMs, connectionsCheckingInterval: Math.max(100, Math.min(1000, l.headersTimeoutMs / 2)) },
  })
  capConnections(server, l.maxConnections || softFileLimit() - 1000, feed, log)
  // HEADERS_TIMEOUT for a connection that sends nothing at all, which Node's own check leaves open: until its
  // first request (or upgrade) it must not go quiet for that long. Keep-alive idling after is keepAliveTimeout's.
  server.on('connection', (socket: Socket) => socket.setTimeout(l.headersTimeoutMs, () => socket.destroy()))
  // (Not an 'upgrade' listener: node-server answers a non-WebSocket upgrade only while it has the only one.)
  server.on('request', (req: IncomingMessage) => req.socket.setTimeout(0))
  // A worker told to (LISTEN_PORT) has a listening socket of its own on the instance's port (SO_REUSEPORT): the
  // kernel spreads connections over the workers, with no primary in the way.
  const own = worker === undefined ? undefined : process.env[LISTEN_PORT]
  server.listen({ port: own === undefined ? config.port : Number(own), host: config.host, reusePort: own !== undefined }, () => {
    const port = (server.address() as AddressInfo).port
    log.info({ port, engine: feed.engine.name, ...(own === undefined ? {} : { reusePort: true }) }, 'listening')
    if (worker !== undefined) reportListening(port)
  })

  let stopping = false
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    log.info({ signal, connections: feed.clients.size }, 'draining')
    setTimeout(() => {
      log.warn({}, 'shutdown grace period over; exiting')
      process.exit(0)
    }, config.limits.shutdownGraceMs).unref()
    await feed.drain()
    // server.close() neither closes upgraded sockets nor returns while they are open: end what is left.
    for (const ws of wss.clients) ws.terminate()
    server.close()
    if ('closeAllConnections' in server) server.closeAllConnections()
    await feed.close()
    log.info({}, 'stopped')
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

/** This process's soft limit of open files (Linux), or 65,536 where it cannot be read. */
function softFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m?.[1] === undefined || m[1] === 'unlimited' ? 65_536 : Number(m[1])
  } catch {
    return 65_536
  }
}

/**
 * MAX_CONNECTIONS: past it Node closes each new TCP connection as it is accepted, so a flood cannot take the
 * descriptors Redis, logs and health checks need. Logged once per burst (the first drop after a quiet
 * 10 s, with how many the burst before had), counted in /metrics.
 */
function capConnections(server: NetServer, max: number, feed: Feed, log: Logger): void {
  server.maxConnections = Math.max(1, max)
  let last = 0
  let burst = 0
  server.on('drop', () => {
    feed.stats.dropped++
    const now = Date.now()
    if (now - last > 10_000) {
      log.warn({ maxConnections: server.maxConnections, droppedBefore: burst }, 'MAX_CONNECTIONS reached: new connections are closed at once')
      burst = 0
    }
    burst++
    last = now
  })
}
