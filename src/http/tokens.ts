/**
 * @module
 * Reading a bearer's grant from a request: `?token=` (for clients that cannot
 * set headers: browsers' WebSocket and EventSource) or `Authorization: Bearer`.
 * Tokens are HS256 JWTs verified with `hono/jwt` against each TOKEN_SECRET;
 * the publish token, compared in constant time, has full rights. A token is
 * never logged or echoed.
 */
import type { Context } from 'hono'
import { verify } from 'hono/jwt'
import * as v from 'valibot'
import { expandGrant, FULL_GRANT, type Grant } from '../core/access.ts'
import { FeedError } from '../core/errors.ts'
import { PatternSet } from '../core/topic-index.ts'
import { tokenClaims } from '../protocol/tokens.ts'
import { VerifiedTokens } from './token-cache.ts'

/**
 * Compares a presented secret with the configured one so that the time taken depends only on the presented
 * string's length: every character of it is compared (against the secret's, cycled), and a length difference
 * counts as a mismatch. Neither the secret's length nor a matching prefix leaks through timing. Synchronous on
 * purpose: two WebCrypto digests per publish were a third of a sequential publisher's server CPU.
 */
export function sameSecret(given: string, expected: string): boolean {
  if (expected.length === 0) return false
  let diff = given.length ^ expected.length
  for (let i = 0; i < given.length; i++) diff |= given.charCodeAt(i) ^ expected.charCodeAt(i % expected.length)
  return diff === 0
}

/** The token of an `Authorization: Bearer …` header, if the request has one. */
export function bearerToken(c: Context): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1]
}

/** The token a request carries, if any: `Authorization: Bearer` wins over `?token=`. */
export function presentedToken(c: Context): string | undefined {
  return bearerToken(c) ?? (c.req.query('token') || undefined)
}

export class Tokens {
  /** JWTs that verified, until they expire (TOKEN_CACHE_BYTES; 0 remembers none). */
  readonly verified: VerifiedTokens

  constructor(
    private readonly secrets: readonly string[],
    private readonly publishToken: string | undefined,
    cacheBytes = 0,
  ) {
    this.verified = new VerifiedTokens(cacheBytes)
  }

  /** Whether JWTs are accepted at all (TOKEN_SECRET is set). */
  get acceptsJwt(): boolean {
    return this.secrets.length > 0
  }

  /** Full rights when the token is PUBLISH_TOKEN; answered at once, as a publisher presents it on every request. */
  operatorGrant(token: string): Grant | undefined {
    return this.publishToken !== undefined && sameSecret(token, this.publishToken) ? FULL_GRANT : undefined
  }

  /** Verifies a token: the publish token's full rights, or a JWT's claims; 401 invalid_token otherwise. */
  async grant(token: string): Promise<Grant> {
    return this.operatorGrant(token) ?? this.jwtGrant(token)
  }

  /** A JWT's claims, verified against each TOKEN_SECRET (remembered until `exp`); 401 invalid_token otherwise. */
  async jwtGrant(token: string): Promise<Grant> {
    if (this.secrets.length === 0) throw new FeedError('invalid_token', 'this server accepts no tokens (TOKEN_SECRET is not set)')
    const known = this.verified.find(token, Date.now())
    if (known !== undefined) return known
    let payload: unknown
    for (const secret of this.secrets) {
      payload = await verify(token, secret, { alg: 'HS256' }).catch((err: unknown) => err)
      if (!(payload instanceof Error)) break
      // Expired is told apart, so a client knows to get a new token rather than fix this one.
      if (payload.name === 'JwtTokenExpired') throw new FeedError('invalid_token', 'the token has expired: get a new one')
    }
    if (payload instanceof Error) throw new FeedError('invalid_token', 'the token is not valid here (signature, algorithm or format)')
    const claims = v.safeParse(tokenClaims, payload)
    if (!claims.success) throw new FeedError('invalid_token', 'the token lacks an integer "exp", or its "sub", "subscribe" or "publish" claims are malformed')
    const { exp, sub, subscribe = [], publish = [] } = claims.output
    const grant: Grant = {
      sub,
      expiresAt: exp * 1000,
      all: false,
      subscribe: new PatternSet(expandGrant(subscribe, sub)),
      publish: new PatternSet(expandGrant(publish, sub)),
    }
    this.verified.keep(token, grant)
    return grant
  }

  /** The grant of the token a request carries; undefined for an anonymous request. */
  async fromRequest(c: Context): Promise<Grant | undefined> {
    const token = presentedToken(c)
    return token === undefined ? undefined : this.grant(token)
  }
}
