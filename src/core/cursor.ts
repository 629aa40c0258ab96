import { FeedError } from './errors.ts'

/**
 * A cursor is "<epoch>-<position>". Clients treat it as opaque. The epoch
 * names one history (a memory engine's process, a Redis stream's life), so a
 * cursor from a history that is gone is recognised as stale rather than
 * misread. Positions are fixed-width base36 chosen by the engine, so two
 * cursors of one epoch compare as plain strings in publish order.
 */
export interface Cursor {
  epoch: string
  pos: string
}

const CURSOR = /^([0-9a-z]{1,16})-([0-9a-z]{1,32})$/

export function formatCursor(epoch: string, pos: string): string {
  return `${epoch}-${pos}`
}

export function parseCursor(value: string): Cursor | undefined {
  const m = CURSOR.exec(value)
  return m ? { epoch: m[1]!, pos: m[2]! } : undefined
}

/** The epoch part of a well-formed cursor: cursors of different epochs do not compare. */
export function epochOf(cursor: string): string {
  return cursor.slice(0, cursor.indexOf('-'))
}

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
