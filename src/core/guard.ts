/**
 * @module
 * The one boundary between the feed and its engine: whatever an engine throws
 * reaches clients as `engine_unavailable` (503, retry), on every route and
 * transport alike, and nothing raw from the store leaks to them.
 */
import type { Engine } from './engine.ts'
import { FeedError } from './errors.ts'

function unavailable(err: unknown): never {
  if (err instanceof FeedError) throw err
  throw new FeedError('engine_unavailable', 'the event store did not answer; retry', err)
}

/** The engine with every call's failure mapped to a FeedError; the raw cause is kept for the log. */
export function guardEngine(engine: Engine): Engine {
  return {
    name: engine.name,
    start: () => engine.start(),
    close: () => engine.close(),
    healthy: () => engine.healthy(),
    onEvents: (listener) => engine.onEvents(listener),
    append: (inputs, idem) => engine.append(inputs, idem).catch(unavailable),
    read: (after, patterns, limit, maxBytes) => engine.read(after, patterns, limit, maxBytes).catch(unavailable),
    snapshot: (patterns, page) => engine.snapshot(patterns, page).catch(unavailable),
    head: () => engine.head().catch(unavailable),
    topics: () => engine.topics().catch(unavailable),
  }
}
