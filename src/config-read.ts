/**
 * @module
 * How a setting is read from the environment and checked: the four kinds of
 * number setting and the schema of each, lists of topic patterns, booleans,
 * TOKEN_SECRET, and the one line a bad value stops the start with. What the
 * settings are, with their defaults and ranges, is `config.ts`'s to say.
 */
import * as v from 'valibot'
import { patternProblem } from './protocol/grammar.ts'

/** A numeric setting: its variable, default, allowed range and unit (seconds are turned into ms). */
export interface NumberSetting {
  env: string
  default: number
  min: number
  max: number
  /** Whole numbers only (counts, bytes, ports). */
  integer: boolean
  unit: 'count' | 'bytes' | 's' | 'ms'
  doc: string
}

/** The four kinds of number setting, one constructor each: what unit, and whether it must be whole. */
const setting =
  (unit: NumberSetting['unit'], integer: boolean) =>
  (env: string, def: number, min: number, max: number, doc: string): NumberSetting => ({ env, default: def, min, max, integer, unit, doc })
export const count = setting('count', true)
export const bytes = setting('bytes', true)
export const seconds = setting('s', false)
export const millis = setting('ms', true)

/** What a number setting allows, in words: docs/configuration.md's range column says the same. */
export function allowed(s: NumberSetting): string {
  const unit = s.unit === 's' ? ' seconds' : s.unit === 'ms' ? ' milliseconds' : s.unit === 'bytes' ? ' bytes' : ''
  return `${s.integer ? 'a whole number' : 'a number'} from ${s.min} to ${s.max}${unit}`
}

/** A number setting's check: digits only, then its range, with `allowed` as the message. */
export function numberSchema(s: NumberSetting) {
  const message = allowed(s)
  return v.pipe(
    v.string(),
    v.regex(/^\s*[0-9]+(\.[0-9]+)?\s*$/, message),
    v.transform(Number),
    v.check((n) => !s.integer || Number.isInteger(n), message),
    v.minValue(s.min, message),
    v.maxValue(s.max, message),
  )
}

/** A yes/no setting: 1, 0, true, false, yes, no, on or off, in any case. */
export const booleanSchema = v.pipe(
  v.string(),
  v.regex(/^(1|0|true|false|yes|no|on|off)$/i, 'one of 1, 0, true, false, yes, no, on, off'),
  v.transform((s) => /^(1|true|yes|on)$/i.test(s)),
)

/** Comma-separated topic patterns, at least one, each of the topic grammar. */
export function patternList(message: string) {
  return v.pipe(
    v.string(),
    v.transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== ''),
    ),
    v.check((list) => list.length > 0 && list.every((p) => patternProblem(p) === undefined), message),
  )
}

/** `none`, or a pattern list: for settings whose default is a list, so that an empty one can be asked for. */
export function patternsOrNone(message: string) {
  return v.union([
    v.pipe(
      v.literal('none'),
      v.transform((): string[] => []),
    ),
    patternList(message),
  ])
}

/** A bad setting: its message is the one line the start prints before exiting with 1. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

export type Env = Record<string, string | undefined>

/** Checks one variable against its schema; absent or empty means the default. */
export function read<S extends v.GenericSchema<string, unknown>>(env: Env, name: string, schema: S): v.InferOutput<S> | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const r = v.safeParse(schema, raw)
  if (!r.success) throw new ConfigError(`${name}="${raw.slice(0, 100)}" is not allowed: it must be ${r.issues[0].message}`)
  return r.output
}

const encoder = new TextEncoder()
/** TOKEN_SECRET is checked apart: its value is a secret, so the error line never shows it. */
export function tokenSecrets(raw: string | undefined, minBytes: number): string[] {
  if (raw === undefined || raw.trim() === '') return []
  const secrets = raw.split(',').map((s) => s.trim())
  secrets.forEach((s, i) => {
    const size = encoder.encode(s).length
    if (size < minBytes)
      throw new ConfigError(
        `TOKEN_SECRET is not allowed: secret ${i + 1} of ${secrets.length} has ${size} bytes; each must have at least ${minBytes} (the value is not shown)`,
      )
  })
  return secrets
}
