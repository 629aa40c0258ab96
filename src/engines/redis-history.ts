/**
 * @module
 * Noticing that the Redis history went back: after a failover to a replica that had not received the last
 * writes (Memorystore's Standard tier replicates asynchronously), or a Redis that restarted without its data.
 * Events this instance already delivered are then gone from the stream, and new ids (time-based) sort after
 * them, so nothing else would show it. The check is exact: the last entry this instance read is still in
 * the stream unless Redis trimmed it (the script records what it trims), so a missing entry that was not
 * trimmed is a loss, and one that is there means nothing before it was lost either (replication is ordered).
 */
import type { Redis } from 'ioredis'
import { compareIds } from './redis-codec.ts'
import { entries, results, strOrNull } from './redis-reply.ts'

/** Moves the history to a new epoch, once for all instances: the first to notice sets it, the others adopt it. */
export const REWIND_SCRIPT = `
local epochKey, stream = KEYS[1], KEYS[2]
local known, fresh = ARGV[1], ARGV[2]
if redis.call('GET', epochKey) == known then redis.call('SET', epochKey, fresh) end
local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
return {redis.call('GET', epochKey), last and last[1] or '0-0'}
`

export interface HistoryKeys {
  stream: string
  epoch: string
  trimmed: string
}

/** What a look at the stream found: nothing wrong, or a history this instance's clients no longer share. */
export type HistoryCheck = { changed: false } | { changed: true; epoch: string; lostAfter: string | undefined }

/**
 * Looks whether the stream still holds `lastRead` (the last entry this instance read) in the `epoch` it
 * knows. `lostAfter` is the last entry before `lastRead` that survived, when entries were lost.
 */
export async function checkHistory(redis: Redis, keys: HistoryKeys, epoch: string, lastRead: string | undefined): Promise<HistoryCheck> {
  const multi = redis.multi().get(keys.epoch).get(keys.trimmed)
  if (lastRead !== undefined) multi.xrange(keys.stream, lastRead, lastRead).xrevrange(keys.stream, lastRead, '-', 'COUNT', 1)
  const res = await results(multi.exec())
  const now = strOrNull(res[0], 'GET epoch')
  const trimmed = strOrNull(res[1], 'GET trimmed')
  if (now !== epoch) return { changed: true, epoch: now ?? '', lostAfter: undefined }
  if (lastRead === undefined || entries(res[2], 'XRANGE').length > 0) return { changed: false }
  // Trimmed away on purpose: the trim point is the engine's gap, not a loss.
  if (trimmed !== null && compareIds(lastRead, trimmed) <= 0) return { changed: false }
  return { changed: true, epoch, lostAfter: entries(res[3], 'XREVRANGE')[0]?.[0] }
}
