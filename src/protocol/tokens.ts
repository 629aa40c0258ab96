/**
 * @module
 * Access tokens: HS256 JWTs signed with one of the server's TOKEN_SECRETs.
 * Their claims say what the bearer may read and publish.
 */
import * as v from 'valibot'
import { patternSchema } from './events.ts'

/** In a grant pattern, a segment `{sub}` stands for the token's `sub`: one grant serves every user. */
export const SUB_PLACEHOLDER = '{sub}'

export const tokenClaims = v.object({
  /** Expiry, seconds since the Unix epoch: required. */
  exp: v.pipe(v.number(), v.integer()),
  /** The bearer: a user id, say. Also the publish-rate identity. */
  sub: v.optional(v.pipe(v.string(), v.maxLength(256))),
  /** Patterns the bearer may read, private topics included. */
  subscribe: v.optional(v.pipe(v.array(patternSchema), v.maxLength(100))),
  /** Patterns the bearer may publish to. */
  publish: v.optional(v.pipe(v.array(patternSchema), v.maxLength(100))),
})
export type TokenClaims = v.InferOutput<typeof tokenClaims>
