/**
 * @module
 * Who is watching and who is here: the `occupancy` and `presence` messages a
 * subscriber may ask for (WebSocket frames, SSE events) and the answer of
 * `GET /api/presence`.
 */
import * as v from 'valibot'
import { topicSchema } from './events.ts'

const subSchema = v.pipe(v.string(), v.description("A member: the `sub` of its connections' tokens."))

/** How many subscriptions, on every instance, match one topic (patterns included). */
export const occupancySchema = v.object({
  topic: topicSchema,
  subscribers: v.pipe(v.number(), v.description('Subscriptions on every instance whose patterns match the topic.')),
})
export type Occupancy = v.InferOutput<typeof occupancySchema>

/** Right after subscribing: every member of the topic. */
export const presenceMembers = v.object({ topic: topicSchema, members: v.array(subSchema) })
/** Then, at most once per OCCUPANCY_INTERVAL: who came and who went since the message before. */
export const presenceChange = v.object({ topic: topicSchema, joined: v.array(subSchema), left: v.array(subSchema) })
export const presenceSchema = v.union([presenceMembers, presenceChange])
/** A `presence` message: the whole list (`members`), or a change (`joined`, `left`). */
export type Presence = { topic: string; members: string[] } | { topic: string; joined: string[]; left: string[] }

/** `GET /api/presence`: the topic's members, each with its number of connections on every instance. */
export const presenceAnswer = v.object({
  members: v.array(
    v.object({
      sub: subSchema,
      connections: v.pipe(v.number(), v.description('Subscribed connections of this member, on every instance.')),
    }),
  ),
})
export type PresenceAnswer = v.InferOutput<typeof presenceAnswer>
