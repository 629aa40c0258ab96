/**
 * @module
 * Where a feed is in its history, and what of what arrives it shows: nothing at or before its cursor (no
 * event twice across reconnects), and the snapshot's pages so that a connection cut mid-snapshot asks for it
 * again rather than resuming as if it had it all, without showing twice what the cut one showed.
 */
import { compareCursors } from '../protocol/cursor.ts'
import type { FeedEvent } from './types.ts'

/** True when `a` is at or before `b` in one history; cursors of different epochs are never "before". */
const notAfter = (a: string, b: string | undefined) => b !== undefined && (compareCursors(a, b) ?? 1) <= 0

export class Position {
  /** Where the feed resumes from: the last event shown (or the snapshot's head). */
  cursor: string | undefined
  /** The next snapshot is the feed's own (after a connect without cursor, or a reset): it moves the cursor. */
  private awaiting = false
  /** Ids shown from the pages of a snapshot not yet complete. */
  private partial: Set<string> | undefined

  constructor(since: string | undefined) {
    this.cursor = since
  }

  /** A new connection: without a cursor, its first snapshot is the feed's own. */
  connecting(): void {
    this.awaiting = this.cursor === undefined
  }

  /** An event: shown (true) unless at or before the cursor; the cursor moves to it. */
  event(id: string): boolean {
    if (notAfter(id, this.cursor)) return false
    this.cursor = id
    return true
  }

  /** A snapshot page: the events of it to show. */
  snapshot(events: FeedEvent[], cursor: string, more: boolean): FeedEvent[] {
    // A snapshot for topics added later must not move the cursor: older events of the other topics may follow it.
    if (!this.awaiting && this.cursor !== undefined) return events
    const shown = (this.partial ??= new Set())
    const fresh = events.filter((e) => !shown.has(e.id))
    if (more) for (const e of fresh) shown.add(e.id)
    else {
      this.cursor = cursor
      this.awaiting = false
      this.partial = undefined
    }
    return fresh
  }

  /** The server dropped the position: the snapshot that follows is the feed's own. */
  reset(): void {
    this.awaiting = true
  }

  /** A poll answer's cursor: past events that did not match. */
  advance(cursor: string): void {
    if (!notAfter(cursor, this.cursor)) this.cursor = cursor
  }
}
