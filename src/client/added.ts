/**
 * @module
 * The snapshot of topics added where the connection cannot bring it in the stream's order: over SSE and long
 * polling (the topics are in the URL: the feed reconnects from its cursor with the new set), and while there is
 * no connection (the next one resumes from the cursor). It is fetched over HTTP beside the stream, so of what
 * it holds the feed shows only what the stream will not:
 * - nothing of a topic a pattern held before already matched (shown already, or coming after the cursor);
 * - nothing after the cursor the new connection resumes from (the stream replays it);
 * - nothing of a topic a live event reached while the answer was on its way (that event is newer: a late
 *   answer must not put an older score back on screen);
 * - nothing of a topic dropped (`unsubscribe`) while the answer was on its way.
 */
import { compareCursors } from '../protocol/cursor.ts'
import { covers } from '../protocol/grammar.ts'
import { snapshotPages } from './poll.ts'
import type { TransportHandlers } from './transports.ts'

type Reading = Omit<Parameters<typeof snapshotPages>[0], 'on' | 'rewind'>

export class AddedSnapshots {
  /** For each answer on its way, the topics live events reached meanwhile. */
  private readonly pending = new Set<Set<string>>()

  constructor(
    private readonly ctx: Reading,
    /** Where the pages go; it is not called once the feed is closed. */
    private readonly on: Pick<TransportHandlers, 'snapshot' | 'error'>,
  ) {}

  /** A live event was shown: the answers on their way leave its topic out. */
  shown(topic: string): void {
    for (const topics of this.pending) topics.add(topic)
  }

  /**
   * Reads the snapshot of `added` and hands on what of each page the stream will not show. `topics`: the feed's
   * live set, `added` among them (one dropped before the answer came is left out too); `since`: where the new
   * connection resumes from. On a failure the stream goes on, and the added topics show up with their next event.
   */
  read(added: string[], topics: ReadonlySet<string>, since: string): void {
    const held = [...topics].filter((p) => !added.includes(p))
    const reached = new Set<string>()
    this.pending.add(reached)
    const wanted = (topic: string) => added.some((p) => topics.has(p) && covers(p, topic))
    const snapshot: TransportHandlers['snapshot'] = (events, cursor, more) => {
      const shown = events.filter(
        (e) => !reached.has(e.topic) && wanted(e.topic) && !held.some((p) => covers(p, e.topic)) && (compareCursors(e.id, since) ?? 1) <= 0,
      )
      this.on.snapshot(shown, cursor, more)
    }
    snapshotPages({ ...this.ctx, on: { snapshot, error: this.on.error } }, added, undefined)
      .catch(() => {})
      .finally(() => this.pending.delete(reached))
  }
}
