/**
 * @module
 * Node's SSE fast path: a stream's bytes written straight to its `ServerResponse`, corked until the loop
 * turn's check phase as WebSocket frames are (`FrameWriter.cork`), so a turn's messages leave in one write.
 * Through a `ReadableStream` node-server reads a chunk at a time, a promise and a write each: with large
 * events fanned out to many streams that made the loop stall 1.4× as long as WebSocket did.
 *
 * The handler answers with a null body; `takeOver` wraps the app's `fetch` and, once every middleware has
 * set its headers, writes the head itself and answers node-server `RESPONSE_ALREADY_SENT` (its documented
 * way to say the response was written through `c.env.outgoing`).
 */
import { ServerResponse } from 'node:http'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { BodySink } from '../core/wire.ts'
import type { FrameWriter } from './node-frames.ts'

/** One response's body, written to the response itself; what is written before the head waits here. */
class ResponseSink implements BodySink {
  readonly body = null
  private early: Uint8Array[] | undefined = []
  private earlyBytes = 0
  private ending = false
  private gone: (() => void) | undefined

  constructor(
    private readonly res: ServerResponse,
    private readonly frames: FrameWriter,
  ) {
    // Closed before the body's end was handed over: the client went.
    res.once('close', () => {
      if (!res.writableFinished) this.gone?.()
    })
  }

  /** Sends the head (the app's answer, every middleware's headers in it) and what was written so far. */
  open(answer: Response): void {
    const head: Record<string, string | string[]> = {}
    for (const [name, value] of answer.headers) {
      const had = head[name]
      // Set-Cookie is the one header that cannot be folded into one line.
      head[name] = had === undefined ? value : name === 'set-cookie' ? [...(Array.isArray(had) ? had : [had]), value] : `${had}, ${value}`
    }
    this.res.writeHead(answer.status, head)
    const early = this.early ?? []
    this.early = undefined
    this.earlyBytes = 0
    for (const bytes of early) this.put(bytes)
    if (this.ending) this.res.end()
    else if (early.length === 0) this.res.flushHeaders() // the client knows the stream is open
  }

  write(bytes: Uint8Array): void {
    if (this.early === undefined) return this.put(bytes)
    this.early.push(bytes)
    this.earlyBytes += bytes.byteLength
  }

  queued(): number {
    // The response's own buffer, the chunked-encoding framing and the socket's buffer (Node sums them).
    return this.earlyBytes + this.res.writableLength
  }

  end(): void {
    if (this.early === undefined) this.res.end()
    else this.ending = true
  }

  abort(): void {
    this.res.destroy()
  }

  onGone(callback: () => void): void {
    this.gone = callback
  }

  private put(bytes: Uint8Array): void {
    if (this.res.destroyed || this.res.writableEnded) return
    const socket = this.res.socket
    if (socket !== null) this.frames.cork(socket)
    this.res.write(bytes)
  }
}

/** Hands out response sinks and sends their heads: see the module's comment. */
export class ResponseSinks {
  private readonly taken = new WeakMap<ServerResponse, ResponseSink>()

  constructor(private readonly frames: FrameWriter) {}

  /** The sink of a response; the same one if asked again. */
  sinkFor(res: ServerResponse): BodySink {
    let sink = this.taken.get(res)
    if (sink === undefined) {
      sink = new ResponseSink(res, this.frames)
      this.taken.set(res, sink)
    }
    return sink
  }

  /** The app's `fetch`, where a response whose body a sink writes gets its head from the sink. */
  takeOver<E extends { outgoing?: unknown }>(fetch: (req: Request, env: E) => Response | Promise<Response>) {
    return async (req: Request, env: E): Promise<Response> => {
      const answer = await fetch(req, env)
      const sink = env.outgoing instanceof ServerResponse ? this.taken.get(env.outgoing) : undefined
      if (sink === undefined) return answer
      sink.open(answer)
      return RESPONSE_ALREADY_SENT
    }
  }
}
