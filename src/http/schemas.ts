import * as v from 'valibot'
import { FeedError } from '../core/errors.ts'
import type { EventInput, Json } from '../core/types.ts'

/** A topic segment: league, game and symbol ids become topic segments, so they obey the topic grammar. */
const segment = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:@-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . : @ -'))

const event = v.object({
  topic: v.string(),
  // JSON.parse only yields JSON, so any present value is valid data; absent is not.
  data: v.custom<Json>((x) => x !== undefined, 'is required (any JSON value)'),
})

const team = v.object({
  team: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
  score: v.pipe(v.number(), v.integer(), v.minValue(0)),
})

export const scoreSchema = v.object({
  league: segment,
  game: segment,
  home: team,
  away: team,
  period: v.optional(v.union([v.pipe(v.string(), v.maxLength(20)), v.pipe(v.number(), v.integer(), v.minValue(0))])),
  clock: v.optional(v.pipe(v.string(), v.maxLength(20))),
  status: v.optional(v.picklist(['scheduled', 'live', 'final'])),
})

export const quoteSchema = v.object({
  symbol: segment,
  price: v.pipe(v.number(), v.finite(), v.gtValue(0)),
  change: v.optional(v.pipe(v.number(), v.finite())),
  volume: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  currency: v.optional(v.pipe(v.string(), v.regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO 4217 code'))),
})

export const clientFrame = v.variant('type', [
  v.object({ type: v.literal('subscribe'), topics: v.array(v.string()), since: v.optional(v.string()) }),
  v.object({ type: v.literal('unsubscribe'), topics: v.array(v.string()) }),
  v.object({ type: v.literal('ping') }),
])
export type ClientFrame = v.InferOutput<typeof clientFrame>

/** One item or a batch of 1..max items, each checked by `item`. */
export function oneOrMany<S extends v.GenericSchema>(item: S, max: number) {
  return v.union([item, v.pipe(v.array(item), v.minLength(1, 'must not be empty'), v.maxLength(max, `must hold at most ${max} items`))])
}

export const eventsBody = (max: number) => oneOrMany(event, max)
export type EventBody = EventInput | EventInput[]

/** Validates or throws 400 validation_failed naming the first problem and where it is. */
export function validate<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const r = v.safeParse(schema, input)
  if (r.success) return r.output
  throw new FeedError('validation_failed', describe(r.issues))
}

function describe(issues: readonly v.BaseIssue<unknown>[]): string {
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
