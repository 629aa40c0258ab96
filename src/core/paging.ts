/**
 * @module
 * Bounding answers in bytes (READ_BYTES): what an event costs, and one page
 * of a snapshot. Shared by the engines.
 */
import type { FeedEvent } from '../protocol/events.ts'
import { byCursor, compareCursors } from './cursor.ts'
import type { HistoryResult, SnapshotPage, SnapshotResult } from './engine.ts'

/** About what one event costs held in memory or sent: its fields plus the JSON of its data. */
export function eventBytes(e: FeedEvent, dataJsonLength: number): number {
  return e.id.length + e.topic.length + dataJsonLength + 48
}

/**
 * One page of a snapshot from the events an engine holds per topic (the
 * latest, or the last `rewind`; in any order): those in (after, upTo], oldest
 * first, cut at about maxBytes.
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

/**
 * One topic's history answer from the events kept for it (oldest first): the
 * newest `limit` before `before`, about `maxBytes` of them (the newest that fit,
 * at least one), oldest first. Events of another epoch than `head` never count.
 */
export function historyPage(
  kept: readonly FeedEvent[],
  head: string,
  limit: number,
  before: string | undefined,
  maxBytes: number,
  sizeOf: (e: FeedEvent, i: number) => number,
): HistoryResult {
  let end = kept.length
  const beforeOf = before ?? head
  // Before `before` (or at or before the head), of the head's epoch.
  while (end > 0) {
    const order = compareCursors(kept[end - 1]!.id, beforeOf)
    if (order !== undefined && (before === undefined ? order <= 0 : order < 0)) break
    end--
  }
  let start = end
  let bytes = 0
  while (start > 0 && end - start < limit) {
    const e = kept[start - 1]!
    if (compareCursors(e.id, head) === undefined) break
    const size = sizeOf(e, start - 1)
    if (start < end && bytes + size > maxBytes) break
    bytes += size
    start--
  }
  const older = start > 0 && compareCursors(kept[start - 1]!.id, head) !== undefined
  return { events: kept.slice(start, end), cursor: head, more: older }
}
