/**
 * @module
 * Verified tokens, remembered until they expire (TOKEN_CACHE_BYTES). Verifying a JWT with `hono/jwt` (a
 * WebCrypto HMAC) costs ~50 µs of CPU, about a fifth of a WebSocket connect, and a client presents the same
 * token on every reconnect, subscribe and publish. Keyed by the whole token string, so only a string that
 * verified is ever found; its expiry is checked on every hit, so a remembered token is never accepted past its
 * `exp`. Past the bound in bytes, the least recently used go first.
 */
import type { Grant } from '../core/access.ts'

/**
 * What one remembered token holds: its string, the grant, its two pattern sets, and per pattern its string and,
 * for a wildcard, a trie node (a Map and two Sets) per segment. Calibrated against the heap (~3.2 KB for a
 * 176-character token granting one four-segment wildcard pattern), rounded up.
 */
function costOf(token: string, grant: Grant): number {
  let bytes = 2 * token.length + 2 * (grant.sub?.length ?? 0) + 1100
  for (const p of [...grant.subscribe.patterns, ...grant.publish.patterns]) {
    bytes += 2 * p.length + 200 + (p.includes('*') ? 400 * p.split('/').length : 0)
  }
  return bytes
}

export class VerifiedTokens {
  /** Least recently used first: a hit moves its token to the end. */
  private readonly entries = new Map<string, { grant: Grant; bytes: number }>()
  private held = 0

  constructor(private readonly maxBytes: number) {}

  /** Bytes held, for `livefeed_token_cache_bytes`. */
  get bytes(): number {
    return this.held
  }

  /** The grant of a token that verified before, unless it has expired since (then it is forgotten). */
  find(token: string, now: number): Grant | undefined {
    const entry = this.entries.get(token)
    if (entry === undefined) return undefined
    this.entries.delete(token)
    if (entry.grant.expiresAt <= now) {
      this.held -= entry.bytes
      return undefined
    }
    this.entries.set(token, entry)
    return entry.grant
  }

  /** Remembers a token that just verified, then lets the least recently used go until the bound holds. */
  keep(token: string, grant: Grant): void {
    const bytes = costOf(token, grant)
    if (bytes > this.maxBytes) return
    const old = this.entries.get(token)
    if (old !== undefined) {
      this.entries.delete(token)
      this.held -= old.bytes
    }
    this.entries.set(token, { grant, bytes })
    this.held += bytes
    for (const [stale, entry] of this.entries) {
      if (this.held <= this.maxBytes) break
      this.entries.delete(stale)
      this.held -= entry.bytes
    }
  }
}
