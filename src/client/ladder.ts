/**
 * @module
 * Which transport the feed tries next, and after how long: capped, fully jittered exponential backoff, a step
 * down (WebSocket → SSE → long polling) after two attempts in a row that never opened, and back to the top
 * after a while on a fallback (the proxy in the way may have changed).
 */
import type { ConnectOptions, TransportName } from './types.ts'

export class Ladder {
  private index = 0
  private attempt = 0
  /** Consecutive attempts of the current transport that never opened. */
  private failures = 0
  private fellBackAt = 0

  constructor(
    private readonly order: readonly TransportName[],
    private readonly opts: Pick<ConnectOptions, 'backoff' | 'retryBetterAfterMs'>,
  ) {}

  /** The transport to try now. */
  get transport(): TransportName {
    return this.order[this.index]!
  }
  /** On a fallback: a better transport is above this one. */
  get fellBack(): boolean {
    return this.index > 0
  }

  /** A connection opened: the backoff starts over. */
  opened(): void {
    this.attempt = 0
    this.failures = 0
  }

  /** A connection ended; the delay before the next attempt (none for a second try of one that never opened). */
  dropped(everOpened: boolean): number {
    // Fall back only after two failed attempts: one refusal may be a draining instance, not a proxy.
    if (!everOpened && ++this.failures >= 2 && this.index < this.order.length - 1) {
      this.index++
      this.failures = 0
      this.fellBackAt = Date.now()
    }
    return this.failures === 0 && !everOpened ? 0 : this.backoff()
  }

  /** The next delay: full jitter under a ceiling that doubles from `initialMs` up to `maxMs`. */
  backoff(): number {
    const initial = this.opts.backoff?.initialMs ?? 250
    const max = this.opts.backoff?.maxMs ?? 15_000
    const ceiling = Math.min(max, initial * 2 ** this.attempt++)
    return Math.random() * ceiling
  }

  /** Milliseconds until the better transports are tried again (`retryBetterAfterMs` after the fallback). */
  retryBetterIn(): number {
    return Math.max(0, this.fellBackAt + (this.opts.retryBetterAfterMs ?? 60_000) - Date.now())
  }

  /** Back to the best transport. */
  top(): void {
    this.index = 0
  }
}
