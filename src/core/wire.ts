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
  /**
   * The response's body written straight to the connection, where the runtime can (Node): the transport's
   * handler answers with a null body and the runtime sends the head once every middleware had its say.
   * Without it the body is a `ReadableStream` (`StreamSink`). At most one per response.
   */
  sink?(): BodySink
}

/** A response body the transport writes bytes into; what the client has not taken yet is counted. */
export interface BodySink {
  /** Queues the bytes after those written before (a buffer shared with other sinks is not copied). */
  write(bytes: Uint8Array): void
  /** Bytes written that the client has not taken yet (the runtime's and the kernel-bound buffers). */
  queued(): number
  /** Ends the body after what was written. */
  end(): void
  /** Ends it now, dropping what waits: the body errors, which aborts the connection. */
  abort(): void
  /** Calls back once the client is gone before the end (it cancelled, or its connection closed). */
  onGone(callback: () => void): void
  /** The body to answer with: a stream, or null where the runtime writes the body itself. */
  readonly body: ReadableStream<Uint8Array> | null
}

/**
 * The portable sink: a byte stream the runtime's server reads. highWaterMark 0 and byte sizes make
 * `desiredSize` minus the bytes waiting to be taken.
 */
export class StreamSink implements BodySink {
  readonly body: ReadableStream<Uint8Array>
  private controller!: ReadableStreamDefaultController<Uint8Array>
  private cancelled = false
  private gone: (() => void) | undefined

  constructor() {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (this.controller = controller),
        cancel: () => {
          this.cancelled = true
          this.gone?.()
        },
      },
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    )
  }
  write(bytes: Uint8Array): void {
    if (!this.cancelled) this.controller.enqueue(bytes)
  }
  queued(): number {
    return this.cancelled ? 0 : -(this.controller.desiredSize ?? 0)
  }
  end(): void {
    if (!this.cancelled) this.controller.close()
  }
  abort(): void {
    if (!this.cancelled) this.controller.error(new Error('livefeed: stream cut'))
  }
  onGone(callback: () => void): void {
    this.gone = callback
  }
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
