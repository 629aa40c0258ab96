import type { Context, MiddlewareHandler } from 'hono'
import { FeedError } from '../core/errors.ts'

const encoder = new TextEncoder()

/** Compares digests so neither the length nor a matching prefix of the token leaks through timing. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([given, expected].map((s) => crypto.subtle.digest('SHA-256', encoder.encode(s))))
  const x = new Uint8Array(a!)
  const y = new Uint8Array(b!)
  let diff = 0
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!
  return diff === 0
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || /^(::ffff:)?127\./.test(address)
}

/**
 * With a token, publishing needs `Authorization: Bearer <token>`. Without one,
 * only loopback clients may publish, which keeps a fresh `npm start` usable
 * with curl without leaving a public publish endpoint open.
 */
export function publishAuth(token: string | undefined, clientAddress: (c: Context) => string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (token === undefined) {
      if (!isLoopback(clientAddress(c))) throw new FeedError('forbidden', 'publishing is only open to loopback clients when PUBLISH_TOKEN is not set')
      return next()
    }
    const header = c.req.header('authorization') ?? ''
    const m = /^Bearer\s+(.+)$/i.exec(header)
    if (!m || !(await sameSecret(m[1]!.trim(), token))) {
      c.header('WWW-Authenticate', 'Bearer realm="livefeed"')
      throw new FeedError('unauthorized', 'publishing needs "Authorization: Bearer <PUBLISH_TOKEN>"')
    }
    return next()
  }
}
