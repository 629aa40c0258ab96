/**
 * @module
 * The `Roster` on Redis: each instance's list of subscriptions in a key of
 * its own, `<prefix>roster:<instance>`, expiring `ttlMs` after it was last
 * written or touched, and the instances in a sorted set, `<prefix>roster`,
 * scored by when their key expires, so a reader finds them without SCAN.
 * The key's own expiry decides who is alive; the set only lists candidates
 * (clocks of instances may differ), and is pruned of the long gone.
 */
import type { Redis } from 'ioredis'
import type { Roster } from '../core/engine.ts'

/** Set members whose key expired this long ago are pruned (their key is gone anyway). */
const PRUNE_AFTER_MS = 60_000

export class RedisRoster implements Roster {
  constructor(
    private readonly redis: Redis,
    /** `<prefix>roster`: the set; each list is at `<set>:<instance>`. */
    private readonly set: string,
  ) {}

  async put(instance: string, list: string, ttlMs: number): Promise<void> {
    await this.redis
      .multi()
      .set(`${this.set}:${instance}`, list, 'PX', ttlMs)
      .zadd(this.set, Date.now() + ttlMs, instance)
      .exec()
  }

  async touch(instance: string, ttlMs: number): Promise<boolean> {
    const kept = await this.redis.pexpire(`${this.set}:${instance}`, ttlMs)
    await this.redis.zadd(this.set, Date.now() + ttlMs, instance)
    return kept === 1
  }

  async others(instance: string, maxBytes: number): Promise<string[]> {
    await this.redis.zremrangebyscore(this.set, '-inf', String(Date.now() - PRUNE_AFTER_MS))
    const ids = await this.redis.zrange(this.set, '0', '-1')
    const keys = ids.filter((id) => id !== instance).map((id) => `${this.set}:${id}`)
    if (keys.length === 0) return []
    // Lengths first: a list over the bound is never fetched, so it never costs this instance its bytes.
    const lengths = await Promise.all(keys.map((k) => this.redis.strlen(k)))
    const wanted = keys.filter((_, i) => lengths[i]! > 0 && lengths[i]! <= maxBytes)
    if (wanted.length === 0) return []
    const lists = await this.redis.mget(...wanted)
    return lists.filter((l): l is string => l !== null)
  }

  async drop(instance: string): Promise<void> {
    await this.redis.multi().del(`${this.set}:${instance}`).zrem(this.set, instance).exec()
  }
}
