export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** One stored event, as every transport shows it. */
export interface FeedEvent {
  /** Cursor of this event: opaque, unique, ordered in publish order. */
  id: string
  topic: string
  data: Json
  /** Server clock, ms since epoch, taken when stored. */
  ts: number
}

export interface EventInput {
  topic: string
  data: Json
}

export interface TopicInfo {
  topic: string
  lastId: string
  lastTs: number
}
