/**
 * @module
 * Redis replies read with a check, not a cast: ioredis types a MULTI's replies, XINFO and a script's answer
 * as `unknown`, and a reply of another shape (a key of another type, a Redis that answers differently) is an
 * error the caller maps to 503 `engine_unavailable`, never a value of the wrong type passed on.
 */

/** A stream entry as Redis returns it: its id and its fields, flat (name, value, name, value…). */
export type Entry = [id: string, fields: string[]]

const isString = (s: unknown): s is string => typeof s === 'string'
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString)
const isEntry = (e: unknown): e is Entry => Array.isArray(e) && e.length === 2 && isString(e[0]) && isStrings(e[1])

/** A reply this engine cannot read. */
export class ReplyError extends Error {
  constructor(what: string, value: unknown) {
    super(`unexpected Redis reply for ${what}: ${typeof value === 'object' ? JSON.stringify(value)?.slice(0, 80) : typeof value}`)
  }
}

/** A MULTI's replies, or its first error. */
export async function results(exec: Promise<[Error | null, unknown][] | null>): Promise<unknown[]> {
  const res = await exec
  if (!res) throw new Error('transaction aborted')
  return res.map(([err, value]) => {
    if (err) throw err
    return value
  })
}

export function str(value: unknown, what: string): string {
  if (!isString(value)) throw new ReplyError(what, value)
  return value
}

export function strOrNull(value: unknown, what: string): string | null {
  return value === null ? null : str(value, what)
}

export function strings(value: unknown, what: string): string[] {
  if (!isStrings(value)) throw new ReplyError(what, value)
  return value
}

/** A script's answer of two strings. */
export function pair(value: unknown, what: string): [string, string] {
  const [a, b, ...rest] = isStrings(value) ? value : []
  if (a === undefined || b === undefined || rest.length > 0) throw new ReplyError(what, value)
  return [a, b]
}

/** HMGET: a value or null per field asked. */
export function stringsOrNulls(value: unknown, what: string): (string | null)[] {
  if (!Array.isArray(value) || !value.every((s): s is string | null => s === null || isString(s))) throw new ReplyError(what, value)
  return value
}

/** HGETALL, as ioredis turns it into an object. */
export function hash(value: unknown, what: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ReplyError(what, value)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) out[k] = str(v, what)
  return out
}

/** XRANGE and XREVRANGE: entries. */
export function entries(value: unknown, what: string): Entry[] {
  if (!Array.isArray(value) || !value.every(isEntry)) throw new ReplyError(what, value)
  return value
}

/** XREAD of one stream: its entries, or none when the read timed out (null). */
export function streamRead(value: unknown, what: string): Entry[] {
  if (value === null) return []
  if (!Array.isArray(value) || value.length !== 1 || !Array.isArray(value[0])) throw new ReplyError(what, value)
  return entries(value[0][1], what)
}

/** The one field of XINFO STREAM this engine needs: the last id the stream gave out ("0-0" for none). */
export function lastGeneratedId(info: unknown): string {
  if (!Array.isArray(info)) throw new ReplyError('XINFO STREAM', info)
  const i = info.indexOf('last-generated-id')
  return i >= 0 ? str(info[i + 1], 'XINFO STREAM last-generated-id') : '0-0'
}
