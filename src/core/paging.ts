/**
 * @module
 * Bounding answers in bytes (READ_BYTES): what an event costs, and one page
 * of a snapshot. Shared by the engines.
 */
import type { FeedEvent } from '../protocol/events.ts'
import { byCursor, compareCursors } from './cursor.ts'
import type { SnapshotPage, SnapshotResult } from './engine.ts'

/** About what one event costs held in memory or sent: its fields plus the JSON of its data. */
export function eventBytes(e: FeedEvent, dataJsonLength: number): number {
  return e.id.length + e.topic.length + dataJsonLength + 48
}

/**
 * One page of a snapshot from the latest-per-topic events an engine holds
 * (in any order): those in (after, upTo], oldest first, cut at about maxBytes.
 */
export function snapshotPage(candidates: FeedEvent[], head: string, page: SnapshotPage, sizeOf: (e: FeedEvent) => number): SnapshotResult {
  const upTo = page.upTo ?? head
  const inRange = candidates.filter((e) => (compareCursors(e.id, upTo) ?? 1) <= 0 && (page.after === undefined || (compareCursors(e.id, page.after) ?? 1) > 0))
  inRange.sort(byCursor)
  const max = page.maxBytes ?? Infinity
  let bytes = 0
  let n = 0
  while (n < inRange.length && (n === 0 || bytes + sizeOf(inRange[n]!) <= max)) bytes += sizeOf(inRange[n++]!)
  return { events: inRange.slice(0, n), cursor: upTo, more: n < inRange.length }
}
