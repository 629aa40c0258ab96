/**
 * @module
 * Node's fan-out fast path: an event's whole WebSocket frame (header and
 * payload) is built once, as one Buffer, and the same bytes are written to
 * every socket, instead of `ws` encoding the string and framing it again for
 * each subscriber (socket.io does the same through `ws`' `Sender.frame`, which
 * @types/ws does not declare; an unmasked server frame is a 2-10 byte header).
 *
 * It writes to the TCP socket under a `ws` WebSocket (`_socket`, private to
 * `ws`): safe because livefeed never uses permessage-deflate or Blob frames,
 * the only cases in which `ws` queues frames itself. `ws` is pinned to an exact
 * version in package.json; tests/fast/node-frames.test.ts reads the frames back
 * with `ws`' own Receiver. Without a socket it falls back to `ws.send()`.
 */
import { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { PreparedEvent } from '../core/prepared.ts'
import type { EventWriter } from '../http/ws.ts'

/** A complete unmasked final text frame (RFC 6455 §5.2), ready to write. */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text)
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const frame = Buffer.allocUnsafe(header + length)
  frame[0] = 0x81 // FIN, opcode 1 (text)
  if (header === 2) frame[1] = length
  else if (header === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeBigUInt64BE(BigInt(length), 2)
  }
  frame.write(text, header, 'utf8')
  return frame
}

/** The TCP socket under a `ws` WebSocket, or undefined if this `ws` does not have one where expected. */
function socketOf(ws: WebSocket): Socket | undefined {
  const s: unknown = Reflect.get(ws, '_socket')
  return s instanceof Socket ? s : undefined
}

/** One socket's writer; an object, not a closure: every open socket keeps one (~50 bytes instead of ~110). */
class SocketWriter implements EventWriter {
  constructor(
    private readonly frames: FrameWriter,
    private readonly ws: WebSocket,
    private readonly socket: Socket,
  ) {}

  write(p: PreparedEvent, maxBuffered: number): boolean {
    return this.put(this.frames.frameOf(p), maxBuffered)
  }

  text(frame: string, maxBuffered: number): boolean {
    return this.put(textFrame(frame), maxBuffered)
  }

  private put(frame: Buffer, maxBuffered: number): boolean {
    // Nothing after ws' close frame; ws' own queue is empty without deflate or Blobs, so the socket's is all.
    if (this.ws.readyState !== 1) return true
    if (this.socket.writableLength > maxBuffered) return false
    this.frames.cork(this.socket)
    this.socket.write(frame)
    return true
  }
}

/**
 * Writes events' frames to sockets, building each frame once. Dispatch hands
 * one event to all its subscribers before the next, so remembering the last
 * event is enough to build each frame once. A socket written to is corked until
 * the event loop's check phase, so all the frames due to it in one turn of the
 * loop (the events of every publish read in that turn) leave in one write.
 */
export class FrameWriter {
  private last: PreparedEvent | undefined
  private frame: Buffer = Buffer.alloc(0)
  private corked: Socket[] = []
  private readonly uncorkAll = (): void => {
    const list = this.corked
    this.corked = []
    for (const socket of list) socket.uncork()
  }

  /**
   * The writer of a WebSocket that just opened (see `SocketOps.eventWriter`); undefined if `ws` has no socket
   * where expected. The socket is corked for the rest of this turn too: what the open sends leaves in one write.
   */
  writerFor(ws: WebSocket): EventWriter | undefined {
    const socket = socketOf(ws)
    if (socket === undefined) return undefined
    this.cork(socket)
    return new SocketWriter(this, ws, socket)
  }

  /** The event's frame, built once for all the sockets it goes to. */
  frameOf(p: PreparedEvent): Buffer {
    if (p !== this.last) {
      this.frame = textFrame(p.wsFrame)
      this.last = p
    }
    return this.frame
  }

  /**
   * Corks a socket until this turn's check phase. Called as `ws` writes the 101 of an upgrade (its `headers`
   * event), so the 101 and what the open sends leave in one write: the session opens in the same turn.
   */
  cork(socket: Socket): void {
    if (socket.writableCorked > 0) return
    socket.cork()
    if (this.corked.push(socket) === 1) setImmediate(this.uncorkAll)
  }
}
