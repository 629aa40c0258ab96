/**
 * @module
 * What one soak subscriber saw, checked as it arrives in O(1) memory. The
 * publisher is one sequential loop, so event `n` is stored before `n + 1`
 * (cursor order is `n` order) and its topic is `soak/t${n % TOPICS}`: a
 * subscriber knows, from `n` alone, which events it must have seen before it.
 */

export const TOPICS = 8
export const topicOf = (n: number): string => `soak/t${n % TOPICS}`

/** `soak/**` (every event) or one topic `soak/tK`. */
export type Interest = { all: true } | { all: false; k: number }

export const patternOf = (i: Interest): string => (i.all ? 'soak/**' : `soak/t${i.k}`)

/** How many `m` with `a < m < b` a subscriber with this interest must see. */
export function matchingBetween(i: Interest, a: number, b: number): number {
  if (b <= a + 1) return 0
  if (i.all) return b - a - 1
  // Multiples of TOPICS shifted by k, in the open interval (a, b).
  const upTo = (x: number) => (x < i.k ? 0 : Math.floor((x - i.k) / TOPICS) + 1) // count of m ≤ x, m ≥ 0
  return upTo(b - 1) - upTo(a)
}

/** Latencies in 0.1 ms buckets up to 60 s, so a 10-minute run of millions of deliveries costs 2.4 MB. */
export class Histogram {
  private readonly buckets = new Uint32Array(600_000)
  count = 0
  max = 0
  add(ms: number): void {
    const b = Math.min(this.buckets.length - 1, Math.max(0, Math.round(ms * 10)))
    this.buckets[b]!++
    this.count++
    if (ms > this.max) this.max = ms
  }
  quantile(q: number): number {
    let want = Math.ceil(this.count * q)
    for (let b = 0; b < this.buckets.length; b++) {
      want -= this.buckets[b]!
      if (want <= 0) return b / 10
    }
    return this.max
  }
}

/** One subscriber's running check: lost, duplicated and reordered deliveries, and where it would resume. */
export class Tally {
  /** The last `n` seen (-1: none yet). */
  last = -1
  /** Cursor of the last event seen: where a reconnect resumes. */
  lastId: string | undefined
  received = 0
  lost = 0
  duplicated = 0
  reordered = 0
  /** `reset` frames or answers: the server lost this subscriber's place (a failure in the soak). */
  resets = 0
  reconnects = 0
  /** Where the first duplicate or out-of-order event was, for the report. */
  firstDouble: string | undefined
  /** Where the first gap in delivery was, for the report. */
  firstGap: string | undefined

  constructor(
    readonly interest: Interest,
    private readonly latency: Histogram,
  ) {}

  matches(n: number): boolean {
    return this.interest.all || n % TOPICS === this.interest.k
  }

  see(n: number, id: string, ts: number): void {
    this.received++
    this.latency.add(Date.now() - ts)
    if (!this.matches(n) || n <= this.last) {
      // Not ours at all counts as out of place.
      if (this.matches(n) && n === this.last) this.duplicated++
      else this.reordered++
      this.firstDouble ??= `n=${n} after n=${this.last} (${this.reconnects} reconnects so far)`
    } else {
      const missed = matchingBetween(this.interest, this.last, n)
      if (missed > 0) {
        this.lost += missed
        this.firstGap ??= `after n=${this.last} came n=${n}`
      }
      this.last = n
      this.lastId = id
    }
  }

  /** At the end: everything up to `final` (the last `n` published) must be in. */
  settle(final: number): void {
    this.lost += matchingBetween(this.interest, this.last, final + 1)
    this.last = Math.max(this.last, final)
  }

  /** Has this subscriber seen the last event it should, of those up to `final`? */
  done(final: number): boolean {
    return matchingBetween(this.interest, this.last, final + 1) === 0
  }
}
