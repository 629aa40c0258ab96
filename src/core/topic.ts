/**
 * @module
 * Checking what clients send against the topic grammar (`src/protocol/grammar.ts`).
 */
import { patternProblem, topicProblem } from '../protocol/grammar.ts'
import { FeedError } from './errors.ts'

/** Throws 400 invalid_topic when a publisher's topic breaks the grammar. */
export function assertTopic(topic: string): void {
  const p = topicProblem(topic)
  if (p) throw new FeedError('invalid_topic', `topic "${topic.slice(0, 300)}" ${p}`)
}

/** Parses "p1,p2" or an array of patterns, checking each and the count. */
export function parsePatterns(input: string | readonly string[] | undefined, max: number): string[] {
  const list = typeof input === 'string' ? input.split(',') : (input ?? [])
  // One pattern (most subscribes) builds no Set and no intermediate arrays.
  const one = list.length === 1 ? list[0]!.trim() : undefined
  const patterns = one !== undefined ? (one === '' ? [] : [one]) : [...new Set(list.map((p) => p.trim()).filter((p) => p !== ''))]
  if (patterns.length === 0) throw new FeedError('invalid_pattern', 'at least one topic pattern is required')
  if (patterns.length > max) throw new FeedError('too_many_patterns', `${patterns.length} patterns given, at most ${max} allowed`)
  for (const p of patterns) {
    const problem = patternProblem(p)
    if (problem) throw new FeedError('invalid_pattern', `pattern "${p.slice(0, 300)}" ${problem}`)
  }
  return patterns
}
