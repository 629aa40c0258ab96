import type { FeedEvent } from './types.ts'

/**
 * An event serialised once for all its subscribers: each transport's frame is
 * built from the same JSON the first time a subscriber of that transport
 * needs it, never once per subscriber.
 */
export class PreparedEvent {
  readonly json: string
  private ws?: string
  private sse?: string
  constructor(readonly event: FeedEvent) {
    this.json = JSON.stringify(event)
  }
  /** {"type":"event", ...event} without a second stringify. */
  get wsFrame(): string {
    return (this.ws ??= '{"type":"event",' + this.json.slice(1))
  }
  get sseFrame(): string {
    return (this.sse ??= `id: ${this.event.id}\ndata: ${this.json}\n\n`)
  }
}
