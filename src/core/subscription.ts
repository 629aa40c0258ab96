/**
 * @module
 * A subscription: one consumer's patterns, its position, and the seam that
 * joins a replay or snapshot to the live stream without a gap or a repeat.
 */
import { type Cursor, compareCursors, parseCursor } from '../protocol/cursor.ts'
import type { Grant } from './access.ts'
import { FeedError } from './errors.ts'
import type { PreparedEvent } from './prepared.ts'
import type { Sink, SubscriptionHost } from './subscription-ports.ts'
import { PatternSet } from './topic-index.ts'

/**
 * One consumer's set of patterns and its position. Adding patterns runs the
 * replay/live seam: the new patterns join the live index first, so live
 * events are buffered from that instant; the replay (or snapshot) is read
 * from the engine; then the buffer is flushed, skipping what the replay
 * already covered. Every matching event is therefore in the replay, the
 * buffer, or both, and never sent twice.
 */
export class Subscription {
  /**
   * The patterns, each once. An array, not a Set: every socket keeps one for its life, mostly of one pattern
   * (a Set of one costs ~150 bytes more); the rare bulk operations make a Set for the moment.
   */
  private list: string[] = []
  /** What the consumer's token grants; private events it does not cover are never sent. Replaced with `regrant`. */
  grant: Grant | undefined
  /** The patterns live when the grant last changed what it reads: a private topic only they match may have been held back. */
  private heldBack: readonly string[] | undefined
  /** Hub-internal: dedupes an event matched by two patterns of this subscription. */
  stamp = 0
  /** Events handed to the sink so far. */
  delivered = 0
  /** Last event id sent; nothing at or before it is sent again. */
  private last: string | undefined
  private buffering = false
  /** Live events held during a seam; none (not even an empty array) at other times. */
  private buffer: PreparedEvent[] | undefined
  private bufferedBytes = 0
  /** The buffer was dropped (too many events or bytes): what it held is read again from the engine. */
  private overflowed = false
  /** Patterns were live before this seam began: their events are only in the buffer, so it may not be dropped. */
  private hadLive = false
  /** Waiting for the consumer to take a page before the next is written. */
  private awaitingRoom = false
  /** The tail of the adds and resyncs still to run; undefined when none is (an idle consumer keeps no promise). */
  private queue: Promise<void> | undefined
  private closed = false
  /**
   * Patterns subscribed with `rewind` > 1, and their n: a subscribe's snapshot carries the last n events of each
   * topic of its own patterns, and a later subscribe's its own (1, the latest, unless it asks). After a reset the
   * snapshot of every pattern carries the most any of them asked for.
   */
  private rewinds: Map<string, number> | undefined // made at the first such subscribe: most have none

  constructor(
    private readonly host: SubscriptionHost,
    private readonly sink: Sink,
  ) {}

  deliver(p: PreparedEvent): void {
    // An ephemeral event has no place in the history: it goes out at once, seam or not, and moves nothing.
    if (!this.buffering || p.id === undefined) return this.send(p)
    if (this.overflowed) return // read again from the engine once the seam's page is out
    if (this.buffer !== undefined && (this.buffer.length >= this.host.bufferCap || this.bufferedBytes > this.host.bufferBytes)) {
      this.buffer = undefined
      this.bufferedBytes = 0
      this.overflowed = true
      // Events it had live are only here; and one that has not taken a page while all this went by is as
      // far behind as a live client closed at MAX_BUFFERED_BYTES: either resumes.
      if (this.hadLive || this.awaitingRoom) this.sink.overrun()
      return
    }
    this.buffer ??= []
    this.buffer.push(p)
    this.bufferedBytes += p.json.length
  }

  /**
   * Subscribes to more patterns. With `since` (only while nothing else is
   * subscribed: one position per subscription), replays what was missed;
   * without, sends the snapshot of the new patterns. Calls run one at a time.
   */
  add(patterns: string[], since?: Cursor, rewind = 1): Promise<void> {
    const run = (this.queue ?? Promise.resolve()).then(() => this.seam(patterns, since, rewind))
    this.enqueue(run.catch(() => {}))
    return run
  }

  private enqueue(work: Promise<void>): void {
    const tail: Promise<void> = work.then(() => {
      if (this.queue === tail) this.queue = undefined
    })
    this.queue = tail
  }

  /** A new token's grant (a refresh, or an `auth` frame). */
  regrant(grant: Grant | undefined): void {
    if (this.list.length > 0 && !sameReach(grant, this.grant)) this.heldBack = [...this.list]
    this.grant = grant
  }

  get patterns(): readonly string[] {
    return this.list
  }

  remove(patterns: readonly string[]): void {
    const drop = new Set(patterns)
    const before = this.list.length
    this.list = this.list.filter((p) => {
      if (!drop.has(p)) return true
      this.host.index.remove(p, this)
      this.rewinds?.delete(p)
      return false
    })
    if (this.list.length === 0) this.last = undefined
    if (this.list.length !== before) this.host.changed()
  }

  close(): void {
    this.closed = true
    this.remove(this.list)
    this.buffer = undefined
    this.host.forget(this)
  }

  /**
   * The live stream lost events (see Engine.onGap): tells the consumer
   * `reset`, then sends the snapshot of all its patterns, then goes live
   * again, through the same seam as a subscribe. Never silence.
   */
  resync(): void {
    // From now: live events of the new history wait for the reset and the snapshot, never go before them.
    if (!this.closed && this.list.length > 0) this.buffering = true
    this.enqueue((this.queue ?? Promise.resolve()).then(() => this.reseed()).catch((err: unknown) => this.sink.crashed(err)))
  }

  private async reseed(): Promise<void> {
    if (this.closed || this.list.length === 0) return
    this.startBuffering(false)
    try {
      this.sink.reset('stale_cursor')
      const set = this.host.access.readable([...this.list], this.grant)
      const rewind = Math.max(1, ...(this.rewinds?.values() ?? []))
      const covered = await this.catchUp(await this.sendSnapshot(set, rewind), set, rewind)
      if (covered !== undefined) await this.goLive(covered)
    } finally {
      this.stopBuffering()
    }
  }

  private startBuffering(hadLive: boolean): void {
    this.buffering = true
    this.hadLive = hadLive
    this.overflowed = false
  }

  private stopBuffering(): void {
    this.buffering = false
    this.buffer = undefined
    this.bufferedBytes = 0
    this.overflowed = false
  }

  /**
   * After a snapshot up to `covered`: if live events overflowed the buffer meanwhile, they are read from
   * the engine instead (a replay from `covered`); if the history no longer has them, reset and snapshot again.
   */
  private async catchUp(covered: string | undefined, set: PatternSet, rewind: number): Promise<string | undefined> {
    while (covered !== undefined && this.overflowed && !this.closed) {
      const replayed = await this.replay(parseCursor(covered)!, set)
      if (replayed !== undefined) return replayed
      this.overflowed = false
      this.sink.reset('stale_cursor')
      covered = await this.sendSnapshot(set, rewind)
    }
    return covered
  }

  private async seam(requested: string[], since: Cursor | undefined, rewind: number): Promise<void> {
    // Checked here, in turn, not when add() is called: an earlier add may still be queued.
    if (since && this.list.length > 0) throw new FeedError('since_not_first', '"since" is only accepted while nothing else is subscribed')
    const have = new Set(this.list)
    const fresh = requested.filter((p) => !have.has(p))
    if (fresh.length === 0 || this.closed) return
    const old = new PatternSet([...this.list])
    this.startBuffering(this.list.length > 0)
    for (const p of fresh) {
      this.list.push(p)
      this.host.index.add(p, this)
      if (rewind > 1) (this.rewinds ??= new Map()).set(p, rewind)
    }
    this.host.changed()
    try {
      const set = this.host.access.readable(fresh, this.grant)
      let covered = since ? await this.replay(since, set) : undefined
      if (since) this.host.stats.resumes[covered === undefined ? 'reset' : 'replayed']++
      if (covered === undefined) {
        if (since) this.sink.reset('stale_cursor')
        // A topic the patterns live before already matched had its latest event sent: its snapshot would repeat
        // it (a rewind asks for the history again, and gets it). Not so for a private topic since a new grant.
        const known = rewind === 1 && old.patterns.length > 0 ? this.known(old.patterns) : undefined
        covered = await this.catchUp(await this.sendSnapshot(set, rewind, known), set, rewind)
        if (covered === undefined) return
      }
      await this.goLive(covered, old)
    } catch (err) {
      this.remove(fresh)
      throw err
    } finally {
      this.stopBuffering()
    }
  }

  /**
   * The end of the seam: once live dispatch has passed `covered`, flushes the
   * buffer. Buffered events of patterns that were already live (`old`) are all
   * new to this consumer; the others only past what the replay or snapshot
   * covered. An event of another epoch than `covered` is never sent here: the
   * hub moved to a new history after the replay or snapshot was read, and the
   * resync it queued behind this seam resets the consumer and sends that
   * history's snapshot. Sent now, it would reach a consumer that was never told
   * of the reset (a long poll answers with it and ends, then resumes in the new
   * history as if nothing was lost).
   */
  private async goLive(covered: string, old?: PatternSet): Promise<void> {
    await this.host.reached(covered)
    if (this.closed) return
    const buffered = this.buffer ?? []
    this.buffer = undefined
    for (const p of buffered) {
      // (Buffered events are stored ones: ephemeral events are never held.)
      const order = p.id === undefined ? undefined : compareCursors(p.id, covered)
      if (order !== undefined && (order > 0 || old?.matches(p.event.topic))) this.send(p)
    }
    // Nothing at or before what the replay or snapshot covered is sent after it, even an event the hub
    // dispatches later: after a new epoch, `reached` cannot wait for a head of it while the hub is behind.
    // (Events of patterns live before this seam may still be older: then the last one sent stays the mark.)
    if (old === undefined || old.patterns.length === 0) {
      const order = this.last === undefined ? undefined : compareCursors(covered, this.last)
      if (order === undefined || order > 0) this.last = covered
    }
    this.sink.caughtUp?.(covered)
  }

  /** The topics of these live patterns whose every event was sent (or read before a `since`). */
  private known(patterns: readonly string[]): PatternSet {
    const { access } = this.host
    const grant = this.grant
    const heldBack = this.heldBack
    // A private topic counts only through a pattern subscribed since the grant last changed.
    const since = heldBack === undefined ? undefined : new PatternSet(patterns.filter((p) => !heldBack.includes(p)))
    return new PatternSet(patterns, (t) => access.mayRead(grant, t) && (since === undefined || !access.isPrivate(t) || since.matches(t)))
  }

  /**
   * Sends the snapshot page by page, all pages taken at the first page's head; resolves with that head, or
   * undefined once closed. Topics `known` matches are left out of the pages.
   */
  private async sendSnapshot(set: PatternSet, rewind: number, known?: PatternSet): Promise<string | undefined> {
    const maxBytes = this.sink.pageBytes
    let page = await this.host.engine.snapshot(set, { maxBytes, rewind })
    const upTo = page.cursor
    for (;;) {
      if (this.closed) return undefined
      this.sink.snapshot(known === undefined ? page.events : page.events.filter((e) => !known.matches(e.topic)), upTo, page.more)
      if (!page.more) return upTo
      // The next page only once this one drained: a large snapshot reaches a reader whole, never queued at once.
      await this.room()
      page = await this.host.engine.snapshot(set, { after: page.events.at(-1)!.id, upTo, maxBytes, rewind })
    }
  }

  /**
   * Sends every matching event after `since`, page by page, each once the one before drained; the cursor
   * it read up to, or undefined when stale. Live events that overflowed the buffer meanwhile are read on.
   */
  private async replay(since: Cursor, set: PatternSet): Promise<string | undefined> {
    let after = since
    for (;;) {
      // Cleared before the read: an overflow during it is read on by the next page.
      this.overflowed = false
      const r = await this.host.engine.read(after, set, this.host.pageSize, this.sink.pageBytes)
      if (r.stale) return undefined
      if (this.closed) return r.cursor
      for (const e of r.events) this.send(this.host.prepare(e))
      after = parseCursor(r.cursor)!
      // Caught up, unless live events overflowed the buffer meanwhile: then read on.
      if (!r.more && !this.overflowed) return r.cursor
      // Room for the next page; and other connections' work runs between pages, so a long replay starves no one.
      await this.room()
    }
  }

  private async room(): Promise<void> {
    this.awaitingRoom = true
    try {
      await this.sink.room()
    } finally {
      this.awaitingRoom = false
    }
  }

  private send(p: PreparedEvent): void {
    if (this.closed || (p.isPrivate && !this.host.access.mayRead(this.grant, p.event.topic))) return
    const id = p.id
    if (id !== undefined) {
      // At or before the last sent in the same history: a duplicate. Another epoch is a new history, never one.
      const order = this.last === undefined ? undefined : compareCursors(id, this.last)
      if (order !== undefined && order <= 0) return
      this.last = id
    }
    this.delivered++
    try {
      this.sink.event(p)
    } catch (err) {
      this.sink.crashed(err)
    }
  }
}

/** Whether two grants read the same topics (a refresh of the same token's claims does). */
function sameReach(a: Grant | undefined, b: Grant | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined || a.all !== b.all) return false
  // Patterns never hold a comma (the topic grammar).
  return a.subscribe.patterns.join() === b.subscribe.patterns.join()
}
