/**
 * @module
 * The three transports, named once. The server's names label its metrics and logs (`transport="ws"`); the
 * SDK's are what a user lists in its `transports` option, in its order of preference.
 */

/** The transports as the server names them: metric labels, log fields, `/healthz`. */
export const TRANSPORTS = ['ws', 'sse', 'poll'] as const
export type TransportName = (typeof TRANSPORTS)[number]

/** The SDK's name of each transport (its `transports` option), and the server's name for it. */
export const CLIENT_TRANSPORTS = { websocket: 'ws', sse: 'sse', poll: 'poll' } as const satisfies Record<string, TransportName>
export type ClientTransportName = keyof typeof CLIENT_TRANSPORTS
/** The SDK's default order: the best first, each a fallback for the one before. */
export const CLIENT_TRANSPORT_ORDER = Object.keys(CLIENT_TRANSPORTS) as ClientTransportName[]
