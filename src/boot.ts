/**
 * @module
 * The one wiring of a livefeed process, shared by the Node entry (each of its WORKERS too), the Deno entry
 * and the tests' in-process tier: the parsed configuration in, the engine, the feed and the app out. Nothing
 * else builds a `Feed` or an engine, so every setting reaches the server that runs.
 */
import type { Hono } from 'hono'
import type { Config } from './config.ts'
import type { Engine } from './core/engine.ts'
import { Feed } from './core/feed.ts'
import type { Log } from './core/log.ts'
import { MemoryEngine } from './engines/memory.ts'
import type { Mount } from './http/api.ts'
import { createApp, type Runtime } from './http/app.ts'
import type { Vars } from './http/auth.ts'

/** Picks the engine: Redis when REDIS_URL is set, else the embedded memory engine. */
export async function createEngine(config: Config, log: Log): Promise<Engine> {
  if (config.redisUrl) {
    // Loaded only when asked for, so a memory-only run never loads the Redis client.
    const { RedisEngine } = await import('./engines/redis.ts')
    return new RedisEngine({ url: config.redisUrl, prefix: config.redisPrefix, limits: config.limits, log })
  }
  return new MemoryEngine(config.limits)
}

/** Refuses configurations that must not run; warns about the ones that should not. */
export function checkConfig(config: Config, log: Log): void {
  if (config.publishToken) return
  if (config.nodeEnv === 'production') {
    throw new Error('PUBLISH_TOKEN must be set when NODE_ENV=production: publishing would be open to nobody but loopback')
  }
  log.warn({}, 'PUBLISH_TOKEN is not set: only loopback clients may publish')
}

/** The feed and its engine, from the whole configuration; started. */
export async function createFeed(config: Config, log: Log): Promise<Feed> {
  const feed = new Feed(await createEngine(config, log), config, log)
  await feed.start()
  return feed
}

/** Everything both runtimes (and the in-process tests) share: config checks, engine, feed, routes. */
export async function boot(config: Config, log: Log, runtime: Runtime, mounts: Mount[]): Promise<{ feed: Feed; app: Hono<Vars> }> {
  checkConfig(config, log)
  const feed = await createFeed(config, log)
  return { feed, app: createApp(feed, config, runtime, mounts) }
}
