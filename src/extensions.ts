/**
 * @module
 * What this build of livefeed mounts beside the core routes (health,
 * publish, read, /ws): the fallback transports and the dashboard's typed
 * publishers. Each is a `Mount`; the core knows none of them.
 */
import { dashboardPublishers } from './dashboard/publishers.ts'
import type { Mount } from './http/api.ts'
import { mountPoll } from './http/poll.ts'
import { mountSse } from './http/sse.ts'

export const extensions: Mount[] = [mountSse, mountPoll, dashboardPublishers]
