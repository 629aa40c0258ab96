/**
 * @module
 * Many deadlines of one length on one timer. A timer per operation that
 * usually finishes long before its deadline (a request body that arrives in
 * the same packet as its head) is costly when there is one at a time: Node
 * then makes and drops its timer list, and re-arms the loop's timer, for every
 * one (bench/README.md, "HTTP publish"). Here the one timer is armed for the
 * oldest pending deadline and left alone as operations finish; when it fires
 * it ends what is due and re-arms for the next, so steady traffic arms it about
 * once per length, not once per operation.
 */

/** One pending deadline: pass it to `cancel` when the operation is done in time. */
export interface Deadline {
  readonly at: number
  readonly expire: () => void
}

export class Deadlines {
  /** In insertion order, which is deadline order: every deadline is `ms` from its start. */
  private readonly pending = new Set<Deadline>()
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(readonly ms: number) {}

  /** Calls `expire` once `ms` have passed, unless `cancel` comes first. */
  start(expire: () => void): Deadline {
    const deadline = { at: performance.now() + this.ms, expire }
    this.pending.add(deadline)
    if (this.timer === undefined) this.arm(this.ms)
    return deadline
  }

  /** The operation finished in time. The timer stays armed: it finds nothing due, or the next deadline. */
  cancel(deadline: Deadline): void {
    this.pending.delete(deadline)
  }

  private arm(ms: number): void {
    const timer = setTimeout(() => this.fire(), ms)
    // Never what keeps a process alive: a pending operation has a socket that does (Deno's timers are numbers).
    if (typeof timer === 'object') timer.unref()
    this.timer = timer
  }

  private fire(): void {
    this.timer = undefined
    const now = performance.now()
    for (const deadline of this.pending) {
      if (deadline.at > now) return this.arm(deadline.at - now)
      this.pending.delete(deadline)
      deadline.expire()
    }
  }
}
