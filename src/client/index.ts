/**
 * livefeed client: one module for browsers, Deno and Node. It keeps a
 * cursor, reconnects with capped, fully jittered exponential backoff, resumes
 * from the cursor so nothing is lost, drops anything at or before it so
 * nothing is shown twice, and falls back WebSocket → SSE → long polling.
 */
import { covers } from '../protocol/grammar.ts'
import { CLIENT_TRANSPORT_ORDER } from '../protocol/transports.ts'
import { AddedSnapshots } from './added.ts'
import { FeedRequestError, fetchHistory } from './history.ts'
import { Ladder } from './ladder.ts'
import { OPENERS } from './openers.ts'
import { Position } from './position.ts'
import { PresenceTracker } from './presence.ts'
import { Publisher, postEvent, randomKey } from './publish.ts'
import { TokenKeeper } from './tokens.ts'
import type { Transport, TransportHandlers } from './transports.ts'
import type { ConnectOptions, FeedEvents, FeedHistory, FeedState, HistoryOptions, PublishedEvent, PublishOptions, TransportName } from './types.ts'

export type * from './types.ts'
export { FeedRequestError }

type Listener<K extends keyof FeedEvents> = (payload: FeedEvents[K]) => void
/** One connection attempt: its transport, whether it opened, and the topics it was made with. */
type Ref = { transport?: Transport; opened: boolean; topics: string[] }

export class LiveFeed {
  private readonly listeners = new Map<keyof FeedEvents, Set<(payload: never) => void>>()
  private readonly topics: Set<string>
  private readonly ladder: Ladder
  private current: Transport | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  /** Access tokens, when the application gives `getToken`. */
  private readonly tokens: TokenKeeper | undefined
  private readonly position: Position
  /** The snapshot of topics added where the connection cannot add them itself; it never moves the cursor. */
  private readonly added: AddedSnapshots
  private _state: FeedState = 'connecting'
  private readonly members = new PresenceTracker()
  private readonly publisher: Publisher

  constructor(
    private readonly base: URL,
    private readonly opts: ConnectOptions,
  ) {
    this.topics = new Set(opts.topics)
    this.tokens = opts.getToken && new TokenKeeper(opts.getToken, (token) => this.refreshed(token))
    this.publisher = new Publisher((topic, data, key) => postEvent(base, opts.fetch ?? fetch.bind(globalThis), this.tokens?.token, topic, data, key))
    this.position = new Position(opts.since)
    const open = () => this._state !== 'closed'
    this.added = new AddedSnapshots(
      { base, fetch: opts.fetch ?? fetch.bind(globalThis), token: () => this.tokens?.token },
      {
        snapshot: (events, cursor, more) => open() && this.emit('snapshot', { events, cursor, more }),
        error: (code, message) => open() && this.emit('error', { code, message }),
      },
    )
    const g = globalThis as { WebSocket?: unknown; EventSource?: unknown }
    const available: Record<TransportName, boolean> = {
      websocket: Boolean(opts.WebSocket ?? g.WebSocket),
      sse: Boolean(opts.EventSource ?? g.EventSource),
      poll: true,
    }
    const order = (opts.transports ?? CLIENT_TRANSPORT_ORDER).filter((t) => available[t])
    if (order.length === 0) throw new Error('livefeed: none of the requested transports is available here')
    this.ladder = new Ladder(order, opts)
    queueMicrotask(() => this.open())
  }

  /** Where the feed resumes from: the last event seen (or the snapshot's head). */
  get cursor(): string | undefined {
    return this.position.cursor
  }
  get state(): FeedState {
    return this._state
  }
  get transport(): TransportName | undefined {
    return this.current?.name
  }

  on<K extends keyof FeedEvents>(type: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(type)
    if (!set) this.listeners.set(type, (set = new Set()))
    set.add(fn)
    return () => void set.delete(fn)
  }

  subscribe(topics: string[]): void {
    const fresh = topics.filter((t) => !this.topics.has(t))
    if (fresh.length === 0) return
    for (const t of fresh) this.topics.add(t)
    this.change(fresh, 'subscribe')
  }

  unsubscribe(topics: string[]): void {
    const gone = topics.filter((t) => this.topics.delete(t))
    for (const t of gone) this.members.forget(t)
    if (gone.length > 0) this.change(gone, 'unsubscribe')
  }

  /** Whether a pattern the feed holds now matches the topic. */
  private wants(topic: string): boolean {
    if (this.topics.has(topic)) return true
    for (const p of this.topics) if (covers(p, topic)) return true
    return false
  }

  close(): void {
    clearTimeout(this.timer)
    this.tokens?.stop()
    this.current?.close()
    this.current = undefined
    this.publisher.cut() // publishes taken by the socket and not answered finish over HTTP
    this.setState('closed')
  }

  private change(topics: string[], op: 'subscribe' | 'unsubscribe'): void {
    if (this._state === 'closed') return
    const t = this.current
    // An attempt still opening was made with the set of before: it catches up once open (see `opened`).
    if (t !== undefined && this._state !== 'open') return
    if (t !== undefined) return this.apply(t, op === 'subscribe' ? topics : [], op === 'unsubscribe' ? topics : [])
    // No connection: the next one carries the new set and resumes from the cursor; the added topics' snapshot is read now.
    const since = this.position.cursor
    if (op === 'subscribe' && since !== undefined) this.added.read(topics, this.topics, since)
  }

  /** Brings an open connection to the feed's topics: on the socket where it can, else by reconnecting from the cursor. */
  private apply(t: Transport, added: string[], removed: string[]): void {
    if (t.subscribe && t.unsubscribe) {
      if (removed.length > 0) t.unsubscribe(removed)
      if (added.length > 0) t.subscribe(added)
      return
    }
    // SSE and polling carry the topics in the URL: reconnect with the new set from the cursor,
    // and fetch the new topics' snapshot as a WebSocket subscribe would send it.
    const since = this.position.cursor
    t.close()
    this.current = undefined
    this.open()
    if (added.length > 0 && since !== undefined) this.added.read(added, this.topics, since)
  }

  /**
   * Publishes one event: over the open WebSocket when there is one (the token must grant the topic in
   * `publish`, or the server's OPEN_PUBLISH_TOPICS match it), else `POST /api/events` with the token. Resolves
   * once stored, with the event (no `id` on an ephemeral topic); rejects with a `FeedRequestError` (its
   * `code`). Each publish has an idempotency key: after a cut it is sent again with it, and stored once.
   */
  publish(topic: string, data: unknown, options: PublishOptions = {}): Promise<PublishedEvent> {
    return this.publisher.publish(this._state === 'open' ? this.current : undefined, topic, data, options.key ?? randomKey())
  }

  /**
   * One topic's recent events (the server keeps TOPIC_HISTORY per topic), newest page first: pass the first
   * event's id as `before` for the page before it. Rejects with a `FeedRequestError` (its `code`).
   */
  history(topic: string, options?: HistoryOptions): Promise<FeedHistory> {
    return fetchHistory(this.base, this.opts.fetch ?? fetch.bind(globalThis), this.tokens?.token, topic, options)
  }

  /** A fresh token (when the feed uses tokens), then a connection. */
  private open(): void {
    if (this._state === 'closed') return
    if (!this.tokens) return this.connect()
    this.tokens.fetch().then(
      () => this.connect(),
      () => {
        // No token to be had now: try again later, as after any failed attempt.
        if (this._state === 'closed') return
        this.setState('reconnecting')
        clearTimeout(this.timer)
        this.timer = setTimeout(() => this.open(), this.ladder.backoff())
      },
    )
  }

  /** A token refreshed before expiry: onto the live connection where it can, else the next one. */
  private refreshed(token: string): void {
    const t = this.current
    if (!t || this._state !== 'open') return
    if (t.auth) return t.auth(token)
    // SSE carries the token in its URL: reconnect from the cursor. Polling reads the new token on its next request.
    if (t.name === 'sse') {
      t.close()
      this.current = undefined
      this.connect()
    }
  }

  private connect(): void {
    if (this._state === 'closed') return
    const o = this.opts
    const ref: Ref = { opened: false, topics: [...this.topics] }
    ref.transport = OPENERS[this.ladder.transport]({
      base: this.base,
      topics: ref.topics,
      cursor: this.position.cursor,
      rewind: this.opts.rewind,
      watch: { occupancy: this.opts.occupancy === true, presence: this.opts.presence === true },
      on: this.handlers(ref),
      WebSocket: o.WebSocket ?? (globalThis as { WebSocket?: ConnectOptions['WebSocket'] }).WebSocket,
      EventSource: o.EventSource ?? (globalThis as { EventSource?: ConnectOptions['EventSource'] }).EventSource,
      fetch: o.fetch ?? fetch.bind(globalThis),
      pollWaitS: o.pollWaitS ?? 25,
      token: () => this.tokens?.token,
    })
    this.current = ref.transport
    this.position.connecting()
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      if (ref.opened || this.current !== ref.transport) return
      ref.transport!.close()
      this.dropped(ref.transport!, false)
    }, o.connectTimeoutMs ?? 10_000)
  }

  /** Callbacks for one transport; once it is no longer the current one, they do nothing. */
  private handlers(ref: Ref): TransportHandlers {
    const self = this
    const mine = () => ref.transport !== undefined && ref.transport === self.current
    return {
      opened() {
        if (!mine()) return
        ref.opened = true
        clearTimeout(self.timer)
        self.ladder.opened()
        self.setState('open')
        if (self.ladder.fellBack) self.scheduleRetryBetter()
        // Topics added or dropped while it was opening: it was made with the set of then.
        const added = [...self.topics].filter((p) => !ref.topics.includes(p))
        const removed = ref.topics.filter((p) => !self.topics.has(p))
        if (added.length > 0 || removed.length > 0) self.apply(ref.transport!, added, removed)
      },
      event(e) {
        // The cursor moves past it either way; a topic unsubscribed while its events were on the way is not shown.
        if (!mine() || !self.position.event(e.id) || !self.wants(e.topic)) return
        self.added.shown(e.topic)
        self.emit('event', e)
      },
      snapshot(events, cursor, more) {
        if (mine()) self.emit('snapshot', { events: self.position.snapshot(events, cursor, more), cursor, more })
      },
      reset(reason) {
        if (!mine()) return
        self.position.reset()
        self.emit('reset', { reason })
      },
      advance(cursor) {
        if (mine()) self.position.advance(cursor)
      },
      error(code, message) {
        if (mine()) self.emit('error', { code, message })
      },
      ephemeral(e) {
        if (mine()) self.emit('ephemeral', e)
      },
      published(ref, event) {
        self.publisher.published(ref, event)
      },
      refused(ref, code, message) {
        self.publisher.refused(ref, code, message)
      },
      occupancy(topic, subscribers) {
        if (mine() && self.topics.has(topic)) self.emit('occupancy', { topic, subscribers })
      },
      presence(message) {
        const shown = mine() && self.topics.has(message.topic) ? self.members.apply(message) : undefined
        if (shown) self.emit('presence', shown)
      },
      closed() {
        // Publishes the socket took but never answered go again over HTTP, with their keys.
        self.publisher.cut()
        if (mine()) self.dropped(ref.transport!, ref.opened)
      },
    }
  }

  /** A transport ended. If it never opened, the next one is tried; otherwise the same one resumes. */
  private dropped(transport: Transport, everOpened: boolean): void {
    if (this.current !== transport || this._state === 'closed') return
    this.current = undefined
    this.setState('reconnecting')
    const delay = this.ladder.dropped(everOpened)
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.open(), delay)
  }

  /** On a fallback, go back to the preferred transports after a while (the proxy may have changed). */
  private scheduleRetryBetter(): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      const t = this.current
      if (!t || this._state !== 'open' || !this.ladder.fellBack) return
      this.ladder.top()
      t.close()
      this.current = undefined
      this.setState('reconnecting')
      this.open()
    }, this.ladder.retryBetterIn())
  }

  private setState(state: FeedState): void {
    if (this._state === state && state !== 'open') return
    this._state = state
    this.emit('status', { state, transport: this.current?.name })
  }

  private emit<K extends keyof FeedEvents>(type: K, payload: FeedEvents[K]): void {
    for (const fn of this.listeners.get(type) ?? []) (fn as Listener<K>)(payload)
  }
}

/** Connects to a livefeed server, e.g. connect('https://feed.example.com', { topics: ['scores/**'] }). */
export function connect(url: string | URL, opts: ConnectOptions): LiveFeed {
  return new LiveFeed(new URL(url), opts)
}
