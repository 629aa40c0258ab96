/**
 * @module
 * What the feed counts, as plain numbers: the hot path pays one increment,
 * and the metrics exporter (`src/http/metrics.ts`, prom-client) reads them
 * when it is scraped. Labels are bounded: transports, reasons and error
 * codes, never a topic, a token or an address.
 */
import type { EndReason, ErrorCode } from '../protocol/errors.ts'
import type { TransportName } from '../protocol/transports.ts'

export type { TransportName }

export class Stats {
  /** Events stored by this instance. */
  published = 0
  /** Deliveries by connections that have ended; live ones are added at scrape time. */
  readonly deliveries: Record<TransportName, number> = { ws: 0, sse: 0, poll: 0 }
  readonly disconnects = new Map<`${TransportName} ${EndReason}`, number>()
  readonly rejections = new Map<ErrorCode, number>()
  readonly resumes = { replayed: 0, reset: 0 }
  engineErrors = 0
  /** Times the engine's history went back (events already delivered were lost): every subscriber was reset. */
  historyLost = 0
  /** TCP connections the runtime closed as they came, MAX_CONNECTIONS being open. */
  dropped = 0
  /** Events never sent because a newer one of their topic replaced them (conflation). */
  conflated = 0
  /** `occupancy` and `presence` messages sent to watchers. */
  occupancyMessages = 0
  presenceMessages = 0
  /** Set by the exporter: seconds from an event's `ts` to its first frame handed to a socket. */
  observeLatency: (seconds: number) => void = () => {}

  disconnect(transport: TransportName, reason: EndReason): void {
    const key = `${transport} ${reason}` as const
    this.disconnects.set(key, (this.disconnects.get(key) ?? 0) + 1)
  }

  rejection(code: ErrorCode): void {
    this.rejections.set(code, (this.rejections.get(code) ?? 0) + 1)
  }
}
