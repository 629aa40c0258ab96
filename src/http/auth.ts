/**
 * @module
 * Who may publish. `PUBLISH_TOKEN` as a bearer token has full rights; a JWT
 * (with TOKEN_SECRET) may publish to the topics its `publish` claim grants.
 * Without any token, only loopback clients may publish, and only while
 * PUBLISH_TOKEN is unset: a fresh `npm start` works with curl without leaving
 * a public publish endpoint open.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { FULL_GRANT, type Grant } from '../core/access.ts'
import type { RequestContext } from '../core/connection.ts'
import { FeedError } from '../core/errors.ts'
import type { RateLimiter, Slot } from '../core/limits.ts'
import type { AnswerHeaders } from './answer.ts'
import { sameOrigin } from './client.ts'
import { bearerToken, type Tokens } from './tokens.ts'

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || /^(::ffff:)?127\./.test(address)
}

/**
 * Hono context variables this app sets: the grant of the request's token, resolved by a guard; the request's
 * id and trace; the headers every answer to it carries, until an answer takes them (`src/http/answer.ts`).
 */
export type Vars = {
  Variables: { grant: Grant | undefined; slot: Slot | undefined; request: RequestContext; headers: AnswerHeaders | undefined }
}

/** The publisher's grant, set by `publishAuth` before the handler runs. */
export function publishGrant(c: Context<Vars>): Grant {
  const g = c.get('grant')
  if (!g) throw new FeedError('internal', 'publish route without publishAuth')
  return g
}

/**
 * Resolves the publisher's grant, then its rate (PUBLISH_RATE per token
 * subject, else per address; 429 with Retry-After past it; PUBLISH_TOKEN is exempt). A tokenless
 * publish from loopback must come from no page or from the server's own:
 * a page on another site cannot publish through a visitor's browser.
 */
export function publishAuth(
  tokens: Tokens,
  publishToken: string | undefined,
  clientAddress: (c: Context) => string,
  rate: RateLimiter,
): MiddlewareHandler<Vars> {
  const unauthorized = (c: Context, message: string) => {
    c.header('WWW-Authenticate', 'Bearer realm="livefeed"')
    return new FeedError('unauthorized', message)
  }
  return async (c, next) => {
    const bearer = bearerToken(c)
    let grant: Grant
    if (bearer !== undefined) {
      grant =
        tokens.operatorGrant(bearer) ??
        (await tokens.jwtGrant(bearer).catch((err: unknown) => {
          // Without TOKEN_SECRET the only token is PUBLISH_TOKEN: a wrong one is simply unauthorized.
          throw err instanceof FeedError && err.code === 'invalid_token' && !tokens.acceptsJwt
            ? unauthorized(c, 'publishing needs "Authorization: Bearer <PUBLISH_TOKEN>"')
            : err
        }))
    } else if (publishToken !== undefined) {
      throw unauthorized(c, 'publishing needs "Authorization: Bearer <PUBLISH_TOKEN>" or a token that grants it')
    } else if (isLoopback(clientAddress(c))) {
      if (!sameOrigin(c)) throw new FeedError('forbidden', 'a page on another origin may not publish without a token')
      grant = FULL_GRANT
    } else {
      throw new FeedError('forbidden', 'publishing is only open to loopback clients when PUBLISH_TOKEN is not set')
    }
    // The operator's own key (PUBLISH_TOKEN) is not throttled: it is the feed's source, not an abuser.
    const operator = bearer !== undefined && grant === FULL_GRANT
    if (!operator) rate.check(grant.sub !== undefined ? `sub:${grant.sub}` : `ip:${clientAddress(c)}`)
    c.set('grant', grant)
    return next()
  }
}
