/**
 * @module
 * This instance's subscriptions as it shares them with the other instances, and theirs, through the
 * engine's `Roster`: one list per instance, grouped by (patterns, token `sub`) with a count, written only
 * when it changed (kept alive otherwise) and read every OCCUPANCY_INTERVAL. Memory: this instance's list
 * and each other one's are at most OCCUPANCY_BYTES; past it the least subscribed groups are left out.
 */
import * as v from 'valibot'
import type { Roster } from './engine.ts'
import type { Hub } from './hub.ts'
import type { Log } from './log.ts'
import { type PatternSet, TopicIndex } from './topic-index.ts'

/** One group of another instance's subscriptions: same patterns, same member (or none), `n` of them. */
export interface Group {
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

export class Sharing {
  /** This instance in the roster: a new name per process, so a restarted instance never inherits a list. */
  readonly instance = crypto.randomUUID()
  /** The other instances' groups, and the raw lists they came from (unchanged lists are not parsed again). */
  private remote = new TopicIndex<Group>()
  private remoteLists: string[] = []
  private remoteAt = 0
  private stampSeq = 0
  /** This instance's subscriptions changed since its list was last written. */
  private dirty = true
  private written: string | undefined
  /** Groups left out of this instance's list (OCCUPANCY_BYTES): logged once per change of it. */
  private omitted = 0

  constructor(
    private readonly hub: Hub,
    private readonly roster: Roster,
    private readonly opts: { intervalMs: number; maxBytes: number; presenceTopics: PatternSet },
    private readonly log: Log,
  ) {
    hub.onChange = () => void (this.dirty = true)
  }

  /** Writes this instance's list (or keeps it alive) and reads the others'; a failure is logged and tried again next time. */
  async exchange(): Promise<void> {
    try {
      await this.share(this.roster)
    } catch (err) {
      this.dirty = true // written again at the next tick
      this.log.debug({ err }, 'occupancy: the roster did not answer')
    }
    // Lists not refreshed for three intervals may be of instances that died meanwhile: they count no more.
    if (this.remoteLists.length > 0 && Date.now() - this.remoteAt > 3 * this.opts.intervalMs) this.absorb([])
  }

  /** This instance is going: its list goes at once. */
  drop(): Promise<void> {
    return this.roster.drop(this.instance).catch(() => {})
  }

  /** Calls fn once for each other instance's group whose patterns match `topic`. */
  eachRemote(topic: string, fn: (g: Group) => void): void {
    const stamp = ++this.stampSeq
    this.remote.forEach(topic, (g) => {
      if (g.stamp === stamp) return
      g.stamp = stamp
      fn(g)
    })
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
}
