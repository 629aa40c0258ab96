import type { AddressInfo } from 'node:net'
import net from 'node:net'

/**
 * A TCP relay on a loopback port to a target the test chooses: a Redis replication link the test can stall
 * (both directions stop being read, so the primary's writes pile up in its own buffers and the replica gets
 * nothing) and a front address that can be moved to another server, cutting every connection it carried,
 * as a managed Redis moves its address to a promoted replica.
 */
export async function startRelay(initialTarget: number) {
  const flow = ([a, b]: [net.Socket, net.Socket]) => {
    a.pipe(b)
    b.pipe(a)
  }
  let target = initialTarget
  let stalled = false
  const pairs = new Set<[net.Socket, net.Socket]>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1')
    const pair: [net.Socket, net.Socket] = [client, upstream]
    pairs.add(pair)
    if (stalled) for (const s of pair) s.pause()
    else flow(pair)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    for (const s of pair) {
      s.on('error', end)
      s.on('close', end)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    /** Nothing passes either way until `resume`. */
    stall() {
      stalled = true
      // Unpiped, not only paused: a pipe resumes its source whenever the destination drains.
      for (const [a, b] of pairs) {
        a.unpipe(b)
        b.unpipe(a)
        a.pause()
        b.pause()
      }
    },
    resume() {
      stalled = false
      for (const pair of pairs) flow(pair)
    },
    /** New connections go to `port`; the open ones are cut. */
    moveTo(port: number) {
      target = port
      for (const [a, b] of pairs) {
        a.destroy()
        b.destroy()
      }
      pairs.clear()
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy()
          b.destroy()
        }
        server.close(() => resolve())
      }),
  }
}
