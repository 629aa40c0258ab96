/**
 * @module
 * The Node entry, bundled as dist/server.mjs: @hono/node-server, WebSockets over `ws`, WORKERS, signals.
 */
import cluster from 'node:cluster'
import { type IncomingMessage, ServerResponse } from 'node:http'
import { createAdaptorServer, upgradeWebSocket } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { serveStatic } from '@hono/node-server/serve-static'
import { WebSocket, WebSocketServer } from 'ws'
import { boot } from '../boot.ts'
import { type Config, ConfigError, loadConfig, refuseWorkersOnDeno } from '../config.ts'
import { extensions } from '../extensions.ts'
import { createLogger } from './logger.ts'
import { instanceMetrics, LISTEN_PORT, REUSE_PORT_PLATFORMS, reportListening, supervise, WORKER_MARK, workerCount } from './node-cluster.ts'
import { capConnections, SilentConnections, softFileLimit } from './node-connections.ts'
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
  /** The socket under Hono's WSContext: our own `ws` server's, narrowed by a check rather than a cast. */
  const sock = (raw: unknown): WebSocket => {
    if (raw instanceof WebSocket) return raw
    throw new TypeError('livefeed: the raw socket is not a ws WebSocket')
  }
  const frames = new FrameWriter()
  const sinks = new ResponseSinks(frames)

  const l = config.limits
  const silent = new SilentConnections(l.headersTimeoutMs)
  // Our own ws server: our frame limit, and no per-message deflate (it costs CPU per subscriber and is a known
  // memory sink). No client tracking: the feed knows its sessions, and ws' Set and close listener cost every socket.
  const wss = new WebSocketServer({ noServer: true, maxPayload: l.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
  // The 101 and the open's frames (welcome, subscribed, snapshot) in one write instead of two.
  wss.on('headers', (_headers, req) => {
    silent.heard(req.socket) // HEADERS_TIMEOUT is over: the WebSocket has its own heartbeat
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

  const server = createAdaptorServer({
    fetch: sinks.takeOver(app.fetch),
    websocket: { server: wss },
    // HEADERS_TIMEOUT: a connection that has not sent a whole request head (idle or partial) is closed; looked at twice as often.
    serverOptions: { headersTimeout: l.headersTimeoutMs, connectionsCheckingInterval: Math.max(100, Math.min(1000, l.headersTimeoutMs / 2)) },
  })
  capConnections(server, l.maxConnections || softFileLimit() - 1000, feed, log)
  silent.watch(server)
  // (Not an 'upgrade' listener: node-server answers a non-WebSocket upgrade only while it has the only one.)
  server.on('request', (req: IncomingMessage) => silent.heard(req.socket))
  // A worker told to (LISTEN_PORT) has a listening socket of its own on the instance's port (SO_REUSEPORT): the
  // kernel spreads connections over the workers, with no primary in the way.
  const own = worker === undefined ? undefined : process.env[LISTEN_PORT]
  server.listen({ port: own === undefined ? config.port : Number(own), host: config.host, reusePort: own !== undefined }, () => {
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : config.port
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
    // Every WebSocket is closed by the drain (server.close() leaves upgraded sockets alone); the exit ends any that linger.
    await feed.drain()
    server.close()
    if ('closeAllConnections' in server) server.closeAllConnections()
    await feed.close()
    log.info({}, 'stopped')
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}
