/**
 * @module
 * Reading a request body with two bounds: MAX_BODY_BYTES (413) and
 * BODY_TIMEOUT (408, and the connection is closed). With a Content-Length the
 * size is known before reading, and `c.req.text()` keeps @hono/node-server on
 * its fast path; a chunked body is counted as it streams. A client that went
 * away mid-body is its own mistake: a 400, logged at debug like any other.
 */
import type { Context } from 'hono'
import type { Deadlines } from '../core/deadlines.ts'
import { FeedError } from '../core/errors.ts'

const tooLarge = (max: number) => new FeedError('payload_too_large', `the body is over ${max} bytes (MAX_BODY_BYTES)`)

async function streamed(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<string> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let size = 0
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text + decoder.decode()
    size += value.length
    if (size > maxBytes) {
      void reader.cancel().catch(() => {})
      throw tooLarge(maxBytes)
    }
    text += decoder.decode(value, { stream: true })
  }
}

/**
 * The body as text, within `maxBytes` and within the deadlines' length (BODY_TIMEOUT): one `Deadlines` per
 * app, not a timer per request.
 */
export async function readBody(c: Context, maxBytes: number, deadlines: Deadlines): Promise<string> {
  const length = c.req.header('content-length')
  const chunked = length === undefined || c.req.header('transfer-encoding') !== undefined
  if (!chunked && Number(length) > maxBytes) throw tooLarge(maxBytes)
  try {
    // Only a chunked body is read as a stream: touching `raw.body` makes @hono/node-server build a full
    // undici Request (an AbortSignal, a ReadableStream) for every publish, 4-6x slower (bench:publish).
    const body = chunked ? c.req.raw.body : null
    const reading = body ? streamed(body, maxBytes) : c.req.text()
    return await new Promise<string>((resolve, reject) => {
      const deadline = deadlines.start(() => reject(new FeedError('request_timeout', `the body did not arrive within ${deadlines.ms / 1000} s (BODY_TIMEOUT)`)))
      reading.then(
        (text) => {
          deadlines.cancel(deadline)
          resolve(text)
        },
        (err: unknown) => {
          deadlines.cancel(deadline)
          reject(err)
        },
      )
    })
  } catch (err) {
    if (err instanceof FeedError) {
      // The client is still sending (or hanging): close the connection rather than read on.
      if (err.code === 'request_timeout' || err.code === 'payload_too_large') c.header('Connection', 'close')
      throw err
    }
    throw new FeedError('bad_request', 'the request body could not be read (the client went away?)')
  }
}
