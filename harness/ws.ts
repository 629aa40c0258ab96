import * as v from 'valibot'
import WebSocket from 'ws'
import { describeIssues } from '../src/protocol/issues.ts'
import { type ServerFrame, serverFrame } from '../src/protocol/ws.ts'
import { until } from './wait.ts'

/** A frame the server sent, as the protocol describes it. */
export type Frame = ServerFrame
export type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>
/** An event frame of a stored event: it has its id (cursor). */
export type StoredEventFrame = FrameOf<'event'> & { id: string }

/**
 * A real WebSocket client that records every frame and its close, and waits on
 * them with bounded timeouts. Every frame is checked against the protocol's
 * schema: one that does not fit is recorded in `violations`, and fails `frames` readers.
 */
export class WsClient {
  readonly frames: Frame[] = []
  /** Frames that did not fit the protocol. */
  readonly violations: string[] = []
  readonly ws: WebSocket
  closeCode: number | undefined
  closeReason = ''
  readonly opened: Promise<void>
  readonly closed: Promise<number>

  constructor(url: string) {
    this.ws = new WebSocket(url)
    this.ws.on('message', (d) => {
      const r = v.safeParse(serverFrame, JSON.parse(d.toString()))
      if (r.success) this.frames.push(r.output)
      else this.violations.push(`${describeIssues(r.issues)}: ${d.toString().slice(0, 200)}`)
    })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
    })
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        this.closeCode = code
        this.closeReason = reason.toString()
        resolve(code)
      }),
    )
    this.opened.catch(() => {})
  }

  static async open(url: string): Promise<WsClient> {
    const c = new WsClient(url)
    await c.opened
    return c
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  of<T extends Frame['type']>(type: T): FrameOf<T>[] {
    if (this.violations.length) throw new Error(`frames outside the protocol: ${this.violations.join('; ')}`)
    return this.frames.filter((f): f is FrameOf<T> => f.type === type)
  }

  /** Events of stored topics (with an id); events of ephemeral topics are in `ephemeral()`. */
  events(): StoredEventFrame[] {
    return this.of('event').filter((f): f is StoredEventFrame => f.id !== undefined)
  }

  /** Events of ephemeral topics: no id. */
  ephemeral(): FrameOf<'event'>[] {
    return this.of('event').filter((f) => f.id === undefined)
  }

  /** Waits for the n-th frame (1-based) of a type. */
  nth<T extends Frame['type']>(type: T, n = 1, timeoutMs = 5000): Promise<FrameOf<T>> {
    return until(`${n} "${type}" frame(s)`, () => this.of(type)[n - 1], timeoutMs)
  }

  /** Waits until `count` event frames have arrived. */
  async waitEvents(count: number, timeoutMs = 5000): Promise<StoredEventFrame[]> {
    await until(
      () => `${count} events (have ${this.events().length})`,
      () => (this.events().length >= count ? true : undefined),
      timeoutMs,
    )
    return this.events()
  }

  /** Waits until the event with this id (a sentinel) has arrived: everything before it has too. */
  async waitId(id: string, timeoutMs = 10_000): Promise<StoredEventFrame[]> {
    await until(
      () => `event ${id} (have ${this.events().length} events${this.closeCode === undefined ? '' : `; closed ${this.closeCode}`})`,
      () => (this.events().some((e) => e.id === id) ? true : undefined),
      timeoutMs,
    )
    return this.events()
  }

  async waitClose(timeoutMs = 5000): Promise<number> {
    return until('close', () => this.closeCode, timeoutMs)
  }

  close(): void {
    this.ws.close()
  }
}
