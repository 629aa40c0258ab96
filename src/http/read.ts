/**
 * @module
 * Reading over plain HTTP: events after a cursor, snapshots, the topic list.
 */
import type { Context } from 'hono'
import type { Watch } from '../core/connection.ts'
import { FeedError } from '../core/errors.ts'
import { parsePatterns } from '../core/topic.ts'
import { historyAnswer, query, readAnswer, snapshotSchema, topicsAnswer } from '../protocol/http.ts'
import { presenceAnswer } from '../protocol/presence.ts'
import { jsonAnswer } from './answer.ts'
import type { MountContext } from './api.ts'

/** ?topics=p1,p2 (or repeated ?topics=), checked against the pattern grammar and MAX_PATTERNS. */
export function queryPatterns(c: Context, max: number): string[] {
  const all = c.req.queries('topics') ?? []
  return parsePatterns(all.join(','), max)
}

export function queryLimit(c: Context, max: number): number {
  const raw = c.req.query('limit')
  if (raw === undefined) return max
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new FeedError('bad_request', `limit must be a whole number from 1 to ${max}`)
  return Math.min(n, max)
}

/** `?occupancy=1&presence=1` of a subscribe (WebSocket, SSE): `1` or `true` asks, `0` or `false` (or absent) does not. */
export function queryWatch(c: Context): Watch {
  const flag = (name: string): boolean => {
    const raw = c.req.query(name)
    if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false
    if (raw === '1' || raw === 'true') return true
    throw new FeedError('validation_failed', `${name} must be 1 or true (or 0, false)`)
  }
  return { occupancy: flag('occupancy'), presence: flag('presence') }
}

const PATTERN_ERRORS = ['invalid_pattern', 'too_many_patterns'] as const

export function readRoutes({ api, feed, tokens }: MountContext): void {
  const { maxPatterns, readLimit } = feed.limits
  api.get(
    '/api/events',
    {
      summary: 'Events after a cursor',
      description: 'Matching events after `since`, oldest first. Without `since`: a snapshot. With a stale `since`: a reset and a snapshot.',
      tags: ['read'],
      query: {
        topics: { schema: query.topics, required: true },
        since: { schema: query.since },
        limit: { schema: query.limit },
        rewind: { schema: query.rewind },
        token: { schema: query.token },
      },
      responses: { 200: { description: 'Events, or a snapshot', schema: readAnswer } },
      errors: [...PATTERN_ERRORS, 'invalid_cursor', 'validation_failed', 'bad_request', 'invalid_token', 'forbidden', 'engine_unavailable'],
    },
    async (c) => {
      const patterns = queryPatterns(c, maxPatterns)
      const limit = queryLimit(c, readLimit)
      const rewind = feed.parseRewind(c.req.query('rewind'))
      return jsonAnswer(c, await feed.read(patterns, c.req.query('since') || undefined, limit, await tokens.fromRequest(c), rewind), 200)
    },
  )
  api.get(
    '/api/snapshot',
    {
      summary: 'Latest event of each matching topic',
      tags: ['read'],
      query: {
        topics: { schema: query.topics, required: true },
        next: { schema: query.next },
        rewind: { schema: query.rewind },
        token: { schema: query.token },
      },
      responses: {
        200: {
          description: 'The snapshot, oldest first, with the head cursor; a large one in pages of about READ_BYTES (`more`, `next`)',
          schema: snapshotSchema,
        },
      },
      errors: [...PATTERN_ERRORS, 'invalid_cursor', 'validation_failed', 'invalid_token', 'forbidden', 'engine_unavailable'],
    },
    async (c) => {
      const patterns = queryPatterns(c, maxPatterns)
      const rewind = feed.parseRewind(c.req.query('rewind'))
      return jsonAnswer(c, await feed.snapshot(patterns, await tokens.fromRequest(c), c.req.query('next') || undefined, rewind), 200)
    },
  )
  api.get(
    '/api/history',
    {
      summary: 'Recent events of one topic',
      description:
        "The newest `limit` events of one topic (TOPIC_HISTORY are kept per topic) before `before`, oldest first, about READ_BYTES of them. `more`: older ones are kept; ask again with the first event's id as `before`.",
      tags: ['read'],
      query: {
        topic: { schema: query.topic, required: true },
        limit: { schema: query.historyLimit },
        before: { schema: query.before },
        token: { schema: query.token },
      },
      responses: { 200: { description: 'Events, oldest first, and the head cursor', schema: historyAnswer } },
      errors: ['invalid_topic', 'invalid_cursor', 'bad_request', 'invalid_token', 'forbidden', 'engine_unavailable'],
    },
    async (c) => {
      const topic = c.req.query('topic')
      if (topic === undefined) throw new FeedError('invalid_topic', 'topic is required: one topic, not a pattern')
      const limit = queryLimit(c, Math.max(1, feed.limits.topicHistory))
      return jsonAnswer(c, await feed.history(topic, limit, c.req.query('before') || undefined, await tokens.fromRequest(c)), 200)
    },
  )
  api.get(
    '/api/topics',
    {
      summary: 'Known topics',
      tags: ['read'],
      query: { token: { schema: query.token } },
      responses: { 200: { description: 'Every topic whose latest event is kept (private ones only with a token that grants them)', schema: topicsAnswer } },
      errors: ['invalid_token', 'engine_unavailable'],
    },
    async (c) => c.json({ topics: await feed.topics(await tokens.fromRequest(c)) }),
  )
  api.get(
    '/api/presence',
    {
      summary: 'Members of a topic',
      description:
        "The members of a topic matching PRESENCE_TOPICS on every instance: the `sub` of each subscribed connation's token, with its connections. Needs a token whose `subscribe` grants the topic, public or private.",
      tags: ['read'],
      query: { topic: { schema: query.topic, required: true }, token: { schema: query.token } },
      responses: { 200: { description: 'The members', schema: presenceAnswer } },
      errors: ['invalid_topic', 'bad_request', 'invalid_token', 'forbidden'],
    },
    async (c) => {
      const topic = c.req.query('topic')
      if (topic === undefined) throw new FeedError('invalid_topic', 'topic is required: one topic, not a pattern')
      return c.json(feed.occupancy.presence(topic, await tokens.fromRequest(c)))
    },
  )
}
