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

/** A bucket per key (publisher identity), rate per second with a burst of twice that; rate 0 is off. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  constructor(
    private readonly rate: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Throws 429 rate_limited, with the whole seconds to wait, when `key` is over its rate. */
  check(key: string, now = Date.now()): void {
    if (this.rate === 0) return
    let b = this.buckets.get(key)
    if (b)
      this.buckets.delete(key) // re-inserted below: the map stays in least-recently-used order
    else b = new Bucket(this.rate, this.rate * 2, now)
    this.buckets.set(key, b)
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!)
    const wait = b.take(now)
    if (wait > 0) throw new RateLimited(Math.max(1, Math.ceil(wait)))
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
