/**
 * @module
 * The SDK's transports by name, in one table the feed opens them from.
 */
import { poll } from './poll.ts'
import { sse, type Transport, type TransportContext, websocket } from './transports.ts'
import type { TransportName } from './types.ts'

export const OPENERS: Record<TransportName, (ctx: TransportContext) => Transport> = { websocket, sse, poll }
