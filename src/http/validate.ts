/**
 * @module
 * Checking a parsed body against a protocol schema, answering 400
 * `validation_failed` with the first problem and where it is.
 */
import * as v from 'valibot'
import { FeedError } from '../core/errors.ts'
import { describeIssues } from '../protocol/issues.ts'

/** Validates or throws 400 validation_failed naming the first problem and where it is. */
export function validate<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input)
  if (r.success) return r.output
  throw new FeedError('validation_failed', describeIssues(r.issues))
}
