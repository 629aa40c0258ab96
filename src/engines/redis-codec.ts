/**
 * @module
 * How events and cursors are written in Redis, and read back.
 */
import { base36, type Cursor, formatCursor } from '../core/cursor.ts'
import type { FeedEvent } from '../protocol/events.ts'

/**
 * How events sit in Redis. A stream id "ms-seq" becomes a fixed-width base36
 * position, so cursors of one epoch still sort as strings; each stream entry
 * carries its epoch, so any instance decodes it without other state.
 */
const MS_WIDTH = 9 // 36^9 ms is past the year 5000
const SEQ_WIDTH = 5 // 60 million ids per millisecond

export function streamIdToPos(id: string): string {
  const dash = id.indexOf('-')
  return base36(Number(id.slice(0, dash)), MS_WIDTH) + base36(Number(id.slice(dash + 1)), SEQ_WIDTH)
}

export function posToStreamId(pos: string): string | undefined {
  if (pos.length !== MS_WIDTH + SEQ_WIDTH) return undefined
  return `${parseInt(pos.slice(0, MS_WIDTH), 36)}-${parseInt(pos.slice(MS_WIDTH), 36)}`
}

export const cursorOf = (epoch: string, streamId: string) => formatCursor(epoch, streamIdToPos(streamId))

/** Compares two stream ids numerically ("ms-seq"). */
export function compareIds(a: string, b: string): number {
  const i = a.indexOf('-')
  const j = b.indexOf('-')
  return Number(a.slice(0, i)) - Number(b.slice(0, j)) || Number(a.slice(i + 1)) - Number(b.slice(j + 1))
}

/** A stream entry's fields, flat as Redis returns them: e epoch, t topic, d data JSON, ts. */
export function decodeEntry(id: string, fields: string[]): FeedEvent {
  const f: Record<string, string> = {}
  for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!
  return { id: cursorOf(f.e!, id), topic: f.t!, data: JSON.parse(f.d!), ts: Number(f.ts) }
}

/** Length of an entry's data JSON, without parsing it again. */
export function entryDataLength(fields: string[]): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'd') return fields[i + 1]!.length
  return 0
}

/** The latest-per-topic hash holds "epoch streamId ts topic-less data" so it is written in Lua without JSON. */
export function decodeLatest(topic: string, value: string): FeedEvent {
  const a = value.indexOf(' ')
  const b = value.indexOf(' ', a + 1)
  const c = value.indexOf(' ', b + 1)
  return { id: cursorOf(value.slice(0, a), value.slice(a + 1, b)), topic, data: JSON.parse(value.slice(c + 1)), ts: Number(value.slice(b + 1, c)) }
}

export function cursorStreamId(c: Cursor): string | undefined {
  return posToStreamId(c.pos)
}

/**
 * Appends a batch atomically: the idempotency check, the stream entries, the
 * latest-per-topic hash, its bounds (topics and bytes), the history bound and the
 * idempotency record, in one script, so every instance sees all of it or none.
 *
 * The history is trimmed here rather than by XADD MAXLEN ~, because a reader
 * must know exactly which ids are gone: Redis 7.0 does not move
 * max-deleted-entry-id on trimming, and MAXLEN ~ does not say what it cut.
 * Past maxlen plus ~10% slack, the oldest surplus is cut with XTRIM MINID and
 * the last id cut is kept in `trimmed`: a cursor before it has lost events.
 * Each topic's last `topicHistory` values are also in a list of its own (`<prefix>h:<topic>`, named here
 * from the prefix, so the topics need not be KEYS: livefeed uses one Redis, not a cluster), counted in the
 * latest bytes and dropped with their topic.
 * KEYS: stream, epoch, latest, topics, idempotency key ('' for none), trimmed, topic counter, latest bytes.
 * ARGV: maxlen, maxTopics, fingerprint, windowMs, freshEpoch, ts, maxLatestBytes, topicHistory, history key
 * prefix, then topic/data pairs.
 * Returns {'ok', epoch, id...} or {'replay', record}.
 */
export const APPEND_SCRIPT = `
local stream, epochKey, latest, topics, idem, trimmed, counter, latestBytes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local maxlen, maxTopics, fp, window, fresh, ts, maxLatestBytes = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local perTopic, histPrefix = tonumber(ARGV[8]), ARGV[9]
if idem ~= '' then
  local prior = redis.call('GET', idem)
  if prior then
    -- Written again as it is: a write of this connection's behind the original one in the replication
    -- stream, so a WAIT after the replay covers the original too, whichever connection stored it.
    redis.call('SET', idem, prior, 'KEEPTTL')
    return {'replay', prior}
  end
end
local epoch = redis.call('GET', epochKey)
if (not epoch) or redis.call('EXISTS', stream) == 0 then
  -- The stream is gone (or never was): a new history, so old cursors must read as stale.
  epoch = fresh
  redis.call('SET', epochKey, epoch)
  redis.call('DEL', trimmed)
end
local out = {'ok', epoch}
for i = 10, #ARGV, 2 do
  local topic, data = ARGV[i], ARGV[i + 1]
  local id = redis.call('XADD', stream, '*', 'e', epoch, 't', topic, 'd', data, 'ts', ts)
  out[#out + 1] = id
  local value = epoch .. ' ' .. id .. ' ' .. ts .. ' ' .. data
  -- The latest values' bytes, kept beside the hash (value plus topic, as the memory engine counts them).
  local before = redis.call('HSTRLEN', latest, topic)
  redis.call('INCRBY', latestBytes, #value - before + (before == 0 and #topic or 0))
  redis.call('HSET', latest, topic, value)
  if perTopic > 0 then
    -- The topic's own history: its last perTopic values, the oldest dropped here and uncounted.
    local h = histPrefix .. topic
    local len = redis.call('RPUSH', h, value)
    redis.call('INCRBY', latestBytes, #value + #topic)
    if len > perTopic then
      for _, old in ipairs(redis.call('LPOP', h, len - perTopic)) do redis.call('DECRBY', latestBytes, #old + #topic) end
    end
  end
  -- A counter, not the id's millisecond: topics updated in the same ms must still order by recency.
  redis.call('ZADD', topics, redis.call('INCR', counter), topic)
end
local keep = tonumber(maxlen)
local surplus = redis.call('XLEN', stream) - keep
if surplus > math.min(1000, math.ceil(keep / 10)) then
  local cut = redis.call('XRANGE', stream, '-', '+', 'COUNT', surplus)
  local last = cut[#cut][1]
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  redis.call('XTRIM', stream, 'MINID', ms .. '-' .. (tonumber(seq) + 1))
  redis.call('SET', trimmed, last)
end
-- Past MAX_TOPICS or LATEST_BYTES the least recently updated topics go, never the last one written.
local function dropStalest()
  local t = redis.call('ZPOPMIN', topics)[1]
  local len = redis.call('HSTRLEN', latest, t)
  if len > 0 then redis.call('DECRBY', latestBytes, len + #t) end
  redis.call('HDEL', latest, t)
  local h = histPrefix .. t
  for _, old in ipairs(redis.call('LRANGE', h, 0, -1)) do redis.call('DECRBY', latestBytes, #old + #t) end
  redis.call('DEL', h)
end
local n = redis.call('ZCARD', topics)
while n > 1 and (n > maxTopics or tonumber(redis.call('GET', latestBytes) or '0') > maxLatestBytes) do
  dropStalest()
  n = n - 1
end
-- Alone past LATEST_BYTES, the last topic written keeps the newest of its history that fit (its latest is in the hash).
if perTopic > 0 then
  local last = ARGV[#ARGV - 1]
  local h = histPrefix .. last
  while tonumber(redis.call('GET', latestBytes) or '0') > maxLatestBytes and redis.call('LLEN', h) > 1 do
    redis.call('DECRBY', latestBytes, #redis.call('LPOP', h) + #last)
  end
end
if idem ~= '' then
  redis.call('SET', idem, fp .. ' ' .. epoch .. ' ' .. ts .. ' ' .. table.concat(out, ',', 3), 'PX', window)
end
return out
`

/** Creates the stream with its epoch if it does not exist: empty, but present, so the epoch lives with it. */
export const ENSURE_SCRIPT = `
local stream, epochKey, trimmed = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', stream) == 0 or redis.call('EXISTS', epochKey) == 0 then
  local id = redis.call('XADD', stream, '*', 'init', '1')
  redis.call('XDEL', stream, id)
  redis.call('SET', epochKey, ARGV[1])
  redis.call('DEL', trimmed)
end
return redis.call('GET', epochKey)
`
