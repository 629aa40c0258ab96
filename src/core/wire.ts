/**
 * @module
 * What a transport that answers over plain HTTP (an SSE stream, a held poll) knows of the connection under
 * its response, from the runtime: when it is gone, how far the client has read, and how to cut it. An ended
 * stream or an answered poll keeps counting (MAX_CONNECTIONS_PER_IP, `/healthz`) until its connection is gone,
 * and a client that takes nothing of what is left for END_GRACE is cut, as nginx's `send_timeout` does.
 */

export interface Wire {
  /** Settles once the response was wholly sent or its connection is gone. */
  readonly closed: Promise<void>
  /** Bytes the connection has taken so far, where the runtime can tell: progress, between two looks. */
  written?(): number
  /** Cuts the connection now (its socket destroyed), where the runtime can. */
  destroy?(): void
}

/**
 * Resolves once the wire is closed. Every `graceMs` it looks at how much the client has taken; when that did
 * not move, it is cut with `cut` (the wire's own `destroy` when there is one).
 */
export function linger(wire: Wire, graceMs: number, taken: () => number, cut: () => void): Promise<void> {
  return new Promise((resolve) => {
    let last = taken()
    const timer = setInterval(() => {
      const now = taken()
      if (now !== last) return void (last = now)
      clearInterval(timer)
      cut()
      // A runtime that cannot cut (Deno's server writes nothing more to a client that reads nothing, and
      // settles nothing until it does) cannot tell when the socket goes: the connection stops counting now.
      if (wire.destroy === undefined) resolve()
    }, graceMs)
    void wire.closed.then(() => {
      clearInterval(timer)
      resolve()
    })
  })
}
