/**
 * @module
 * Saying what is wrong with a value that failed a protocol schema, in one
 * line: the server's 400 messages and the SDK's `bad_frame` errors use it.
 */
import * as v from 'valibot'

/** The most telling of a parse's issues, as "path: message". */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  // A union reports each branch's issues; the deepest one is the most telling.
  const flat: v.BaseIssue<unknown>[] = []
  const walk = (list: readonly v.BaseIssue<unknown>[]) => {
    for (const i of list) i.issues ? walk(i.issues) : flat.push(i)
  }
  walk(issues)
  const best = flat.reduce((a, b) => ((b.path?.length ?? 0) > (a.path?.length ?? 0) ? b : a), flat[0] ?? issues[0]!)
  const path = v.getDotPath(best)
  return path ? `${path}: ${best.message}` : best.message
}
