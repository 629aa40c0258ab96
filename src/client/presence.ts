/**
 * @module
 * Members of presence topics as the feed last showed them. The server sends
 * the whole list on each subscribe (so after every reconnect) and changes in
 * between; the feed tells the application what changed since it last showed
 * it, so a reconnect never makes anyone join or leave twice.
 */
import type { Presence } from '../protocol/presence.ts'
import type { FeedEvents } from './types.ts'

export class PresenceTracker {
  private readonly members = new Map<string, Set<string>>()

  /** The `presence` event to show for a message, or undefined when nothing changed. */
  apply(m: Presence): FeedEvents['presence'] | undefined {
    const before = this.members.get(m.topic)
    let now: Set<string>
    if ('members' in m) now = new Set(m.members)
    else {
      now = new Set(before)
      for (const s of m.left) now.delete(s)
      for (const s of m.joined) now.add(s)
    }
    const joined = [...now].filter((s) => !before?.has(s))
    const left = [...(before ?? [])].filter((s) => !now.has(s))
    this.members.set(m.topic, now)
    // The first list is always shown (even empty); after it, only a change.
    if (before !== undefined && joined.length === 0 && left.length === 0) return undefined
    return { topic: m.topic, members: [...now], joined, left }
  }

  forget(topic: string): void {
    this.members.delete(topic)
  }
}
