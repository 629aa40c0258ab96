/**
 * @module
 * What the Redis engine keeps per topic, read: the latest-per-topic hash (snapshots, the topic list) and
 * each topic's history list (`rewind`, `GET /api/history`). Written by the append script (redis-codec.ts).
 */
import type { Redis } from 'ioredis'
import type { HistoryResult, SnapshotPage, SnapshotResult, TopicInfo } from '../core/engine.ts'
import { eventBytes, historyPage, snapshotPage } from '../core/paging.ts'
import type { PatternSet } from '../core/topic-index.ts'
import type { FeedEvent } from '../protocol/events.ts'
import { cursorOf, decodeLatest } from './redis-codec.ts'
import { hash, lastGeneratedId, results, strings, stringsOrNulls } from './redis-reply.ts'

/** The keys these reads use; `history` is the prefix of each topic's list. */
export interface TopicKeys {
  stream: string
  epoch: string
  latest: string
  history: string
}

/** Reads of the per-topic keys. Errors are the caller's to map (engine_unavailable). */
export class RedisTopics {
  constructor(
    private readonly redis: Redis,
    private readonly keys: TopicKeys,
  ) {}

  async snapshot(patterns: PatternSet, page: SnapshotPage): Promise<SnapshotResult> {
    const k = this.keys
    const multi = this.redis.multi().get(k.epoch).xinfo('STREAM', k.stream)
    if (patterns.exactOnly) multi.hmget(k.latest, ...patterns.patterns)
    else multi.hgetall(k.latest)
    const [epoch, info, values] = await results(multi.exec())
    const exact = patterns.exactOnly ? stringsOrNulls(values, 'HMGET latest') : []
    const pairs: [string, string | null][] = patterns.exactOnly
      ? patterns.patterns.map((t, i) => [t, exact[i] ?? null])
      : Object.entries(hash(values, 'HGETALL latest'))
    const sizes = new Map<FeedEvent, number>()
    const decode = (t: string, v: string): FeedEvent => {
      const e = decodeLatest(t, v)
      sizes.set(e, eventBytes(e, v.length))
      return e
    }
    const matching = pairs.filter((pair): pair is [string, string] => pair[1] !== null && patterns.matches(pair[0]))
    const head = cursorOf(String(epoch), lastGeneratedId(info))
    const rewind = page.rewind ?? 1
    const sizeOf = (e: FeedEvent) => sizes.get(e) ?? 0
    if (rewind <= 1 || matching.length === 0)
      return snapshotPage(
        matching.map(([t, v]) => decode(t, v)),
        head,
        page,
        sizeOf,
      )
    // Rewind: each topic's last `rewind` from its list, read after the head; what is newer than the head is
    // left out by the page, and the live stream brings it.
    const lists = this.redis.multi()
    for (const [t] of matching) lists.lrange(k.history + t, -rewind, -1)
    const kept = (await results(lists.exec())).map((list) => strings(list, 'LRANGE history'))
    const events = matching.flatMap(([t, latest], i) => (kept[i]?.length ? kept[i] : [latest]).map((v) => decode(t, v)))
    return snapshotPage(events, head, page, sizeOf)
  }

  async history(topic: string, limit: number, before: string | undefined, maxBytes: number): Promise<HistoryResult> {
    const k = this.keys
    const [epoch, info, values] = await results(
      this.redis
        .multi()
        .get(k.epoch)
        .xinfo('STREAM', k.stream)
        .lrange(k.history + topic, 0, -1)
        .exec(),
    )
    const head = cursorOf(String(epoch), lastGeneratedId(info))
    const raw = strings(values, 'LRANGE history')
    const kept = raw.map((v) => decodeLatest(topic, v))
    return historyPage(kept, head, limit, before, maxBytes, (e, i) => eventBytes(e, raw[i]?.length ?? 0))
  }

  async topics(): Promise<TopicInfo[]> {
    const all = await this.redis.hgetall(this.keys.latest)
    return Object.entries(all).map(([t, v]) => {
      const e = decodeLatest(t, v)
      return { topic: t, lastId: e.id, lastTs: e.ts }
    })
  }
}
