/**
 * @module
 * Who is watching (occupancy) and who is here (presence), over the whole
 * deployment. This instance's own subscriptions are counted where they are,
 * in the hub's topic index, fresh at every question; the other instances'
 * come from their shared lists (`sharing.ts`). Every OCCUPANCY_INTERVAL the
 * lists are exchanged and each watcher of a topic is told what changed since
 * the tick before: an instance's change reaches every watcher within two
 * intervals.
 */
import { overlaps } from '../protocol/grammar.ts'
import type { Presence, PresenceAnswer } from '../protocol/presence.ts'
import type { Access, Grant } from './access.ts'
import type { Roster } from './engine.ts'
import { FeedError } from './errors.ts'
import type { Hub } from './hub.ts'
import type { Log } from './log.ts'
import { Sharing } from './sharing.ts'
import type { Stats } from './stats.ts'
import { assertTopic } from './topic.ts'
import type { PatternSet } from './topic-index.ts'

/** A connection that asked for `occupancy` or `presence` messages. */
export interface Watcher {
  occupancy(topic: string, subscribers: number): void
  presence(message: Presence): void
}

interface Watched {
  /** Occupancy watchers, each with the count it was last told. */
  occupancy: Map<Watcher, number>
  presence: Set<Watcher>
  /** Members as presence watchers were last told (undefined while none watches). */
  members: Set<string> | undefined
}

export interface OccupancyOptions {
  intervalMs: number
  /** OCCUPANCY_BYTES: this instance's list, and each other instance's, at most this long. */
  maxBytes: number
  /** PRESENCE_TOPICS: topics whose subscribers with a `sub` are members. */
  presenceTopics: PatternSet
}

export class Occupancy {
  private readonly watched = new Map<string, Watched>()
  /** This instance's subscriptions, shared with the others; theirs, as last read. */
  private readonly shared: Sharing | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking = false

  constructor(
    private readonly hub: Hub,
    private readonly access: Access,
    roster: Roster | undefined,
    private readonly opts: OccupancyOptions,
    private readonly stats: Stats,
    log: Log,
  ) {
    this.shared = roster && new Sharing(hub, roster, opts, log)
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs)
    void this.tick()
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.shared?.drop()
  }

  /** Subscriptions on every instance whose patterns match `topic`. */
  count(topic: string): number {
    let n = 0
    this.hub.eachSubscriber(topic, () => n++)
    this.shared?.eachRemote(topic, (g) => (n += g.n))
    return n
  }

  /**
   * GET /api/presence: the members of a PRESENCE_TOPICS topic on every instance. Only for a token whose
   * `subscribe` grants the topic, public or private (403 forbidden): who is in a room is not public.
   */
  presence(topic: string, grant: Grant | undefined): PresenceAnswer {
    assertTopic(topic)
    if (!this.isPresenceTopic(topic)) {
      throw new FeedError('bad_request', `"${topic.slice(0, 100)}" keeps no presence: only topics matching PRESENCE_TOPICS do`)
    }
    this.assertPresence([topic], grant)
    return { members: [...this.members(topic)].map(([sub, connections]) => ({ sub, connections })) }
  }

  /**
   * Presence asked for on these patterns: each topic named exactly that PRESENCE_TOPICS matches must be
   * granted by the token (403 forbidden); patterns and other topics have no presence to tell, and are let be.
   */
  assertPresence(patterns: readonly string[], grant: Grant | undefined): void {
    for (const p of patterns) {
      if (p.includes('*') || !this.isPresenceTopic(p) || this.access.grants(grant, p)) continue
      throw new FeedError('forbidden', `presence of "${p.slice(0, 100)}" needs a token whose subscribe grants it`)
    }
  }

  isPresenceTopic(topic: string): boolean {
    return this.opts.presenceTopics.matches(topic)
  }

  /** Members of a presence topic on every instance, each with its connections; empty for any other topic. */
  members(topic: string): Map<string, number> {
    const out = new Map<string, number>()
    if (!this.opts.presenceTopics.matches(topic)) return out
    this.hub.eachSubscriber(topic, (s) => {
      const sub = s.grant?.sub
      if (sub !== undefined) out.set(sub, (out.get(sub) ?? 0) + 1)
    })
    this.shared?.eachRemote(topic, (g) => {
      if (g.sub !== null) out.set(g.sub, (out.get(g.sub) ?? 0) + g.n)
    })
    return out
  }

  /**
   * A watcher subscribed to `topics` by exact name: it is told their counts now (`occupancy`) and their
   * members (`presence`, presence topics only), then what changes, at most once per interval.
   */
  watch(w: Watcher, topics: readonly string[], what: { occupancy: boolean; presence: boolean }): void {
    for (const topic of topics) {
      if (topic.includes('*')) continue
      const presence = what.presence && this.opts.presenceTopics.matches(topic)
      if (!what.occupancy && !presence) continue
      let t = this.watched.get(topic)
      if (t === undefined) this.watched.set(topic, (t = { occupancy: new Map(), presence: new Set(), members: undefined }))
      if (what.occupancy && !t.occupancy.has(w)) {
        const n = this.count(topic)
        t.occupancy.set(w, n)
        this.stats.occupancyMessages++
        w.occupancy(topic, n)
      }
      if (presence && !t.presence.has(w)) {
        // The list the others were last told: the next change to them is the next change to this one too.
        t.members ??= new Set(this.members(topic).keys())
        t.presence.add(w)
        this.stats.presenceMessages++
        w.presence({ topic, members: [...t.members] })
      }
    }
  }

  /** Stops telling `w` of these topics. */
  unwatch(w: Watcher, topics: readonly string[]): void {
    for (const topic of topics) {
      const t = this.watched.get(topic)
      if (t === undefined) continue
      t.occupancy.delete(w)
      t.presence.delete(w)
      if (t.presence.size === 0) t.members = undefined
      if (t.occupancy.size === 0 && t.presence.size === 0) this.watched.delete(topic)
    }
  }

  /** Distinct members of presence topics this instance's connections are (the `livefeed_presence_members` gauge). */
  localMembers(): number {
    const subs = new Set<string>()
    if (this.opts.presenceTopics.patterns.length === 0) return 0
    for (const s of this.hub.all) {
      const sub = s.grant?.sub
      if (sub !== undefined && s.patterns.length > 0 && s.patterns.some((p) => this.opts.presenceTopics.patterns.some((q) => overlaps(p, q)))) subs.add(sub)
    }
    return subs.size
  }

  private async tick(): Promise<void> {
    if (this.ticking) return
    this.ticking = true
    try {
      await this.shared?.exchange()
    } finally {
      this.ticking = false
    }
    this.tell()
  }

  /** Each watched topic's watchers are told what changed since they were last told. */
  private tell(): void {
    for (const [topic, t] of this.watched) {
      if (t.occupancy.size > 0) {
        const n = this.count(topic)
        for (const [w, told] of t.occupancy) {
          if (told === n) continue
          t.occupancy.set(w, n)
          this.stats.occupancyMessages++
          w.occupancy(topic, n)
        }
      }
      const before = t.members
      if (t.presence.size > 0 && before !== undefined) {
        const now = new Set(this.members(topic).keys())
        const joined = [...now].filter((s) => !before.has(s))
        const left = [...before].filter((s) => !now.has(s))
        if (joined.length === 0 && left.length === 0) continue
        t.members = now
        for (const w of t.presence) {
          this.stats.presenceMessages++
          w.presence({ topic, joined, left })
        }
      }
    }
  }
}
