import type { Mount } from './app.ts'
import { mountPoll } from './poll.ts'
import { mountSse } from './sse.ts'

/** The fallback transports mounted beside /ws: same events, ids and order. */
export const transports: Mount[] = [mountSse, mountPoll]
