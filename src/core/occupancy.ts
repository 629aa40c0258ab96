/**
 * @module
 * Who is watching (occupancy) and who is here (presence), over the whole
 * deployment. This instance's own subscriptions are counted where they are,
 * in the hub's topic index, fresh at every question. Each instance shares
 * them as one list, grouped by (patterns, token `sub`) with a count, through
 * the engine's `Roster`, and reads the other instances' lists; every
 * OCCUPANCY_INTERVAL it writes its own (only when it changed), reads theirs,
 * and tells each watcher of a topic what changed since the tick before: an
 * instance's change reaches every watcher within two intervals. Memory:
 * this instance's list and each other one's are at most OCCUPANCY_BYTES.
 */
import * as v from 'valibot'
import type { Presence } from '../protocol/presence.ts'
import { overlaps } from './access.ts'
import type { Roster } from './engine.ts'
import type { Hub } from './hub.ts'
import type { Log } from './log.ts'
import type { Stats } from './stats.ts'
import { type PatternSet, TopicIndex } from './topic-index.ts'

/** A connection that asked for `occupancy` or `presence` messages. */
export interface Watcher {
  occupancy(topic: string, subscribers: number): void
  presence(message: Presence): void
}

/** One group of another instance's subscriptions: same patterns, same member (or none), `n` of them. */
interface Group {
  patterns: string[]
  sub: string | null
  n: number
  /** Dedupes a group matched by two of its patterns. */
  stamp: number
}

/** What an instance shares: `[patterns, sub, count]` per group, most subscribed first. */
const listSchema = v.array(v.tuple([v.array(v.string()), v.nullable(v.string()), v.number()]))

const NON_ASCII = /[\u0080-\uffff]/
const encoder = new TextEncoder()

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
  /** This instance in the roster: a new name per process, so a restarted instance never inherits a list. */
  readonly instance = crypto.randomUUID()
  private readonly watched = new Map<string, Watched>()
  /** The other instances' groups, and the raw lists they came from (unchanged lists are not parsed again). */
  private remote = new TopicIndex<Group>()
  private remoteLists: string[] = []
  private remoteAt = 0
  private stampSeq = 0
  /** This instance's subscriptions changed since its list was last written. */
  private dirty = true
  private written: string | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private ticking = false
  /** Groups left out of this instance's list (OCCUPANCY_BYTES): logged once per change of it. */
  private omitted = 0

  constructor(
    private readonly hub: Hub,
    private readonly roster: Roster | undefined,
    private readonly opts: OccupancyOptions,
    private readonly stats: Stats,
    private readonly log: Log,
  ) {
    hub.onChange = () => void (this.dirty = true)
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs)
    void this.tick()
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.roster?.drop(this.instance).catch(() => {})
  }

  /** Subscriptions on every instance whose patterns match `topic`. */
  count(topic: string): number {
    let n = 0
    this.hub.eachSubscriber(topic, () => n++)
    this.eachRemote(topic, (g) => (n += g.n))
    return n
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
    this.eachRemote(topic, (g) => {
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

  private eachRemote(topic: string, fn: (g: Group) => void): void {
    const stamp = ++this.stampSeq
    this.remote.forEach(topic, (g) => {
      if (g.stamp === stamp) return
      g.stamp = stamp
      fn(g)
    })
  }

  private async tick(): Promise<void> {
    if (this.ticking) return
    this.ticking = true
    try {
      if (this.roster !== undefined) await this.share(this.roster)
    } catch (err) {
      this.dirty = true // written again at the next tick
      this.log.debug({ err }, 'occupancy: the roster did not answer')
    } finally {
      this.ticking = false
    }
    // Lists not refreshed for three intervals may be of instances that died meanwhile: they count no more.
    if (this.remoteLists.length > 0 && Date.now() - this.remoteAt > 3 * this.opts.intervalMs) this.absorb([])
    this.tell()
  }

  private async share(roster: Roster): Promise<void> {
    const ttl = 3 * this.opts.intervalMs
    if (this.dirty) {
      this.dirty = false
      this.written = this.list()
      await roster.put(this.instance, this.written, ttl)
    } else if (!(await roster.touch(this.instance, ttl))) {
      await roster.put(this.instance, this.written ?? this.list(), ttl)
    }
    this.absorb(await roster.others(this.instance, this.opts.maxBytes))
    this.remoteAt = Date.now()
  }

  /** This instance's subscriptions as it shares them: grouped, the largest groups first, at most OCCUPANCY_BYTES. */
  private list(): string {
    const withSub = this.opts.presenceTopics.patterns.length > 0
    const groups = new Map<string, { patterns: readonly string[]; sub: string | null; n: number }>()
    for (const s of this.hub.all) {
      if (s.patterns.length === 0) continue
      const sub = (withSub && s.grant?.sub) || null
      const key = `${s.patterns.join('\n')}\t${sub ?? ''}`
      const g = groups.get(key)
      if (g) g.n++
      else groups.set(key, { patterns: s.patterns, sub, n: 1 })
    }
    const parts: string[] = []
    let bytes = 2
    let omitted = 0
    for (const g of [...groups.values()].sort((a, b) => b.n - a.n)) {
      const part = JSON.stringify([g.patterns, g.sub, g.n])
      // Topics are ASCII; only a `sub` may not be, and then it is encoded to count its UTF-8 bytes.
      const size = NON_ASCII.test(part) ? encoder.encode(part).length : part.length
      if (bytes + size + 1 > this.opts.maxBytes) omitted++
      else {
        parts.push(part)
        bytes += size + 1
      }
    }
    if (omitted > 0 && omitted !== this.omitted) {
      this.log.warn({ omitted, maxBytes: this.opts.maxBytes }, 'occupancy: subscriptions left out of the shared list (OCCUPANCY_BYTES)')
    }
    this.omitted = omitted
    return `[${parts.join(',')}]`
  }

  /** The other instances' lists, as read: parsed and indexed again only when one changed. */
  private absorb(lists: string[]): void {
    if (lists.length === this.remoteLists.length && lists.every((l, i) => l === this.remoteLists[i])) return
    this.remoteLists = lists
    const index = new TopicIndex<Group>()
    for (const raw of lists) {
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch {
        continue
      }
      const parsed = v.safeParse(listSchema, json)
      if (!parsed.success) continue
      for (const [patterns, sub, n] of parsed.output) {
        const g: Group = { patterns, sub, n, stamp: 0 }
        for (const p of patterns) index.add(p, g)
      }
    }
    this.remote = index
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
