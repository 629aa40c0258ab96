/**
 * @module
 * Who a request comes from: its address (behind TRUST_PROXY proxies, the
 * X-Forwarded-For entry the nearest trusted proxy appended; otherwise the
 * socket's, and a client-sent X-Forwarded-For is ignored) and its origin policy.
 */
import type { Context } from 'hono'

/**
 * The client's address; with `trustProxy` proxies in front, the entry they appended for it. The socket's
 * address is asked for only when needed: it is a `getpeername` system call, and behind a proxy it is the proxy's.
 */
export function clientAddress(c: Context, socketAddress: (c: Context) => string | undefined, trustProxy: number): string {
  if (trustProxy > 0) {
    const entries = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
    // Each trusted proxy appends the address it received from: the client is `trustProxy` entries from the end.
    const entry = entries[entries.length - trustProxy]
    if (entry !== undefined) return entry
  }
  return socketAddress(c) ?? 'unknown'
}

/** True when the request's Origin (if any) is the server's own: a page it served. */
export function sameOrigin(c: Context): boolean {
  const origin = c.req.header('origin')
  if (origin === undefined) return true
  try {
    return new URL(origin).host === c.req.header('host')
  } catch {
    return false
  }
}

/** True when a browser page on this origin may use the feed: no Origin (not a browser), or a listed one. */
export function originAllowed(origin: string | undefined, allowed: '*' | readonly string[]): boolean {
  return origin === undefined || allowed === '*' || allowed.includes(origin)
}
