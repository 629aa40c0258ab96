/**
 * @module
 * The soak's subscribers: a raw WebSocket, a raw SSE reader, a long poller,
 * and the SDK, each resuming from the last event it saw whenever its
 * connection ends (a cut of ours, a drained or killed instance, an engine
 * error), the way a real client does. Each feeds a `Tally`.
 */
import { EventSource } from 'eventsource'
import WebSocket from 'ws'
import { type ConnectOptions, connect, type LiveFeed } from '../../src/client/index.ts'
import { patternOf, type Tally } from './tally.ts'

export type Kind = 'ws' | 'sse' | 'poll' | 'sdk'

/** The share of the soak's subscribers of each kind. */
export const MIX: [Kind, number][] = [
  ['ws', 0.5],
  ['sse', 0.2],
  ['poll', 0.15],
  ['sdk', 0.15],
]

/** An event as every transport carries it; the soak's `data` is `{ n }`. */
interface Wire {
  id: string
  ts: number
  data: unknown
}
const nOf = (data: unknown): number | undefined => (typeof data === 'object' && data !== null && 'n' in data && typeof data.n === 'number' ? data.n : undefined)

/** What every soak subscriber does: start, be cut (it reconnects and resumes), stop. */
export abstract class Subscriber {
  protected running = false
  /** Something a client must never get in a soak (a frame outside the protocol, an HTTP 4xx). */
  readonly problems: string[] = []

  constructor(
    readonly kind: Kind,
    protected readonly base: string,
    readonly tally: Tally,
    /** Where to resume when nothing was seen yet: the head before publishing began. */
    protected readonly start: string,
  ) {}

  protected get pattern(): string {
    return patternOf(this.tally.interest)
  }
  protected get since(): string {
    return this.tally.lastId ?? this.start
  }
  protected wire(e: Wire): void {
    const n = nOf(e.data)
    if (n === undefined) return this.problem(`an event without n: ${JSON.stringify(e.data).slice(0, 100)}`)
    this.tally.see(n, e.id, e.ts)
  }
  protected problem(p: string): void {
    if (this.problems.length < 10) this.problems.push(p)
  }

  private reopening = false
  /** Reconnects after a short, jittered pause (pacing, as a client's backoff; not synchronisation); once, however often it is asked. */
  protected again(): void {
    if (!this.running || this.reopening) return
    this.reopening = true
    this.tally.reconnects++
    setTimeout(
      () => {
        this.reopening = false
        if (this.running) this.open()
      },
      50 + Math.random() * 250,
    )
  }

  begin(): void {
    this.running = true
    this.open()
  }
  abstract open(): void
  /** Whether a connection of this subscriber is still open or opening (after stop(), none must be). */
  abstract connected(): boolean
  /** A few words on its state, for a report. */
  describe(): string {
    return ''
  }
  /** Drops the connection as a flaky network would; the subscriber resumes. */
  abstract cut(): void
  stop(): void {
    this.running = false
    this.cut()
  }
}

export class WsSubscriber extends Subscriber {
  private ws: WebSocket | undefined
  /** Resolves once subscribed (for the start of the run). */
  subscribed: Promise<void> | undefined
  open(): void {
    const ws = new WebSocket(`${this.base.replace('http', 'ws')}/ws?topics=${this.pattern}&since=${this.since}`, { perMessageDeflate: false })
    this.ws = ws
    let markSubscribed: () => void = () => {}
    this.subscribed ??= new Promise((resolve) => (markSubscribed = resolve))
    ws.on('message', (d) => {
      const f = JSON.parse(String(d)) as { type: string; code?: string } & Wire
      if (f.type === 'event') this.wire(f)
      else if (f.type === 'subscribed') markSubscribed()
      else if (f.type === 'reset') this.tally.resets++
      // The subscribe could not be served (the engine is down): the socket stays open, unsubscribed; resume anew.
      else if (f.type === 'error') {
        if (f.code !== 'engine_unavailable') this.problem(`ws error frame ${f.code}`)
        ws.terminate()
      }
    })
    ws.on('error', () => {})
    ws.on('close', () => this.ws === ws && this.again())
  }
  cut(): void {
    this.ws?.terminate()
  }
  connected(): boolean {
    // terminate() makes it CLOSING at once and CLOSED when the socket is gone: either is let go.
    return this.ws !== undefined && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
  }
}

export class SseSubscriber extends Subscriber {
  private abort: AbortController | undefined
  open(): void {
    const abort = new AbortController()
    this.abort = abort
    void this.read(abort.signal).finally(() => this.abort === abort && this.again())
  }
  private async read(signal: AbortSignal): Promise<void> {
    let res: Response
    try {
      res = await fetch(`${this.base}/sse?topics=${this.pattern}&since=${this.since}`, { signal })
    } catch {
      return
    }
    // 502 (an instance just died behind the proxy), 503 (draining): retry. A 4xx is a bug.
    if (res.status !== 200) {
      if (res.status < 500) this.problem(`sse ${res.status}`)
      return void res.body?.cancel().catch(() => {})
    }
    let buf = ''
    const decoder = new TextDecoder()
    try {
      const reader = res.body!.getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buf += decoder.decode(value, { stream: true })
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          this.message(buf.slice(0, i))
          buf = buf.slice(i + 2)
        }
      }
    } catch {
      // cut, or the instance went away: resume
    }
  }
  connected(): boolean {
    return this.abort !== undefined && !this.abort.signal.aborted
  }
  private message(block: string): void {
    let event = 'message'
    let data = ''
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data += line.slice(6)
    }
    if (event === 'message' && data) this.wire(JSON.parse(data) as Wire)
    else if (event === 'reset') this.tally.resets++
    else if (event === 'feed-error' && !data.includes('engine_unavailable')) this.problem(`sse feed-error ${data}`)
  }
  cut(): void {
    this.abort?.abort()
  }
}

export class PollSubscriber extends Subscriber {
  private abort: AbortController | undefined
  /** The scan position the last answer gave (it may be past the last event seen). */
  private cursor: string | undefined
  open(): void {
    const abort = new AbortController()
    this.abort = abort
    void this.loop(abort.signal).finally(() => this.abort === abort && this.again())
  }
  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let res: Response
      try {
        res = await fetch(`${this.base}/poll?topics=${this.pattern}&cursor=${this.cursor ?? this.since}&wait=5`, { signal })
      } catch {
        return
      }
      if (res.status !== 200) {
        if (res.status < 500) this.problem(`poll ${res.status}`)
        await res.body?.cancel().catch(() => {})
        return
      }
      let body: { events?: Wire[]; cursor: string; reset?: true }
      try {
        body = (await res.json()) as typeof body
      } catch {
        return // cut mid-answer: resume from what was taken
      }
      if (body.reset) this.tally.resets++
      for (const e of body.events ?? []) this.wire(e)
      this.cursor = body.cursor
    }
  }
  connected(): boolean {
    return this.abort !== undefined && !this.abort.signal.aborted
  }
  cut(): void {
    // A cut poll resumes from the last event it took, not from a scan position it may not have kept.
    this.cursor = undefined
    this.abort?.abort()
  }
}

/** The SDK with its own reconnects and fallbacks; a cut closes it and connects a new one from its cursor. */
export class SdkSubscriber extends Subscriber {
  private feed: LiveFeed | undefined
  open(): void {
    const feed = connect(this.base, {
      topics: [this.pattern],
      since: this.since,
      WebSocket: WebSocket as unknown as ConnectOptions['WebSocket'],
      EventSource: EventSource as unknown as ConnectOptions['EventSource'],
      backoff: { initialMs: 50, maxMs: 1000 },
      pollWaitS: 5,
    })
    this.feed = feed
    feed.on('event', (e) => this.wire(e))
    feed.on('reset', () => this.tally.resets++)
    feed.on('error', (e) => e.code !== 'engine_unavailable' && this.problem(`sdk error ${e.code}`))
  }
  cut(): void {
    this.feed?.close()
    if (this.running) this.again()
  }
  connected(): boolean {
    return this.feed !== undefined && this.feed.state !== 'closed'
  }
  override describe(): string {
    return this.feed ? `, ${this.feed.state} on ${this.feed.transport ?? 'nothing'}` : ''
  }
}
