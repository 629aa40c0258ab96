/**
 * @module
 * Conflation: the events held for a client that fell behind (more than
 * CONFLATE_AFTER queued), in cursor order. On a conflated topic only the
 * newest pending event is kept, and it says how many it replaced; every other
 * event is kept as it is. What leaves the backlog is therefore still in cursor
 * order, and the only events a client never gets are older values of a
 * conflated topic that a newer one superseded.
 */
import type { PreparedEvent } from './prepared.ts'

export interface Held {
  readonly p: PreparedEvent
  /** Older events of its topic this one replaced (0: none). */
  readonly replaced: number
  dead: boolean
}

export class Backlog {
  private entries: Held[] = []
  private head = 0
  /** Superseded entries not yet passed by `head`. */
  private dead = 0
  /** The live entry of each conflated topic. */
  private readonly newest = new Map<string, Held>()
  /** Bytes of the live entries' JSON: counted against MAX_BUFFERED_BYTES with what the socket holds. */
  bytes = 0

  /** Events still to send (superseded ones not counted). */
  get size(): number {
    return this.entries.length - this.head - this.dead
  }

  /** Holds an event; on a conflated topic it replaces the pending one of that topic. */
  push(p: PreparedEvent, conflate: boolean): void {
    let replaced = 0
    if (conflate) {
      const prev = this.newest.get(p.event.topic)
      if (prev !== undefined) {
        prev.dead = true
        this.dead++
        this.bytes -= prev.p.json.length
        replaced = prev.replaced + 1
      }
    }
    const held: Held = { p, replaced, dead: false }
    if (conflate) this.newest.set(p.event.topic, held)
    this.entries.push(held)
    this.bytes += p.json.length
    // Superseded entries wait in place for their turn to be skipped; past half the array, drop them.
    if (this.dead > 64 && this.dead * 2 > this.entries.length - this.head) this.compact()
  }

  /** The oldest live event, removed; undefined when none is left. */
  shift(): Held | undefined {
    while (this.head < this.entries.length) {
      const held = this.entries[this.head++]!
      if (held.dead) {
        this.dead--
        continue
      }
      if (this.newest.get(held.p.event.topic) === held) this.newest.delete(held.p.event.topic)
      this.bytes -= held.p.json.length
      if (this.head === this.entries.length) this.reset()
      return held
    }
    this.reset()
    return undefined
  }

  private compact(): void {
    this.entries = this.entries.slice(this.head).filter((h) => !h.dead)
    this.head = 0
    this.dead = 0
  }

  private reset(): void {
    this.entries = []
    this.head = 0
    this.dead = 0
  }
}
