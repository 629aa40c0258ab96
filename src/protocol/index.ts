/**
 * @module
 * livefeed's wire protocol, described once: the topic grammar, cursors, the
 * error codes with their HTTP statuses and WebSocket close codes, the
 * WebSocket frames, the SSE events and the HTTP bodies and answers, as
 * valibot schemas and the types inferred from them. The server, the SDK, the
 * dashboard and the tests import it; nothing else declares a frame.
 */
export * from './cursor.ts'
export * from './errors.ts'
export * from './events.ts'
export * from './grammar.ts'
export * from './http.ts'
export * from './issues.ts'
export * from './sse.ts'
export * from './tokens.ts'
export * from './transports.ts'
export * from './ws.ts'
