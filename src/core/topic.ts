import { FeedError } from './errors.ts'

/** Topic grammar: 1–8 segments of [A-Za-z0-9_.:@-]+ joined by "/", at most 256 characters. */
export const MAX_TOPIC_LENGTH = 256
export const MAX_SEGMENTS = 8
const SEGMENT = /^[A-Za-z0-9_.:@-]+$/

function shapeProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty'
  if (value.length > MAX_TOPIC_LENGTH) return `is longer than ${MAX_TOPIC_LENGTH} characters`
  const n = value.split('/').length
  if (n > MAX_SEGMENTS) return `has ${n} segments (at most ${MAX_SEGMENTS})`
  return undefined
}

export function topicProblem(topic: string): string | undefined {
  const shape = shapeProblem(topic)
  if (shape) return shape
  const bad = topic.split('/').find((s) => !SEGMENT.test(s))
  return bad === undefined ? undefined : `has an invalid segment "${bad}" (allowed: A-Z a-z 0-9 _ . : @ -)`
}

/** A pattern is a topic in which a segment may be "*" (exactly one segment) and the last may be "**" (one or more). */
export function patternProblem(pattern: string): string | undefined {
  const shape = shapeProblem(pattern)
  if (shape) return shape
  const segs = pattern.split('/')
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!
    if (s === '*' || SEGMENT.test(s)) continue
    if (s === '**') {
      if (i === segs.length - 1) continue
      return '"**" may only be the last segment'
    }
    return `has an invalid segment "${s}"`
  }
  return undefined
}

export function assertTopic(topic: string): void {
  const p = topicProblem(topic)
  if (p) throw new FeedError('invalid_topic', `topic "${topic.slice(0, 300)}" ${p}`)
}

/** Parses "p1,p2" or an array of patterns, checking each and the count. */
export function parsePatterns(input: string | readonly string[] | undefined, max: number): string[] {
  const list = typeof input === 'string' ? input.split(',') : input ? [...input] : []
  const patterns = [...new Set(list.map((p) => p.trim()).filter((p) => p !== ''))]
  if (patterns.length === 0) throw new FeedError('invalid_pattern', 'at least one topic pattern is required')
  if (patterns.length > max) throw new FeedError('too_many_patterns', `${patterns.length} patterns given, at most ${max} allowed`)
  for (const p of patterns) {
    const problem = patternProblem(p)
    if (problem) throw new FeedError('invalid_pattern', `pattern "${p.slice(0, 300)}" ${problem}`)
  }
  return patterns
}
