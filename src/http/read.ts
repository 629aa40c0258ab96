import { Hono, type Context } from 'hono'
import { FeedError } from '../core/errors.ts'
import type { Feed } from '../core/feed.ts'
import { parsePatterns } from '../core/topic.ts'

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

export function readRoutes(feed: Feed): Hono {
  const app = new Hono()
  const { maxPatterns, readLimit } = feed.limits
  app.get('/events', async (c) => {
    const patterns = queryPatterns(c, maxPatterns)
    return c.json(await feed.read(patterns, c.req.query('since') || undefined, queryLimit(c, readLimit)))
  })
  app.get('/snapshot', async (c) => c.json(await feed.snapshot(queryPatterns(c, maxPatterns))))
  app.get('/topics', async (c) => c.json({ topics: await feed.topics() }))
  return app
}
