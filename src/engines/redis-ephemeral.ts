/**
 * @module
 * Ephemeral topics on Redis: events PUBLISHed on one channel, `<prefix>ephemeral`, which every instance
 * SUBSCRIBEs to on a connection of its own, and stored nowhere. An instance that is not subscribed at that
 * moment (starting, reconnecting) never gets them: that is what ephemeral means. Redis itself bounds what
 * waits for a slow subscriber (`client-output-buffer-limit pubsub`) by closing its connection.
 */
import type { Redis, RedisOptions } from 'ioredis'
import { Redis as RedisClient } from 'ioredis'
import * as v from 'valibot'
import type { Log } from '../core/log.ts'
import { type EphemeralEvent, ephemeralEvent } from '../protocol/events.ts'

const batch = v.array(ephemeralEvent)

export class RedisEphemeral {
  private readonly subscriber: Redis
  private listener: (events: EphemeralEvent[]) => void = () => {}

  constructor(
    url: string,
    options: RedisOptions,
    private readonly channel: string,
    private readonly log: Log,
  ) {
    // Subscribed again by ioredis after a reconnect (autoResubscribe); what was sent meanwhile is gone.
    this.subscriber = new RedisClient(url, { ...options, enableOfflineQueue: true })
    this.subscriber.on('error', (err) => log.debug({ err: err.message }, 'redis subscriber connection error'))
    this.subscriber.on('message', (_channel: string, message: string) => this.received(message))
  }

  async start(): Promise<void> {
    await this.subscriber.connect()
    await this.subscriber.subscribe(this.channel)
  }

  close(): void {
    this.subscriber.disconnect()
  }

  /** Sent on the command connection: resolves once Redis took it (every subscribed instance has it then). */
  async broadcast(redis: Redis, events: EphemeralEvent[]): Promise<void> {
    await redis.publish(this.channel, JSON.stringify(events))
  }

  onEphemeral(listener: (events: EphemeralEvent[]) => void): void {
    this.listener = listener
  }

  private received(message: string): void {
    let json: unknown
    try {
      json = JSON.parse(message)
    } catch {
      json = undefined
    }
    // Only instances of this feed publish here; anything else on the channel is dropped, and said once per message.
    const r = v.safeParse(batch, json)
    if (r.success) this.listener(r.output)
    else this.log.warn({ channel: this.channel }, 'a message on the ephemeral channel is not a batch of events: dropped')
  }
}
