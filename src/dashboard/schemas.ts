/**
 * @module
 * The dashboard's own event shapes: a game's score on `scores/<league>/<game>`
 * and a quote on `stocks/<symbol>`. The typed publishers check bodies with
 * them; the page checks what it receives with them.
 */
import * as v from 'valibot'
import { SEGMENT, SEGMENT_CHARS } from '../protocol/grammar.ts'

/** League, game and symbol ids become topic segments, so they obey the topic grammar. */
const segment = v.pipe(v.string(), v.maxLength(64), v.regex(SEGMENT, `must be 1-64 of ${SEGMENT_CHARS}`))

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
export type Score = v.InferOutput<typeof scoreSchema>

export const quoteSchema = v.object({
  symbol: segment,
  price: v.pipe(v.number(), v.finite(), v.gtValue(0)),
  change: v.optional(v.pipe(v.number(), v.finite())),
  volume: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  currency: v.optional(v.pipe(v.string(), v.regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO 4217 code'))),
})
export type Quote = v.InferOutput<typeof quoteSchema>

/** A symbol a user may add to the watch list. */
export const isSymbol = (s: string): boolean => v.is(segment, s)
