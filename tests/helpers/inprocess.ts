import type { Hono } from 'hono'
import { boot } from '../../src/boot.ts'
import { type Config, loadConfig } from '../../src/config.ts'
import type { Feed } from '../../src/core/feed.ts'
import { silentLog } from '../../src/core/log.ts'
import { extensions } from '../../src/extensions.ts'
import type { RouteSpec } from '../../src/http/api.ts'
import type { Runtime } from '../../src/http/app.ts'
import type { Vars } from '../../src/http/auth.ts'

/**
 * The app in this process, on the memory engine, with no sockets: requests go
 * through `app.request()`. For the fast tier: request validation, errors and
 * the API document, in milliseconds.
 */
export interface InProcess {
  app: Hono<Vars>
  feed: Feed
  config: Config
  close(): Promise<void>
}

/** What a runtime would do, minus sockets: no upgrade happens (so GET /ws falls through to 426), no static files. */
const runtime = (address: string): Runtime => ({
  upgradeWebSocket: () => async (_c, next) => next(),
  serveStatic: () => async (_c, next) => next(),
  clientAddress: () => address,
  socket: { terminate() {}, bufferedAmount: () => 0 },
})

/** The app as `dist/server.mjs` builds it (`boot`, the one wiring), from the same environment variables. */
export async function inProcess(env: Record<string, string> = {}, address = '127.0.0.1'): Promise<InProcess> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env })
  const { app, feed } = await boot(config, silentLog, runtime(address), extensions)
  return { app, feed, config, close: () => feed.close() }
}

export type { RouteSpec }
