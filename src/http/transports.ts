import type { Mount } from './app.ts'

/** The fallback transports (SSE, long polling) mounted beside /ws. */
export const transports: Mount[] = []
