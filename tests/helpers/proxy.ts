import http from 'node:http'
import type { AddressInfo } from 'node:net'
import net from 'node:net'

export interface ProxyOptions {
  /** Answer WebSocket upgrades with 502, as a proxy that strips `Upgrade` would leave the client. */
  refuseUpgrade?: boolean
  /** Paths answered with 502 instead of being forwarded. */
  refusePaths?: readonly string[]
  /** Headers added to every forwarded request (e.g. an `X-Forwarded-For`, as a load balancer adds). */
  addHeaders?: Record<string, string>
}

/**
 * A round-robin reverse proxy with no session affinity: every request and
 * every upgrade goes to the next backend in turn, so any request of a client
 * may land on any instance.
 */
export async function startProxy(backends: () => number[], opts: ProxyOptions = {}) {
  let next = 0
  /** Which backend port each request went to, in order. */
  const log: { path: string; port: number }[] = []
  const pick = (path: string) => {
    const list = backends()
    const port = list[next++ % list.length]!
    log.push({ path, port })
    return port
  }
  const refused = (path: string) => opts.refusePaths?.some((p) => path === p || path.startsWith(`${p}?`))
  const server = http.createServer((req, res) => {
    if (refused(req.url ?? '')) {
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"error":{"code":"bad_gateway","message":"refused by test proxy"}}')
      return
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: pick(req.url ?? ''), method: req.method, path: req.url, headers: { ...req.headers, ...opts.addHeaders } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
        // The backend died mid-answer (a SIGKILLed instance's SSE stream): cut the client too, as a load balancer does.
        up.on('close', () => up.complete || res.destroy())
      },
    )
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()))
    res.on('close', () => upstream.destroy())
    req.pipe(upstream)
  })
  // Upgraded sockets are not the HTTP server's to close: kept here so close() can cut them, as a load balancer going away does.
  const tunnels = new Set<net.Socket>()
  server.on('upgrade', (req, socket, head) => {
    if (opts.refuseUpgrade || refused(req.url ?? '')) {
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const client = socket as net.Socket
    tunnels.add(client)
    client.once('close', () => tunnels.delete(client))
    const up = net.connect(pick(req.url ?? ''), '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`]
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
      up.write(`${lines.join('\r\n')}\r\n\r\n`)
      up.write(head)
      up.pipe(socket).pipe(up)
    })
    const end = () => {
      up.destroy()
      socket.destroy()
    }
    up.on('error', end)
    socket.on('error', end)
    up.on('close', end)
    socket.on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    log,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of tunnels) t.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
