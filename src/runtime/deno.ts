/**
 * @module
 * The Deno entry (`deno task start`): Deno's own server and WebSocket under the same app as Node's.
 */
import { getConnInfo, serveStatic, upgradeWebSocket } from 'hono/deno'
import { boot } from '../boot.ts'
import { type Config, ConfigError, loadConfig, refuseWorkersOnDeno } from '../config.ts'
import { extensions } from '../extensions.ts'
import { createLogger } from './logger.ts'

function configOrExit(): Config {
  try {
    const config = loadConfig(Deno.env.toObject())
    refuseWorkersOnDeno(config)
    return config
  } catch (err) {
    // One line naming the variable, the value and what is allowed; no stack for a user's typo.
    if (!(err instanceof ConfigError)) throw err
    console.error(`livefeed: ${err.message}`)
    return Deno.exit(1)
  }
}
const config = configOrExit()
const log = createLogger(config, { runtime: 'deno' })
/** The socket under Hono's WSContext: Deno's own WebSocket, narrowed by a check rather than a cast. */
function sock(raw: unknown): WebSocket {
  if (raw instanceof WebSocket) return raw
  throw new TypeError('livefeed: the raw socket is not a Deno WebSocket')
}
const noop = () => {}

const { feed, app } = await boot(
  config,
  log,
  {
    // Deno pings by itself: a socket that misses a pong for idleTimeout seconds is closed.
    upgradeWebSocket: (create) => upgradeWebSocket(create, { idleTimeout: Math.max(1, Math.round(config.limits.heartbeatMs / 1000)) }),
    serveStatic: (root) => serveStatic({ root }),
    clientAddress: (c) => getConnInfo(c).remote.address,
    socket: {
      terminate: (raw) => sock(raw).close(),
      bufferedAmount: (raw) => sock(raw).bufferedAmount,
    },
    // Deno tells when a response was wholly sent or its connection went (ServeHandlerInfo.completed); it
    // has no cut of its own: an SSE stream is cut by erroring its body, which aborts the connection.
    wire: (c) => {
      const completed: unknown = Reflect.get(c.env ?? {}, 'completed')
      return completed instanceof Promise ? { closed: completed.then(noop, noop) } : undefined
    },
  },
  extensions,
)

const server = Deno.serve(
  { port: config.port, hostname: config.host, onListen: ({ port }) => log.info({ port, engine: feed.engine.name }, 'listening') },
  app.fetch,
)

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  log.info({ signal, connections: feed.clients.size }, 'draining')
  setTimeout(() => Deno.exit(0), config.limits.shutdownGraceMs)
  await feed.drain()
  await server.shutdown()
  await feed.close()
  log.info({}, 'stopped')
  Deno.exit(0)
}
Deno.addSignalListener('SIGTERM', () => void shutdown('SIGTERM'))
Deno.addSignalListener('SIGINT', () => void shutdown('SIGINT'))
