/**
 * @module
 * Publishing, as every publish route and the WebSocket's publish frames share it: the checks of an event
 * (topic grammar, MAX_EVENT_BYTES), storing a batch or sending an ephemeral one on, who may publish over a
 * socket (grants, OPEN_PUBLISH_TOPICS), and the one PUBLISH_RATE budget of HTTP and the socket.
 */
import type { Config, Limits } from '../config.ts'
import type { EphemeralEvent, EventInput, FeedEvent } from '../protocol/events.ts'
import type { Access, Grant } from './access.ts'
import type { Engine, IdempotencyRequest, StoredInput } from './engine.ts'
import { FeedError } from './errors.ts'
import { RateLimiter } from './limits.ts'
import type { Stats } from './stats.ts'
import { assertTopic } from './topic.ts'
import { PatternSet } from './topic-index.ts'

/** A publish's answer: the stored events (or, on ephemeral topics, the events sent on), and whether it replays a known key. */
export interface PublishResult {
  events: FeedEvent[] | EphemeralEvent[]
  replayed: boolean
}

export class Publishing {
  /** PUBLISH_RATE per token `sub`, else per address: one budget for HTTP and the socket. */
  readonly rate: RateLimiter
  /** EPHEMERAL_TOPICS: delivered live, never stored. */
  readonly ephemeral: PatternSet
  /** OPEN_PUBLISH_TOPICS: a socket may publish to them without a token granting them. */
  readonly open: PatternSet
  private readonly encoder = new TextEncoder()

  constructor(
    /** The guarded engine: its failures are FeedErrors. */
    private readonly engine: Engine,
    private readonly access: Access,
    private readonly stats: Stats,
    private readonly limits: Limits,
    config: Pick<Config, 'ephemeralTopics' | 'openPublishTopics'>,
  ) {
    this.rate = new RateLimiter(limits.publishRate, limits.publishRateBytes)
    this.ephemeral = new PatternSet([...config.ephemeralTopics])
    this.open = new PatternSet([...config.openPublishTopics])
  }

  /**
   * Stores a batch (atomically, in order) and answers the stored events; or, when every topic of it is
   * ephemeral (EPHEMERAL_TOPICS), sends it to every instance's subscribers and stores nothing (no id, no
   * idempotency). A batch that mixes the two is refused: it could not be one atomic thing.
   */
  async publish(inputs: EventInput[], idempotency?: Omit<IdempotencyRequest, 'windowMs'>): Promise<PublishResult> {
    let ephemeral = 0
    const stored: StoredInput[] = []
    for (const input of inputs) {
      assertTopic(input.topic)
      stored.push({ topic: input.topic, data: input.data, json: this.sized(input) })
      if (this.ephemeral.patterns.length > 0 && this.ephemeral.matches(input.topic)) ephemeral++
    }
    if (ephemeral > 0) {
      if (ephemeral < inputs.length) throw new FeedError('bad_request', 'a batch may not mix ephemeral topics (EPHEMERAL_TOPICS) with stored ones')
      const ts = Date.now()
      const events = inputs.map((i) => ({ topic: i.topic, data: i.data, ts }))
      await this.engine.broadcast(events)
      this.stats.published += events.length
      return { events, replayed: false }
    }
    const result = await this.engine.append(stored, idempotency && { ...idempotency, windowMs: this.limits.idempotencyWindowMs })
    if (!result.replayed) this.stats.published += result.events.length
    return result
  }

  /**
   * May this grant publish to `topic` over a socket? Granted by its `publish` claim (or the publish token), or
   * open to anyone (OPEN_PUBLISH_TOPICS); else 403 forbidden. Private topics need the grant either way.
   */
  assertMayPublish(grant: Grant | undefined, topic: string): void {
    if (grant?.all || grant?.publish.matches(topic)) return
    if (this.open.patterns.length > 0 && this.open.matches(topic) && !this.access.isPrivate(topic)) return
    throw new FeedError('forbidden', `${grant ? 'this token may not' : 'publishing here needs a token that grants it, to'} publish to "${topic.slice(0, 300)}"`)
  }

  /** The data as JSON, once it is known to be within MAX_EVENT_BYTES (413 payload_too_large otherwise). */
  private sized(input: EventInput): string {
    const json = JSON.stringify(input.data) ?? 'null'
    const max = this.limits.maxEventBytes
    // UTF-8 takes at most 3 bytes per UTF-16 unit: skip the encode when it cannot be over.
    const bytes = json.length * 3 <= max ? json.length : this.encoder.encode(json).length
    if (bytes > max) {
      throw new FeedError('payload_too_large', `event data on "${input.topic}" is ${bytes} bytes, over the ${max}-byte limit (MAX_EVENT_BYTES)`)
    }
    return json
  }
}
