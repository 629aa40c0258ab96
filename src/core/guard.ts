/**
 * @module
 * The one boundary between the feed and its engine: whatever an engine throws
 * reaches clients as `engine_unavailable` (503, retry), on every route and
 * transport alike, and nothing raw from the store leaks to them.
 */
import type { Engine } from './engine.ts'
import { FeedError } from './errors.ts'

function mapFailure(err: unknown): never {
  if (err instanceof FeedError) throw err
  throw new FeedError('engine_unavailable', 'the event store did not answer; retry', err)
}

/** Told of each failed engine call, and of the first call that succeeds after failures. */
export interface EngineWatch {
  failed(): void
  recovered(): void
}

/** The engine with every call's failure mapped to a FeedError (and reported); the raw cause is kept for the log. */
export function guardEngine(engine: Engine, watch: EngineWatch = { failed() {}, recovered() {} }): Engine {
  let failing = false
  const unavailable = (err: unknown): never => {
    // An idempotency conflict is an answer, not a failure of the store.
    if (!(err instanceof FeedError) || err.code === 'engine_unavailable') {
      failing = true
      watch.failed()
    }
    return mapFailure(err)
  }
  const ok = <T>(value: T): T => {
    if (failing) {
      failing = false
      watch.recovered()
    }
    return value
  }
  return {
    name: engine.name,
    start: () => engine.start(),
    close: () => engine.close(),
    healthy: () => engine.healthy(),
    lagSeconds: () => engine.lagSeconds?.() ?? 0,
    onEvents: (listener) => engine.onEvents(listener),
    onGap: (listener) => engine.onGap?.(listener),
    onEphemeral: (listener) => engine.onEphemeral(listener),
    broadcast: (events) => engine.broadcast(events).then(ok, unavailable),
    append: (inputs, idem) => engine.append(inputs, idem).then(ok, unavailable),
    read: (after, patterns, limit, maxBytes) => engine.read(after, patterns, limit, maxBytes).then(ok, unavailable),
    snapshot: (patterns, page) => engine.snapshot(patterns, page).then(ok, unavailable),
    history: (topic, limit, before, maxBytes) => engine.history(topic, limit, before, maxBytes).then(ok, unavailable),
    head: () => engine.head().then(ok, unavailable),
    topics: () => engine.topics().then(ok, unavailable),
    // Occupancy's sharing is not a request of anyone's: its failures are its own (logged, tried again).
    ...(engine.roster ? { roster: engine.roster } : {}),
  }
}
