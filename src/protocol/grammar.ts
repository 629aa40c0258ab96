/**
 * @module
 * The topic grammar, shared by the server, the SDK and the dashboard: a topic
 * is 1–8 segments of `[A-Za-z0-9_.:@-]+` joined by `/`, at most 256
 * characters; a pattern may use `*` for one segment and, last, `**` for one or more.
 * Beside it, the pattern arithmetic both sides need: does a pattern match a topic, may two overlap.
 */

export const MAX_TOPIC_LENGTH = 256
export const MAX_SEGMENTS = 8
/** One topic segment. Ids that become segments (league, game, symbol) use it too. */
export const SEGMENT = /^[A-Za-z0-9_.:@-]+$/
export const SEGMENT_CHARS = 'A-Z a-z 0-9 _ . : @ -'

function shapeProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty'
  if (value.length > MAX_TOPIC_LENGTH) return `is longer than ${MAX_TOPIC_LENGTH} characters`
  const n = value.split('/').length
  if (n > MAX_SEGMENTS) return `has ${n} segments (at most ${MAX_SEGMENTS})`
  return undefined
}

/** What is wrong with a topic, or undefined when it is one. */
export function topicProblem(topic: string): string | undefined {
  const shape = shapeProblem(topic)
  if (shape) return shape
  const bad = topic.split('/').find((s) => !SEGMENT.test(s))
  return bad === undefined ? undefined : `has an invalid segment "${bad}" (allowed: ${SEGMENT_CHARS})`
}

/** What is wrong with a pattern, or undefined when it is one. */
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

/** True when some topic matches both patterns. */
export function overlaps(a: string, b: string): boolean {
  return overlapFrom(a.split('/'), 0, b.split('/'), 0)
}
function overlapFrom(a: string[], i: number, b: string[], j: number): boolean {
  // "**" (always last) takes one or more segments of anything: the other side needs at least one left.
  if (a[i] === '**') return j < b.length
  if (b[j] === '**') return i < a.length
  if (i === a.length || j === b.length) return i === a.length && j === b.length
  if (a[i] === '*' || b[j] === '*' || a[i] === b[j]) return overlapFrom(a, i + 1, b, j + 1)
  return false
}

/** True when every topic `inner` matches, `outer` matches too. */
export function covers(outer: string, inner: string): boolean {
  const o = outer.split('/')
  const p = inner.split('/')
  for (let i = 0; ; i++) {
    if (o[i] === '**') return i < p.length
    if (i === o.length || i === p.length) return i === o.length && i === p.length
    if (p[i] === '**') return false
    if (o[i] === '*') continue
    if (p[i] === '*' || p[i] !== o[i]) return false
  }
}
