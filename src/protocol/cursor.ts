/**
 * @module
 * Cursors: `<epoch>-<position>`. Clients treat them as opaque. The epoch names
 * one history (a memory engine's process, a Redis stream's life); positions
 * order events within it. Cursors of different epochs have no order: a
 * comparison between them answers `undefined`, never a string comparison.
 */

/** The cursor grammar, also used as the schema's pattern in the API documents. */
export const CURSOR_PATTERN = '^[0-9a-z]{1,16}-[0-9a-z]{1,32}$'
const CURSOR = new RegExp(CURSOR_PATTERN)

export interface Cursor {
  epoch: string
  pos: string
}

export function formatCursor(epoch: string, pos: string): string {
  return `${epoch}-${pos}`
}

export function parseCursor(value: string): Cursor | undefined {
  if (!CURSOR.test(value)) return undefined
  const dash = value.indexOf('-')
  return { epoch: value.slice(0, dash), pos: value.slice(dash + 1) }
}

/**
 * Orders two cursors of one epoch: negative, zero or positive, like a sort
 * comparator. `undefined` when their epochs differ: neither comes first.
 */
export function compareCursors(a: string, b: string): number | undefined {
  const dash = a.indexOf('-')
  if (dash !== b.indexOf('-')) return undefined
  for (let i = 0; i < dash; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return undefined
  // Engines write fixed-width positions, so equal lengths compare as strings (the hot case);
  // otherwise compare base36 numbers without their leading zeros.
  if (a.length === b.length) return a < b ? -1 : a > b ? 1 : 0
  const pa = a.slice(dash + 1).replace(/^0+/, '')
  const pb = b.slice(dash + 1).replace(/^0+/, '')
  return pa.length - pb.length || (pa < pb ? -1 : pa > pb ? 1 : 0)
}

/** True when `a` is in the same history as `b` and strictly after it. */
export function isAfter(a: string, b: string): boolean {
  const c = compareCursors(a, b)
  return c !== undefined && c > 0
}

/** A snapshot continuation: the snapshot's head and the last event of the page before, "<head>~<last>". */
export function formatNext(upTo: string, after: string): string {
  return `${upTo}~${after}`
}

export function parseNext(next: string): { upTo: string; after: string } | undefined {
  const [upTo, after, ...rest] = next.split('~')
  if (upTo === undefined || after === undefined || rest.length > 0 || !parseCursor(upTo) || !parseCursor(after)) return undefined
  return { upTo, after }
}
