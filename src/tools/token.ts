/**
 * @module
 * `npm run token` (Node) or `deno task token` (Deno): prints an access token, an HS256 JWT signed with the
 * first secret of `TOKEN_SECRET`, with the claims of `src/protocol/tokens.ts`. For trying private topics,
 * publishing over the socket and presence by hand, and for demos; an application mints its own.
 *
 *   TOKEN_SECRET=… npm run token -- --sub alice --subscribe 'chat/**' --publish 'chat/{sub}/**,chat/rooms/*' --ttl 1h
 */
import { parseArgs } from 'node:util'
import { sign } from 'hono/jwt'
import * as v from 'valibot'
import { ConfigError, loadConfig } from '../config.ts'
import { patternProblem } from '../protocol/grammar.ts'
import { describeIssues } from '../protocol/issues.ts'
import { SUB_PLACEHOLDER, tokenClaims } from '../protocol/tokens.ts'

const HELP = `Prints an access token (HS256 JWT) signed with the first secret of TOKEN_SECRET.

  --sub <id>            the bearer (a user id): presence member, publish-rate identity, {sub} in grants
  --subscribe <list>    comma-separated patterns it may read, private topics included ({sub} allowed)
  --publish <list>      comma-separated patterns it may publish to ({sub} allowed)
  --ttl <time>          how long it is valid: 90s, 30m, 1h, 7d (default 1h)
  --help                this text

Example: TOKEN_SECRET=... npm run token -- --sub alice --subscribe 'chat/**' --publish 'chat/{sub}/**' --ttl 1h`

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** `90s`, `30m`, `1h`, `7d` (or plain seconds) as seconds; undefined when it is none of these. */
export function parseTtl(raw: string): number | undefined {
  const m = /^([0-9]+)([smhd]?)$/.exec(raw.trim())
  if (!m) return undefined
  const s = Number(m[1]) * UNITS[m[2] || 's']!
  return s > 0 && s <= 366 * 86_400 ? s : undefined
}

const list = (raw: string | undefined) =>
  raw
    ?.split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')

/** The token for these command-line arguments and environment; throws ConfigError with the one line to print. */
export async function token(args: string[], env: Record<string, string | undefined>): Promise<string> {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      subscribe: { type: 'string' },
      publish: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) return HELP
  const secret = loadConfig(env).tokenSecrets[0]
  if (secret === undefined) throw new ConfigError('TOKEN_SECRET is not set: the server verifies tokens with it, so they are signed with it')
  const ttl = parseTtl(values.ttl)
  if (ttl === undefined) throw new ConfigError(`--ttl "${values.ttl}" is not allowed: it must be a time such as 90s, 30m, 1h or 7d (at most a year)`)
  const claims = {
    exp: Math.floor(Date.now() / 1000) + ttl,
    ...(values.sub !== undefined ? { sub: values.sub } : {}),
    ...(values.subscribe !== undefined ? { subscribe: list(values.subscribe) } : {}),
    ...(values.publish !== undefined ? { publish: list(values.publish) } : {}),
  }
  // A pattern outside the grammar would never match a topic: refused here rather than granted silently.
  for (const p of [...(claims.subscribe ?? []), ...(claims.publish ?? [])]) {
    const problem = patternProblem(
      p
        .split('/')
        .map((s) => (s === SUB_PLACEHOLDER ? 'x' : s))
        .join('/'),
    )
    if (problem !== undefined) throw new ConfigError(`the claims are not allowed: "${p}" ${problem}`)
  }
  // The server checks the claims against the same schema: a token it would refuse is not printed.
  const checked = v.safeParse(tokenClaims, claims)
  if (!checked.success) throw new ConfigError(`the claims are not allowed: ${describeIssues(checked.issues)}`)
  return sign(checked.output, secret, 'HS256')
}
