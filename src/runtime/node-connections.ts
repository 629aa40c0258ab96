/**
 * @module
 * Node's bounds on TCP connections, before any request: MAX_CONNECTIONS (past it new connections are closed as
 * they are accepted) and HEADERS_TIMEOUT for a connection that sends nothing.
 */
import { readFileSync } from 'node:fs'
import type { Server as NetServer, Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Feed } from '../core/feed.ts'

/**
 * HEADERS_TIMEOUT for a connection that sends nothing at all, which Node's own check leaves open: until its first
 * request (or upgrade) it must not go quiet for that long; keep-alive idling after is keepAliveTimeout's. One
 * sweep over the connections not yet heard from, rather than `socket.setTimeout` per connection: Node keeps a
 * socket's timer and its listener for the socket's whole life, ~300 bytes of heap for every open WebSocket.
 */
export class SilentConnections {
  /** Connections not yet heard from, with the time by which they must be. */
  private readonly waiting = new Map<Socket, number>()

  constructor(private readonly timeoutMs: number) {}

  watch(server: NetServer): void {
    server.on('connection', (socket: Socket) => void this.waiting.set(socket, Date.now() + this.timeoutMs))
    // Looked at twice per timeout (at most once a second, at least every 100 ms), as Node's own check is.
    const every = Math.max(100, Math.min(1000, this.timeoutMs / 2))
    const sweep = setInterval(() => {
      const now = Date.now()
      for (const [socket, deadline] of this.waiting) {
        if (socket.destroyed) this.waiting.delete(socket)
        else if (deadline <= now) {
          this.waiting.delete(socket)
          socket.destroy()
        }
      }
    }, every)
    sweep.unref()
    server.once('close', () => clearInterval(sweep))
  }

  /** The connection sent a request head (or an upgrade): it is no longer silent. */
  heard(socket: Socket): void {
    this.waiting.delete(socket)
  }
}

/** This process's soft limit of open files (Linux), or 65,536 where it cannot be read. */
export function softFileLimit(): number {
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
export function capConnections(server: NetServer, max: number, feed: Feed, log: Logger): void {
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
