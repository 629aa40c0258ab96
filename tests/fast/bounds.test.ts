import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT } from '../../harness/server.ts'
import { LIMITS, loadConfig } from '../../src/config.ts'
import type { FeedEvent } from '../../src/protocol/events.ts'
import { type InProcess, inProcess } from '../helpers/inprocess.ts'

/**
 * The documented bounds, through the one wiring `dist/server.mjs` uses (`boot`), set small by their
 * environment variables and crossed: each is observed by its effect on the answers.
 */
const KiB = 1024
const post = (p: InProcess, body: unknown, headers: Record<string, string> = {}) =>
  p.app.request('/api/events', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } })
const get = async (p: InProcess, path: string) => {
  const res = await p.app.request(path)
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

const wiring = suite('fast: every setting reaches the server')
wiring('each key of the configuration is read somewhere outside src/config.ts', () => {
  const files: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (path.endsWith('.ts') && !path.endsWith(join('src', 'config.ts'))) files.push(readFileSync(path, 'utf8'))
    }
  }
  walk(join(ROOT, 'src'))
  const code = files.join('\n')
  const keys = [...Object.keys(LIMITS), ...Object.keys(loadConfig({})).filter((k) => k !== 'limits')]
  const unread = keys.filter((k) => !new RegExp(`\\.${k}\\b|\\b${k}\\b\\s*[,}:]`).test(code))
  assert.equal(unread, [], 'settings parsed and documented but read by nothing')
})
wiring.run()

const bounds = suite<{ p?: InProcess }>('fast: byte bounds of the memory engine, set by their variables')
bounds.after.each(async (ctx) => {
  await ctx.p?.close()
  ctx.p = undefined
})
bounds('HISTORY_BYTES drops the oldest events: a cursor from before them gets a reset, a later one reads on', async (ctx) => {
  const p = (ctx.p = await inProcess({ HISTORY_BYTES: String(1024 * KiB) }))
  const pad = 'h'.repeat(63 * KiB)
  const ids: string[] = []
  for (let i = 0; i < 51; i++) ids.push(((await (await post(p, { topic: 'h/a', data: { i, pad } })).json()) as FeedEvent).id)
  const early = await get(p, `/api/events?topics=h/**&since=${ids[0]}`)
  assert.is(early.body.reset, true, 'the first events are gone by bytes, long before HISTORY_SIZE')
  const late = await get(p, `/api/events?topics=h/**&since=${ids[40]}`)
  assert.equal(
    (late.body.events as FeedEvent[]).map((e) => e.id),
    ids.slice(41),
  )
})
bounds('IDEMPOTENCY_BYTES forgets the oldest records first: their key then stores anew', async (ctx) => {
  const p = (ctx.p = await inProcess({ IDEMPOTENCY_BYTES: String(64 * KiB) }))
  const body = { topic: 'i/a', data: 'y'.repeat(8 * KiB) }
  const first = (await (await post(p, body, { 'Idempotency-Key': 'k0' })).json()) as FeedEvent
  const again = await post(p, body, { 'Idempotency-Key': 'k0' })
  assert.is(again.headers.get('idempotent-replayed'), 'true', 'remembered within the budget')
  for (let i = 1; i <= 20; i++) await post(p, body, { 'Idempotency-Key': `k${i}` })
  const later = await post(p, body, { 'Idempotency-Key': 'k0' })
  assert.is(later.headers.get('idempotent-replayed'), null, 'k0 was forgotten to stay within 64 KiB')
  assert.is.not(((await later.json()) as FeedEvent).id, first.id)
  assert.is((await post(p, body, { 'Idempotency-Key': 'k20' })).headers.get('idempotent-replayed'), 'true', 'the newest are kept')
})
bounds('LATEST_BYTES drops the least recently updated topics from the snapshot, never the newest', async (ctx) => {
  const p = (ctx.p = await inProcess({ LATEST_BYTES: String(64 * KiB) }))
  for (let i = 0; i < 20; i++) await post(p, { topic: `l/t${i}`, data: 'z'.repeat(10 * KiB) })
  const topics = ((await get(p, '/api/snapshot?topics=l/**')).body.events as FeedEvent[]).map((e) => e.topic)
  assert.ok(topics.length >= 4 && topics.length <= 6, `${topics.length} topics kept in 64 KiB of ~10 KiB values`)
  assert.equal(
    topics,
    Array.from({ length: topics.length }, (_, i) => `l/t${20 - topics.length + i}`),
    'the newest, oldest first',
  )
})
bounds.run()

const answers = suite<{ p?: InProcess }>('fast: answers that carry their bounds')
answers.after.each(async (ctx) => {
  await ctx.p?.close()
  ctx.p = undefined
})
answers('a snapshot `next` of another history or ahead of the head is 400 invalid_cursor, never echoed as the cursor', async (ctx) => {
  const p = (ctx.p = await inProcess({ READ_BYTES: String(64 * KiB) }))
  for (let i = 0; i < 8; i++) await post(p, { topic: `n/t${i}`, data: 'n'.repeat(20 * KiB) })
  const first = await get(p, '/api/snapshot?topics=n/**')
  const next = first.body.next as string
  assert.ok(next, 'a paged snapshot')
  assert.is((await get(p, `/api/snapshot?topics=n/**&next=${next}`)).status, 200)
  const [upTo, after] = next.split('~') as [string, string]
  const epoch = upTo.slice(0, upTo.indexOf('-'))
  for (const bad of [`zzzz-${upTo.slice(epoch.length + 1)}~${after}`, `${epoch}-zzzzzzzzzzz~${after}`, `${upTo}~${epoch}-zzzzzzzzzzz`]) {
    const r = await get(p, `/api/snapshot?topics=n/**&next=${bad}`)
    assert.is(r.status, 400, bad)
    assert.is((r.body.error as { code: string }).code, 'invalid_cursor')
  }
})
answers('PUBLISH_TOKEN is not throttled by PUBLISH_RATE; a tokenless loopback publisher is', async (ctx) => {
  const p = (ctx.p = await inProcess({ PUBLISH_RATE: '5' }))
  const statuses = async (headers: Record<string, string>) => {
    const out: number[] = []
    for (let i = 0; i < 30; i++) out.push((await post(p, { topic: 'r/a', data: i }, headers)).status)
    return out
  }
  const open = await statuses({})
  assert.ok(open.includes(429), 'loopback without a token is limited')
  await ctx.p.close()
  const q = (ctx.p = await inProcess({ PUBLISH_RATE: '5', PUBLISH_TOKEN: 'operator-key' }))
  for (let i = 0; i < 30; i++) assert.is((await post(q, { topic: 'r/a', data: i }, { authorization: 'Bearer operator-key' })).status, 201)
})
answers('429 too_many_connections and 429 rate_limited say when to retry (Retry-After, whole seconds)', async (ctx) => {
  const p = (ctx.p = await inProcess({ PUBLISH_RATE: '1' }))
  let limited: Response | undefined
  for (let i = 0; i < 10 && !limited; i++) {
    const r = await post(p, { topic: 'r/a', data: i })
    if (r.status === 429) limited = r
  }
  assert.match(limited?.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/)
  await ctx.p.close()
  const q = (ctx.p = await inProcess({ MAX_CONNECTIONS_PER_IP: '1' }))
  const hold = `/poll?topics=c/a&cursor=${(await get(q, '/poll?topics=c/a')).body.cursor as string}&wait=2`
  const held = q.app.request(hold)
  // The second held poll of the address, once the first holds its slot.
  let refused: Awaited<ReturnType<typeof get>> | undefined
  for (let i = 0; i < 20 && refused === undefined; i++) {
    const r = await get(q, hold)
    if (r.status === 429) refused = r
  }
  assert.is((refused?.body.error as { code: string } | undefined)?.code, 'too_many_connections')
  assert.is(refused?.headers.get('retry-after'), '5')
  await held
})
answers.run()
