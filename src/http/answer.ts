/**
 * @module
 * An error as an HTTP answer, the same from every route: the status its code maps to
 * (`src/protocol/errors.ts`), the `{"error":{"code","message"}}` body, and the headers some codes carry.
 */
import type { Context } from 'hono'
import type { FeedError } from '../core/errors.ts'

export function errorAnswer(c: Context, error: FeedError): Response {
  if (error.code === 'upgrade_required') c.header('Upgrade', 'websocket')
  const wait = error.retryAfterS
  if (wait !== undefined) c.header('Retry-After', String(wait))
  return c.json(error.toJSON(), error.status)
}
