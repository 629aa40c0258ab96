/**
 * @module
 * Server-side cursor helpers: parsing what a client sent, and making new
 * epochs and positions. The format itself is the protocol's (`src/protocol/cursor.ts`).
 */
import { type Cursor, compareCursors, parseCursor } from '../protocol/cursor.ts'
import { FeedError } from './errors.ts'

export { type Cursor, compareCursors, formatCursor, isAfter, parseCursor } from '../protocol/cursor.ts'

/** Parses a client-supplied cursor; 400 invalid_cursor when it is not one. */
export function requireCursor(value: string): Cursor {
  const c = parseCursor(value)
  if (!c) throw new FeedError('invalid_cursor', `"${value.slice(0, 100)}" is not a livefeed cursor`)
  return c
}

/** Fixed-width base36, so string order is numeric order. */
export function base36(n: number, width: number): string {
  return n.toString(36).padStart(width, '0')
}

/** A fresh epoch: a new history (a memory engine's process, a Redis stream's life), so old cursors read as stale. */
export function newEpoch(): string {
  const rnd = crypto.getRandomValues(new Uint8Array(2))
  return Date.now().toString(36) + base36(rnd[0]! * 256 + rnd[1]!, 4)
}

/** Sort order of events in snapshots: by cursor; events of different epochs (after a history was lost) by time. */
export function byCursor(a: { id: string; ts: number }, b: { id: string; ts: number }): number {
  return compareCursors(a.id, b.id) ?? a.ts - b.ts
}
