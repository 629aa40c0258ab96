/**
 * @module
 * Abuse limits that hold per client: connections per address, and token
 * buckets for request and frame rates. Their memory is bounded: a bucket map
 * forgets its least recently used keys past `maxKeys`.
 */
import { FeedError } from './errors.ts'

/** Connections (WebSockets, SSE streams, held polls) per client address. */
export class ConnectionCounter {
  private readonly counts = new Map<string, number>()
  constructor(private readonly max: number) {}

  /** Takes a slot for this address, or throws 429 too_many_connections. */
  acquire(address: string): Slot {
    const n = this.counts.get(address) ?? 0
    if (n >= this.max) throw new FeedError('too_many_connections', `this address holds ${n} connections, the most allowed (MAX_CONNECTIONS_PER_IP)`)
    this.counts.set(address, n + 1)
    return new AddressSlot(this.counts, address)
  }

  count(address: string): number {
    return this.counts.get(address) ?? 0
  }
}

/** A connection's slot of its address, held for the connection's life; `release` is idempotent. */
export interface Slot {
  /** The address it counts against. */
  readonly address: string
  release(): void
}

// An object rather than a closure: every open connection keeps one (~40 bytes instead of ~110).
class AddressSlot implements Slot {
  private held = true
  constructor(
    private readonly counts: Map<string, number>,
    readonly address: string,
  ) {}

  release(): void {
    if (!this.held) return
    this.held = false
    const left = (this.counts.get(this.address) ?? 1) - 1
    if (left > 0) this.counts.set(this.address, left)
    else this.counts.delete(this.address)
  }
}

/** One token bucket: `rate` tokens a second, holding at most `burst`. */
export class Bucket {
  private tokens: number
  private last: number
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.last = now
  }
  /** Takes a token: 0 when there was one, else the seconds until there will be. */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate)
    this.last = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return (1 - this.tokens) / this.rate
  }
}

/**
 * What one remembered bucket holds: its key (2 bytes a character at most), the Bucket, the Map's entry and its
 * share of the table. Calibrated against the heap (160 bytes for `ip:` and an IPv4 address, 215 for an IPv6 one,
 * 520 for a 196-character key), rounded up.
 */
const bucketCost = (key: string) => 2 * key.length + 160

/**
 * A bucket per key (publisher identity), rate per second with a burst of twice that; rate 0 is off. At most
 * `maxBytes` of them are remembered: past it the least recently used are forgotten, and start again full.
 */
export class RateLimiter {
  /** Least recently used first: a check moves its key to the end. */
  private readonly buckets = new Map<string, Bucket>()
  private held = 0
  constructor(
    private readonly rate: number,
    private readonly maxBytes: number,
  ) {}

  /** Bytes the buckets hold, by `bucketCost`: for `livefeed_publish_rate_bytes`. */
  get bytes(): number {
    return this.held
  }

  /** Throws 429 rate_limited, with the whole seconds to wait, when `key` is over its rate. */
  check(key: string, now = Date.now()): void {
    if (this.rate === 0) return
    let b = this.buckets.get(key)
    if (b)
      this.buckets.delete(key) // re-inserted below: the map stays in least-recently-used order
    else {
      b = new Bucket(this.rate, this.rate * 2, now)
      this.held += bucketCost(key)
    }
    this.buckets.set(key, b)
    if (this.held > this.maxBytes) this.forgetBut(key)
    const wait = b.take(now)
    if (wait > 0) throw new RateLimited(Math.max(1, Math.ceil(wait)))
  }

  /** Forgets the least recently used buckets until the bound holds, never `key`'s (the one just checked). */
  private forgetBut(key: string): void {
    for (const stale of this.buckets.keys()) {
      if (this.held <= this.maxBytes || stale === key) return
      this.buckets.delete(stale)
      this.held -= bucketCost(stale)
    }
  }
}

export class RateLimited extends FeedError {
  constructor(private readonly waitS: number) {
    super('rate_limited', `over the publish rate (PUBLISH_RATE): retry in ${waitS} s`)
  }
  override get retryAfterS(): number {
    return this.waitS
  }
}
