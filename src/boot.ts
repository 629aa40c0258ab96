import type { Hono } from 'hono'
import type { Config } from './config.ts'
import type { Engine } from './core/engine.ts'
import { Feed } from './core/feed.ts'
import type { Log } from './core/log.ts'
import type { Mount } from './http/api.ts'
import { createApp, type Runtime } from './http/app.ts'
import type { Vars } from './http/auth.ts'
import { MemoryEngine } from './engines/memory.ts'

/** Picks the engine: Redis when REDIS_URL is set, else the embedded memory engine. */
async function createEngine(config: Config, log: Log): Promise<Engine> {
  const l = config.limits
  if (config.redisUrl) {
    // Loaded only when asked for, so a memory-only run never loads the Redis client.
    const { RedisEngine } = await import('./engines/redis.ts')
    return new RedisEngine({ url: config.redisUrl, prefix: config.redisPrefix, historySize: l.historySize, maxTopics: l.maxTopics, log })
  }
  return new MemoryEngine({ historySize: l.historySize, maxTopics: l.maxTopics, maxIdempotencyKeys: l.maxIdempotencyKeys })
}

/** Refuses configurations that must not run; warns about the ones that should not. */
export function checkConfig(config: Config, log: Log): void {
  if (config.publishToken) return
  if (config.nodeEnv === 'production') {
    throw new Error('PUBLISH_TOKEN must be set when NODE_ENV=production: publishing would be open to nobody but loopback')
  }
  log.warn({}, 'PUBLISH_TOKEN is not set: only loopback clients may publish')
}

/** Everything both runtimes share: config checks, engine, feed, routes. */
export async function boot(config: Config, log: Log, runtime: Runtime, mounts: Mount[]): Promise<{ feed: Feed; app: Hono<Vars> }> {
  checkConfig(config, log)
  const feed = new Feed(await createEngine(config, log), config.limits, log, config.privateTopics, config.conflateTopics)
  await feed.start()
  return { feed, app: createApp(feed, config, runtime, mounts) }
}
