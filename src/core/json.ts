/**
 * @module
 * Checks on JSON a client sends, so what is stored is exactly what it sent:
 * nesting past a bound is refused before parsing (a deep document costs the
 * parser and every later stringify), and numbers JSON cannot carry as finite
 * doubles (`1e999999`, a 50,000-digit integer) are refused rather than stored as `null`.
 */
import { FeedError } from './errors.ts'

/** Digits in a row that cannot overflow: a 309-digit integer may be over the largest double (about 1.8e308). */
const MAX_PLAIN_DIGITS = 308

/**
 * One pass over the text, strings skipped: throws 400 too_deep when arrays and objects nest deeper than
 * `max`, and answers whether a number in it could parse to ±Infinity (it has an exponent, or more than
 * MAX_PLAIN_DIGITS digits in a row), so the walk for non-finite numbers runs only then.
 */
function scan(text: string, max: number): boolean {
  let depth = 0
  let digits = 0
  let mayOverflow = false
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (ch >= 48 && ch <= 57) {
      if (++digits > MAX_PLAIN_DIGITS) mayOverflow = true
      continue
    }
    // Outside strings an e follows a digit only as an exponent (true and false have theirs after letters).
    if ((ch === 101 || ch === 69) /* e, E */ && digits > 0) mayOverflow = true
    digits = 0
    if (ch === 34 /* " */) i = stringEnd(text, i)
    else if (ch === 91 /* [ */ || ch === 123 /* { */) {
      if (++depth > max) throw new FeedError('too_deep', `the JSON nests deeper than ${max} levels (MAX_JSON_DEPTH)`)
    } else if (ch === 93 /* ] */ || ch === 125 /* } */) depth--
  }
  return mayOverflow
}

/**
 * Where the string opened at `open` ends: its closing quote, the first not escaped by an odd run of backslashes
 * (or the end of an unterminated one, which the parse then refuses). `indexOf` skips a string's content far
 * faster than a loop over its characters, and strings are most of an event's bytes.
 */
function stringEnd(text: string, open: number): number {
  let quote = open
  for (;;) {
    quote = text.indexOf('"', quote + 1)
    if (quote < 0) return text.length
    let slashes = 0
    while (text.charCodeAt(quote - 1 - slashes) === 92 /* \ */) slashes++
    if (slashes % 2 === 0) return quote
  }
}

/** True when every number in the value is finite. Depth is already bounded. */
function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value)
  if (typeof value !== 'object' || value === null) return true
  return Object.values(value).every(allFinite)
}

/** Where the first non-finite number is, for the error message: only walked when there is one. */
function pathOfInfinite(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path
  if (typeof value !== 'object' || value === null) return undefined
  for (const [k, v] of Object.entries(value)) {
    const found = pathOfInfinite(v, Array.isArray(value) ? `${path}[${k}]` : path ? `${path}.${k}` : k)
    if (found !== undefined) return found
  }
  return undefined
}

/** Throws 400 validation_failed naming the first number that parsed to ±Infinity. Builds no path unless one did. */
function assertFinite(value: unknown): void {
  if (allFinite(value)) return
  const path = pathOfInfinite(value, '')
  throw new FeedError('validation_failed', `${path || 'the body'}: a number too large for JSON to carry (not a finite double)`)
}

/** Parses client JSON: depth first, then the parse (400 invalid_json), then finite numbers where one could overflow. */
export function parseClientJson(text: string, maxDepth: number): unknown {
  const mayOverflow = scan(text, maxDepth)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new FeedError('invalid_json', `not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (mayOverflow) assertFinite(value)
  return value
}
