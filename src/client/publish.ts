/**
 * @module
 * `feed.publish()`: one event over the open WebSocket (a `publish` frame), else `POST /api/events`. Every
 * publish carries an idempotency key (the caller's, or a random one): when the socket is cut before the
 * answer, the same publish goes again over HTTP with the same key, and the server stores it once.
 */
import * as v from 'valibot'
import { BAD_FRAME, errorBody } from '../protocol/errors.ts'
import { publishAnswer } from '../protocol/http.ts'
import { FeedRequestError } from './history.ts'
import type { PublishedEvent } from './types.ts'

/** What a publish needs of the transport it goes out on: a WebSocket's `publish` frame. */
export interface PublishingTransport {
  publish?(ref: string, topic: string, data: unknown, key: string): void
}

interface Pending {
  topic: string
  data: unknown
  key: string
  resolve(e: PublishedEvent): void
  reject(err: unknown): void
}

/** An idempotency key: random, from `getRandomValues` (which, unlike `randomUUID`, pages on plain http have too). */
export function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** POST /api/events for one event, with its key; rejects with a FeedRequestError carrying the server's code. */
export async function postEvent(
  base: URL,
  doFetch: typeof fetch,
  token: string | undefined,
  topic: string,
  data: unknown,
  key: string,
): Promise<PublishedEvent> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Idempotency-Key': key }
  if (token !== undefined) headers.Authorization = `Bearer ${token}`
  // The same JSON as a publish frame's { topic, data }: the server fingerprints both alike, so a retry either way matches.
  const res = await doFetch(new URL('/api/events', base).toString(), { method: 'POST', headers, body: JSON.stringify({ topic, data }) })
  const json: unknown = await res.json().catch(() => undefined)
  if (!res.ok) {
    const e = v.safeParse(errorBody, json)
    throw e.success ? new FeedRequestError(e.output.error.code, e.output.error.message) : new FeedRequestError(BAD_FRAME, `publish answered ${res.status}`)
  }
  const d = v.safeParse(publishAnswer, json)
  if (!d.success || 'events' in d.output) throw new FeedRequestError(BAD_FRAME, 'a publish answer not understood')
  return d.output
}

/** The publishes waiting for their answer on a socket, by `ref`. */
export class Publisher {
  private readonly pending = new Map<string, Pending>()
  private seq = 0

  constructor(private readonly overHttp: (topic: string, data: unknown, key: string) => Promise<PublishedEvent>) {}

  /** Over `socket` when one is open and can publish, else over HTTP. */
  publish(socket: PublishingTransport | undefined, topic: string, data: unknown, key: string): Promise<PublishedEvent> {
    const send = socket?.publish
    if (send === undefined) return this.overHttp(topic, data, key)
    const ref = `p${++this.seq}`
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { topic, data, key, resolve, reject })
      send(ref, topic, data, key)
    })
  }

  published(ref: string, event: PublishedEvent): void {
    const p = this.pending.get(ref)
    this.pending.delete(ref)
    p?.resolve(event)
  }

  refused(ref: string, code: string, message: string): void {
    const p = this.pending.get(ref)
    this.pending.delete(ref)
    p?.reject(new FeedRequestError(code, message))
  }

  /** The socket went with publishes unanswered: each goes again over HTTP, with its key (stored once). */
  cut(): void {
    for (const [ref, p] of this.pending) {
      this.pending.delete(ref)
      this.overHttp(p.topic, p.data, p.key).then(p.resolve, p.reject)
    }
  }
}
