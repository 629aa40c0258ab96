import net from 'node:net'
import { until } from '../../harness/wait.ts'

export interface SseMessage {
  event: string
  id?: string
  data: string
}

/** Reads a text/event-stream over fetch and records every message, as the SSE spec parses them. */
export class SseReader {
  readonly messages: SseMessage[] = []
  status = 0
  headers: Headers | undefined
  ended = false
  private readonly abort = new AbortController()
  readonly done: Promise<void>

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.read(url, headers)
      .catch(() => {})
      .finally(() => (this.ended = true))
  }

  private async read(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(url, { headers, signal: this.abort.signal })
    this.status = res.status
    this.headers = res.headers
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buf = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buf += value
      let i: number
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        const msg: SseMessage = { event: 'message', data: '' }
        const data: string[] = []
        let any = false
        for (const line of block.split('\n')) {
          if (line.startsWith(':') || line === '') continue
          const [field, ...rest] = line.split(':')
          const value = rest.join(':').replace(/^ /, '')
          if (field === 'data') data.push(value)
          else if (field === 'event') msg.event = value
          else if (field === 'id') msg.id = value
          else continue
          any = true
        }
        if (any && data.length) this.messages.push({ ...msg, data: data.join('\n') })
      }
    }
  }

  of(event: string): SseMessage[] {
    return this.messages.filter((m) => m.event === event)
  }

  async waitFor(event: string, count: number, timeoutMs = 5000): Promise<SseMessage[]> {
    await until(`${count} SSE "${event}" message(s)`, () => (this.of(event).length >= count ? true : undefined), timeoutMs)
    return this.of(event)
  }

  /** Waits until the message with this id (a sentinel) has arrived; resolves with every message event. */
  async waitId(id: string, timeoutMs = 10_000): Promise<SseMessage[]> {
    await until(`SSE message ${id}`, () => (this.of('message').some((m) => m.id === id) ? true : undefined), timeoutMs)
    return this.of('message')
  }

  close(): void {
    this.abort.abort()
  }
}

/** An SSE request over a raw socket that stops reading once the stream has begun: it fills the kernel's buffers, then the server's. */
export function stalledSse(port: number, topics: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`GET /sse?topics=${topics} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`))
    sock.once('data', () => (sock.pause(), resolve(sock)))
    sock.on('error', () => {})
  })
}
