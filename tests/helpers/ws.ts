import WebSocket from 'ws'
import { until } from './wait.ts'

export type Frame = { type: string; id?: string; [k: string]: any }

/** A real WebSocket client that records every frame and its close, and waits on them with bounded timeouts. */
export class WsClient {
  readonly frames: Frame[] = []
  readonly ws: WebSocket
  closeCode: number | undefined
  closeReason = ''
  readonly opened: Promise<void>
  readonly closed: Promise<number>

  constructor(url: string) {
    this.ws = new WebSocket(url)
    this.ws.on('message', (d) => this.frames.push(JSON.parse(d.toString())))
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

  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type)
  }

  events(): Frame[] {
    return this.of('event')
  }

  /** Waits for the n-th frame (1-based) of a type. */
  nth(type: string, n = 1, timeoutMs = 5000): Promise<Frame> {
    return until(`${n} "${type}" frame(s)`, () => this.of(type)[n - 1], timeoutMs)
  }

  /** Waits until `count` event frames have arrived. */
  async waitEvents(count: number, timeoutMs = 5000): Promise<Frame[]> {
    await until(`${count} events (have ${this.events().length})`, () => (this.events().length >= count ? true : undefined), timeoutMs)
    return this.events()
  }

  async waitClose(timeoutMs = 5000): Promise<number> {
    return until('close', () => this.closeCode, timeoutMs)
  }

  close(): void {
    this.ws.close()
  }
}
