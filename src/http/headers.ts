/**
 * @module
 * CORS and nosniff for the API, added before the handler to the headers every answer carries
 * (`src/http/answer.ts`), so the hot routes answer them as a plain record. Hono's cors() answers the
 * preflights; on other requests it would set its headers through `c.header` after the handler.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { FeedError } from '../core/errors.ts'
import { addAnswerHeader } from './answer.ts'
import type { Vars } from './auth.ts'
import { originAllowed, sameOrigin } from './client.ts'

const EXPOSE = ['Idempotent-Replayed', 'Retry-After', 'X-Request-Id']
const EXPOSED = EXPOSE.join(', ')

export interface CorsPolicy {
  /** ALLOWED_ORIGINS: `*`, or the origins whose pages may read. */
  allowedOrigins: '*' | readonly string[]
  /** Whether a token scheme is configured (PUBLISH_TOKEN or TOKEN_SECRET): only then may other origins publish. */
  tokenScheme: boolean
  /** Whether this method on this path publishes. */
  isPublish(method: string, path: string): boolean
}

/** CORS headers for the API: any origin, or the listed ones (echoed, with Vary: Origin). */
export function apiHeaders(policy: CorsPolicy): MiddlewareHandler<Vars> {
  const allowOrigin = (origin: string | undefined): string | undefined =>
    policy.allowedOrigins === '*' ? '*' : origin !== undefined && originAllowed(origin, policy.allowedOrigins) ? origin : undefined
  const preflight = cors({
    origin: (origin) => allowOrigin(origin) ?? null,
    allowHeaders: ['Content-Type', 'Authorization', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id'],
    exposeHeaders: EXPOSE,
  })
  return async (c: Context<Vars>, next) => {
    if (c.req.method === 'OPTIONS') {
      // Without a token scheme, publishing is loopback-only: no page elsewhere gets its preflight approved.
      const method = (c.req.header('access-control-request-method') ?? '').toUpperCase()
      if (policy.isPublish(method, c.req.path) && !policy.tokenScheme && !sameOrigin(c)) {
        throw new FeedError('forbidden', 'publishing from a page on another origin needs a token scheme (PUBLISH_TOKEN or TOKEN_SECRET)')
      }
      return preflight(c, next)
    }
    const origin = allowOrigin(c.req.header('origin'))
    if (origin !== undefined) addAnswerHeader(c, 'access-control-allow-origin', origin)
    if (policy.allowedOrigins !== '*') addAnswerHeader(c, 'vary', 'Origin')
    addAnswerHeader(c, 'access-control-expose-headers', EXPOSED)
    addAnswerHeader(c, 'x-content-type-options', 'nosniff')
    await next()
  }
}
